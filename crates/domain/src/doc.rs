//! What every document module stands on: the header (kind tag and schema
//! version) each document carries, one commit per edit, input checks, object
//! lookup.

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use autosurgeon::HydrateError;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, SchemaError};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// The kinds of documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// A programme document.
    Programme,
    /// A client document.
    Client,
    /// A visit (questionnaire) document.
    Visit,
    /// The part of a programme reps' devices receive (see [`crate::view`]).
    ProgrammeView,
}

impl DocKind {
    /// The root `"type"` tag.
    pub fn tag(self) -> &'static str {
        match self {
            DocKind::Programme => "programme",
            DocKind::Client => "client",
            DocKind::Visit => "visit",
            DocKind::ProgrammeView => "programme_view",
        }
    }
}

/// The kind named by the root tags, after checking the schema version.
pub(crate) fn kind_of(doc: &Automerge) -> Result<DocKind, SchemaError> {
    let tag = match doc.get(ROOT, "type") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(t) => t.to_string(),
            _ => return Err(SchemaError::MissingType),
        },
        _ => return Err(SchemaError::MissingType),
    };
    let kind = match tag.as_str() {
        "programme" => DocKind::Programme,
        "client" => DocKind::Client,
        "visit" => DocKind::Visit,
        "programme_view" => DocKind::ProgrammeView,
        _ => {
            return Err(SchemaError::WrongType {
                expected: "programme, client, visit or programme_view",
                found: tag,
            });
        }
    };
    let version = match doc.get(ROOT, "schema") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            _ => None,
        },
        _ => None,
    };
    if version != Some(SCHEMA_VERSION) {
        return Err(SchemaError::UnsupportedSchema {
            expected: SCHEMA_VERSION,
            found: version,
        });
    }
    Ok(kind)
}

/// Fails unless `doc` is a current-schema document of `kind`.
pub(crate) fn expect_kind(doc: &Automerge, kind: DocKind) -> Result<(), DomainError> {
    let found = kind_of(doc)?;
    if found == kind {
        Ok(())
    } else {
        Err(SchemaError::WrongType {
            expected: kind.tag(),
            found: found.tag().to_owned(),
        }
        .into())
    }
}

/// Writes the root tags every document carries.
pub(crate) fn write_header(tx: &mut Transaction<'_>, kind: DocKind) -> Result<(), DomainError> {
    tx.put(ROOT, "type", kind.tag())?;
    tx.put(ROOT, "schema", SCHEMA_VERSION)?;
    Ok(())
}

/// Runs `f` as one transaction committed with `now_ms` as its time and `msg`
/// as its message. On error everything `f` wrote is rolled back.
pub(crate) fn commit<O>(
    doc: &mut Automerge,
    now_ms: i64,
    msg: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<O, DomainError>,
) -> Result<O, DomainError> {
    doc.transact_with(
        |_| {
            CommitOptions::default()
                .with_message(msg.to_owned())
                .with_time(now_ms)
        },
        f,
    )
    .map(|ok| ok.result)
    .map_err(|failure| failure.error)
}

/// The object (map, list or text) under `key` of `parent`; `NotFound` naming
/// `what` when there is none.
pub(crate) fn obj<R: ReadDoc>(
    doc: &R,
    parent: &automerge::ObjId,
    key: &str,
    what: &'static str,
) -> Result<automerge::ObjId, DomainError> {
    match doc.get(parent, key)? {
        Some((Value::Object(_), id)) => Ok(id),
        Some(_) => Err(SchemaError::Malformed {
            kind: what,
            message: format!("{key:?} is a scalar where an object was expected"),
        }
        .into()),
        None => Err(DomainError::NotFound {
            what,
            id: key.to_owned(),
        }),
    }
}

/// Whether `key` of `parent` holds anything.
pub(crate) fn has<R: ReadDoc>(doc: &R, parent: &automerge::ObjId, key: &str) -> bool {
    matches!(doc.get(parent, key), Ok(Some(_)))
}

/// Refuses a date that is not a real calendar date written YYYY-MM-DD.
pub(crate) fn check_date(field: &'static str, value: &str) -> Result<(), DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, format)
        .map(|_| ())
        .map_err(|_| DomainError::InvalidDate {
            field,
            value: value.to_owned(),
        })
}

/// Refuses NaN and infinities (they would poison sums in the status).
pub(crate) fn check_finite(field: &'static str, value: f64) -> Result<(), DomainError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(DomainError::NotFinite { field })
    }
}

/// Refuses an empty (or whitespace-only) required text.
pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        Err(DomainError::Empty { field })
    } else {
        Ok(())
    }
}

/// A fresh id for an entry of a map that several people add to concurrently.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Creates a Text object at `key` of `parent` holding `value`.
pub(crate) fn put_text(
    tx: &mut Transaction<'_>,
    parent: &automerge::ObjId,
    key: &str,
    value: &str,
) -> Result<automerge::ObjId, DomainError> {
    let text = tx.put_object(parent, key, ObjType::Text)?;
    if !value.is_empty() {
        tx.update_text(&text, value)?;
    }
    Ok(text)
}

/// autosurgeon `hydrate = ...` helper: an Automerge Text (or a plain string)
/// read as a `String`.
pub(crate) fn hydrate_text_string<D: autosurgeon::ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'_>,
) -> Result<String, HydrateError> {
    match doc.get(obj, &prop)? {
        Some((Value::Object(ObjType::Text), id)) => Ok(doc.text(&id)?),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(s) => Ok(s.to_string()),
            other => Err(HydrateError::unexpected("a text", format!("{other:?}"))),
        },
        Some((Value::Object(t), _)) => Err(HydrateError::unexpected("a text", format!("{t:?}"))),
        None => Err(HydrateError::unexpected(
            "a text",
            "nothing at all".to_owned(),
        )),
    }
}

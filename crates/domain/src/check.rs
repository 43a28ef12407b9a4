//! The schema check the server runs before committing a device's changes.

use automerge::{Automerge, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, SchemaError};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// The three kinds of documents.
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
fn kind_of(doc: &Automerge) -> Result<DocKind, SchemaError> {
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

/// Checks that `doc` is a programme, client or visit of the current schema
/// that reads into its typed form; returns its kind. Never panics, whatever
/// the document holds.
pub fn check_document(doc: &Automerge) -> Result<DocKind, SchemaError> {
    let kind = kind_of(doc)?;
    let read = match kind {
        DocKind::Programme => crate::programme::read_programme(doc).map(|_| ()),
        DocKind::Client => crate::client::read_client(doc).map(|_| ()),
        DocKind::ProgrammeView => crate::view::read_view(doc).map(|_| ()),
        DocKind::Visit => crate::visit::read_visit(doc).and_then(|v| {
            // Hydrating reads only the winner of each answer; a concurrent
            // value could still be malformed, so read every value too.
            crate::conflicts::conflicted_answers(doc).map(|_| drop(v))
        }),
    };
    match read {
        Ok(()) => Ok(kind),
        Err(DomainError::Schema(e)) => Err(e),
        Err(other) => Err(SchemaError::Malformed {
            kind: kind.tag(),
            message: other.to_string(),
        }),
    }
}

/// Which document this is and what it belongs to: what access control needs,
/// read without hydrating the whole document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocScope {
    /// The kind.
    pub kind: DocKind,
    /// The document's own id (its root `id`).
    pub id: crate::ids::DocId,
    /// The programme a visit or a programme view belongs to (`None` for programmes and
    /// clients: a client belongs to the programmes that list it).
    pub programme_id: Option<crate::ids::DocId>,
    /// The client a visit is about; a client document's own id; `None` for a programme.
    pub client_id: Option<crate::ids::DocId>,
}

/// Reads the scope of a current-schema document. Never panics.
pub fn doc_scope(doc: &Automerge) -> Result<DocScope, SchemaError> {
    let kind = kind_of(doc)?;
    let read = |key: &'static str| -> Result<crate::ids::DocId, SchemaError> {
        autosurgeon::hydrate_prop(doc, ROOT, key).map_err(|e| SchemaError::Malformed {
            kind: kind.tag(),
            message: format!("{key}: {e}"),
        })
    };
    let id = read("id")?;
    Ok(match kind {
        DocKind::Programme => DocScope {
            kind,
            id,
            programme_id: None,
            client_id: None,
        },
        DocKind::Client => DocScope {
            kind,
            id,
            programme_id: None,
            client_id: Some(id),
        },
        DocKind::Visit => DocScope {
            kind,
            id,
            programme_id: Some(read("programme_id")?),
            client_id: Some(read("client_id")?),
        },
        DocKind::ProgrammeView => DocScope {
            kind,
            id,
            programme_id: Some(read("programme_id")?),
            client_id: None,
        },
    })
}

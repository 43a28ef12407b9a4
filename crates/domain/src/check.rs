//! The schema check the server runs before committing a device's changes.
//!
//! It reads every kind of document, so it stands above them all; the header it
//! checks (kind tag, schema version) is defined in `doc`, where every kind uses it.

use automerge::{Automerge, ROOT};
use serde::{Deserialize, Serialize};

use crate::doc::kind_of;
pub use crate::doc::{DocKind, SCHEMA_VERSION};
use crate::error::{DomainError, SchemaError};
use crate::visit::Visit;

/// What [`check_and_read`] read of a document that passed.
#[derive(Debug)]
pub struct Checked {
    /// The document's kind.
    pub kind: DocKind,
    /// A visit's typed form, as [`crate::visit::read_visit`] gives it (`None` for the
    /// other kinds): whoever reads the same content next may take it instead.
    pub visit: Option<Visit>,
}

/// Checks that `doc` is a programme, client or visit of the current schema
/// that reads into its typed form; returns its kind. Never panics, whatever
/// the document holds.
pub fn check_document(doc: &Automerge) -> Result<DocKind, SchemaError> {
    check_and_read(doc).map(|checked| checked.kind)
}

/// [`check_document`], keeping the visit it read.
pub fn check_and_read(doc: &Automerge) -> Result<Checked, SchemaError> {
    let kind = kind_of(doc)?;
    let read = match kind {
        DocKind::Programme => crate::programme::read_programme(doc).map(|_| None),
        DocKind::Client => crate::client::read_client(doc).map(|_| None),
        DocKind::ProgrammeView => crate::view::read_view(doc).map(|_| None),
        DocKind::Visit => crate::visit::read_visit(doc).and_then(|v| {
            // Hydrating reads only the winner of each answer; a concurrent
            // value could still be malformed, so read every value too.
            crate::conflicts::conflicted_answers(doc).map(|_| Some(v))
        }),
    };
    match read {
        Ok(visit) => Ok(Checked { kind, visit }),
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

//! Identifiers shared by every crate: documents, actors (devices and leads).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id of one Automerge document (a programme, a client or a visit).
///
/// A UUID: 16 bytes on the wire and in the stores, the hyphenated form in text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocId(uuid::Uuid);

impl DocId {
    /// A fresh random id (UUID v4).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The id from its 16 raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(bytes))
    }

    /// The 16 raw bytes of the id.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id as a UUID.
    pub const fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for DocId {
    fn from(value: uuid::Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0.hyphenated())
    }
}

/// Why a text could not be read as a [`DocId`].
#[derive(Debug, thiserror::Error)]
#[error("not a document id (expected a UUID such as 0b6f1c9e-5d1a-4f7e-9a55-2f1c3b7d8e90): {0:?}")]
pub struct ParseDocIdError(String);

impl FromStr for DocId {
    type Err = ParseDocIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ParseDocIdError(s.to_owned()))
    }
}

/// Stored as its hyphenated text so the documents stay readable in any
/// Automerge tool (and in `check_document` error messages).
impl autosurgeon::Reconcile for DocId {
    type Key<'a> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.str(self.to_string())
    }
}

impl autosurgeon::Hydrate for DocId {
    fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
        s.parse().map_err(|_| {
            autosurgeon::HydrateError::unexpected("a document id (UUID)", format!("{s:?}"))
        })
    }
}

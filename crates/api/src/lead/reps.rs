//! Reps (`/api/v1/programmes/{id}/reps...`).

use rapport_domain::Capacity;
use serde::{Deserialize, Serialize};

/// A rep's details, as added or edited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepInput {
    /// Name, e.g. "Иван Петров".
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// `{"kind":"dedicated"}` or `{"kind":"share","percent":40}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub capacity: Capacity,
    /// Takes part now (default true).
    #[serde(default = "yes")]
    pub active: bool,
}

/// Absent `active` means the rep takes part: adding a rep is adding an active one.
fn yes() -> bool {
    true
}

/// The new rep's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewRep {
    /// E.g. `rep-1a2b3c4d`.
    pub id: String,
}

/// A rep as the lead's rep list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepView {
    /// Rep id, e.g. `rep-1a2b3c4d`.
    pub id: String,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// `{"kind":"dedicated"}` or `{"kind":"share","percent":40}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub capacity: Capacity,
    /// Takes part now.
    pub active: bool,
    /// Clients whose current rep this is.
    pub assigned_clients: usize,
}

//! Programmes (`/api/v1/programmes`, `/api/v1/programmes/{id}`).

use serde::{Deserialize, Serialize};

/// A programme in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgrammeSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
    /// Clients in it.
    pub clients: usize,
    /// Reps.
    pub reps: usize,
}

/// A new programme (the default VIP questionnaire is its template).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewProgramme {
    /// Name, e.g. "VIP-программа 2027".
    pub name: String,
    /// First day, YYYY-MM-DD.
    pub start: String,
    /// Last day, YYYY-MM-DD.
    pub end: String,
}

/// New settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    /// Name.
    pub name: String,
    /// First day, YYYY-MM-DD.
    pub start: String,
    /// Last day, YYYY-MM-DD.
    pub end: String,
    /// The lead's name as shown in the programme.
    pub lead_name: String,
    /// The lead's e-mail as shown in the programme.
    pub lead_email: String,
    /// Days before the end from which clients with no meeting planned are flagged
    /// (1–366; absent: unchanged).
    #[serde(default)]
    pub meeting_warning_days: Option<u32>,
}

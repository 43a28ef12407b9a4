//! Meetings planned by the reps (`/api/v1/programmes/{id}/meetings`), as the lead sees
//! them: per rep planned, held and overdue; the meetings of a week; clients with no
//! meeting planned while the programme's end is near.

use rapport_domain::MeetingState;
use serde::{Deserialize, Serialize};

/// Filters of the meetings report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct MeetingFilter {
    /// Only this rep (id).
    pub rep: Option<String>,
    /// Only the week (Monday to Sunday) of this day, YYYY-MM-DD.
    pub week: Option<String>,
}

/// One rep's meetings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepMeetings {
    /// The rep's id.
    pub rep_id: String,
    /// The rep's name.
    pub name: String,
    /// Planned, not yet held.
    pub planned: u32,
    /// Held (a visit started on the day or later).
    pub held: u32,
    /// Day passed, no visit started.
    pub overdue: u32,
    /// Called off.
    pub cancelled: u32,
    /// The rep's clients not yet visited with no meeting planned.
    pub unplanned_clients: u32,
}

/// A meeting in the lead's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadMeeting {
    /// The meeting's id in the client document.
    pub meeting_id: String,
    /// The client document.
    pub client_id: String,
    /// The client's company.
    pub company: String,
    /// The rep who holds it.
    pub rep_id: String,
    /// That rep's name.
    pub rep_name: String,
    /// When, `YYYY-MM-DDTHH:MM`.
    pub at: String,
    /// Where.
    pub place: String,
    /// The client's contact it is with (name, role).
    pub contact: Option<String>,
    /// `planned`, `held`, `overdue` or `cancelled`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: MeetingState,
}

/// A client not yet visited with no meeting planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnplannedClient {
    /// The client document.
    pub client_id: String,
    /// The client's company.
    pub company: String,
    /// Its rep.
    pub rep_id: String,
    /// That rep's name.
    pub rep_name: String,
}

/// The meetings report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingsReport {
    /// The day the states are as of, YYYY-MM-DD.
    pub today: String,
    /// The week shown (Monday, Sunday), when one was asked for.
    pub week: Option<(String, String)>,
    /// The programme's last day.
    pub programme_end: String,
    /// Days before the end from which unplanned clients are flagged (a setting).
    pub warning_days: u32,
    /// The end is that near (or past): the unplanned clients need meetings now.
    pub end_near: bool,
    /// Per rep (only the one asked for, if any), by name.
    pub reps: Vec<RepMeetings>,
    /// The meetings (of the week and rep asked for), by time.
    pub meetings: Vec<LeadMeeting>,
    /// Clients not yet visited with no meeting planned (of the rep asked for), by
    /// company.
    pub unplanned: Vec<UnplannedClient>,
}

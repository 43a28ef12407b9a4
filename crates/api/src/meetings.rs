//! The rep's meetings on the device: what "Мои встречи" shows and what planning,
//! moving and cancelling a meeting send.

use rapport_domain::{DocId, MeetingInput, MeetingState};
use serde::{Deserialize, Serialize};

use crate::DocSync;

/// One value of a meeting's field that two devices changed concurrently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingChoice {
    /// The value (`YYYY-MM-DDTHH:MM` for the time, the text for the place, the contact
    /// id, or `true`/`false` for cancelled).
    pub value: String,
    /// Who wrote it: a rep's name and device, "lead", or the actor when unknown.
    pub author: String,
}

/// A field of a meeting with concurrent values: the conflict card's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingFieldConflict {
    /// `at`, `place`, `contact_id` or `cancelled`.
    pub field: String,
    /// Every value, each with its author.
    pub values: Vec<MeetingChoice>,
}

/// A meeting as the rep's list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeetingCard {
    /// The meeting.
    pub meeting_id: String,
    /// The client it is with.
    pub client_id: DocId,
    /// The client's company.
    pub company: String,
    /// When, `YYYY-MM-DDTHH:MM`.
    pub at: String,
    /// Where.
    pub place: String,
    /// The client's contact it is with.
    pub contact_id: Option<String>,
    /// That contact's name (and role), if known.
    pub contact: Option<String>,
    /// Planned, held, overdue or cancelled, as of the day asked about.
    pub state: MeetingState,
    /// Fields two devices changed concurrently, waiting for a choice.
    pub conflicts: Vec<MeetingFieldConflict>,
    /// Whether the client's document (which holds the meeting) still syncs.
    pub sync: DocSync,
}

/// A contact a meeting may be with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactOption {
    /// The contact's id in the client document.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
}

/// A client the rep may plan a meeting with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingClient {
    /// The client.
    pub client_id: DocId,
    /// Company name.
    pub company: String,
    /// Its contacts still at the company.
    pub contacts: Vec<ContactOption>,
    /// A meeting with it is planned (not held, not cancelled) on or after the day asked
    /// about.
    pub planned: bool,
}

/// "Мои встречи": the rep's meetings and the clients to plan with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeetingsView {
    /// The day the states are as of, `YYYY-MM-DD`.
    pub today: String,
    /// The rep's meetings in the programme, by time.
    pub meetings: Vec<MeetingCard>,
    /// The rep's clients, by company.
    pub clients: Vec<MeetingClient>,
}

/// An edit of the rep's meetings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeetingEdit {
    /// Plan a new meeting.
    Plan {
        /// When, where, with whom.
        meeting: MeetingInput,
    },
    /// Move a meeting (or settle a conflict by choosing a value).
    Move {
        /// The meeting.
        meeting_id: String,
        /// When, where, with whom now.
        meeting: MeetingInput,
    },
    /// Call a meeting off.
    Cancel {
        /// The meeting.
        meeting_id: String,
    },
}

/// A meeting edit is on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingSaved {
    /// The client.
    pub client_id: DocId,
    /// The meeting planned, moved or cancelled.
    pub meeting_id: String,
    /// When it was saved (unix ms).
    pub saved_ms: i64,
}

/// A file the device made for the rep to save (e.g. the calendar of the meetings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOut {
    /// A file name, e.g. `meetings.ics`.
    pub name: String,
    /// Its media type, e.g. `text/calendar; charset=utf-8`.
    pub content_type: String,
    /// The content.
    pub text: String,
}

//! The device node's API: every request the UI (or the CLI) makes of the node and
//! every answer, as plain serde types.
//!
//! No IO, no async, no tokio: the crate compiles to wasm, so the Leptos UI builds
//! requests with the same types the node handles. The Tauri shell carries them as
//! JSON ([`Request`] in, `Result<`[`Response`]`, `[`ApiError`]`>` out); the CLI prints
//! the responses as JSON.
//!
//! Errors carry a stable machine code ([`ApiError::code`], never changed once
//! published) and a message a person can act on.
//!
//! [`lead`] holds the server's lead API (`/api/v1/...`): the requests the lead's UI
//! sends to the server over HTTP and the answers it reads, the same types the server
//! handles; [`routes`] gives each of its routes as a typed function (path, body,
//! answer).

pub mod lead;
pub mod meetings;
pub mod routes;

/// Domain types that appear in requests and responses.
pub use rapport_domain::{
    AnswerValue, Client, FollowUpState, MissingAnswer, QualityAnswer, ReviewRound, ReviewState,
    ScalarAnswer, Segment, Template, Verdict, Visit, VisitState,
};
use serde::{Deserialize, Serialize};

pub use meetings::{FileOut, MeetingEdit, MeetingSaved, MeetingsView};
pub use rapport_domain::visit::{ContactInput, OpportunityInput, ReferralInput};
pub use rapport_domain::{DocId, Lang, MeetingInput, MeetingState};

/// One call to the node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Pair this device with a server using the lead's one-time code.
    Pair(PairRequest),
    /// Who this device is, and what it syncs.
    Device,
    /// My clients, each with the state of its visit.
    Clients,
    /// Start a visit for a client (a new questionnaire).
    StartVisit(StartVisit),
    /// A visit with its questionnaire, to show or fill in.
    OpenVisit {
        /// The visit.
        visit_id: DocId,
    },
    /// One edit of a visit; durable on disk when the answer comes.
    EditVisit {
        /// The visit.
        visit_id: DocId,
        /// What changes.
        edit: VisitEdit,
    },
    /// Complete a visit (every required answer given); it stays editable.
    CompleteVisit {
        /// The visit.
        visit_id: DocId,
    },
    /// Every concurrent value of one answer, with who wrote each.
    AnswerConflicts {
        /// The visit.
        visit_id: DocId,
        /// The question.
        question_id: String,
    },
    /// The history of one answer: who changed it, when, to what.
    AnswerHistory {
        /// The visit.
        visit_id: DocId,
        /// The question.
        question_id: String,
    },
    /// How sync stands.
    SyncStatus,
    /// Sync now and wait for the run to end.
    SyncNow,
    /// "Мои встречи": the rep's meetings, their states as of `today`, and the clients
    /// to plan with.
    Meetings {
        /// The rep's day, `YYYY-MM-DD` (the device's clock is UTC; the page knows the
        /// local day).
        today: String,
    },
    /// Plan, move or cancel a meeting with a client; durable on disk when the answer
    /// comes.
    EditMeeting {
        /// The client.
        client_id: DocId,
        /// What changes.
        edit: MeetingEdit,
    },
    /// The rep's meetings as an iCalendar file (`.ics`), titles in `lang`.
    MeetingsCalendar {
        /// The language of the events' titles.
        lang: Lang,
    },
}

/// Pairing: the server's address and the lead's code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    /// The server, e.g. `https://rapport.example.ru` or `http://192.168.1.10:8080`.
    pub server_url: String,
    /// The one-time code, e.g. `7K2M-Q9XD-4HTB` (case and dashes do not matter).
    pub code: String,
    /// A label for this device (empty: the one the lead gave the code).
    #[serde(default)]
    pub label: String,
}

/// Starting a visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartVisit {
    /// The client visited.
    pub client_id: DocId,
    /// The meeting date, YYYY-MM-DD.
    pub date: String,
}

/// One edit of a visit. Text is sent as the whole new value; the node turns the
/// difference into character splices, so concurrent typing merges by character.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VisitEdit {
    /// A text answer's new value.
    Text {
        /// The question.
        question_id: String,
        /// The whole new text.
        value: String,
    },
    /// A yes/no, number, date or choice answer.
    Scalar {
        /// The question.
        question_id: String,
        /// The value, checked against the question's kind.
        value: ScalarAnswer,
    },
    /// A quality check (target, measured, outages); a failing one opens a follow-up.
    Quality {
        /// The question.
        question_id: String,
        /// The measurement.
        answer: QualityAnswer,
    },
    /// Choose the value of an answer that has concurrent values (or set a new one).
    Resolve {
        /// The question.
        question_id: String,
        /// The chosen value.
        chosen: AnswerValue,
    },
    /// Add (no id) or change a contact update.
    Contact {
        /// The entry to change; none adds one.
        id: Option<String>,
        /// The contact's details.
        contact: ContactInput,
    },
    /// A contact person has left the client company.
    ContactLeft {
        /// The contact update entry.
        id: String,
    },
    /// Add (no id) or change an opportunity.
    Opportunity {
        /// The entry to change; none adds one.
        id: Option<String>,
        /// The opportunity.
        opportunity: OpportunityInput,
    },
    /// Add (no id) or change a referral.
    Referral {
        /// The entry to change; none adds one.
        id: Option<String>,
        /// The referral.
        referral: ReferralInput,
    },
    /// Add a follow-up.
    AddFollowUp {
        /// What is to be done.
        description: String,
        /// Who does it (empty: not yet assigned).
        #[serde(default)]
        owner: String,
        /// Due date, YYYY-MM-DD.
        due: Option<String>,
    },
    /// Change a follow-up's state, owner or due date.
    UpdateFollowUp {
        /// The follow-up.
        id: String,
        /// New state.
        state: Option<FollowUpState>,
        /// New owner.
        owner: Option<String>,
        /// New due date.
        due: Option<String>,
    },
}

/// The node's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Response {
    /// To [`Request::Pair`] and [`Request::Device`].
    Device(DeviceInfo),
    /// To [`Request::Clients`].
    Clients(Vec<ClientCard>),
    /// To [`Request::StartVisit`], [`Request::OpenVisit`], [`Request::CompleteVisit`].
    Visit(Box<VisitDetail>),
    /// To [`Request::EditVisit`].
    Saved(Saved),
    /// To [`Request::AnswerConflicts`].
    Conflicts(Vec<ConflictView>),
    /// To [`Request::AnswerHistory`].
    History(Vec<HistoryView>),
    /// To [`Request::SyncStatus`] and [`Request::SyncNow`].
    Sync(SyncStatus),
    /// To [`Request::Meetings`].
    Meetings(MeetingsView),
    /// To [`Request::EditMeeting`].
    MeetingSaved(MeetingSaved),
    /// To [`Request::MeetingsCalendar`].
    File(FileOut),
}

/// This device as paired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The server's address.
    pub server_url: String,
    /// The device id the server gave.
    pub device_id: String,
    /// The programme it syncs.
    pub programme_id: DocId,
    /// The programme's name, once the programme view arrived.
    pub programme_name: Option<String>,
    /// The rep (none: a device of the lead).
    pub rep_id: Option<String>,
    /// The rep's name, once known.
    pub rep_name: Option<String>,
    /// The label.
    pub label: String,
    /// This device's Automerge actor (hex): every change it makes carries it.
    pub actor: String,
}

/// Whether a document still syncs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DocSync {
    /// Everything on this device is on the server.
    Synced,
    /// Edits wait for the next sync.
    Pending,
    /// The server refused the document; it stays readable here and is not sent again.
    Stopped {
        /// The refusal's code, e.g. `forbidden`.
        code: String,
        /// Why, for a person (e.g. the client was reassigned to another rep).
        message: String,
    },
}

/// A client in the rep's list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientCard {
    /// The client document.
    pub client_id: DocId,
    /// Company name.
    pub company: String,
    /// Segment.
    pub segment: Segment,
    /// The client's latest visit on this device, if any.
    pub visit: Option<VisitCard>,
    /// Follow-ups not done yet, from all of this client's visits on the device.
    #[serde(default)]
    pub open_follow_ups: usize,
    /// Whether the client document still syncs.
    pub sync: DocSync,
}

/// A visit as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitCard {
    /// The visit document.
    pub visit_id: DocId,
    /// Meeting date.
    pub date: String,
    /// Draft or completed.
    pub state: VisitState,
    /// Questions answered.
    pub answered: usize,
    /// Required questions still without an answer.
    pub missing_required: usize,
    /// Answers with concurrent values waiting for a choice.
    pub conflicts: usize,
    /// Where it stands in the lead's review (`returned`: the rep has work to do).
    #[serde(default = "draft_review")]
    pub review: ReviewState,
    /// Whether it still syncs.
    pub sync: DocSync,
}

fn draft_review() -> ReviewState {
    ReviewState::Draft
}

/// A visit opened for showing or filling in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitDetail {
    /// The visit.
    pub visit: Visit,
    /// The client, if its document is on this device.
    pub client: Option<Client>,
    /// The questionnaire (from the programme view).
    pub template: Template,
    /// Required questions still without an answer.
    pub missing: Vec<MissingAnswer>,
    /// Question ids whose answers hold concurrent values.
    pub conflicts: Vec<String>,
    /// Whether it still syncs.
    pub sync: DocSync,
}

/// An edit is on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The visit.
    pub visit_id: DocId,
    /// The id of an entry the edit added (contact, opportunity, referral, follow-up).
    pub entry_id: Option<String>,
    /// A failing quality check opened a follow-up.
    pub follow_up_opened: bool,
    /// When it was saved (unix ms).
    pub saved_ms: i64,
}

/// One concurrent value of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictView {
    /// The value.
    pub value: AnswerValue,
    /// As a person reads it.
    pub rendered: String,
    /// Who wrote it: a rep's name, "lead", or the device label; the actor when unknown.
    pub author: String,
    /// The writing device's actor (hex).
    pub actor: String,
}

/// One step of an answer's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryView {
    /// When (unix ms, the device's clock at the edit).
    pub time_ms: i64,
    /// Who: a rep's name, "lead", or the device label; the actor when unknown.
    pub author: String,
    /// The answer right after the change.
    pub value: String,
}

/// How sync stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct SyncStatus {
    /// Paired with a server.
    pub paired: bool,
    /// A run is going on now.
    pub running: bool,
    /// Documents with edits the server does not have yet.
    pub pending_docs: usize,
    /// Their size on this device (bytes of unsent changes, estimated).
    pub pending_bytes: u64,
    /// When the last run finished without error (unix ms).
    pub last_success_ms: Option<i64>,
    /// When the last run ended (unix ms).
    pub last_attempt_ms: Option<i64>,
    /// Why the last run failed, if it did.
    pub last_error: Option<ApiError>,
    /// When the next automatic attempt is due (unix ms), if one is planned.
    pub next_attempt_ms: Option<i64>,
    /// Documents the server refused: kept here, not sent again.
    pub stopped: Vec<StoppedDoc>,
    /// Totals of the last run.
    pub last_run: Option<RunSummary>,
}

/// A document the server refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedDoc {
    /// The document.
    pub doc_id: DocId,
    /// What it is: "visit", "client", ...
    pub kind: String,
    /// The refusal's code.
    pub code: String,
    /// Why.
    pub message: String,
    /// When (unix ms).
    pub at_ms: i64,
}

/// What one sync run moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunSummary {
    /// HTTP requests made.
    pub requests: u32,
    /// Bytes sent (request bodies).
    pub bytes_sent: u64,
    /// Bytes received (response bodies).
    pub bytes_received: u64,
    /// Documents sent.
    pub docs_sent: usize,
    /// Documents changed by the server's changes.
    pub docs_received: usize,
    /// How long it took (ms).
    pub duration_ms: u64,
}

/// Something the UI may show as it happens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A sync run started.
    SyncStarted,
    /// A round trip of the run ended.
    SyncProgress {
        /// Requests so far.
        requests: u32,
        /// Documents sent so far.
        docs_sent: usize,
        /// Documents changed by the server so far.
        docs_received: usize,
    },
    /// The run ended (successfully or not): the status after it.
    SyncFinished(SyncStatus),
    /// Documents changed by sync (show them again).
    DocsChanged {
        /// The documents.
        doc_ids: Vec<DocId>,
    },
}

/// One HTTP call to the server's API that the app makes for the lead's pages (a page
/// in the app's webview may not call another origin itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCall {
    /// The server's base address (`http://host:port`); empty means the page's origin.
    pub server: String,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The path with its query; must start with `/api/v1/`.
    pub path: String,
    /// The lead's session token, if signed in.
    #[serde(default)]
    pub token: Option<String>,
    /// The body's media type, if there is a body.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The body.
    #[serde(default)]
    pub body: Vec<u8>,
}

/// What the app tells its UI about a stream of the server's events that it follows
/// for a lead's page (the Tauri event `rapport://lead-event`): each event's name as it
/// arrives, then the end. `stream_id` is the one the page chose when it asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerStreamEvent {
    /// An event of the stream, by name (e.g. `status`).
    Event {
        /// The stream it belongs to.
        stream_id: String,
        /// The event's name.
        name: String,
    },
    /// The stream ended: the server closed it (`error` is `None`), or it was cut or
    /// could not be read (`error` says why). Nothing more comes for this stream.
    End {
        /// The stream it belongs to.
        stream_id: String,
        /// Why it ended, when that was not the server closing it.
        #[serde(default)]
        error: Option<ApiError>,
    },
}

impl ServerStreamEvent {
    /// The stream this is about.
    pub fn stream_id(&self) -> &str {
        match self {
            Self::Event { stream_id, .. } | Self::End { stream_id, .. } => stream_id,
        }
    }
}

/// The server's 2xx answer to a [`ServerCall`] (other answers are its [`ApiError`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReply {
    /// The media type of the body.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// An error for a person, with a stable code for programs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine code, e.g. `not_paired`, `device_revoked`, `offline`.
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// Details for some codes (e.g. the missing answers of `visit_incomplete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<MissingAnswer>>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            missing: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_json_with_cyrillic() {
        let visit_id = DocId::random();
        let requests = vec![
            Request::EditVisit {
                visit_id,
                edit: VisitEdit::Text {
                    question_id: "q_needs".into(),
                    value: "Нужен второй канал связи 🚀".into(),
                },
            },
            Request::EditVisit {
                visit_id,
                edit: VisitEdit::Scalar {
                    question_id: "q_satisfied".into(),
                    value: ScalarAnswer::YesNo(true),
                },
            },
            Request::Pair(PairRequest {
                server_url: "http://127.0.0.1:8080".into(),
                code: "7k2m-q9xd-4htb".into(),
                label: "Планшет Иванова".into(),
            }),
            Request::SyncNow,
            Request::EditMeeting {
                client_id: visit_id,
                edit: MeetingEdit::Plan {
                    meeting: MeetingInput {
                        at: "2026-12-07T10:30".into(),
                        place: "Офис клиента, Тверская 1".into(),
                        contact_id: None,
                    },
                },
            },
            Request::Meetings {
                today: "2026-12-07".into(),
            },
        ];
        for request in requests {
            let json = serde_json::to_string(&request).expect("serialize");
            let back: Request = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, request, "{json}");
        }
    }

    #[test]
    fn the_wire_shape_is_tagged_and_readable() {
        let json = serde_json::to_value(Request::OpenVisit {
            visit_id: DocId::random(),
        })
        .expect("serialize");
        assert_eq!(json["op"], "open_visit");
        let err: Result<Request, _> = serde_json::from_str(r#"{"op":"fly_to_moon"}"#);
        assert!(err.is_err());
    }
}

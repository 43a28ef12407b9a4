//! The server's HTTP API for the programme lead (`/api/v1/...`): every JSON request
//! body and JSON response, as plain serde types.
//!
//! The server handles exactly these types and the UI sends and reads them, so the two
//! cannot drift apart. With the `openapi` feature they also describe themselves to
//! utoipa (the server's OpenAPI document: their doc comments are its descriptions);
//! without it the module compiles to wasm.
//!
//! Every lead route needs `Authorization: Bearer <token>` from [`Session`]; a device
//! route the device token from [`Paired`]. Every error is an [`ErrorBody`].
//! `{id}` is a programme id. [`crate::routes`] has one typed function per row below.
//!
//! | Route | Body | Answer |
//! |---|---|---|
//! | `POST /api/v1/auth/sign-in` | [`SignIn`] | [`Session`] |
//! | `POST /api/v1/auth/sign-out` | — | 204 |
//! | `GET /api/v1/auth/me` | — | [`LeadInfo`] |
//! | `POST /api/v1/devices/pair` | [`DevicePairRequest`] | [`Paired`] |
//! | `GET /api/v1/devices/me` | — | [`ServerDeviceInfo`] |
//! | `GET /api/v1/programmes` | — | `Vec<`[`ProgrammeSummary`]`>` |
//! | `POST /api/v1/programmes` | [`NewProgramme`] | 201 [`Programme`] |
//! | `GET /api/v1/programmes/{id}` | — | [`Programme`] |
//! | `PUT /api/v1/programmes/{id}` | [`Settings`] | [`Programme`] |
//! | `GET /api/v1/programmes/{id}/status` | — | [`ProgrammeStatus`] |
//! | `GET /api/v1/programmes/{id}/clients` | — | `Vec<`[`ClientView`]`>` |
//! | `POST /api/v1/programmes/{id}/clients` | [`NewClient`] | 201 [`NewClientId`] |
//! | `PUT /api/v1/programmes/{id}/clients/{client_id}` | [`ClientEdit`] | [`Client`] |
//! | `POST /api/v1/programmes/{id}/clients/import?`[`ImportQuery`] | CSV or XLSX bytes | [`ImportOutcome`] |
//! | `PUT /api/v1/programmes/{id}/clients/{client_id}/relationship` | [`Relationship`] | `Option<`[`Assignment`]`>` |
//! | `GET /api/v1/programmes/{id}/reps` | — | `Vec<`[`RepView`]`>` |
//! | `POST /api/v1/programmes/{id}/reps` | [`RepInput`] | 201 [`NewRep`] |
//! | `PUT /api/v1/programmes/{id}/reps/{rep_id}` | [`RepInput`] | [`RepView`] |
//! | `POST /api/v1/programmes/{id}/template/questions` | [`NewQuestion`] | 201 [`Template`] |
//! | `PUT /api/v1/programmes/{id}/template/questions/{qid}` | [`QuestionChange`] | [`Template`] |
//! | `DELETE /api/v1/programmes/{id}/template/questions/{qid}` | — | [`Template`] |
//! | `GET /api/v1/programmes/{id}/assignments/suggestion` | — | [`SuggestionView`] |
//! | `POST /api/v1/programmes/{id}/assignments/apply` | — | [`Programme`] |
//! | `PUT /api/v1/programmes/{id}/assignments/{client_id}` | [`Override`] | `Option<`[`Assignment`]`>` |
//! | `POST /api/v1/programmes/{id}/pairing-codes` | [`NewPairingCode`] | 201 [`PairingCode`] |
//! | `GET /api/v1/programmes/{id}/devices` | — | `Vec<`[`DeviceView`]`>` |
//! | `POST /api/v1/programmes/{id}/devices/{device_id}/revoke` | — | 204 |
//! | `GET /api/v1/programmes/{id}/follow-ups?`[`FollowUpFilter`] | — | `Vec<`[`FollowUpView`]`>` |
//! | `PATCH /api/v1/programmes/{id}/visits/{visit_id}/follow-ups/{follow_up_id}` | [`FollowUpPatch`] | [`FollowUp`] |
//! | `GET /api/v1/programmes/{id}/referrals` | — | `Vec<`[`ReferralView`]`>` |
//! | `GET /api/v1/programmes/{id}/opportunities` | — | `Vec<`[`OpportunityView`]`>` |
//! | `GET /api/v1/programmes/{id}/exports/{file}` | — | file bytes |
//! | `GET /healthz` | — | [`Health`] |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rep's load in an assignment suggestion.
pub use rapport_domain::assign::RepLoad;
/// The merged programme status (`GET /api/v1/programmes/{id}/status`) and its parts.
pub use rapport_domain::status::{
    OpenFollowUp, OpportunityTotal, ProgrammeStatus, QualityFailure, RepStatus, VisitCounts,
};
/// Documents that lead routes return whole, and values that their fields hold.
pub use rapport_domain::{
    Assignment, Capacity, Client, FollowUp, FollowUpState, OpportunityKind, Programme,
    QuestionKind, Reason, Section, Segment, Strength, Template, VisitState,
};

// ---------------------------------------------------------------------------------
// Errors

/// The body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code (e.g. `invalid_credentials`).
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorDetail {}

impl From<ErrorDetail> for crate::ApiError {
    fn from(e: ErrorDetail) -> Self {
        crate::ApiError::new(e.code, e.message)
    }
}

/// The error of a server answer that is not 2xx: the server's own when the body is an
/// [`ErrorBody`], otherwise one that names the status (a proxy's page, an empty body).
pub fn server_error(status: u16, body: &[u8]) -> crate::ApiError {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error.into())
        .unwrap_or_else(|_| {
            crate::ApiError::new(
                "http_status",
                format!("the server answered with status {status}"),
            )
        })
}

// ---------------------------------------------------------------------------------
// Sign-in and pairing (`/api/v1/auth/...`, `/api/v1/devices/...`)

/// E-mail and password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignIn {
    /// The lead's e-mail.
    pub email: String,
    /// The password.
    pub password: String,
}

/// A lead's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When it ends (unix ms).
    pub expires_ms: i64,
    /// Who signed in.
    pub lead: LeadInfo,
}

/// A lead account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadInfo {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
}

/// A device asking to be paired.
//
// Named apart from the node's `crate::PairRequest` (what the UI sends its own device
// node); the OpenAPI name stays `PairRequest`. Doc comments here are the OpenAPI
// descriptions, hence these plain comments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PairRequest))]
pub struct DevicePairRequest {
    /// The one-time code the lead gave (case, spaces and dashes do not matter).
    pub code: String,
    /// The device's Automerge actor id (hex, 16 bytes or more), made fresh on the device.
    pub actor: String,
    /// A label, e.g. "Планшет Иванова" (empty: the label the lead gave the code).
    #[serde(default)]
    pub label: String,
}

/// A paired device's credentials and what it syncs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Paired {
    /// The device id.
    pub device_id: String,
    /// The device token: send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    /// The programme the device syncs.
    pub programme_id: String,
    /// The rep (none: a device of the lead).
    pub rep_id: Option<String>,
    /// The label.
    pub label: String,
}

/// What the server knows of the calling device.
//
// Named apart from the node's `crate::DeviceInfo` (the device as its node sees it);
// the OpenAPI name stays `DeviceInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DeviceInfo))]
pub struct ServerDeviceInfo {
    /// The device id.
    pub device_id: String,
    /// The programme it syncs.
    pub programme_id: String,
    /// The rep (none: the lead's device).
    pub rep_id: Option<String>,
    /// The label.
    pub label: String,
    /// The server's clock (unix ms).
    pub server_time_ms: i64,
}

// ---------------------------------------------------------------------------------
// Programmes (`/api/v1/programmes`, `/api/v1/programmes/{id}`)

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
}

// ---------------------------------------------------------------------------------
// Clients (`/api/v1/programmes/{id}/clients...`)

/// A key contact of a new client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ContactBody {
    /// Full name (required).
    pub name: String,
    /// Role.
    pub role: String,
    /// Phone.
    pub phone: String,
    /// E-mail.
    pub email: String,
}

/// A new client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewClient {
    /// Company name.
    pub company: String,
    /// `corporate` or `key_private`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub segment: Segment,
    /// The rep who originally won the client (rep id or e-mail).
    #[serde(default)]
    pub original_rep: Option<String>,
    /// `excellent`, `good`, `weak` or `unknown` (default).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub relationship: Option<Strength>,
    /// The original rep shields the client from colleagues.
    #[serde(default)]
    pub monopolised: bool,
    /// A key contact.
    #[serde(default)]
    pub contact: Option<ContactBody>,
    /// Relationship notes.
    #[serde(default)]
    pub notes: String,
}

/// The new client's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewClientId {
    /// Client document id.
    pub id: String,
}

/// Changes to a client; absent fields stay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientEdit {
    /// New company name.
    pub company: Option<String>,
    /// New segment.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub segment: Option<Segment>,
    /// New relationship notes (replaces the text).
    pub notes: Option<String>,
}

/// What is known about a client's original rep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Relationship {
    /// The rep who originally won the client (rep id), or null.
    pub original_rep: Option<String>,
    /// `excellent`, `good`, `weak` or `unknown`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub strength: Strength,
    /// The original rep shields the client from colleagues.
    pub monopolised: bool,
}

/// Import options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ImportQuery {
    /// Only check the file; store nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The file's name (its extension helps when the content type is missing).
    pub filename: Option<String>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportOutcome {
    /// Nothing was stored: the file was only checked.
    pub dry_run: bool,
    /// Rows imported (in a dry run: rows that would be imported).
    pub imported: usize,
    /// Ids of the new client documents, in file order (empty in a dry run).
    pub clients: Vec<String>,
    /// Every refused row: `{line, column, code, message, message_en}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub errors: Vec<ImportRowError>,
    /// Remarks that refuse nothing, "Russian / English".
    pub warnings: Vec<String>,
}

/// A refused row of an import: that row is not imported, the others are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRowError {
    /// The row number as Excel shows it (header = 1).
    pub line: usize,
    /// The column header as written in the file, when the problem is in one cell.
    pub column: Option<String>,
    /// A stable code for programs, e.g. `duplicate_company`.
    pub code: String,
    /// What is wrong and how to fix it, in Russian.
    pub message: String,
    /// The same in English.
    pub message_en: String,
}

/// A client as the lead's client list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientView {
    /// Client document id.
    pub id: String,
    /// Company name.
    pub company: String,
    /// `corporate` or `key_private`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub segment: Segment,
    /// The rep now responsible (id), if assigned.
    pub current_rep: Option<String>,
    /// That rep's name.
    pub current_rep_name: Option<String>,
    /// The rep who originally won the client (id or e-mail as recorded).
    pub original_rep: Option<String>,
    /// Key contacts still at the company.
    pub contacts: usize,
    /// Date of the latest visit, YYYY-MM-DD.
    pub last_visit_date: Option<String>,
    /// State of the latest visit: `draft` or `completed`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_visit_state: Option<VisitState>,
}

// ---------------------------------------------------------------------------------
// Reps (`/api/v1/programmes/{id}/reps...`)

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

// ---------------------------------------------------------------------------------
// Template (`/api/v1/programmes/{id}/template/questions...`)

/// A new question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewQuestion {
    /// Stable id, e.g. `carnegie.hobby`; answers are keyed by it.
    pub id: String,
    /// Section, e.g. `carnegie`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub section: Section,
    /// Kind, e.g. `{"kind":"text"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub kind: QuestionKind,
    /// Russian wording.
    pub wording_ru: String,
    /// English wording.
    pub wording_en: String,
    /// Completing a visit needs an answer.
    #[serde(default)]
    pub required: bool,
    /// Put it after this question of the section (first when absent).
    pub after: Option<String>,
}

/// Changes to a question: new wording (both languages) and/or a new place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionChange {
    /// New Russian wording (give both or neither).
    pub wording_ru: Option<String>,
    /// New English wording.
    pub wording_en: Option<String>,
    /// Move after this question; `""` moves it first in its section.
    pub after: Option<String>,
}

// ---------------------------------------------------------------------------------
// Assignments (`/api/v1/programmes/{id}/assignments...`)

/// One suggested assignment, ready to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestionRow {
    /// Client document id.
    pub client_id: String,
    /// The client's company.
    pub company: String,
    /// The suggested rep.
    pub rep_id: String,
    /// That rep's name.
    pub rep_name: String,
    /// The rep now responsible, if any.
    pub current_rep: Option<String>,
    /// Whether applying would change the client's rep.
    pub changes: bool,
    /// The reason as stored (`{"kind": …}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub reason: Reason,
    /// The reason in Russian.
    pub reason_ru: String,
    /// The reason in English.
    pub reason_en: String,
}

/// The suggestion for the whole programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestionView {
    /// One row per client, by client id.
    pub assignments: Vec<SuggestionRow>,
    /// Load per eligible rep: `{rep_id: {clients, capacity_percent}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub loads: BTreeMap<String, RepLoad>,
}

/// A hand-made assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Override {
    /// The rep to take the client.
    pub rep_id: String,
    /// Why, in the lead's words (e.g. "монополизация", "capacity"); stored as the
    /// lead's decision.
    pub reason: String,
}

// ---------------------------------------------------------------------------------
// Devices (`/api/v1/programmes/{id}/pairing-codes`, `.../devices...`)

/// Who the code is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPairingCode {
    /// The rep whose device will use it; none: a device of the lead (sees everything).
    pub rep_id: Option<String>,
    /// A label for the device, e.g. "Планшет Иванова".
    #[serde(default)]
    pub label: String,
    /// Minutes until it expires (default from the configuration, at most 7 days).
    pub expires_in_minutes: Option<u32>,
}

/// A one-time pairing code. Shown once: the server keeps only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingCode {
    /// The code to type on the device, e.g. `7K2M-Q9XD-4HTB`.
    pub code: String,
    /// When it expires (unix ms).
    pub expires_ms: i64,
    /// The rep (none: the lead's device).
    pub rep_id: Option<String>,
}

/// A paired device.
//
// The server's stored row without its token hash; the OpenAPI name stays `DeviceRow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DeviceRow))]
pub struct DeviceView {
    /// Device id.
    pub id: String,
    /// The programme it syncs.
    pub programme_id: String,
    /// The rep it belongs to (none: a device of the lead).
    pub rep_id: Option<String>,
    /// Its Automerge actor (hex).
    pub actor: String,
    /// A label, e.g. "Планшет Иванова".
    pub label: String,
    /// When paired (unix ms).
    pub created_ms: i64,
    /// Last sync (unix ms).
    pub last_seen_ms: Option<i64>,
    /// When revoked (unix ms); a revoked device is refused at once.
    pub revoked_ms: Option<i64>,
    /// Documents the server refuses from this device for good, latest first: the
    /// device keeps them (stopped, retried at each start) until the server accepts
    /// them, e.g. once their client is assigned to the device's rep again.
    #[serde(default)]
    pub refused: Vec<RefusedDoc>,
}

/// A document the server refused a device for good (the device keeps it, stopped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedDoc {
    /// The document id.
    pub doc_id: String,
    /// `visit`, `client`, `programme` or `programme_view` when the server knows the
    /// document (one refused on its first upload is unknown to it).
    pub kind: Option<String>,
    /// The company of the document's client, when known.
    pub client: Option<String>,
    /// The sync protocol's code: `forbidden`, `rejected`, `invalid`, `too_large` or
    /// `not_found`.
    pub code: String,
    /// Why, as the server told the device (English).
    pub message: String,
    /// The last refusal (unix ms).
    pub at_ms: i64,
}

// ---------------------------------------------------------------------------------
// Results (`/api/v1/programmes/{id}/follow-ups`, `referrals`, `opportunities`)

/// Filters of the follow-up list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct FollowUpFilter {
    /// Only this state: `open`, `in_progress` or `done`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub state: Option<FollowUpState>,
    /// Only this owner (exact).
    pub owner: Option<String>,
}

/// Changes to a follow-up; absent fields stay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowUpPatch {
    /// New state.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub state: Option<FollowUpState>,
    /// New owner.
    pub owner: Option<String>,
    /// New due date, YYYY-MM-DD.
    pub due: Option<String>,
}

/// A follow-up of a visit, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowUpView {
    /// The follow-up's id within its visit.
    pub id: String,
    /// The visit document.
    pub visit_id: String,
    /// The client document.
    pub client_id: String,
    /// The client's company.
    pub client_company: String,
    /// What is to be done.
    pub description: String,
    /// Who does it; empty when nobody yet.
    pub owner: String,
    /// Due date, YYYY-MM-DD.
    pub due: Option<String>,
    /// `open`, `in_progress` or `done`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: FollowUpState,
    /// Due before today and not done.
    pub overdue: bool,
    /// The question that caused it, if any.
    pub source_question_id: Option<String>,
}

/// A referral collected on a visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralView {
    /// The referral's id within its visit.
    pub id: String,
    /// The visit document.
    pub visit_id: String,
    /// The client who gave it.
    pub client_id: String,
    /// That client's company.
    pub client_company: String,
    /// The rep who held the visit.
    pub rep_id: String,
    /// The visit date.
    pub visit_date: String,
    /// The person's name.
    pub name: String,
    /// Their company.
    pub company: String,
    /// How to reach them.
    pub contact: String,
    /// Free note.
    pub note: String,
}

/// A sales opportunity found on a visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpportunityView {
    /// The opportunity's id within its visit.
    pub id: String,
    /// The visit document.
    pub visit_id: String,
    /// The client.
    pub client_id: String,
    /// The client's company.
    pub client_company: String,
    /// The rep who held the visit.
    pub rep_id: String,
    /// The visit date.
    pub visit_date: String,
    /// `growth` or `cross_sell`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: OpportunityKind,
    /// What was found.
    pub description: String,
    /// The product concerned.
    pub product: String,
    /// Estimated value.
    pub value: f64,
    /// Currency of the value.
    pub currency: String,
}

// ---------------------------------------------------------------------------------
// Operations (`/healthz`)

/// What `/healthz` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The server's version.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_keeps_its_code_and_words_and_anything_else_names_the_status() {
        let body = r#"{"error":{"code":"invalid_credentials","message":"неверный пароль"}}"#;
        let err = server_error(401, body.as_bytes());
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("invalid_credentials", "неверный пароль")
        );
        let proxy = server_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(proxy.code, "http_status");
        assert!(proxy.message.contains("502"), "{proxy:?}");
        assert_eq!(server_error(500, b"").code, "http_status");
    }
    use serde::de::DeserializeOwned;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
        let json = serde_json::to_string(value).expect("serialize");
        let back: T = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(&back, value, "{json}");
    }

    #[test]
    fn lead_types_round_trip_through_json_with_cyrillic() {
        round_trip(&Session {
            token: "rps_абв".into(),
            expires_ms: 1_800_000_000_000,
            lead: LeadInfo {
                id: "lead-1".into(),
                email: "ольга@пример.рф".into(),
                name: "Ольга Смирнова 🌟".into(),
            },
        });
        round_trip(&NewClient {
            company: "ООО «Ромашка»".into(),
            segment: Segment::KeyPrivate,
            original_rep: Some("rep-иванов".into()),
            relationship: Some(Strength::Excellent),
            monopolised: true,
            contact: Some(ContactBody {
                name: "Пётр Ильич".into(),
                role: "финансовый директор".into(),
                ..ContactBody::default()
            }),
            notes: "Любит рыбалку 🎣".into(),
        });
        round_trip(&FollowUpView {
            id: "f1".into(),
            visit_id: "v1".into(),
            client_id: "c1".into(),
            client_company: "АО «Север»".into(),
            description: "Перезвонить по тарифу".into(),
            owner: "Иван".into(),
            due: Some("2027-03-01".into()),
            state: FollowUpState::InProgress,
            overdue: true,
            source_question_id: None,
        });
        round_trip(&DevicePairRequest {
            code: "7k2m-q9xd-4htb".into(),
            actor: "ab".repeat(16),
            label: "Планшет Иванова".into(),
        });
    }

    #[test]
    fn an_error_body_from_the_server_parses() {
        let body =
            r#"{"error":{"code":"invalid_credentials","message":"неверный e-mail или пароль"}}"#;
        let parsed: ErrorBody = serde_json::from_str(body).expect("error body");
        assert_eq!(parsed.error.code, "invalid_credentials");
        assert_eq!(
            parsed.error.to_string(),
            "неверный e-mail или пароль (invalid_credentials)"
        );
        // And it serialises back to the same shape the server sends.
        let value = serde_json::to_value(&parsed).expect("serialize");
        let original: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(value, original);
    }

    #[test]
    fn absent_fields_take_the_servers_defaults() {
        let rep: RepInput =
            serde_json::from_str(r#"{"name":"Иван Петров","capacity":{"kind":"dedicated"}}"#)
                .expect("rep");
        assert!(rep.active, "a rep added without `active` takes part");
        assert_eq!(rep.email, "");
        let contact: ContactBody = serde_json::from_str(r#"{"name":"Анна"}"#).expect("contact");
        assert_eq!(contact.phone, "");
        let pair: DevicePairRequest =
            serde_json::from_str(r#"{"code":"x","actor":"ab"}"#).expect("pair");
        assert_eq!(pair.label, "");
        let query: ImportQuery = serde_json::from_str("{}").expect("query");
        assert!(!query.dry_run);
        let refused: Result<Relationship, _> = serde_json::from_str(
            r#"{"original_rep":null,"strength":"отличные","monopolised":false}"#,
        );
        assert!(refused.is_err(), "an unknown strength is refused");
    }
}

//! Clients (`/api/v1/programmes/{id}/clients...`).

use rapport_domain::{Segment, Strength, VisitState};
use serde::{Deserialize, Serialize};

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
    /// The lead's choice of field per column, as a JSON object: the header as the file
    /// writes it → a field's name ([`ImportColumns::fields`]) or `""` to skip the
    /// column. Headers not named are guessed.
    pub columns: Option<String>,
}

/// A file's columns as the import would read them
/// (`POST /api/v1/programmes/{id}/clients/import/columns`), for the lead to confirm or
/// change before importing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportColumns {
    /// The file's headers in order, each with the field guessed for it.
    pub columns: Vec<ImportColumn>,
    /// The fields a column can be read into, in the order a form lists them
    /// (`company` is the one a file must have).
    pub fields: Vec<String>,
}

/// One column of a file to import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportColumn {
    /// The header as the file writes it.
    pub header: String,
    /// The field guessed from the header, if any.
    pub guess: Option<String>,
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
    /// The latest visit's document id.
    #[serde(default)]
    pub last_visit_id: Option<String>,
    /// Where the latest visit stands in the lead's review: `draft`, `awaiting_review`,
    /// `returned` or `accepted`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default)]
    pub last_visit_review: Option<rapport_domain::ReviewState>,
    /// The next meeting planned with the client (not held, not cancelled),
    /// `YYYY-MM-DDTHH:MM`.
    #[serde(default)]
    pub next_meeting: Option<String>,
}

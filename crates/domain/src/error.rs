//! Errors of the domain crate: typed, each with a stable code for clients.

use serde::{Deserialize, Serialize};

use crate::lang::Localized;

/// Why an edit was refused. Nothing is written to the document when an edit
/// returns an error (validation happens first, and the transaction is rolled
/// back on any later failure).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The question id is not in the template.
    #[error("unknown question {question_id:?}: it is not in the programme's template")]
    UnknownQuestion {
        /// The question id given.
        question_id: String,
    },
    /// The value does not fit the question's kind.
    #[error("question {question_id:?} takes a {expected} answer, not a {given} answer")]
    WrongAnswerKind {
        /// The question id.
        question_id: String,
        /// The kind the template asks for.
        expected: &'static str,
        /// The kind that was given.
        given: &'static str,
    },
    /// A choice answer names an option the question does not have.
    #[error("question {question_id:?} has no option {option_id:?}")]
    UnknownOption {
        /// The question id.
        question_id: String,
        /// The option id given.
        option_id: String,
    },
    /// A date is not a valid calendar date in the form YYYY-MM-DD.
    #[error("{field}: {value:?} is not a date in the form YYYY-MM-DD (e.g. 2026-03-31)")]
    InvalidDate {
        /// Which field.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// A date and time is not a valid one in the form YYYY-MM-DDTHH:MM.
    #[error(
        "{field}: {value:?} is not a date and time in the form YYYY-MM-DDTHH:MM (e.g. 2026-03-31T14:30)"
    )]
    InvalidDateTime {
        /// Which field.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// A number is NaN or infinite.
    #[error("{field}: the number must be finite")]
    NotFinite {
        /// Which field.
        field: &'static str,
    },
    /// A number that must not be negative is negative.
    #[error("{field}: {value} is negative; give zero or more")]
    Negative {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A required text field is empty.
    #[error("{field} is required and must not be empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// A period that ends before it starts.
    #[error("the period ends on {end} before it starts on {start}; swap or correct the dates")]
    PeriodReversed {
        /// First day given.
        start: String,
        /// Last day given.
        end: String,
    },
    /// A number outside the range its field takes.
    #[error("{field}: {value} is outside {min}..={max}; give a number in that range")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: i64,
        /// The least it takes.
        min: i64,
        /// The most it takes.
        max: i64,
    },
    /// A share capacity outside 1..=100 percent.
    #[error("a capacity share must be 1..=100 percent, not {percent}")]
    InvalidShare {
        /// The percent given.
        percent: u32,
    },
    /// An entry (contact, opportunity, rep, ...) that the edit names does not exist.
    #[error("no {what} with id {id:?} in this document")]
    NotFound {
        /// What kind of entry.
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// An entry with this id exists already.
    #[error("a {what} with id {id:?} exists already; pick another id")]
    Duplicate {
        /// What kind of entry.
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// The visit cannot be completed: required answers are missing.
    #[error("the visit cannot be completed: {} required answer(s) missing (first: {:?})",
        missing.len(), missing.first().map(|m| m.wording.en.as_str()).unwrap_or(""))]
    Incomplete {
        /// The required answers that are missing.
        missing: Vec<MissingAnswer>,
    },
    /// A review of a visit that is not completed.
    #[error("only a completed visit can be reviewed: the rep has not completed it yet")]
    NotCompleted,
    /// A review of a completion that was reviewed already.
    #[error(
        "this completion of the visit was reviewed already (at {at_ms} ms): the rep completes it again before the next review"
    )]
    AlreadyReviewed {
        /// When the earlier review was given.
        at_ms: i64,
    },
    /// A text longer than its field takes.
    #[error("{field} is longer than {max} characters; shorten it")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// The most characters it takes.
        max: usize,
    },
    /// The document is not of the expected shape.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Automerge refused an operation (a bug or a corrupt document). Boxed, like
    /// `Reconcile`: 120 bytes that would make every edit's `Result` large.
    #[error("automerge: {0}")]
    Automerge(Box<automerge::AutomergeError>),
    /// autosurgeon could not write a value (a bug or a corrupt document).
    #[error("writing the document failed: {0}")]
    Reconcile(Box<autosurgeon::ReconcileError>),
}

impl From<automerge::AutomergeError> for DomainError {
    fn from(e: automerge::AutomergeError) -> Self {
        Self::Automerge(Box::new(e))
    }
}

impl From<autosurgeon::ReconcileError> for DomainError {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        Self::Reconcile(Box::new(e))
    }
}

impl DomainError {
    /// A stable code for clients (does not change when the message does).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownQuestion { .. } => "unknown_question",
            Self::WrongAnswerKind { .. } => "wrong_answer_kind",
            Self::UnknownOption { .. } => "unknown_option",
            Self::InvalidDate { .. } => "invalid_date",
            Self::InvalidDateTime { .. } => "invalid_date_time",
            Self::NotFinite { .. } => "not_finite",
            Self::Negative { .. } => "negative_value",
            Self::Empty { .. } => "empty_required_field",
            Self::InvalidShare { .. } => "invalid_share",
            Self::OutOfRange { .. } => "out_of_range",
            Self::PeriodReversed { .. } => "period_reversed",
            Self::NotFound { .. } => "not_found",
            Self::Duplicate { .. } => "duplicate_id",
            Self::Incomplete { .. } => "visit_incomplete",
            Self::NotCompleted => "visit_not_completed",
            Self::AlreadyReviewed { .. } => "already_reviewed",
            Self::TooLong { .. } => "too_long",
            Self::Schema(e) => e.code(),
            Self::Automerge(_) => "automerge_error",
            Self::Reconcile(_) => "reconcile_error",
        }
    }
}

/// A required question without an answer: why a visit cannot be completed
/// ([`DomainError::Incomplete`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingAnswer {
    /// The question id.
    pub question_id: String,
    /// The question's wording, in both languages.
    pub wording: Localized,
}

/// Why a document does not pass the schema check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// The root has no string `"type"`.
    #[error("the document has no \"type\" at its root (expected programme, client or visit)")]
    MissingType,
    /// The root's `"type"` is not one we know, or not the one expected.
    #[error("the document's type is {found:?}, expected {expected}")]
    WrongType {
        /// What was expected.
        expected: &'static str,
        /// What the document says.
        found: String,
    },
    /// The root's `"schema"` is missing or a version this build does not know.
    #[error("the document's schema version is {found:?}; this build reads version {expected}")]
    UnsupportedSchema {
        /// What this build reads.
        expected: i64,
        /// What the document says (None: missing or not an integer).
        found: Option<i64>,
    },
    /// The document does not read into its typed form.
    #[error("the {kind} document is malformed: {message}")]
    Malformed {
        /// The document kind.
        kind: &'static str,
        /// What autosurgeon reported.
        message: String,
    },
}

impl SchemaError {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingType => "schema_missing_type",
            Self::WrongType { .. } => "schema_wrong_type",
            Self::UnsupportedSchema { .. } => "schema_unsupported_version",
            Self::Malformed { .. } => "schema_malformed",
        }
    }
}

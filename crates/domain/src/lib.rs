//! The VIP programme of docs/domain.md as typed Rust, mapped to Automerge documents.
//!
//! Pure: no IO, no async, no clock. Time is always a parameter (`now_ms`, unix
//! milliseconds) and becomes the change time of the commit. The server, the
//! device node, the sync tests and the (wasm) UI all build on it.
//!
//! Four kinds of documents, one Automerge document each:
//! - [`programme`]: name, period, lead, reps, the questionnaire [`template`],
//!   assignments, client list, devices;
//! - [`client`]: company, segment, key contacts, relationship notes (Text), and the
//!   [`meeting`]s planned with the client;
//! - [`visit`]: one filled VIP questionnaire, answers keyed by question id;
//! - [`view`]: the part of a programme reps' devices receive (published by the server).
//!
//! Analyses over them: [`conflicts`] (concurrent values and answer history),
//! [`assign`] (assignment suggestion), [`status`] (programme status) and
//! [`check`] (the schema check the server runs before accepting changes).

pub mod assign;
pub mod check;
pub mod client;
pub mod conflicts;
mod doc;
pub mod error;
pub mod ids;
pub mod lang;
pub mod meeting;
mod one_pass;
pub mod programme;
pub mod status;
pub mod template;
pub mod view;
pub mod visit;

pub use assign::{
    AssignError, Capacity, ClientForAssignment, Reason, RepCapacity, Strength, SuggestedAssignment,
    Suggestion, suggest_assignments,
};
pub use check::{
    Checked, DocKind, DocScope, SCHEMA_VERSION, check_and_read, check_document, doc_scope,
};
pub use client::{Client, Contact, Segment};
pub use conflicts::{
    ConflictValue, HistoryEntry, answer_conflicts, answer_history, conflicted_answers,
    resolve_answer,
};
pub use error::{DomainError, SchemaError};
pub use ids::{DocId, ParseDocIdError};
pub use lang::{Lang, Localized};
pub use meeting::{Meeting, MeetingConflict, MeetingInput, MeetingState, MeetingValue};
pub use programme::{
    ACTOR_PREFIX_HEX, Assignment, AssignmentChange, Lead, Period, Programme, ProgrammeInit, Rep,
};
pub use status::{
    ClientSummary, ProgrammeRoster, ProgrammeStatus, RepSummary, VisitSummary, programme_status,
};
pub use template::{ChoiceOption, Question, QuestionKind, Section, Template, default_template};
pub use view::{ProgrammeView, RepCard, publish_view, read_view, view_id};
pub use visit::{
    AnswerValue, ContactInput, FollowUp, FollowUpState, MissingAnswer, Opportunity,
    OpportunityKind, QualityAnswer, Referral, ReviewInput, ReviewRound, ReviewState, ScalarAnswer,
    Verdict, Visit, VisitInit, VisitState, validate_visit_completion,
};

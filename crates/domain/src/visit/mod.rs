//! The visit document: one filled VIP questionnaire.
//!
//! Answers live in the `answers` map keyed by question id. Text answers are
//! Automerge Text objects created when the visit is created, so two people
//! typing into one answer edit one object and merge by character. Entries
//! that several people add to (contact updates, opportunities, referrals,
//! follow-ups) are maps keyed by generated ids, each with `created_ms`.
//!
//! Here: the visit itself (creating, reading, completing it). Its parts, whose
//! names are all re-exported here: `answers` (answer values and setting them)
//! and `entries` (contacts, opportunities, referrals, follow-ups, quality
//! checks), both writing through `edit`.

mod answers;
mod edit;
mod entries;
mod review;

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ScalarValue};
use autosurgeon::{Hydrate, Reconcile, reconcile_prop};
use serde::{Deserialize, Serialize};

pub use self::answers::{
    AnswerValue, QualityAnswer, ScalarAnswer, set_scalar_answer, set_text_answer,
};
pub use self::entries::{
    ContactInput, ContactUpdate, FollowUp, FollowUpState, Opportunity, OpportunityInput,
    OpportunityKind, Referral, ReferralInput, add_follow_up, mark_contact_update_left,
    put_contact_update, put_opportunity, put_referral, quality_follow_up_id, record_quality_check,
    update_follow_up,
};
pub use self::review::{
    MAX_COMMENT_CHARS, REVIEWS, ReviewInput, ReviewRound, ReviewState, Verdict, review_visit,
    reviews_print, touches_reviews,
};
use crate::doc::{DocKind, check_date, commit, expect_kind, non_empty, write_header};
pub use crate::error::MissingAnswer;
use crate::error::{DomainError, SchemaError};
use crate::ids::DocId;
use crate::template::{QuestionKind, Template};

/// Whether a visit is still being filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Being filled in.
    #[autosurgeon(rename = "draft")]
    Draft,
    /// Completed (still editable; later edits are recorded).
    #[autosurgeon(rename = "completed")]
    Completed,
}

/// A visit document read into typed form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate)]
pub struct Visit {
    /// This visit's document id.
    pub id: DocId,
    /// The programme document.
    pub programme_id: DocId,
    /// The client document.
    pub client_id: DocId,
    /// Meeting date, YYYY-MM-DD.
    pub date: String,
    /// The rep who held the meeting.
    pub rep_id: String,
    /// Draft or completed.
    pub state: VisitState,
    /// When it was (last) completed.
    pub completed_ms: Option<i64>,
    /// When it was last edited after completion.
    pub edited_after_completion_ms: Option<i64>,
    /// When the visit document was created.
    pub created_ms: i64,
    /// Answers keyed by question id.
    pub answers: BTreeMap<String, AnswerValue>,
    /// Contact updates keyed by generated id.
    pub contact_updates: BTreeMap<String, ContactUpdate>,
    /// Opportunities keyed by generated id.
    pub opportunities: BTreeMap<String, Opportunity>,
    /// Referrals keyed by generated id.
    pub referrals: BTreeMap<String, Referral>,
    /// Follow-ups keyed by id (quality follow-ups: `"quality:<question id>"`).
    pub follow_ups: BTreeMap<String, FollowUp>,
    /// The lead's review rounds keyed by generated id (none in visits made before
    /// reviews existed).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub reviews: BTreeMap<String, ReviewRound>,
}

/// What is needed to create a visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitInit {
    /// The new visit's document id.
    pub id: DocId,
    /// The programme document.
    pub programme_id: DocId,
    /// The client document.
    pub client_id: DocId,
    /// Meeting date, YYYY-MM-DD.
    pub date: String,
    /// The rep holding the meeting.
    pub rep_id: String,
}

/// Creates a visit document: header, empty collections, and one Text object
/// per text question of the current template (so concurrent typing into an
/// answer edits one object). `actor` is the device's actor id.
pub fn new_visit(
    actor: automerge::ActorId,
    init: &VisitInit,
    template: &Template,
    now_ms: i64,
) -> Result<Automerge, DomainError> {
    check_date("visit date", &init.date)?;
    non_empty("rep id", &init.rep_id)?;
    let mut doc = Automerge::new().with_actor(actor);
    commit(&mut doc, now_ms, "create visit", |tx| {
        write_header(tx, DocKind::Visit)?;
        reconcile_prop(tx, ROOT, "id", init.id)?;
        reconcile_prop(tx, ROOT, "programme_id", init.programme_id)?;
        reconcile_prop(tx, ROOT, "client_id", init.client_id)?;
        tx.put(ROOT, "date", init.date.as_str())?;
        tx.put(ROOT, "rep_id", init.rep_id.as_str())?;
        reconcile_prop(tx, ROOT, "state", VisitState::Draft)?;
        tx.put(ROOT, "completed_ms", ScalarValue::Null)?;
        tx.put(ROOT, "edited_after_completion_ms", ScalarValue::Null)?;
        tx.put(ROOT, "created_ms", now_ms)?;
        let answers = tx.put_object(ROOT, "answers", ObjType::Map)?;
        for q in template.active() {
            if q.kind == QuestionKind::Text {
                tx.put_object(&answers, q.id.as_str(), ObjType::Text)?;
            }
        }
        for key in [
            "contact_updates",
            "opportunities",
            "referrals",
            "follow_ups",
            REVIEWS,
        ] {
            tx.put_object(ROOT, key, ObjType::Map)?;
        }
        Ok(())
    })?;
    Ok(doc)
}

/// Reads a visit document into typed form (type and schema checked).
pub fn read_visit(doc: &Automerge) -> Result<Visit, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    autosurgeon::hydrate(doc).map_err(|e| {
        SchemaError::Malformed {
            kind: "visit",
            message: e.to_string(),
        }
        .into()
    })
}

/// The required answers missing for completing `visit` under `template`.
/// Contacts and referrals questions are answered by at least one contact
/// update or referral. Retired questions are never required.
pub fn validate_visit_completion(visit: &Visit, template: &Template) -> Vec<MissingAnswer> {
    template
        .active()
        .into_iter()
        .filter(|q| q.required)
        .filter(|q| match q.kind {
            QuestionKind::Contacts => visit.contact_updates.is_empty(),
            QuestionKind::Referrals => visit.referrals.is_empty(),
            _ => !visit.answers.get(&q.id).is_some_and(AnswerValue::is_given),
        })
        .map(|q| MissingAnswer {
            question_id: q.id.clone(),
            wording: q.wording.clone(),
        })
        .collect()
}

/// Completes the visit, refusing when required answers are missing.
/// Completing again refreshes `completed_ms`.
pub fn complete_visit(
    doc: &mut Automerge,
    template: &Template,
    now_ms: i64,
) -> Result<(), DomainError> {
    let visit = read_visit(doc)?;
    let missing = validate_visit_completion(&visit, template);
    if !missing.is_empty() {
        return Err(DomainError::Incomplete { missing });
    }
    commit(doc, now_ms, "complete visit", |tx| {
        reconcile_prop(tx, ROOT, "state", VisitState::Completed)?;
        tx.put(ROOT, "completed_ms", now_ms)?;
        Ok(())
    })
}

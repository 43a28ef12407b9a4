//! The visit document: one filled VIP questionnaire.
//!
//! Answers live in the `answers` map keyed by question id. Text answers are
//! Automerge Text objects created when the visit is created, so two people
//! typing into one answer edit one object and merge by character. Entries
//! that several people add to (contact updates, opportunities, referrals,
//! follow-ups) are maps keyed by generated ids, each with `created_ms`.
//!
//! Here: the visit itself (creating, reading, completing it, and the lead's review
//! of it). Its parts, whose names are all re-exported here: `answers` (answer
//! values and setting them), `entries` (contacts, opportunities, referrals,
//! follow-ups, quality checks), both writing through `edit`, and `review` (the
//! rounds of review and which changes write them).

mod answers;
mod edit;
mod entries;
mod review;

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
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
    MAX_COMMENT_CHARS, REVIEWS, ReviewInput, ReviewRound, ReviewState, Verdict, holds_reviews,
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
    let malformed = |e: autosurgeon::HydrateError| -> DomainError {
        SchemaError::Malformed {
            kind: "visit",
            message: e.to_string(),
        }
        .into()
    };
    let mut visit: Visit = crate::one_pass::hydrate_whole(doc).map_err(malformed)?;
    // Two writers that each made the `reviews` map (two leads reviewing a visit made
    // before reviews existed, at once) leave two maps where one wins: the rounds of
    // every one count, so none is hidden by another.
    let maps = doc.get_all(ROOT, REVIEWS)?;
    if maps.len() > 1 {
        for (value, map) in maps {
            if !matches!(value, Value::Object(ObjType::Map)) {
                continue;
            }
            for key in doc.keys(&map) {
                let round: ReviewRound =
                    autosurgeon::hydrate_prop(doc, &map, key.as_str()).map_err(malformed)?;
                visit.reviews.insert(key, round);
            }
        }
    }
    Ok(visit)
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

impl Visit {
    /// The rounds, oldest first.
    pub fn review_rounds(&self) -> Vec<(&String, &ReviewRound)> {
        let mut rounds: Vec<_> = self.reviews.iter().collect();
        rounds.sort_by(|a, b| (a.1.at_ms, a.0).cmp(&(b.1.at_ms, b.0)));
        rounds
    }

    /// The round that judged the current completion (the newest, when two leads judged
    /// it at once); `None` when the visit was completed again since, or never reviewed.
    pub fn current_review(&self) -> Option<&ReviewRound> {
        let completed = self.completed_ms?;
        self.review_rounds()
            .into_iter()
            .rev()
            .map(|(_, r)| r)
            .find(|r| r.completion_ms == completed)
    }

    /// Where the visit stands in the review.
    pub fn review_state(&self) -> ReviewState {
        if self.state != VisitState::Completed {
            return ReviewState::Draft;
        }
        match self.current_review().map(|r| r.verdict) {
            Some(Verdict::Accepted) => ReviewState::Accepted,
            Some(Verdict::Returned) => ReviewState::Returned,
            None => ReviewState::AwaitingReview,
        }
    }

    /// The return the rep has to act on: the current round, when it returned the visit.
    pub fn open_return(&self) -> Option<&ReviewRound> {
        self.current_review()
            .filter(|r| r.verdict == Verdict::Returned)
    }
}

/// Records a lead's review of the visit's current completion as round `id`.
///
/// Refused (nothing written) when the visit is not completed, when this completion was
/// reviewed already (the rep completes it again first), when a return says nothing
/// (no comment on the visit or on any answer), when an answer comment names a question
/// the template does not have, or when a comment is longer than
/// [`MAX_COMMENT_CHARS`].
pub fn review_visit(
    doc: &mut Automerge,
    template: &Template,
    id: &str,
    input: &ReviewInput,
    by: &str,
    now_ms: i64,
) -> Result<ReviewRound, DomainError> {
    let visit = read_visit(doc)?;
    let Some(verdict) = input.verdict else {
        return Err(DomainError::Empty { field: "verdict" });
    };
    let completion_ms = match (visit.state, visit.completed_ms) {
        (VisitState::Completed, Some(ms)) => ms,
        _ => return Err(DomainError::NotCompleted),
    };
    if let Some(done) = visit.current_review() {
        return Err(DomainError::AlreadyReviewed { at_ms: done.at_ms });
    }
    let comment = input.comment.trim().to_owned();
    let answer_comments: BTreeMap<String, String> = input
        .answer_comments
        .iter()
        .map(|(q, c)| (q.clone(), c.trim().to_owned()))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    for question_id in answer_comments.keys() {
        if template.question(question_id).is_none() {
            return Err(DomainError::UnknownQuestion {
                question_id: question_id.clone(),
            });
        }
    }
    if std::iter::once(&comment)
        .chain(answer_comments.values())
        .any(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(DomainError::TooLong {
            field: "review comment",
            max: MAX_COMMENT_CHARS,
        });
    }
    if verdict == Verdict::Returned && comment.is_empty() && answer_comments.is_empty() {
        return Err(DomainError::Empty {
            field: "the comment of a return (say what to rework)",
        });
    }
    if visit.reviews.contains_key(id) {
        return Err(DomainError::Duplicate {
            what: "review",
            id: id.to_owned(),
        });
    }
    let round = ReviewRound {
        verdict,
        comment,
        answer_comments,
        by: by.trim().to_owned(),
        at_ms: now_ms,
        completion_ms,
    };
    let msg = match verdict {
        Verdict::Accepted => "accept visit",
        Verdict::Returned => "return visit for rework",
    };
    // Not `edit`: a review is not an edit of the completed visit by the rep.
    crate::doc::commit(doc, now_ms, msg, |tx| {
        let reviews = match tx.get(ROOT, REVIEWS)? {
            Some((Value::Object(ObjType::Map), map)) => map,
            _ => tx.put_object(ROOT, REVIEWS, ObjType::Map)?,
        };
        reconcile_prop(tx, &reviews, id, &round)?;
        Ok(())
    })?;
    Ok(round)
}

//! The review round: the lead reads a completed visit and accepts it or returns it for
//! rework, with a comment on the whole visit and on single answers; the rep edits and
//! completes it again; the round repeats as needed.
//!
//! Each round is an entry of its own in the visit's `reviews` map, keyed by a
//! generated id and never changed after: two reviews, or a review and the rep's edits,
//! merge without touching each other. A round names the completion it judged (the
//! visit's `completed_ms` then), so where the visit stands is read, not stored: a
//! completion after the last round puts the visit back in the lead's queue, whatever
//! the round said, and a return that crossed the rep's new completion in the network
//! leaves its comments in the history but the visit awaiting review.
//!
//! Only the programme's leads write reviews: the server refuses a change of the
//! `reviews` map by any other author ([`touches_reviews`]).

use std::collections::{BTreeMap, HashSet};

use automerge::{Automerge, ObjId, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::doc::{DocKind, expect_kind};

/// The key of the rounds in a visit document.
pub const REVIEWS: &str = "reviews";

/// The longest comment, in characters (whole visit or one answer).
pub const MAX_COMMENT_CHARS: usize = 4_000;

/// What the lead decided of one completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// "Принято": the visit is done.
    #[autosurgeon(rename = "accepted")]
    Accepted,
    /// "На доработку": the rep is to rework it and complete it again.
    #[autosurgeon(rename = "returned")]
    Returned,
}

/// One review: what a lead said of one completion of the visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct ReviewRound {
    /// Accepted or returned.
    pub verdict: Verdict,
    /// The comment on the whole visit (may be empty when accepted).
    pub comment: String,
    /// Comments on single answers, by question id.
    pub answer_comments: BTreeMap<String, String>,
    /// The lead's name, as the history shows it.
    pub by: String,
    /// When the lead gave the verdict.
    pub at_ms: i64,
    /// The completion judged: the visit's `completed_ms` at the time.
    pub completion_ms: i64,
}

/// What a lead gives to review a visit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewInput {
    /// Accepted or returned.
    pub verdict: Option<Verdict>,
    /// The comment on the whole visit.
    #[serde(default)]
    pub comment: String,
    /// Comments on single answers, by question id (empty ones are dropped).
    #[serde(default)]
    pub answer_comments: BTreeMap<String, String>,
}

/// Where a visit stands in the review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Not completed yet.
    Draft,
    /// Completed, and this completion not reviewed yet.
    AwaitingReview,
    /// Returned for rework, not completed again since.
    Returned,
    /// Accepted, not completed again since.
    Accepted,
}

impl ReviewState {
    /// The state as the API and the exports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::AwaitingReview => "awaiting_review",
            Self::Returned => "returned",
            Self::Accepted => "accepted",
        }
    }
}

/// Walks the `reviews` map and everything in it, every conflicting value included, and
/// calls `seen(object, key, value's id, whether it is an object)` for each value.
fn walk_reviews(doc: &Automerge, mut seen: impl FnMut(&ObjId, &str, &ObjId, bool)) {
    let mut todo: Vec<ObjId> = Vec::new();
    for (value, id) in doc.get_all(ROOT, REVIEWS).unwrap_or_default() {
        let object = matches!(value, Value::Object(_));
        seen(&ROOT, REVIEWS, &id, object);
        if object {
            todo.push(id);
        }
    }
    let mut done: HashSet<ObjId> = HashSet::new();
    // Bounded by the document: each object is visited once.
    while let Some(obj) = todo.pop() {
        if !done.insert(obj.clone()) {
            continue;
        }
        for key in doc.keys(&obj) {
            for (value, id) in doc.get_all(&obj, key.as_str()).unwrap_or_default() {
                let object = matches!(value, Value::Object(_));
                seen(&obj, &key, &id, object);
                if object {
                    todo.push(id);
                }
            }
        }
    }
}

/// The objects of the `reviews` map and everything in it: what only a lead's change
/// may touch.
fn review_objects(doc: &Automerge) -> HashSet<ObjId> {
    let mut found = HashSet::new();
    walk_reviews(doc, |_, _, id, object| {
        if object {
            found.insert(id.clone());
        }
    });
    found
}

/// A print of the visit's reviews: every value in them by the operation that wrote it.
/// Two prints differ exactly when a change wrote the reviews, so a server compares the
/// print before and after an upload and looks into the upload's changes
/// ([`touches_reviews`], which decodes them) only when it moved.
pub fn reviews_print(doc: &Automerge) -> Vec<String> {
    let mut print = Vec::new();
    walk_reviews(doc, |obj, key, id, _| {
        print.push(format!("{obj}/{key}={id}"))
    });
    print.sort();
    print
}

/// Whether the visit's reviews hold anything: a value inside the `reviews` map, or more
/// than one value of the map itself (puts in conflict). A visit as created holds none,
/// and neither does one whose map was emptied or deleted. What a server asks of a
/// document new to it, whose every change is new: only one that holds reviews can have
/// had them written by its changes, so only then are the changes decoded
/// ([`touches_reviews`]).
pub fn holds_reviews(doc: &Automerge) -> bool {
    let mut maps = 0;
    let mut inside = false;
    walk_reviews(doc, |obj, _, _, _| {
        if *obj == ROOT {
            maps += 1;
        } else {
            inside = true;
        }
    });
    inside || maps > 1
}

/// Whether `change` writes the visit's reviews: an operation on the `reviews` map or
/// anything in it, or one that puts or deletes the map itself, except in the change
/// that creates the document (which makes it empty). `doc` holds the change.
pub fn touches_reviews(doc: &Automerge, change: &automerge::Change) -> bool {
    if expect_kind(doc, DocKind::Visit).is_err() {
        return false;
    }
    let objects: HashSet<(u64, automerge::ActorId)> = review_objects(doc)
        .into_iter()
        .filter_map(|id| match id {
            ObjId::Id(counter, actor, _) => Some((counter, actor)),
            ObjId::Root => None,
        })
        .collect();
    let creates_document = change.deps().is_empty();
    change.decode().operations.iter().any(|op| match &op.obj {
        automerge::legacy::ObjectId::Root => {
            !creates_document
                && matches!(&op.key, automerge::legacy::Key::Map(k) if k.as_str() == REVIEWS)
        }
        automerge::legacy::ObjectId::Id(at) => {
            objects.contains(&(at.counter(), at.actor().clone()))
        }
    })
}

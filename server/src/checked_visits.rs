//! Visits the sync's check has read, kept for the projector: a visit a device just
//! uploaded is projected from the typed form the check made of the same content,
//! instead of reading the document a second time (the read is most of a visit's
//! projection).
//!
//! A kept visit is named by its document and the heads it was read at, and is taken
//! only by a copy with the same heads: the same changes, so the same content, whoever
//! committed them and whatever the store went through meanwhile. One that is never
//! taken (the upload was refused after the check, or another process projected it) is
//! dropped when the memo fills up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use automerge::{Automerge, ChangeHash};
use rapport_domain::visit::Visit;
use rapport_store::DocId;

/// Visits kept at most (a visit's typed form is a few kilobytes): a burst of syncs
/// commits and is projected well within it.
const KEPT: usize = 1024;

/// A kept visit: the heads it was read at (sorted) and its typed form.
type Kept = (Vec<ChangeHash>, Arc<Visit>);

/// The memo; one per process, shared by the sync requests and the projector.
#[derive(Debug, Default)]
pub struct CheckedVisits {
    kept: Mutex<HashMap<DocId, Kept>>,
    /// Visits projected from a kept read.
    taken: AtomicU64,
}

fn sorted_heads(doc: &Automerge) -> Vec<ChangeHash> {
    let mut heads = doc.get_heads();
    heads.sort_unstable();
    heads
}

impl CheckedVisits {
    /// Keeps `visit`, read from `doc` (document `id`).
    pub fn keep(&self, id: DocId, doc: &Automerge, visit: Visit) {
        let heads = sorted_heads(doc);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= KEPT && !kept.contains_key(&id) {
            kept.clear();
        }
        kept.insert(id, (heads, Arc::new(visit)));
    }

    /// The visit kept for document `id` when it was read at the heads of `doc`, taken
    /// out. One kept at other heads stays: it may be of a commit not ended yet (the
    /// check keeps it before the commit) that the projector reads next.
    pub fn take(&self, id: DocId, doc: &Automerge) -> Option<Arc<Visit>> {
        let heads = sorted_heads(doc);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.get(&id).is_none_or(|(at, _)| *at != heads) {
            return None;
        }
        let (_, visit) = kept.remove(&id)?;
        self.taken.fetch_add(1, Ordering::Relaxed);
        Some(visit)
    }

    /// Visits projected from a kept read so far (`/metrics`).
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use rapport_domain::visit::{new_visit, read_visit, set_text_answer};
    use rapport_domain::{VisitInit, default_template};

    use super::*;

    fn visit() -> (DocId, Automerge) {
        let id = DocId::random();
        let doc = new_visit(
            automerge::ActorId::random(),
            &VisitInit {
                id,
                programme_id: DocId::random(),
                client_id: DocId::random(),
                date: "2026-12-07".into(),
                rep_id: "иванов".into(),
            },
            &default_template(),
            1,
        )
        .expect("visit");
        (id, doc)
    }

    #[test]
    fn a_kept_visit_is_taken_once_and_only_at_its_heads() {
        let memo = CheckedVisits::default();
        let (id, doc) = visit();
        let read = read_visit(&doc).expect("read");
        memo.keep(id, &doc, read.clone());
        let taken = memo.take(id, &doc).expect("taken at its heads");
        assert_eq!(*taken, read);
        assert!(memo.take(id, &doc).is_none(), "taken once");

        // Kept before an edit: the edited copy does not take it.
        memo.keep(id, &doc, read);
        let mut edited = doc.clone();
        set_text_answer(
            &mut edited,
            &default_template(),
            "carnegie.plans",
            "Новый склад в Твери",
            2,
        )
        .expect("edit");
        assert!(memo.take(id, &edited).is_none(), "other heads");
        assert!(
            memo.take(id, &doc).is_some(),
            "still kept for its own heads"
        );
        assert_eq!(memo.taken(), 2);
    }

    #[test]
    fn the_memo_stays_bounded() {
        let memo = CheckedVisits::default();
        let (_, doc) = visit();
        let read = read_visit(&doc).expect("read");
        for _ in 0..(KEPT * 2 + 5) {
            memo.keep(DocId::random(), &doc, read.clone());
        }
        let kept = memo.kept.lock().expect("lock").len();
        assert!(kept <= KEPT, "{kept} kept");
    }
}

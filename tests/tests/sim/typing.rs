//! The people's part of a step: a rep types into a document on the tablet or starts a
//! visit; the lead edits, and the lead's writer puts the change on the server at once.

use automerge::ChangeHash;
use rapport_core::{IndexEntry, NodeError};
use rapport_domain::DocId;

use crate::sim::world::World;

impl World {
    /// A rep types into a document on the tablet: mostly a visit of their own (a rep
    /// types into the visits they hold), sometimes any visit or client of the tablet.
    pub(super) fn rep_edit(&mut self) {
        let slot = self.rng.index(self.devices.len());
        let entries: Vec<IndexEntry> = self.devices[slot]
            .indexed()
            .into_iter()
            .filter(|e| e.kind == "visit" || e.kind == "client")
            .collect();
        let own: Vec<IndexEntry> = entries
            .iter()
            .filter(|e| self.owner.get(&e.doc) == Some(&slot))
            .cloned()
            .collect();
        let pool = if !own.is_empty() && self.rng.chance(750) {
            own
        } else {
            entries
        };
        if pool.is_empty() {
            return;
        }
        let entry = self.rng.pick(&pool).clone();
        let Some(edit) = self.content.draw(&entry.kind, false, &mut self.rng) else {
            return;
        };
        let now = self.now_ms;
        let content = &self.content;
        let result = self.devices[slot].edit(entry.doc, |doc| {
            content.apply(&edit, doc, now).map_err(NodeError::from)
        });
        self.edited(slot, entry.doc, result);
    }

    /// A rep starts a visit of a client on the tablet.
    pub(super) fn new_visit(&mut self) {
        let slot = self.rng.index(self.devices.len());
        let clients: Vec<DocId> = self.devices[slot]
            .indexed()
            .into_iter()
            .filter(|e| e.kind == "client")
            .map(|e| e.doc)
            .collect();
        if clients.is_empty() {
            return;
        }
        let client = *self.rng.pick(&clients);
        let id = DocId::from_bytes(self.rng.uuid_bytes());
        let device = &self.devices[slot];
        let rep = device.pairing().rep_id.unwrap_or_default();
        let doc = self
            .content
            .visit_doc(device.edit_actor(), id, client, &rep, self.now_ms);
        let entry = IndexEntry {
            doc: id,
            kind: "visit".into(),
            client: Some(client),
        };
        let result = device.save_new(id, &doc, entry);
        if result.is_ok() {
            self.stats.new_visits += 1;
            self.owner.insert(id, slot);
        }
        self.edited(slot, id, result);
    }

    /// Books an edit's outcome: saved changes go to the ledger; a write that failed
    /// on a dying tablet kills it.
    fn edited(&mut self, slot: usize, doc: DocId, result: Result<Vec<ChangeHash>, NodeError>) {
        match result {
            Ok(hashes) => {
                self.stats.edits += 1;
                self.ledger.saved(doc, &hashes, &format!("tablet {slot}"));
                if let Some(marks) = self.devices[slot].marks() {
                    marks.edits.extend(hashes.iter().copied());
                }
                self.trace
                    .record(format!("{slot} saved {} change(s) of {doc}", hashes.len()));
            }
            Err(NodeError::Store(e)) if self.devices[slot].dying => {
                self.trace.record(format!("{slot} edit failed: {e}"));
                self.die(slot);
            }
            Err(e) => {
                self.stats.edits_refused += 1;
                self.trace
                    .record(format!("{slot} edit refused: {}", e.code()));
            }
        }
    }

    /// The lead edits a document (`doc`, or one drawn) and the change goes to the
    /// server at once; true when a change was saved. Touching `doc` (`Some`), it tries
    /// a few edits until one changes something (answering "yes" again changes nothing).
    pub(super) fn lead_edit(&mut self, doc: Option<DocId>) -> bool {
        let entries = self.lead.indexed();
        let entry = match doc {
            Some(doc) => match entries.into_iter().find(|e| e.doc == doc) {
                Some(e) => e,
                None => return false,
            },
            None => self.rng.pick(&entries).clone(),
        };
        let lead = doc.is_none();
        let mut saved = false;
        for _ in 0..if lead { 1 } else { 8 } {
            let Some(edit) = self.content.draw(&entry.kind, lead, &mut self.rng) else {
                break;
            };
            let now = self.now_ms;
            let content = &self.content;
            let result = self.lead.edit(entry.doc, |d| {
                content.apply(&edit, d, now).map_err(NodeError::from)
            });
            match result {
                Ok(hashes) => {
                    self.stats.lead_edits += 1;
                    self.ledger.saved(entry.doc, &hashes, "lead");
                    self.trace.record(format!(
                        "lead saved {} change(s) of {}",
                        hashes.len(),
                        entry.doc
                    ));
                    saved = !hashes.is_empty();
                }
                Err(e) => {
                    self.stats.edits_refused += 1;
                    self.trace
                        .record(format!("lead edit refused: {}", e.code()));
                }
            }
            if saved {
                break;
            }
        }
        self.lead_sync();
        saved
    }
}

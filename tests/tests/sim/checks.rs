//! Checks at the end of every sync run that says it finished, while the faults go on:
//! a finished run must have left nothing behind in either direction.
//!
//! - **Up**: the server holds every change the tablet holds, but those the tablet saved
//!   while the run went (a run sends what was saved when it took the document) and those
//!   of documents the device is refused.
//! - **Down**: the tablet holds every change the server held when the run began, of the
//!   documents the device may read.
//!
//! Neither holds, nor is checked, across a server restore during the run (the server
//! lost what the run gave it), for a run handed the answer to another request (the
//! network's worst confusion: the run may believe what an older answer said; the next
//! run repairs it), and, down, for a device two tablets have synced as (the server's
//! sync state for the device may then be the other tablet's: `findings.rs`).

use std::collections::BTreeSet;

use rapport_domain::DocId;
use rapport_testkit::MemServer;

use crate::sim::device::RunMarks;
use crate::sim::ledger::holds;
use crate::sim::world::World;

impl World {
    /// What to note about the run `slot` begins now.
    pub(super) fn marks_for(&self, slot: usize) -> RunMarks {
        let id = self.devices[slot].server_id();
        RunMarks {
            restores: self.stats.server_restores,
            refused: self.transport.forbidden_to(id),
            server: Some(self.transport.server.snapshot()),
            ..RunMarks::default()
        }
    }

    /// The store of `slot` was put back: if another tablet now syncs as the same
    /// device, that device is never checked down again (`findings.rs`: the server's sync
    /// state for it says what either tablet holds, and stays wrong after one of them
    /// left).
    pub(super) fn note_shared(&mut self, slot: usize) {
        let id = self.devices[slot].server_id();
        if self
            .devices
            .iter()
            .any(|d| d.slot != slot && d.server_id() == id)
        {
            self.shared_ids.insert(id);
        }
    }

    /// Checks a run of `slot` that ended `Ok`; panics with what it left behind.
    pub(super) fn check_run(&mut self, slot: usize, marks: RunMarks) {
        if marks.confused || marks.restores != self.stats.server_restores {
            return;
        }
        let device = &self.devices[slot];
        let id = device.server_id();
        let mut skip: BTreeSet<DocId> = marks.refused.clone();
        skip.extend(self.transport.forbidden_to(id));
        skip.extend(device.stopped().into_iter().map(|s| s.doc_id));
        let server = &self.transport.server;
        for doc in device.doc_ids() {
            if skip.contains(&doc) {
                continue;
            }
            let mine = device.doc(doc).expect("listed");
            let theirs = server.load(&doc);
            if mine.get_heads().iter().all(|h| holds(&theirs, h)) {
                continue;
            }
            for change in mine.get_changes_meta(&[]) {
                assert!(
                    marks.edits.contains(&change.hash) || holds(&theirs, &change.hash),
                    "tablet {slot} (device {id}) finished a run, but the server lacks its change {} of {doc}",
                    change.hash
                );
            }
        }
        self.stats.runs_checked += 1;
        if self.shared_ids.contains(&id) {
            return;
        }
        let Some(before) = marks.server else { return };
        let mut past = MemServer::default();
        past.restore(before);
        for doc in past.doc_ids() {
            if skip.contains(&doc) {
                continue;
            }
            let theirs = past.load(&doc);
            let mine = device.doc(doc);
            for head in theirs.get_heads() {
                assert!(
                    mine.as_ref().is_some_and(|m| holds(m, &head)),
                    "tablet {slot} (device {id}) finished a run, but lacks change {head} of {doc} the server held when it began"
                );
            }
        }
        self.stats.runs_checked_down += 1;
    }
}

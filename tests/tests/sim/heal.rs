//! The end of a seed: the faults stop, everyone gets access back and is paired, every
//! app starts again, and a bounded number of clean rounds of sync must bring every
//! replica to the same documents with nothing lost and nothing stuck.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ChangeHash};
use rapport_domain::{DocId, check_document};

use crate::sim::device::SimDevice;
use crate::sim::ledger::holds;
use crate::sim::world::World;

/// Clean rounds (every tablet, then the lead, syncs once) allowed to converge. A
/// round after a start reconciles; after a server restore the first round puts back
/// on the server what each tablet holds, the second brings it to the tablets that
/// synced earlier in the round; a tablet whose access came back receives the touched
/// documents in the first. Four leave a margin.
const ROUNDS: u64 = 4;
/// Runs a tablet gets in one round to complete one (a run that hit a transient error,
/// such as a response that was full, ends and the next continues).
const RUNS: usize = 8;

/// What the seed ended with, for the determinism check and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The trace's hash, final heads mixed in.
    pub trace: u64,
    /// Documents on the server at the end.
    pub docs: usize,
}

impl World {
    /// Stops the faults and syncs everyone cleanly; panics with what is wrong when the
    /// replicas do not converge or something saved is missing.
    pub fn heal(&mut self) -> Ending {
        self.trace.record("healing");
        let held = self.held_anywhere();
        // The network delivers what it still carries; the apps that would read the
        // answers restart below.
        for request in std::mem::take(&mut self.net.requests) {
            let _ = self.transport.answer(
                &request.token,
                &request.instance,
                request.path,
                &request.body,
            );
        }
        self.net.responses.clear();
        self.revoke_due(true);
        for (id, doc) in self.transport.forbidden() {
            self.regrant(id, doc);
        }
        for slot in 0..self.devices.len() {
            self.devices[slot].reopen();
        }
        for slot in 0..self.devices.len() {
            if self.transport.is_revoked(self.devices[slot].server_id()) {
                self.pair_again(slot);
            }
        }
        for round in 1..=ROUNDS {
            for slot in 0..self.devices.len() {
                let run = self.devices[slot].sync_complete(&mut self.transport, RUNS);
                self.trace.record(format!(
                    "{slot} clean run: {} request(s), {} doc(s) sent, {} received",
                    run.requests, run.docs_sent, run.docs_received
                ));
            }
            self.lead_sync();
            if self.converged().is_ok() {
                self.stats.heal_rounds = round;
                self.stats.max_heal_rounds = round;
                return self.check(&held);
            }
        }
        let why = self.converged().expect_err("not converged");
        panic!("no convergence after {ROUNDS} clean rounds: {why}");
    }

    /// Every change of every document some replica holds as the faults stop.
    fn held_anywhere(&self) -> BTreeMap<DocId, BTreeSet<ChangeHash>> {
        let mut held: BTreeMap<DocId, BTreeSet<ChangeHash>> = BTreeMap::new();
        let server = &self.transport.server;
        for id in server.doc_ids() {
            held.entry(id)
                .or_default()
                .extend(hashes(&server.load(&id)));
        }
        for d in self.replicas() {
            for id in d.doc_ids() {
                if let Some(doc) = d.doc(id) {
                    held.entry(id).or_default().extend(hashes(&doc));
                }
            }
        }
        held
    }

    fn replicas(&self) -> impl Iterator<Item = &SimDevice> {
        self.devices.iter().chain(std::iter::once(&self.lead))
    }

    /// Whether every replica holds the server's documents at the server's heads, with
    /// nothing dirty, stopped or revoked; else what differs first.
    fn converged(&self) -> Result<(), String> {
        let server = &self.transport.server;
        let ids = server.doc_ids();
        let heads: Vec<_> = ids
            .iter()
            .map(|id| sorted_heads(&server.load(id)))
            .collect();
        for d in self.replicas() {
            let who = format!("tablet {} (device {})", d.slot, d.server_id());
            let held = d.doc_ids();
            if held != ids {
                let extra: Vec<_> = held.iter().filter(|i| !ids.contains(i)).collect();
                let lacking: Vec<_> = ids.iter().filter(|i| !held.contains(i)).collect();
                return Err(format!(
                    "{who} holds other documents than the server: only on the tablet {extra:?}, only on the server {lacking:?}"
                ));
            }
            for (id, heads) in ids.iter().zip(&heads) {
                let doc = d.doc(*id).expect("listed");
                if sorted_heads(&doc) != *heads {
                    let theirs = server.load(id);
                    let only_here = hashes(&doc).iter().filter(|h| !holds(&theirs, h)).count();
                    let only_there = hashes(&theirs).iter().filter(|h| !holds(&doc, h)).count();
                    return Err(format!(
                        "{who} has {id} at other heads than the server ({only_here} change(s) only on the tablet, {only_there} only on the server)"
                    ));
                }
            }
            let dirty = d.dirty();
            if !dirty.is_empty() {
                return Err(format!("{who} still has dirty documents {dirty:?}"));
            }
            let stopped = d.stopped();
            if !stopped.is_empty() {
                return Err(format!("{who} still has stopped documents {stopped:?}"));
            }
            if d.knows_revoked() {
                return Err(format!("{who} still believes it is revoked"));
            }
        }
        Ok(())
    }

    /// After convergence: nothing saved is missing anywhere; the documents are valid;
    /// the server stored no change twice.
    fn check(&mut self, held: &BTreeMap<DocId, BTreeSet<ChangeHash>>) -> Ending {
        let server = &self.transport.server;
        let ids = server.doc_ids();
        let mut missing = self.ledger.missing(|doc| Some(server.load(&doc)));
        for (doc, hashes) in held {
            let copy = server.load(doc);
            for hash in hashes {
                if !holds(&copy, hash) {
                    missing.push(format!("{doc} {hash} (held when the faults stopped)"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "{} saved change(s) are not on the server: {}",
            missing.len(),
            missing.join("; ")
        );
        for id in &ids {
            let doc = server.load(id);
            if let Err(e) = check_document(&doc) {
                panic!("the merged document {id} is not valid: {e}");
            }
            for h in sorted_heads(&doc) {
                self.trace.mix(h.as_ref());
            }
        }
        assert_eq!(server.duplicates(), 0, "the server stored a change twice");
        self.stats.reconciles = server.reconciles_asked() as u64;
        self.stats.saved_changes = self.ledger.saved_count() as u64;
        assert_eq!(self.stats.lost_changes, self.ledger.lost_count() as u64);
        Ending {
            trace: self.trace.hash(),
            docs: ids.len(),
        }
    }
}

fn hashes(doc: &Automerge) -> Vec<ChangeHash> {
    doc.get_changes_meta(&[]).iter().map(|c| c.hash).collect()
}

fn sorted_heads(doc: &Automerge) -> Vec<ChangeHash> {
    let mut heads = doc.get_heads();
    heads.sort();
    heads
}

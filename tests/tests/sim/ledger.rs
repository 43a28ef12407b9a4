//! What "nothing typed is ever lost" means here, kept as the simulation runs: every
//! change a replica reported saved (a core edit that returned `Ok`) must end on the
//! server and on every tablet, unless every replica that held it went back in time
//! (a restore may lose only what nobody else had; such changes are counted, not
//! required).

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ChangeHash, ReadDoc};
use rapport_domain::DocId;

/// Every change reported saved, by document, and those lost with every holder.
#[derive(Debug, Default)]
pub struct Ledger {
    saved: BTreeMap<DocId, BTreeMap<ChangeHash, String>>,
    excused: BTreeSet<(DocId, ChangeHash)>,
}

impl Ledger {
    /// `who` reported these changes of `doc` saved.
    pub fn saved(&mut self, doc: DocId, changes: &[ChangeHash], who: &str) {
        let entry = self.saved.entry(doc).or_default();
        for hash in changes {
            entry.entry(*hash).or_insert_with(|| who.to_owned());
        }
    }

    /// Changes reported saved.
    pub fn saved_count(&self) -> usize {
        self.saved.values().map(BTreeMap::len).sum()
    }

    /// Changes lost because every replica holding them went back in time.
    pub fn lost_count(&self) -> usize {
        self.excused.len()
    }

    /// After a replica went back in time: `held(doc)` gives every replica's copy of
    /// `doc` now; a saved change none of them holds is lost with the restore.
    /// Returns how many were newly lost.
    ///
    /// `server(doc)` is the server's copy, looked at first: what it holds is not lost,
    /// and the tablets' copies are loaded only for what it lacks.
    pub fn went_back(
        &mut self,
        mut server: impl FnMut(DocId) -> Automerge,
        mut held: impl FnMut(DocId) -> Vec<Automerge>,
    ) -> usize {
        let mut lost = 0;
        for (doc, changes) in &self.saved {
            let on_server = server(*doc);
            let open: Vec<&ChangeHash> = changes
                .keys()
                .filter(|h| !self.excused.contains(&(*doc, **h)) && !holds(&on_server, h))
                .collect();
            if open.is_empty() {
                continue;
            }
            let copies = held(*doc);
            for hash in open {
                if !copies.iter().any(|c| holds(c, hash)) {
                    self.excused.insert((*doc, *hash));
                    lost += 1;
                }
            }
        }
        lost
    }

    /// Every saved change not lost with a restore, that `replica`'s copy of each
    /// document (`copy(doc)`) lacks: "doc change (saved by who)".
    pub fn missing(&self, mut copy: impl FnMut(DocId) -> Option<Automerge>) -> Vec<String> {
        let mut out = Vec::new();
        for (doc, changes) in &self.saved {
            let held = copy(*doc);
            for (hash, who) in changes {
                if self.excused.contains(&(*doc, *hash)) {
                    continue;
                }
                if !held.as_ref().is_some_and(|d| holds(d, hash)) {
                    out.push(format!("{doc} {hash} (saved by {who})"));
                }
            }
        }
        out
    }
}

/// Whether `doc` holds the change `hash` (without rebuilding the change).
pub fn holds(doc: &Automerge, hash: &ChangeHash) -> bool {
    doc.get_missing_deps(&[*hash]).is_empty()
}

//! [`MemDocSet`]: a [`DocSet`] held in maps, documents and their persisted sync
//! states. The device core's sync run loads the documents it exchanges from the
//! device's store into one; protocol-level tests build one by hand.

use std::collections::BTreeMap;

use automerge::Automerge;
use rapport_domain::DocId;

use crate::device::{DocSet, Outcome};

/// Documents and persisted sync states held in maps.
#[derive(Debug, Default)]
pub struct MemDocSet {
    /// The documents.
    pub docs: BTreeMap<DocId, Automerge>,
    /// Persisted encoded sync states.
    pub states: BTreeMap<DocId, Vec<u8>>,
}

impl MemDocSet {
    /// Persist what an [`Outcome`] asks for (the states; documents live in `docs` already).
    pub fn apply(&mut self, outcome: &Outcome) {
        for (id, state) in &outcome.states {
            self.states.insert(*id, state.clone());
        }
    }
}

impl DocSet for MemDocSet {
    fn get(&self, id: &DocId) -> Option<&Automerge> {
        self.docs.get(id)
    }

    fn get_or_create(&mut self, id: &DocId) -> &mut Automerge {
        self.docs.entry(*id).or_default()
    }

    fn load_state(&self, id: &DocId) -> Option<Vec<u8>> {
        self.states.get(id).cloned()
    }
}

//! [`MemDocSet`]: a [`DocSet`] held in maps, documents and their persisted sync
//! states. The device node loads a run's documents from its store into one; in-memory
//! devices in tests and simulations keep theirs in one.

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

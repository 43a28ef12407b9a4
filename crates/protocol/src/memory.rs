//! An in-memory device store and server, for tests and simulations.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, Change, ChangeHash};
use rapport_domain::DocId;

use crate::device::{DocSet, Outcome};
use crate::server::{FeedResult, Rejection, ServerExchange};
use crate::wire::{DecodeError, ErrorCode, Limits, SyncRequest};

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

/// A check of a document's new changes before they are committed.
pub type Validator = fn(&Automerge, &[Change]) -> Result<(), Rejection>;

/// A stateless server in memory: between requests it keeps only saved
/// documents, encoded sync states and a change feed, as the real one keeps
/// them in PostgreSQL. For tests and simulations of many devices.
#[derive(Debug, Default)]
pub struct MemServer {
    /// Frame limits used to decode requests and encode responses.
    pub limits: Limits,
    /// Documents every device is refused ([`ErrorCode::Forbidden`]).
    pub forbidden: BTreeSet<DocId>,
    /// The server's check of new changes before commit (none = accept all).
    pub validate: Option<Validator>,
    docs: BTreeMap<DocId, Vec<u8>>,
    states: BTreeMap<(u64, DocId), Vec<u8>>,
    /// One entry per commit that stored changes; the cursor is an index into it.
    feed: Vec<DocId>,
    stored: BTreeSet<(DocId, ChangeHash)>,
    duplicates: usize,
}

impl MemServer {
    /// An empty server with these frame limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Handle one request body from `device`; the result is the response body.
    ///
    /// The commit happens before the response is returned: dropping the
    /// returned bytes simulates a response lost after the commit.
    pub fn handle(&mut self, device: u64, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let request = SyncRequest::decode(body, &self.limits)?;
        let start = request
            .cursor
            .as_slice()
            .try_into()
            .map(u64::from_le_bytes)
            .unwrap_or(0);
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(self.feed.len());
        let mut exchange = ServerExchange::new(request, self.limits);
        let mut loaded = BTreeMap::new();
        for id in exchange.requested() {
            if self.forbidden.contains(&id) {
                exchange.refuse(
                    id,
                    ErrorCode::Forbidden,
                    "нет доступа к документу (no access)",
                );
                continue;
            }
            let mut doc = self.load(&id);
            let state = self.states.get(&(device, id)).map(Vec::as_slice);
            let validate = self.validate;
            let check = |doc: &Automerge, changes: &[Change]| match validate {
                Some(f) => f(doc, changes),
                None => Ok(()),
            };
            if exchange.sync_doc(id, &mut doc, state, check).is_ok() {
                loaded.insert(id, doc);
            }
        }
        let mut next = self.feed.len();
        let mut more = false;
        for (i, id) in self.feed.iter().enumerate().skip(start) {
            if self.forbidden.contains(id) {
                continue;
            }
            let doc = match loaded.get(id) {
                Some(_) => continue,
                None => self.load(id),
            };
            let state = self.states.get(&(device, *id)).map(Vec::as_slice);
            if exchange.feed_doc(*id, &doc, state) == FeedResult::Full {
                next = i;
                more = true;
                break;
            }
        }
        let outcome = exchange.finish((next as u64).to_le_bytes().to_vec(), more);
        for commit in outcome.commits {
            if !commit.changes.is_empty() {
                for change in &commit.changes {
                    if !self.stored.insert((commit.doc, change.hash())) {
                        self.duplicates += 1;
                    }
                }
                if let Some(doc) = loaded.get(&commit.doc) {
                    self.docs.insert(commit.doc, doc.save());
                }
                self.feed.push(commit.doc);
            }
            self.states.insert((device, commit.doc), commit.state);
        }
        // The server built this response itself within the limits.
        Ok(outcome
            .response
            .encode(&self.limits)
            .unwrap_or_else(|e| panic!("MemServer built an unencodable response: {e}")))
    }

    /// The server's copy of a document (empty if it has none).
    pub fn load(&self, id: &DocId) -> Automerge {
        self.docs
            .get(id)
            .and_then(|bytes| Automerge::load(bytes).ok())
            .unwrap_or_default()
    }

    /// Ids of every document the server holds.
    pub fn doc_ids(&self) -> Vec<DocId> {
        self.docs.keys().copied().collect()
    }

    /// Changes committed so far (each counted once).
    pub fn stored_changes(&self) -> usize {
        self.stored.len()
    }

    /// Changes that were committed a second time: must stay 0.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }
}

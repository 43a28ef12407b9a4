//! An in-memory sync server for tests and simulations of many devices
//! ([`MemServer`]): the real server sessions of `rapport_protocol` and the real wire
//! frames, with no sockets or databases.
//!
//! It can go back in time ([`MemServer::restore`]) and repair it as the real server
//! does (see the `rapport_protocol` crate documentation, *When storage goes back in
//! time*): its cursor carries an epoch that a restore replaces, an unknown cursor gets
//! `reconcile`, and the device then reconciles ([`MemServer::handle_heads`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash};
use rapport_domain::DocId;
use rapport_protocol::reconcile;
use rapport_protocol::{
    DecodeError, ErrorCode, FeedResult, HeadsRequest, Limits, Rejection, ServerExchange,
    SyncRequest, SyncResponse,
};

/// A check of a document's new changes before they are committed.
pub type Validator = fn(&Automerge, &[Change]) -> Result<(), Rejection>;

/// A stateless server in memory: between requests it keeps only saved
/// documents, encoded sync states and a change feed, as the real one keeps
/// them in PostgreSQL. For tests and simulations of many devices.
///
/// Its cursor is `epoch ‖ feed index` (16 + 8 bytes), as the real server's is
/// `epoch ‖ feed position`; [`Self::restore`] gives a new epoch.
#[derive(Debug)]
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
    /// Random, replaced by every [`Self::restore`].
    epoch: [u8; 16],
    /// Counted over the server's whole life, restores included.
    duplicates: usize,
    reconciles_asked: usize,
}

impl Default for MemServer {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            forbidden: BTreeSet::new(),
            validate: None,
            docs: BTreeMap::new(),
            states: BTreeMap::new(),
            feed: Vec::new(),
            stored: BTreeSet::new(),
            epoch: new_epoch(),
            duplicates: 0,
            reconciles_asked: 0,
        }
    }
}

/// What a [`MemServer`] stores, as a backup holds it.
#[derive(Debug, Clone)]
pub struct MemServerSnapshot {
    docs: BTreeMap<DocId, Vec<u8>>,
    states: BTreeMap<(u64, DocId), Vec<u8>>,
    feed: Vec<DocId>,
    stored: BTreeSet<(DocId, ChangeHash)>,
}

/// A fresh random epoch (what the real store draws at creation and at each restore).
fn new_epoch() -> [u8; 16] {
    *DocId::random().as_bytes()
}

impl MemServer {
    /// An empty server with these frame limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// A copy of what the server stores (documents, sync states, feed, stored changes):
    /// a backup.
    pub fn snapshot(&self) -> MemServerSnapshot {
        MemServerSnapshot {
            docs: self.docs.clone(),
            states: self.states.clone(),
            feed: self.feed.clone(),
            stored: self.stored.clone(),
        }
    }

    /// Puts back a [`Self::snapshot`], as `rapport-server restore` does: whatever came
    /// after it is lost, and the store gets a new epoch, so every device's cursor is
    /// unknown and each reconciles at its next sync.
    pub fn restore(&mut self, snapshot: MemServerSnapshot) {
        let MemServerSnapshot {
            docs,
            states,
            feed,
            stored,
        } = snapshot;
        self.docs = docs;
        self.states = states;
        self.feed = feed;
        self.stored = stored;
        self.epoch = new_epoch();
    }

    /// The cursor of feed index `at` in this epoch.
    fn cursor_at(&self, at: usize) -> Vec<u8> {
        let mut out = self.epoch.to_vec();
        out.extend_from_slice(&(at as u64).to_le_bytes());
        out
    }

    /// Where a device's cursor points in the feed: `None` when it is not a position
    /// of this store (another epoch, beyond the newest entry, garbage). Empty = start.
    fn place_cursor(&self, bytes: &[u8]) -> Option<usize> {
        if bytes.is_empty() {
            return Some(0);
        }
        let (theirs, at) = bytes.split_at_checked(16)?;
        if theirs != self.epoch {
            return None;
        }
        let at = u64::from_le_bytes(at.try_into().ok()?);
        usize::try_from(at).ok().filter(|at| *at <= self.feed.len())
    }

    /// Handle one request body from `device`; the result is the response body.
    ///
    /// The commit happens before the response is returned: dropping the
    /// returned bytes simulates a response lost after the commit.
    pub fn handle(&mut self, device: u64, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let request = SyncRequest::decode(body, &self.limits)?;
        let Some(start) = self.place_cursor(&request.cursor) else {
            // Nothing of the request is applied: the device's states may claim
            // changes this store lost.
            self.reconciles_asked += 1;
            let response = SyncResponse {
                cursor: self.cursor_at(0),
                reconcile: true,
                ..SyncResponse::default()
            };
            return Ok(response
                .encode(&self.limits)
                .unwrap_or_else(|e| panic!("MemServer built an unencodable response: {e}")));
        };
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
        let outcome = exchange.finish(self.cursor_at(next), more);
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

    /// Handle one heads request body from `device` (`POST /api/v1/sync/heads`); the
    /// result is the [`HeadsResponse`](rapport_protocol::HeadsResponse) body. Before
    /// replying, forgets every sync state of the device that may no longer say the truth
    /// ([`reconcile::answer`]), and moves to the head of the feed the documents of those
    /// states the device did not list.
    pub fn handle_heads(&mut self, device: u64, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let request = HeadsRequest::decode(body, &self.limits)?;
        let stored: HashSet<(DocId, ChangeHash)> = reconcile::pairs(&request)
            .into_iter()
            .filter(|pair| self.stored.contains(pair))
            .collect();
        let states: HashMap<DocId, Vec<u8>> = request
            .docs
            .iter()
            .filter_map(|(doc, _)| Some((*doc, self.states.get(&(device, *doc))?.clone())))
            .collect();
        let answer = reconcile::answer(&request, &stored, &states);
        let keep: BTreeSet<DocId> = answer.keep_states.iter().copied().collect();
        let listed: BTreeSet<DocId> = request.docs.iter().map(|(doc, _)| *doc).collect();
        let mut unlisted = Vec::new();
        self.states.retain(|(d, doc), _| {
            let forget = *d == device && !keep.contains(doc);
            if forget && !listed.contains(doc) {
                unlisted.push(*doc);
            }
            !forget
        });
        // Documents the server believed the device held but it did not list: its cursor
        // may be past them, so they go to the head of the feed (as the real store's
        // `touch`), where it finds them again.
        self.feed.extend(unlisted);
        Ok(answer
            .response
            .encode(&self.limits)
            .unwrap_or_else(|e| panic!("MemServer built an unencodable heads response: {e}")))
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

    /// Sync requests answered with `reconcile` (an unknown cursor) so far.
    pub fn reconciles_asked(&self) -> usize {
        self.reconciles_asked
    }

    /// The start-of-feed cursor of the current epoch.
    pub fn start_cursor(&self) -> Vec<u8> {
        self.cursor_at(0)
    }

    /// Whether the server has stored this change of this document.
    pub fn has_change(&self, doc: &DocId, hash: &ChangeHash) -> bool {
        self.stored.contains(&(*doc, *hash))
    }
}

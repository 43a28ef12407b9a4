//! An in-memory device store, device and server, for tests and simulations:
//! the real sessions and wire frames, with no sockets or databases, and
//! faults injected per request ([`Fault`]).
//!
//! Both sides can go back in time ([`MemServer::restore`], [`MemDevice::restore`]) and
//! repair it as the real server and node do (see the crate documentation, *When
//! storage goes back in time*): the server's cursor carries an epoch that a restore
//! replaces, an unknown cursor gets `reconcile`, and the device then reconciles
//! ([`MemServer::handle_heads`]) and runs again from the start of the feed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, Change, ChangeHash};
use rapport_domain::DocId;

use crate::device::{DeviceConfig, DeviceSession, DocSet, Outcome, SessionError};
use crate::reconcile;
use crate::server::{FeedResult, Rejection, ServerExchange};
use crate::wire::{DecodeError, ErrorCode, Limits, SyncRequest};
use crate::wire::{HeadsRequest, HeadsResponse, SyncResponse};

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
    /// result is the [`HeadsResponse`] body. Before replying, forgets every sync state
    /// of the device that may no longer say the truth ([`reconcile::answer`]), and moves
    /// to the head of the feed the documents of those states the device did not list.
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

/// What happens to one request of a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Delivered, and its response too.
    None,
    /// Lost on the way to the server: nothing committed.
    DropRequest,
    /// Committed by the server, but the response is lost.
    DropResponse,
    /// Delivered twice (a retry by a proxy); the device reads the second response.
    Duplicate,
    /// The response arrives late: the run gives up on it, and it is delivered
    /// later, after other exchanges (see [`MemDevice::deliver_stale`]).
    Delay,
}

/// A device: its documents, persisted sync states, feed cursor and dirty set.
#[derive(Debug)]
pub struct MemDevice {
    /// The device id the server knows it by.
    pub id: u64,
    /// Documents and persisted sync states.
    pub store: MemDocSet,
    /// The persisted cursor into the server's feed.
    pub cursor: Vec<u8>,
    /// Documents edited since their last successful sync.
    pub dirty: BTreeSet<DocId>,
    /// Every change this device made, to prove none is ever lost.
    pub made: Vec<(DocId, ChangeHash)>,
    /// Responses that arrived late, not yet delivered.
    pub stale: Vec<Vec<u8>>,
    /// Settings of its sync runs.
    pub config: DeviceConfig,
    /// The next run reconciles first (the store was reopened, or the server asked).
    pub reconcile: bool,
    /// 8 random bytes chosen at the last [`Self::reopen`], added to the actor.
    opening: Option<[u8; 8]>,
}

/// What a [`MemDevice`] stores (documents, sync states, cursor, dirty set), as an
/// image of its folder holds it.
#[derive(Debug, Clone)]
pub struct MemDeviceSnapshot {
    docs: BTreeMap<DocId, Automerge>,
    states: BTreeMap<DocId, Vec<u8>>,
    cursor: Vec<u8>,
    dirty: BTreeSet<DocId>,
}

/// Counts from one sync run.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Requests sent (delivered or not).
    pub requests: u32,
    /// Request bytes sent (delivered or not).
    pub bytes_up: usize,
    /// Response bytes received and read.
    pub bytes_down: usize,
    /// Per-document errors reported by the server.
    pub errors: Vec<(DocId, ErrorCode)>,
    /// Heads requests answered (reconciliations done); their requests are counted in
    /// `requests` too.
    pub reconciles: u32,
}

/// Most passes of one run: a reconciliation asked for by the server, then the run
/// again (as the real node's run).
const MAX_PASSES: usize = 3;

/// How a pass of a run ended.
enum Pass {
    /// Quiescent.
    Done,
    /// The server does not know the cursor: reconcile, then run again.
    Reconcile,
}

impl MemDevice {
    /// A device with no documents yet.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            store: MemDocSet::default(),
            cursor: Vec::new(),
            dirty: BTreeSet::new(),
            made: Vec::new(),
            stale: Vec::new(),
            config: DeviceConfig::default(),
            reconcile: false,
            opening: None,
        }
    }

    /// The device's actor id for its current opening of the store: every change it
    /// makes carries it. `device-<id>` until the first [`Self::reopen`], then
    /// `device-<id>` plus 8 random bytes chosen at each opening, as the real node
    /// writes: a restored image, or a copy of the device used beside it, never makes a
    /// second change under a used (actor, sequence number).
    pub fn actor(&self) -> ActorId {
        let mut bytes = format!("device-{}", self.id).into_bytes();
        if let Some(opening) = &self.opening {
            bytes.extend_from_slice(opening);
        }
        ActorId::from(bytes)
    }

    /// A copy of what the device stores: documents, sync states, cursor, dirty set.
    pub fn snapshot(&self) -> MemDeviceSnapshot {
        MemDeviceSnapshot {
            docs: self.store.docs.clone(),
            states: self.store.states.clone(),
            cursor: self.cursor.clone(),
            dirty: self.dirty.clone(),
        }
    }

    /// Puts back a [`Self::snapshot`] (an old image of the device's folder, or a copy of
    /// another device's folder under the same id): what the device did after it is gone
    /// from the device. It counts as opening the store ([`Self::reopen`]); `made` keeps
    /// its record of every change ever made.
    pub fn restore(&mut self, snapshot: MemDeviceSnapshot) {
        let MemDeviceSnapshot {
            docs,
            states,
            cursor,
            dirty,
        } = snapshot;
        self.store.docs = docs;
        self.store.states = states;
        self.cursor = cursor;
        self.dirty = dirty;
        self.reopen();
    }

    /// The app opens the store again: responses in flight are gone, the next run
    /// reconciles first, and the device writes under a fresh actor.
    pub fn reopen(&mut self) {
        self.stale.clear();
        self.reconcile = true;
        let random = DocId::random();
        let mut opening = [0; 8];
        opening.copy_from_slice(&random.as_bytes()[..8]);
        self.opening = Some(opening);
    }

    /// The device's copy of a document, if it has one.
    pub fn doc(&self, id: &DocId) -> Option<&Automerge> {
        self.store.get(id)
    }

    /// Adds a document created on this device (its actor must be this device's).
    pub fn insert(&mut self, id: DocId, doc: Automerge) {
        for change in doc.get_changes(&[]) {
            self.made.push((id, change.hash()));
        }
        self.store.docs.insert(id, doc);
        self.dirty.insert(id);
    }

    /// Runs `edit` on the device's copy of `id` with the device's actor, records
    /// the changes it made and marks the document dirty. `None` if the device
    /// does not have the document.
    pub fn edit<T>(&mut self, id: DocId, edit: impl FnOnce(&mut Automerge) -> T) -> Option<T> {
        let actor = self.actor();
        let doc = self.store.docs.get_mut(&id)?;
        doc.set_actor(actor);
        let before = doc.get_heads();
        let out = edit(doc);
        let new: Vec<ChangeHash> = doc.get_changes(&before).iter().map(|c| c.hash()).collect();
        if !new.is_empty() {
            self.dirty.insert(id);
        }
        self.made.extend(new.into_iter().map(|h| (id, h)));
        Some(out)
    }

    /// One sync run; `fault` decides the fate of each request (1-based), heads
    /// requests included.
    ///
    /// As the real node's run: when the store was reopened or the server answers
    /// `reconcile`, the device reconciles ([`MemServer::handle_heads`]) and runs again.
    pub fn sync(
        &mut self,
        server: &mut MemServer,
        mut fault: impl FnMut(u32) -> Fault,
    ) -> Result<RunStats, SessionError> {
        let mut stats = RunStats::default();
        for _ in 0..MAX_PASSES {
            if self.reconcile {
                self.reconcile_with(server, &mut fault, &mut stats)?;
            }
            match self.pass(server, &mut fault, &mut stats)? {
                Pass::Done => return Ok(stats),
                Pass::Reconcile => self.reconcile = true,
            }
        }
        // The server asked again and again: a bug on either side.
        Err(SessionError::RoundTripLimit(stats.requests))
    }

    /// Sends the heads of every document held; forgets the state of each the server
    /// lacks changes of and marks it dirty, so the next pass sends it whole; marks dirty
    /// each whose record on the server was stale, so the next pass exchanges it. A lost
    /// request or response is sent again (bounded by the round-trip cap).
    fn reconcile_with(
        &mut self,
        server: &mut MemServer,
        fault: &mut impl FnMut(u32) -> Fault,
        stats: &mut RunStats,
    ) -> Result<(), SessionError> {
        let limits = self.config.limits;
        let request = HeadsRequest {
            docs: self
                .store
                .docs
                .iter()
                .map(|(id, doc)| (*id, doc.get_heads()))
                .collect(),
        };
        let body = request
            .encode(&limits)
            .expect("a heads request within the limits");
        for _ in 0..self.config.max_round_trips {
            stats.requests += 1;
            stats.bytes_up += body.len();
            let reply = match fault(stats.requests) {
                Fault::DropRequest => continue,
                // A late heads response is of no use: the real node gave up on it.
                Fault::DropResponse | Fault::Delay => {
                    server.handle_heads(self.id, &body).expect("a valid frame");
                    continue;
                }
                Fault::Duplicate => {
                    server.handle_heads(self.id, &body).expect("a valid frame");
                    server.handle_heads(self.id, &body).expect("a valid frame")
                }
                Fault::None => server.handle_heads(self.id, &body).expect("a valid frame"),
            };
            stats.bytes_down += reply.len();
            let response = HeadsResponse::decode(&reply, &limits).expect("a valid response");
            let lacking: BTreeSet<DocId> = response.lacking.into_iter().collect();
            let docs = &self.store.docs;
            self.store
                .states
                .retain(|id, _| docs.contains_key(id) && !lacking.contains(id));
            self.dirty.extend(lacking);
            self.dirty.extend(response.stale);
            self.reconcile = false;
            stats.reconciles += 1;
            return Ok(());
        }
        Err(SessionError::RoundTripLimit(self.config.max_round_trips))
    }

    /// One pass of a run: request/response round trips until quiescent, or until the
    /// server answers `reconcile` (nothing of that request was applied).
    fn pass(
        &mut self,
        server: &mut MemServer,
        fault: &mut impl FnMut(u32) -> Fault,
        stats: &mut RunStats,
    ) -> Result<Pass, SessionError> {
        let limits = self.config.limits;
        let dirty = self
            .dirty
            .iter()
            .map(|id| (*id, self.store.states.get(id).cloned()));
        let mut session = DeviceSession::new(self.config, self.cursor.clone(), dirty);
        let started = Instant::now();
        while let Some(request) = session.next_request(&mut self.store)? {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "a sync run took over 30 s"
            );
            stats.requests += 1;
            let body = request
                .encode(&limits)
                .expect("the session builds frames within its limits");
            stats.bytes_up += body.len();
            let reply = match fault(stats.requests) {
                Fault::DropRequest => {
                    session.fail();
                    continue;
                }
                Fault::DropResponse => {
                    server.handle(self.id, &body).expect("a valid frame");
                    session.fail();
                    continue;
                }
                Fault::Delay => {
                    let late = server.handle(self.id, &body).expect("a valid frame");
                    self.stale.push(late);
                    session.fail();
                    continue;
                }
                Fault::Duplicate => {
                    server.handle(self.id, &body).expect("a valid frame");
                    server.handle(self.id, &body).expect("a valid frame")
                }
                Fault::None => server.handle(self.id, &body).expect("a valid frame"),
            };
            stats.bytes_down += reply.len();
            let response = SyncResponse::decode(&reply, &limits).expect("a valid response");
            if response.reconcile {
                // Start over from the beginning of the feed after reconciling; the
                // dirty documents stay dirty.
                session.fail();
                self.cursor = response.cursor;
                return Ok(Pass::Reconcile);
            }
            stats.errors.extend(self.absorb(&mut session, response));
        }
        Ok(Pass::Done)
    }

    /// Delivers the oldest late response, out of order, to a fresh session.
    /// Returns false when none is waiting.
    pub fn deliver_stale(&mut self) -> bool {
        if self.stale.is_empty() {
            return false;
        }
        let body = self.stale.remove(0);
        let limits = self.config.limits;
        let response = SyncResponse::decode(&body, &limits).expect("a valid response");
        if response.reconcile {
            // As if it had arrived in time.
            self.cursor = response.cursor;
            self.reconcile = true;
            return true;
        }
        let mut session = DeviceSession::new(self.config, self.cursor.clone(), []);
        self.absorb(&mut session, response);
        true
    }

    /// Applies a response: persists states, the dirty set and the cursor as a
    /// real node would. Returns the per-document errors.
    fn absorb(
        &mut self,
        session: &mut DeviceSession,
        response: SyncResponse,
    ) -> Vec<(DocId, ErrorCode)> {
        let outcome = session.handle_response(&mut self.store, response);
        self.store.apply(&outcome);
        for id in &outcome.synced {
            self.dirty.remove(id);
        }
        for e in &outcome.errors {
            self.dirty.insert(e.doc);
        }
        if let Some(cursor) = outcome.cursor {
            self.cursor = cursor;
        }
        outcome.errors.iter().map(|e| (e.doc, e.code)).collect()
    }
}

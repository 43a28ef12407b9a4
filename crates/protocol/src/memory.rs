//! An in-memory device store, device and server, for tests and simulations:
//! the real sessions and wire frames, with no sockets or databases, and
//! faults injected per request ([`Fault`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, Change, ChangeHash};
use rapport_domain::DocId;

use crate::device::{DeviceConfig, DeviceSession, DocSet, Outcome, SessionError};
use crate::server::{FeedResult, Rejection, ServerExchange};
use crate::wire::SyncResponse;
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
        }
    }

    /// The device's own actor id: every change it makes carries it.
    pub fn actor(&self) -> ActorId {
        ActorId::from(format!("device-{}", self.id).into_bytes())
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

    /// One sync run; `fault` decides the fate of each request (1-based).
    pub fn sync(
        &mut self,
        server: &mut MemServer,
        mut fault: impl FnMut(u32) -> Fault,
    ) -> Result<RunStats, SessionError> {
        let limits = self.config.limits;
        let dirty = self
            .dirty
            .iter()
            .map(|id| (*id, self.store.states.get(id).cloned()));
        let mut session = DeviceSession::new(self.config, self.cursor.clone(), dirty);
        let mut stats = RunStats::default();
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
            stats.errors.extend(self.absorb(&mut session, response));
        }
        Ok(stats)
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

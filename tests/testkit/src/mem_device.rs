//! An in-memory device for tests and simulations ([`MemDevice`]): the real device
//! sessions of `rapport_protocol` and the real wire frames against a [`MemServer`],
//! with faults injected per request ([`Fault`]).
//!
//! It can go back in time ([`MemDevice::restore`]) and repair it as the real node does
//! (see the `rapport_protocol` crate documentation, *When storage goes back in time*):
//! when the server answers `reconcile`, or after the store was reopened, it reconciles
//! ([`MemServer::handle_heads`]) and runs again from the start of the feed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, ChangeHash};
use rapport_domain::DocId;
use rapport_protocol::{
    DeviceConfig, DeviceSession, DocSet, ErrorCode, HeadsRequest, HeadsResponse, MemDocSet,
    SessionError, SyncResponse,
};

use crate::mem_server::MemServer;

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

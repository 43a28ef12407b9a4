//! Simulated devices syncing with [`MemServer`] through the real sessions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, ChangeHash};
use rapport_domain::DocId;
use rapport_protocol::{
    DeviceConfig, DeviceSession, DocSet, MemDocSet, MemServer, SessionError, SyncResponse,
};

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
    /// later, after other exchanges (see [`SimDevice::deliver_stale`]).
    Delay,
}

/// A device: its documents, persisted sync states, feed cursor and dirty set.
#[derive(Debug)]
pub struct SimDevice {
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
    config: DeviceConfig,
}

/// Counts from one sync run.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    /// Requests sent (delivered or not).
    pub requests: u32,
    /// Per-document errors reported by the server.
    pub errors: u32,
}

impl SimDevice {
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
            let response = SyncResponse::decode(&reply, &limits).expect("a valid response");
            stats.errors += self.absorb(&mut session, response);
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
    /// real node would. Returns the number of per-document errors.
    fn absorb(&mut self, session: &mut DeviceSession, response: SyncResponse) -> u32 {
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
        u32::try_from(outcome.errors.len()).unwrap_or(u32::MAX)
    }
}

//! An in-memory sync server for tests and simulations of many devices
//! ([`MemServer`]): the server's own sync algorithm (`rapport_server::sync::engine`)
//! over an in-memory store (`rapport_store::MemStore`), with the real wire frames and
//! no sockets or databases.
//!
//! It can go back in time ([`MemServer::restore`], [`MemServer::restore_keeping_epoch`])
//! and repairs it as the real server does, because it runs the real server's steps
//! (see the `rapport_protocol` crate documentation, *When storage goes back in time*):
//! its cursor carries the store's epoch, an unknown cursor gets `reconcile`, and the
//! device then reconciles ([`MemServer::handle_heads`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use automerge::{Automerge, ChangeHash};
use rapport_domain::DocId;
use rapport_protocol::{DecodeError, HeadsRequest, Limits, NewChanges, Rejection, SyncRequest};
use rapport_server::HttpResult;
use rapport_server::access::Access;
use rapport_server::sync::engine::{Engine, Instance, SyncPolicy, start_cursor};
use rapport_store::{DocStore, MemStore, MemStoreSnapshot, PeerId};

use crate::poll::now_or_never;

/// A check of a document's new changes before they are committed.
pub type Validator = fn(&Automerge, NewChanges<'_>) -> Result<(), Rejection>;

/// What a device refused a document by [`MemServer::forbidden`] is told.
const FORBIDDEN: &str = "нет доступа к документу (no access)";

/// A stateless server in memory: between requests it keeps only its store (documents,
/// sync states, the change feed, the epoch), as the real one keeps them in PostgreSQL,
/// and each request runs the real server's sync steps over it. For tests and
/// simulations of many devices.
///
/// What the real server takes from its projections is simple here: a device may read
/// and write every document except the [`Self::forbidden`] ones, and new changes are
/// checked by [`Self::validate`] (none: all accepted). No document is pushed first.
#[derive(Debug)]
pub struct MemServer {
    /// Frame limits used to decode requests and encode responses.
    pub limits: Limits,
    /// Documents every device is refused ([`rapport_protocol::ErrorCode::Forbidden`]).
    pub forbidden: BTreeSet<DocId>,
    /// The server's check of new changes before commit (none = accept all).
    pub validate: Option<Validator>,
    store: MemStore,
    /// Per device, the opening of its store that reconciled last (the real server keeps
    /// it in its devices table).
    instances: BTreeMap<u64, String>,
    /// A commit that lands during a later request, and how many requests from now.
    racing: Option<(usize, rapport_store::WriteBatch)>,
    /// Counted over the server's whole life, restores included.
    duplicates: usize,
    reconciles_asked: usize,
}

impl Default for MemServer {
    fn default() -> Self {
        Self::with_limits(Limits::default())
    }
}

/// What a [`MemServer`] stores, as a backup holds it.
#[derive(Debug, Clone)]
pub struct MemServerSnapshot(MemStoreSnapshot, BTreeMap<u64, String>);

/// The device's name in the store's sync states.
fn peer(device: u64) -> PeerId {
    PeerId::new(format!("device-{device}"))
}

/// Runs a call of the store, which never waits; a store error is a broken harness.
fn run<T>(what: &str, call: impl Future<Output = Result<T, impl std::fmt::Display>>) -> T {
    now_or_never(call).unwrap_or_else(|e| panic!("MemServer: {what} failed: {e}"))
}

impl MemServer {
    /// An empty server with these frame limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            forbidden: BTreeSet::new(),
            validate: None,
            store: MemStore::new(),
            instances: BTreeMap::new(),
            racing: None,
            duplicates: 0,
            reconciles_asked: 0,
        }
    }

    /// A copy of what the server stores (documents, sync states, feed, epoch): a backup.
    pub fn snapshot(&self) -> MemServerSnapshot {
        MemServerSnapshot(self.store.snapshot(), self.instances.clone())
    }

    /// Puts back a [`Self::snapshot`], as `rapport-server restore` does: whatever came
    /// after it is lost, and the store gets a new epoch, so every device's cursor is
    /// unknown and each reconciles at its next sync.
    pub fn restore(&mut self, snapshot: MemServerSnapshot) {
        self.store.restore(snapshot.0, true);
        self.instances = snapshot.1;
    }

    /// Puts back a [`Self::snapshot`] by hand, without a new epoch (a copy of the data
    /// folder, a virtual machine's snapshot): the store went back in time without
    /// saying so. A device whose cursor is now beyond the feed is asked to reconcile;
    /// one whose cursor the feed has passed again is not.
    pub fn restore_keeping_epoch(&mut self, snapshot: MemServerSnapshot) {
        self.store.restore(snapshot.0, false);
        self.instances = snapshot.1;
    }

    /// Makes another writer's commit (`batch`) land while the `nth` request from now
    /// (1: the next) is under way: after the server loaded the documents the device
    /// sent, before it reads the feed. On a real server any other device's request
    /// may do that.
    pub fn commit_during_request(&mut self, nth: usize, batch: rapport_store::WriteBatch) {
        assert!(nth >= 1, "the next request is the first");
        self.racing = Some((nth, batch));
    }

    /// The engine over the store, as it is now.
    fn engine(&self) -> Engine<'_> {
        let epoch = run("reading the epoch", self.store.epoch());
        Engine::new(&self.store, epoch, self.limits)
    }

    /// Handle one request body from `device`; the result is the response body.
    ///
    /// The commit happens before the response is returned: dropping the
    /// returned bytes simulates a response lost after the commit.
    pub fn handle(&mut self, device: u64, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        self.handle_from(device, None, body)
    }

    /// [`Self::handle`] of a request that names the opening of the device's store it
    /// comes from (`instance`, as the `rapport-instance` header does).
    pub fn handle_from(
        &mut self,
        device: u64,
        instance: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, DecodeError> {
        let request = SyncRequest::decode(body, &self.limits)?;
        if let Some((nth, batch)) = self.racing.take() {
            if nth == 1 {
                self.store.commit_before_next_feed(batch);
            } else {
                self.racing = Some((nth - 1, batch));
            }
        }
        let instance = Instance {
            presented: instance,
            reconciled: self.instances.get(&device).map(String::as_str),
        };
        let policy = Policy {
            forbidden: &self.forbidden,
            validate: self.validate,
        };
        let reply = run(
            "a sync request",
            self.engine()
                .sync(&policy, &peer(device), request, instance),
        );
        if reply.reconcile.is_some() {
            self.reconciles_asked += 1;
        }
        // Every change the commit carried was missing from the copy loaded in the same
        // request, and no other request runs meanwhile: one the store held already was
        // sent and stored twice.
        self.duplicates += reply.changes_sent - reply.changes_new;
        Ok(reply.body)
    }

    /// Handle one heads request body from `device` (`POST /api/v1/sync/heads`); the
    /// result is the [`HeadsResponse`](rapport_protocol::HeadsResponse) body. Before
    /// replying, forgets every sync state of the device that may no longer say the truth
    /// ([`rapport_protocol::reconcile::answer`]), and moves to the head of the feed the
    /// documents of those states the device did not list.
    pub fn handle_heads(&mut self, device: u64, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        self.handle_heads_from(device, None, body)
    }

    /// [`Self::handle_heads`] of a request that names the opening of the device's store
    /// it comes from: the device's sync states follow that opening from now on.
    pub fn handle_heads_from(
        &mut self,
        device: u64,
        instance: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, DecodeError> {
        let request = HeadsRequest::decode(body, &self.limits)?;
        let reply = run(
            "a heads request",
            self.engine().heads(&peer(device), &request),
        );
        if let Some(instance) = instance {
            self.instances.insert(device, instance.to_owned());
        }
        Ok(reply.body)
    }

    /// The server's copy of a document (empty if it has none).
    pub fn load(&self, id: &DocId) -> Automerge {
        run("loading a document", self.store.load(*id)).unwrap_or_default()
    }

    /// Ids of every document the server holds, sorted.
    pub fn doc_ids(&self) -> Vec<DocId> {
        run("listing the documents", self.store.list_docs())
    }

    /// Changes committed so far (each counted once).
    pub fn stored_changes(&self) -> usize {
        self.store.change_count()
    }

    /// What the server's store keeps of `doc` (`None` if it has none).
    pub fn footprint(&self, doc: &DocId) -> Option<rapport_store::Footprint> {
        self.store.footprint(*doc)
    }

    /// Changes that were committed a second time: must stay 0.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Sync requests answered with `reconcile` (an unknown cursor) so far.
    pub fn reconciles_asked(&self) -> usize {
        self.reconciles_asked
    }

    /// The start-of-feed cursor of the current epoch (what a device that reconciles
    /// starts over from).
    pub fn start_cursor(&self) -> Vec<u8> {
        start_cursor(&run("reading the epoch", self.store.epoch()))
    }

    /// Whether the server has stored this change of this document.
    pub fn has_change(&self, doc: &DocId, hash: &ChangeHash) -> bool {
        let pair = (*doc, *hash);
        run(
            "looking a change up",
            self.store.stored_changes(std::slice::from_ref(&pair)),
        )
        .contains(&pair)
    }
}

/// [`MemServer`]'s rights and check: every document readable and writable but the
/// forbidden ones, new changes checked by the validator.
struct Policy<'a> {
    forbidden: &'a BTreeSet<DocId>,
    validate: Option<Validator>,
}

impl Policy<'_> {
    fn access(&self, id: DocId) -> Access {
        if self.forbidden.contains(&id) {
            Access::Forbidden(FORBIDDEN)
        } else {
            Access::Write
        }
    }
}

#[async_trait]
impl SyncPolicy for Policy<'_> {
    type Before = ();

    async fn known_access(&self, docs: &[DocId]) -> HttpResult<HashMap<DocId, Access>> {
        Ok(docs.iter().map(|id| (*id, self.access(*id))).collect())
    }

    fn access_by_content(&self, id: DocId, _doc: &Automerge) -> Access {
        self.access(id)
    }

    fn before_upload(&self, id: DocId, _stored: &Automerge) -> Result<(), Rejection> {
        match self.access(id) {
            Access::Forbidden(why) => Err(Rejection {
                code: rapport_protocol::ErrorCode::Forbidden,
                message: why.into(),
            }),
            _ => Ok(()),
        }
    }

    fn check(
        &self,
        _id: DocId,
        _before: &(),
        doc: &Automerge,
        changes: NewChanges<'_>,
    ) -> Result<(), Rejection> {
        match self.validate {
            Some(validate) => validate(doc, changes),
            None => Ok(()),
        }
    }

    fn pushed_first(&self) -> Option<DocId> {
        None
    }
}

//! An in-memory device for tests and simulations ([`MemDevice`]): the shipped device
//! core (`rapport-core`) over its in-memory store, syncing with a [`MemServer`] through
//! the real wire frames, with faults injected per request ([`Fault`]).
//!
//! It can go back in time ([`MemDevice::restore`]) and repair it as the real node does:
//! the core reconciles after the store was reopened or when the server asks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use automerge::{ActorId, Automerge, ChangeHash};
use rapport_api::Event;
use rapport_core::{DeviceCore, Host, MemDeviceSnapshot, MemDeviceStore, NodeError, Pairing, Post};
use rapport_domain::DocId;
use rapport_protocol::{DeviceConfig, ErrorCode, MemDocSet, SessionError, SyncResponse};

use crate::mem_server::MemServer;
use crate::stored;
use crate::{drive_now, now_or_never};

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

/// The host of an in-memory device: a clock the test sets, randomness from a seed (a
/// run replays exactly), events counted.
#[derive(Debug)]
pub struct MemHost {
    now: AtomicI64,
    random: AtomicU64,
    /// Events emitted so far.
    pub events: AtomicU64,
}

impl MemHost {
    /// A host whose randomness starts from `seed` and whose clock reads `now_ms`.
    pub fn new(seed: u64, now_ms: i64) -> Self {
        Self {
            now: AtomicI64::new(now_ms),
            random: AtomicU64::new(seed),
            events: AtomicU64::new(0),
        }
    }

    /// Sets the clock.
    pub fn set_now(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .random
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Host for MemHost {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn emit(&self, _event: Event) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    fn edited(&self) {}

    fn compaction_due(&self, _docs: Vec<DocId>) {}
}

/// A device: the device core over an in-memory store, paired with a [`MemServer`].
pub struct MemDevice {
    /// The device id the server knows it by.
    pub id: u64,
    /// The core.
    core: DeviceCore<MemDeviceStore>,
    /// Its host (clock, randomness).
    pub host: Arc<MemHost>,
    /// Documents edited since their last successful sync (the store's dirty set, as of
    /// the last call).
    pub dirty: BTreeSet<DocId>,
    /// The persisted cursor into the server's feed (as of the last call).
    pub cursor: Vec<u8>,
    /// Every change this device made, to prove none is ever lost.
    pub made: Vec<(DocId, ChangeHash)>,
    /// Responses that arrived late, not yet delivered.
    pub stale: Vec<Vec<u8>>,
    /// Settings of its sync runs.
    pub config: DeviceConfig,
}

impl std::fmt::Debug for MemDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemDevice")
            .field("id", &self.id)
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// The pairing of in-memory device `id`: its registered actor is 16 bytes, so the core
/// writes under it plus a suffix per opening, as the real node does.
fn pairing(id: u64) -> Pairing {
    let mut actor = format!("device-{id}").into_bytes();
    actor.resize(16, 0);
    Pairing {
        server_url: "mem://server".into(),
        device_id: id.to_string(),
        token: format!("token-{id}"),
        programme_id: DocId::from_bytes([0; 16]),
        rep_id: Some(format!("rep-{id}")),
        label: format!("Планшет {id}"),
        actor: actor.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Most sync runs one [`MemDevice::sync`] makes: a run that lost a request ends, and
/// the next one starts from what was persisted (as the node's driver retries).
const MAX_RUNS: u32 = 64;

impl MemDevice {
    /// A freshly paired device with no documents yet.
    pub fn new(id: u64) -> Self {
        let host = Arc::new(MemHost::new(id, 1_700_000_000_000));
        let core = now_or_never(DeviceCore::open(MemDeviceStore::new(), host.clone()))
            .expect("open an in-memory core");
        now_or_never(core.set_pairing(pairing(id))).expect("pair");
        let mut device = Self {
            id,
            core,
            host,
            dirty: BTreeSet::new(),
            cursor: Vec::new(),
            made: Vec::new(),
            stale: Vec::new(),
            config: DeviceConfig::default(),
        };
        device.refresh();
        device
    }

    /// The core (to call the rep's requests on it).
    pub fn core(&self) -> &DeviceCore<MemDeviceStore> {
        &self.core
    }

    /// Reads `dirty` and `cursor` back from the store.
    fn refresh(&mut self) {
        (self.dirty, self.cursor) = stored::dirty_and_cursor(&self.core);
    }

    /// The device's actor for its current opening of the store: every change it makes
    /// carries it (its registered 16 bytes plus 8 drawn at each opening).
    pub fn actor(&self) -> ActorId {
        self.core
            .edit_actor(&pairing(self.id))
            .expect("a valid actor")
    }

    /// A copy of what the device stores (an image of its folder).
    pub fn snapshot(&self) -> MemDeviceSnapshot {
        self.core.store().snapshot()
    }

    /// Puts back a [`Self::snapshot`] (an old image of the device's folder, or a copy of
    /// another device's folder under the same id): what the device did after it is gone
    /// from the device. It counts as opening the store ([`Self::reopen`]); `made` keeps
    /// its record of every change ever made.
    pub fn restore(&mut self, snapshot: MemDeviceSnapshot) {
        self.open(MemDeviceStore::from_snapshot(snapshot));
    }

    /// The app opens the store again: responses in flight are gone, what was only in
    /// memory is gone, the next run reconciles first, and the device writes under a
    /// fresh actor.
    pub fn reopen(&mut self) {
        let durable = self.core.store().snapshot();
        self.open(MemDeviceStore::from_snapshot(durable));
    }

    fn open(&mut self, store: MemDeviceStore) {
        self.stale.clear();
        self.core = now_or_never(DeviceCore::open(store, self.host.clone())).expect("reopen");
        self.refresh();
    }

    /// The device's copy of a document, if it has one.
    pub fn doc(&self, id: &DocId) -> Option<Automerge> {
        stored::load(&self.core, *id)
    }

    /// The device's documents and sync states, as a protocol session reads them (a copy).
    pub fn doc_set(&self) -> MemDocSet {
        stored::doc_set(&self.core)
    }

    /// Adds a document created on this device (its actor must be this device's).
    pub fn insert(&mut self, id: DocId, doc: Automerge) {
        for change in doc.get_changes(&[]) {
            self.made.push((id, change.hash()));
        }
        now_or_never(self.core.save_new(id, &doc, None)).expect("save a new document");
        self.refresh();
    }

    /// Runs `edit` on the device's copy of `id` (a new empty document when it has none)
    /// with the device's actor through the core's durable edit, and records the changes
    /// it made.
    pub fn edit<T>(&mut self, id: DocId, edit: impl FnOnce(&mut Automerge) -> T) -> Option<T> {
        let mut before = Vec::new();
        let out = if self.doc(&id).is_some() {
            now_or_never(self.core.edit(id, |doc| {
                before = doc.get_heads();
                Ok(edit(doc))
            }))
            .expect("a durable edit")
        } else {
            let mut doc = Automerge::new().with_actor(self.actor());
            let out = edit(&mut doc);
            now_or_never(self.core.save_new(id, &doc, None)).expect("save a new document");
            out
        };
        let doc = self.doc(&id)?;
        self.made
            .extend(doc.get_changes(&before).iter().map(|c| (id, c.hash())));
        self.refresh();
        Some(out)
    }

    /// Sync runs until one completes; `fault` decides the fate of each request
    /// (1-based, heads requests included, counted across the runs). A run that lost a
    /// request ends, and the next one starts from what was persisted, as the node's
    /// driver retries.
    pub fn sync(
        &mut self,
        server: &mut MemServer,
        mut fault: impl FnMut(u32) -> Fault,
    ) -> Result<RunStats, SessionError> {
        self.core.set_sync_config(self.config);
        let mut stats = RunStats::default();
        for _ in 0..MAX_RUNS {
            let result = self.run(server, &mut fault, &mut stats);
            self.refresh();
            match result {
                Ok(()) => return Ok(stats),
                Err(NodeError::Sync {
                    code: "sync_round_trip_limit",
                    ..
                }) => {
                    return Err(SessionError::RoundTripLimit(stats.requests));
                }
                Err(e) if e.is_transient() => {}
                Err(e) => panic!("a sync run of device {} failed: {e}", self.id),
            }
        }
        Err(SessionError::RoundTripLimit(stats.requests))
    }

    /// One run of the core, its requests answered by `server` through `fault`.
    fn run(
        &mut self,
        server: &mut MemServer,
        fault: &mut impl FnMut(u32) -> Fault,
        stats: &mut RunStats,
    ) -> Result<(), NodeError> {
        let (id, config, stale) = (self.id, self.config, &mut self.stale);
        let post = |post: Post| {
            stats.requests += 1;
            stats.bytes_up += post.body.len();
            let heads = post.url.ends_with("/heads");
            let mut handle = || {
                let instance = Some(post.instance.as_str());
                if heads {
                    server.handle_heads_from(id, instance, &post.body)
                } else {
                    server.handle_from(id, instance, &post.body)
                }
                .expect("the core sends valid frames")
            };
            let reply = match fault(stats.requests) {
                Fault::DropRequest => None,
                Fault::DropResponse => {
                    handle();
                    None
                }
                Fault::Delay => {
                    let late = handle();
                    // A late heads response is of no use: the node gave up on it.
                    if !heads {
                        stale.push(late);
                    }
                    None
                }
                Fault::Duplicate => {
                    handle();
                    Some(handle())
                }
                Fault::None => Some(handle()),
            };
            let body = reply.ok_or_else(|| "the request or its answer was lost".to_owned())?;
            stats.bytes_down += body.len();
            if heads {
                stats.reconciles += 1;
            } else {
                stats.errors.extend(errors_of(&body, &config));
            }
            Ok((200, body))
        };
        drive_now(self.core.begin_run(), self.core.store(), post).map(|_| ())
    }

    /// Delivers the oldest late response, out of order: a new run reads it as the
    /// answer to its first sync request, persists what it says, and ends (nothing else
    /// gets through). Returns false when none is waiting.
    pub fn deliver_stale(&mut self) -> bool {
        if self.stale.is_empty() {
            return false;
        }
        let mut late = Some(self.stale.remove(0));
        let post = |post: Post| match late.take() {
            Some(body) if !post.url.ends_with("/heads") => Ok((200, body)),
            _ => Err("offline".into()),
        };
        // The run ends offline once the late answer is used: that is the point.
        let _ = drive_now(self.core.begin_run(), self.core.store(), post);
        self.refresh();
        true
    }
}

/// The per-document errors of a sync response (those the device gives up on this run).
fn errors_of(body: &[u8], config: &DeviceConfig) -> Vec<(DocId, ErrorCode)> {
    SyncResponse::decode(body, &config.limits)
        .map(|r| {
            r.errors
                .into_iter()
                .filter(|e| e.code != ErrorCode::Retry)
                .map(|e| (e.doc, e.code))
                .collect()
        })
        .unwrap_or_default()
}

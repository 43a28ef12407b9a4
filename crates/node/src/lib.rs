//! The rep's device node: everything a device does, without a UI.
//!
//! - **Local store**: the document store of `rapport-store` in one SQLite file in the
//!   data folder, encrypted with SQLCipher under a key kept in the OS keychain (or a
//!   private key file, with a warning) — see [`keys`]. WAL with `synchronous=FULL`:
//!   an edit is on disk before the call that made it returns.
//! - **API** for the UI and the CLI: [`Node::handle`] takes a [`rapport_api::Request`]
//!   and answers a [`rapport_api::Response`] or an [`rapport_api::ApiError`] with a
//!   stable code.
//! - **Automatic sync** ([`driver`]): at start, shortly after edits, periodically, and
//!   after a failure when a probe finds the server again (exponential backoff with
//!   jitter). Progress comes out as [`rapport_api::Event`]s ([`Node::subscribe`]).
//!   Documents the server refuses are kept, reported, and tried again at the next
//!   start (or as soon as the server sends them again): a refusal whose cause is gone
//!   never leaves a document stuck.
//! - **Storage that goes back in time** (the protocol crate's docs have the whole
//!   design). The device writes under its registered 16-byte actor plus 8 random bytes
//!   chosen each time it opens its store (`Inner::edit_actor` says why this over a
//!   check with the server before the first edit: a rep may be offline for days), so a
//!   folder restored from an old copy, or copied to a second machine, never reuses an
//!   (actor, sequence number). Its first sync after opening, and any sync the server
//!   answers with `reconcile`, first sends the heads of every document it holds; what
//!   the server lacks is sent whole, and stale sync states on both sides are dropped.
//!
//! The Tauri shell embeds a [`Node`]; the `rapport-device` binary runs one headless.

mod driver;
mod edits;
pub mod error;
mod http;
pub mod keys;
mod local;
mod pairing;
mod requests;
mod server_call;
mod sync;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::{ActorId, Automerge};
use rapport_api::{ApiError, Event, Request, Response, ServerCall, ServerReply};
use rapport_domain::template::read_template;
use rapport_domain::{DocId, ProgrammeView, Template, read_view, view_id};
use rapport_store::{DocStore, SqliteStore};
use tokio::sync::{Notify, broadcast, watch};

pub use error::NodeError;
pub use keys::KeyStorage;

/// File name of the device database in the data folder.
pub const DB_FILE: &str = "device.db";

/// The documents `ids` (every one for `None`) of the device database in `data_dir`,
/// opened with its key from `key_storage` beside a running node (WAL lets a second
/// reader in): what a device holds, for tools and tests that look inside. A document
/// the database does not have is left out of the map.
pub async fn read_device_docs(
    data_dir: &Path,
    key_storage: KeyStorage,
    ids: Option<&[DocId]>,
) -> Result<HashMap<DocId, Automerge>, NodeError> {
    let db = data_dir.join(DB_FILE);
    let key = keys::load_or_create(data_dir, key_storage, db.exists())?;
    let store = SqliteStore::open_encrypted(db, &key.bytes).await?;
    let ids = match ids {
        Some(ids) => ids.to_vec(),
        None => store.list_docs().await?,
    };
    let mut docs = HashMap::with_capacity(ids.len());
    let loaded = store.load_many(&ids).await;
    store.pool().close().await;
    for (id, doc) in loaded? {
        if let Some(doc) = doc? {
            docs.insert(id, doc);
        }
    }
    Ok(docs)
}

/// Timing of automatic sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSettings {
    /// Wait after an edit before syncing (more edits in the meantime join the same run).
    pub debounce: Duration,
    /// Sync this often when nothing else triggers it (picks up others' changes).
    pub period: Duration,
    /// First wait after a failure.
    pub backoff_min: Duration,
    /// Longest wait between attempts while the server cannot be reached.
    pub backoff_max: Duration,
    /// Longest wait for one sync request.
    pub request_timeout: Duration,
    /// Longest wait for a probe of the server.
    pub probe_timeout: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(2),
            period: Duration::from_secs(60),
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(5),
        }
    }
}

/// How to open a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The data folder (created if missing).
    pub data_dir: PathBuf,
    /// Where the database key is kept.
    pub key_storage: KeyStorage,
    /// Run automatic sync in the background (the app: yes; one CLI command: no).
    pub auto_sync: bool,
    /// Sync timing.
    pub sync: SyncSettings,
}

impl NodeOptions {
    /// Defaults for `data_dir`: key in the keychain if any, automatic sync on.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            key_storage: KeyStorage::Auto,
            auto_sync: true,
            sync: SyncSettings::default(),
        }
    }
}

/// What the node keeps in memory (rebuilt from the database at open).
#[derive(Default)]
struct Mem {
    /// Documents with changes the server may not have (mirror of `node_dirty`).
    dirty: HashSet<DocId>,
    /// Edits per document since open: a sync run clears a dirty mark only if no edit
    /// came in after the run took the document.
    edit_gen: HashMap<DocId, u64>,
    /// When the driver plans the next attempt (unix ms).
    next_attempt_ms: Option<i64>,
    /// A run is going on.
    running: bool,
    /// The programme view (questionnaire, names), once read.
    view: Option<Arc<ProgrammeView>>,
    /// The paired device, once read.
    device: Option<local::Pairing>,
    /// Changes committed per document by edits since its last compaction was started.
    uncompacted: HashMap<DocId, usize>,
}

/// The node's shared state.
pub(crate) struct Inner {
    data_dir: PathBuf,
    pub(crate) store: SqliteStore,
    pub(crate) db: local::LocalDb,
    key_warning: Option<String>,
    /// Documents being edited, with the device's actor; evicted when sync changes them.
    cache: tokio::sync::Mutex<HashMap<DocId, Automerge>>,
    mem: Mutex<Mem>,
    events: broadcast::Sender<Event>,
    pub(crate) kick: Notify,
    /// One sync run at a time.
    sync_lock: tokio::sync::Mutex<()>,
    /// One compaction pass at a time; shutdown takes it to wait for the pass in progress.
    compact_lock: Arc<tokio::sync::Mutex<()>>,
    /// Shutdown began: a compaction pass stops before its next document.
    closing: Arc<AtomicBool>,
    /// When the last edit was saved (unix ms): compaction waits for a pause in typing.
    last_edit_ms: Arc<AtomicI64>,
    pub(crate) http: reqwest::Client,
    pub(crate) settings: SyncSettings,
    /// 8 random bytes chosen at this opening of the store: the device writes under its
    /// registered 16-byte actor followed by them (see [`Inner::edit_actor`]).
    opening: [u8; 8],
    /// The next sync run first reconciles with the server (set at open and when the
    /// server asks; see the protocol's *When storage goes back in time*).
    pub(crate) reconcile: AtomicBool,
}

/// A device node. Cheap to clone; all clones share one database and one sync driver.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
    driver: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

impl Node {
    /// Opens (or creates) the node in `options.data_dir` and, if asked, starts
    /// automatic sync. A wrong or missing key fails with a clear error and changes
    /// nothing on disk.
    pub async fn open(options: NodeOptions) -> Result<Self, NodeError> {
        let dir = &options.data_dir;
        let io = |e: std::io::Error| NodeError::Io {
            what: format!("the data folder {}", dir.display()),
            reason: e.to_string(),
        };
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            // Only the user may list or open the device's files.
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(io)?;
        }
        let db_path = dir.join(DB_FILE);
        let key = keys::load_or_create(dir, options.key_storage, db_path.exists())?;
        let store = SqliteStore::open_encrypted(&db_path, &key.bytes).await?;
        let db = local::LocalDb::open(store.pool().clone()).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("rapport-device/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NodeError::Io {
                what: "the HTTP client".into(),
                reason: e.to_string(),
            })?;
        let (events, _) = broadcast::channel(256);
        let mut opening = [0u8; 8];
        getrandom::fill(&mut opening).map_err(|e| NodeError::Io {
            what: "random actor suffix".into(),
            reason: e.to_string(),
        })?;
        let mem = Mem {
            dirty: db.dirty().await?.into_iter().collect(),
            ..Mem::default()
        };
        let inner = Arc::new(Inner {
            data_dir: dir.clone(),
            store,
            db,
            key_warning: key.warning,
            cache: tokio::sync::Mutex::new(HashMap::new()),
            mem: Mutex::new(mem),
            events,
            kick: Notify::new(),
            sync_lock: tokio::sync::Mutex::new(()),
            compact_lock: Arc::new(tokio::sync::Mutex::new(())),
            last_edit_ms: Arc::new(AtomicI64::new(0)),
            closing: Arc::new(AtomicBool::new(false)),
            http,
            settings: options.sync,
            opening,
            reconcile: AtomicBool::new(true),
        });
        inner.repair_index().await?;
        // Documents stored before compaction existed, or filled by sync since.
        inner.compact_in_background(None);
        let (stop, stop_rx) = watch::channel(false);
        let node = Self {
            inner: inner.clone(),
            stop: Arc::new(stop),
            driver: Arc::new(Mutex::new(None)),
        };
        if options.auto_sync {
            let handle = tokio::spawn(driver::drive(inner, stop_rx));
            *node.driver.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        }
        Ok(node)
    }

    /// Answers one API request.
    pub async fn handle(&self, request: Request) -> Result<Response, ApiError> {
        requests::handle(self, request)
            .await
            .map_err(ApiError::from)
    }

    /// A call to the server's API for the lead's pages in the app (see `server_call`).
    pub async fn call_server(&self, call: ServerCall) -> Result<ServerReply, ApiError> {
        server_call::call(&self.inner.http, call).await
    }

    /// Events as they happen (sync progress, documents changed by sync).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The warning about where the database key is kept, if there is one.
    pub fn key_warning(&self) -> Option<&str> {
        self.inner.key_warning.as_deref()
    }

    /// Stops automatic sync (waiting for a run in progress to reach a safe point) and
    /// closes the database.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let handle = self.driver.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        self.inner.closing.store(true, Ordering::SeqCst);
        // A compaction is one transaction, so stopping mid-pass is safe; waiting for the
        // document in progress only keeps its work from being thrown away.
        let _compacting = self.inner.compact_lock.lock().await;
        self.inner.store.pool().close().await;
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    fn mem(&self) -> std::sync::MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_next_attempt(&self, after: Option<Duration>) {
        self.mem().next_attempt_ms =
            after.map(|d| now_ms() + i64::try_from(d.as_millis()).unwrap_or(0));
    }

    /// The dirty documents and their edit generations, as a run takes them.
    pub(crate) fn dirty_snapshot(&self) -> (Vec<DocId>, HashMap<DocId, u64>) {
        let mem = self.mem();
        let mut dirty: Vec<DocId> = mem.dirty.iter().copied().collect();
        dirty.sort();
        let generations = dirty
            .iter()
            .map(|id| (*id, mem.edit_gen.get(id).copied().unwrap_or(0)))
            .collect();
        (dirty, generations)
    }

    /// Clears the dirty mark of `docs` that were not edited since `generations` was taken.
    pub(crate) async fn clear_dirty(
        &self,
        docs: &[DocId],
        generations: &HashMap<DocId, u64>,
    ) -> Result<(), NodeError> {
        // Under the edit lock: no edit can slip in between the check and the delete.
        let _cache = self.cache.lock().await;
        let clean: Vec<DocId> = {
            let mem = self.mem();
            docs.iter()
                .filter(|id| {
                    mem.edit_gen.get(id).copied().unwrap_or(0)
                        == generations.get(id).copied().unwrap_or(0)
                })
                .copied()
                .collect()
        };
        self.db.clear_dirty(&clean).await?;
        let mut mem = self.mem();
        for id in &clean {
            mem.dirty.remove(id);
        }
        Ok(())
    }

    /// Marks stored documents for sending in the next run (a reconciliation found the
    /// server lacks them, or a stopped document gets another try).
    pub(crate) async fn mark_for_sending(&self, docs: &[DocId]) -> Result<(), NodeError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.db.mark_dirty(docs, now_ms()).await?;
        let mut mem = self.mem();
        for id in docs {
            mem.dirty.insert(*id);
            *mem.edit_gen.entry(*id).or_default() += 1;
        }
        Ok(())
    }

    /// Sync changed these documents: edits reload them from the store.
    pub(crate) async fn forget_cached(&self, docs: &[DocId]) {
        let mut cache = self.cache.lock().await;
        for id in docs {
            cache.remove(id);
        }
        let mut mem = self.mem();
        if mem.view.as_ref().is_some_and(|v| docs.contains(&v.id)) {
            mem.view = None;
        }
    }

    /// One sync run now (waits for a run in progress first).
    pub(crate) async fn sync_once(&self) -> Result<rapport_api::RunSummary, NodeError> {
        let _guard = self.sync_lock.lock().await;
        self.mem().running = true;
        let result = sync::run(self).await;
        self.mem().running = false;
        // The server's changes are stored one row each (a first sync of a long-typed
        // visit brings thousands): fold them in.
        if result.as_ref().is_ok_and(|r| r.docs_received > 0) {
            self.compact_in_background(None);
        }
        if let Err(e) = self.db.record_run(now_ms(), result.as_ref()).await {
            tracing::warn!(error = %e, "cannot record the sync run");
        }
        let status = requests::sync_status(self).await;
        if let Ok(status) = status {
            self.emit(Event::SyncFinished(status));
        }
        result
    }

    /// The programme view (questionnaire, names) of the paired programme.
    pub(crate) async fn view(&self) -> Result<Option<Arc<ProgrammeView>>, NodeError> {
        if let Some(v) = self.mem().view.clone() {
            return Ok(Some(v));
        }
        let Some(device) = self.device().await? else {
            return Err(NodeError::NotPaired);
        };
        let Some(doc) = self.store.load(view_id(device.programme_id)).await? else {
            return Ok(None);
        };
        let view = Arc::new(read_view(&doc)?);
        self.mem().view = Some(view.clone());
        Ok(Some(view))
    }

    /// The questionnaire: from the programme view, or (a lead's device) the programme.
    pub(crate) async fn template(&self) -> Result<Template, NodeError> {
        if let Some(view) = self.view().await? {
            return Ok(view.template.clone());
        }
        let device = self.device().await?.ok_or(NodeError::NotPaired)?;
        match self.store.load(device.programme_id).await? {
            Some(doc) => Ok(read_template(&doc)?),
            None => Err(NodeError::NoTemplate),
        }
    }

    /// This device as paired (kept in memory: it changes only when pairing).
    pub(crate) async fn device(&self) -> Result<Option<local::Pairing>, NodeError> {
        if let Some(d) = self.mem().device.clone() {
            return Ok(Some(d));
        }
        let device = self.db.device().await?;
        self.mem().device.clone_from(&device);
        Ok(device)
    }

    /// The actor this opening of the store writes with: the device's registered actor
    /// followed by 8 random bytes chosen at open.
    ///
    /// Why: a device's folder can go back in time (a tablet restored from a backup, a
    /// laptop image rolled back, a folder copied to a second machine). Writing again
    /// under the registered actor would reuse sequence numbers already used for other
    /// changes, which Automerge (and the server) cannot accept: the edits would be
    /// refused for good. A fresh suffix per opening never reuses a (actor, sequence)
    /// pair, needs no round trip before the first edit (the rep may be offline for
    /// days), and keeps history naming the person and the device: the server and every
    /// device find the device by the registered first 16 bytes, as they do for the
    /// server's per-edit actors of a lead. Changes made under the plain registered
    /// actor before this scheme merge as they always did.
    pub(crate) fn edit_actor(&self, device: &local::Pairing) -> Result<ActorId, NodeError> {
        let mut bytes = hex::decode(&device.actor).map_err(|_| {
            NodeError::invalid(
                "bad_actor",
                "the stored device actor is damaged; pair again",
            )
        })?;
        // Only a 16-byte registered actor can be found by its prefix; a longer one
        // (paired by another client) keeps the old behaviour.
        if bytes.len() * 2 == rapport_domain::ACTOR_PREFIX_HEX {
            bytes.extend_from_slice(&self.opening);
        }
        Ok(ActorId::from(bytes))
    }
}

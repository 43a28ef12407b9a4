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
//!   Documents the server refuses are kept, not sent again, and reported.
//!
//! The Tauri shell embeds a [`Node`]; the `rapport-device` binary runs one headless.

mod api;
mod driver;
pub mod error;
pub mod keys;
mod local;
mod sync;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::{ActorId, Automerge};
use rapport_api::{ApiError, Event, Request, Response};
use rapport_domain::template::read_template;
use rapport_domain::{DocId, ProgrammeView, Template, read_view, view_id};
use rapport_store::{DocStore, SqliteStore, WriteBatch};
use tokio::sync::{Notify, broadcast, watch};

pub use error::NodeError;
pub use keys::KeyStorage;

/// File name of the device database in the data folder.
pub const DB_FILE: &str = "device.db";

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
    pub(crate) http: reqwest::Client,
    pub(crate) settings: SyncSettings,
}

/// A device node. Cheap to clone; all clones share one database and one sync driver.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
    driver: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// Most documents kept open in memory for editing.
const CACHE_DOCS: usize = 64;

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
        std::fs::create_dir_all(dir).map_err(|e| NodeError::Io {
            what: format!("the data folder {}", dir.display()),
            reason: e.to_string(),
        })?;
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
            http,
            settings: options.sync,
        });
        inner.repair_index().await?;
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
        api::handle(self, request).await.map_err(ApiError::from)
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
        if let Err(e) = self.db.record_run(now_ms(), result.as_ref()).await {
            tracing::warn!(error = %e, "cannot record the sync run");
        }
        let status = api::sync_status(self).await;
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
        let Some(device) = self.db.device().await? else {
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
        let device = self.db.device().await?.ok_or(NodeError::NotPaired)?;
        match self.store.load(device.programme_id).await? {
            Some(doc) => Ok(read_template(&doc)?),
            None => Err(NodeError::NoTemplate),
        }
    }

    /// Applies `f` to the document `id` and makes the resulting changes durable before
    /// returning. The dirty mark is written first, so a crash can never leave a saved
    /// change the next sync would not send.
    pub(crate) async fn edit<T>(
        &self,
        id: DocId,
        f: impl FnOnce(&mut Automerge) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let device = self.db.device().await?.ok_or(NodeError::NotPaired)?;
        let actor = ActorId::from(hex::decode(&device.actor).map_err(|_| {
            NodeError::invalid(
                "bad_actor",
                "the stored device actor is damaged; pair again",
            )
        })?);
        let mut cache = self.cache.lock().await;
        if !cache.contains_key(&id) {
            let doc = self.store.load(id).await?.ok_or(NodeError::NotFound {
                what: "document",
                id,
            })?;
            if cache.len() >= CACHE_DOCS
                && let Some(evict) = cache.keys().next().copied()
            {
                cache.remove(&evict);
            }
            cache.insert(id, doc.with_actor(actor.clone()));
        }
        let Some(doc) = cache.get_mut(&id) else {
            return Err(NodeError::NotFound {
                what: "document",
                id,
            });
        };
        let before = doc.get_heads();
        let result = f(doc);
        let changes: Vec<_> = doc.get_changes(&before);
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                if !changes.is_empty() {
                    // Never keep in memory what is not on disk.
                    cache.remove(&id);
                }
                return Err(e);
            }
        };
        if changes.is_empty() {
            return Ok(out);
        }
        let now = now_ms();
        let known_dirty = self.mem().dirty.contains(&id);
        let saved = async {
            if !known_dirty {
                self.db.mark_dirty(&[id], now).await?;
            }
            self.store
                .commit(WriteBatch::new().with_changes(id, changes))
                .await?;
            Ok::<(), NodeError>(())
        }
        .await;
        if let Err(e) = saved {
            cache.remove(&id);
            return Err(e);
        }
        {
            let mut mem = self.mem();
            mem.dirty.insert(id);
            *mem.edit_gen.entry(id).or_default() += 1;
        }
        drop(cache);
        self.kick.notify_one();
        Ok(out)
    }

    /// Indexes stored documents the index does not know (after a crash between a
    /// document's commit and its index row).
    async fn repair_index(&self) -> Result<(), NodeError> {
        let known: HashSet<DocId> = self.db.indexed().await?.into_iter().map(|e| e.0).collect();
        let missing: Vec<DocId> = self
            .store
            .list_docs()
            .await?
            .into_iter()
            .filter(|d| !known.contains(d))
            .collect();
        let mut entries = Vec::new();
        for (id, loaded) in self.store.load_many(&missing).await? {
            if let Ok(Some(doc)) = loaded
                && let Ok(scope) = rapport_domain::doc_scope(&doc)
            {
                entries.push((id, scope.kind.tag(), scope.client_id));
            }
        }
        self.db.index(&entries).await
    }
}

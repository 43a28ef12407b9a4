//! The rep's device node: everything a device does, without a UI — the device core
//! (`rapport-core`, which decides everything and does no IO) in a native shell: the
//! encrypted SQLite store, reqwest, and a tokio driver.
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
//!   chosen each time it opens its store (`DeviceCore::edit_actor` says why this over a
//!   check with the server before the first edit: a rep may be offline for days), so a
//!   folder restored from an old copy, or copied to a second machine, never reuses an
//!   (actor, sequence number). Its first sync after opening, and any sync the server
//!   answers with `reconcile`, first sends the heads of every document it holds; what
//!   the server lacks is sent whole, and stale sync states on both sides are dropped.
//!
//! The Tauri shell embeds a [`Node`]; the `rapport-device` binary runs one headless.

mod driver;
mod http;
pub mod keys;
mod server_call;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use automerge::Automerge;
use rapport_api::{ApiError, Event, Request, Response, ServerCall, ServerReply};
use rapport_core::{DeviceCore, Host, PairNext};
use rapport_domain::DocId;
use rapport_store::{DocStore, SqliteStore};
use tokio::sync::{Notify, broadcast, watch};

pub use keys::KeyStorage;
pub use rapport_core::error;
pub use rapport_core::error::NodeError;
pub use server_call::ServerEvents;
pub use store::SqlDeviceStore;

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

pub use rapport_core::schedule::SyncSettings;

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
    /// A PEM file with the company CA's certificate(s), trusted besides the system's
    /// authorities (certificates are always verified). `None`: [`CA_FILE`] in the data
    /// folder if it is there.
    pub ca_cert: Option<PathBuf>,
}

/// The CA certificate file a node trusts from its data folder when no other is given.
pub const CA_FILE: &str = "ca.pem";

impl NodeOptions {
    /// Defaults for `data_dir`: key in the keychain if any, automatic sync on.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            key_storage: KeyStorage::Auto,
            auto_sync: true,
            sync: SyncSettings::default(),
            ca_cert: None,
        }
    }
}

/// Compaction waits at most this many times for a pause in typing (every half of
/// [`rapport_core::COMPACT_IDLE_MS`]: 30 s in all), so it happens anyway.
const COMPACT_IDLE_CHECKS: usize = 120;

/// The node's [`Host`]: the system clock and randomness, events on a broadcast channel,
/// edits kick the sync driver, compaction runs on a tokio task.
struct NodeHost {
    events: broadcast::Sender<Event>,
    kick: Arc<Notify>,
    /// The node, to compact on (set once it exists).
    node: OnceLock<Weak<Inner>>,
}

impl Host for NodeHost {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The OS's randomness; without it the device cannot make unique actors or ids.
        if let Err(e) = getrandom::fill(buf) {
            panic!("the operating system gave no random bytes: {e}");
        }
    }

    fn emit(&self, event: Event) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    fn edited(&self) {
        self.kick.notify_one();
    }

    fn compaction_due(&self, docs: Vec<DocId>) {
        if let Some(inner) = self.node.get().and_then(Weak::upgrade) {
            inner.compact_in_background(Some(docs));
        }
    }
}

/// The node's shared state: the core over the encrypted store, and the native parts.
pub(crate) struct Inner {
    data_dir: PathBuf,
    pub(crate) core: DeviceCore<SqlDeviceStore>,
    key_warning: Option<String>,
    events: broadcast::Sender<Event>,
    pub(crate) kick: Arc<Notify>,
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
        // First, so a bad CA file changes nothing on disk.
        let in_dir = dir.join(CA_FILE);
        let ca_cert = options
            .ca_cert
            .clone()
            .or_else(|| in_dir.is_file().then_some(in_dir));
        let http = http::client(ca_cert.as_deref(), options.sync.idle_connection)?;
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
        let docs = SqliteStore::open_encrypted(&db_path, &key.bytes).await?;
        let store = SqlDeviceStore::open(docs).await?;
        let (events, _) = broadcast::channel(256);
        let kick = Arc::new(Notify::new());
        let host = Arc::new(NodeHost {
            events: events.clone(),
            kick: kick.clone(),
            node: OnceLock::new(),
        });
        let core = DeviceCore::open(store, host.clone()).await?;
        let inner = Arc::new(Inner {
            data_dir: dir.clone(),
            core,
            key_warning: key.warning,
            events,
            kick,
            http,
            settings: options.sync,
        });
        let _ = host.node.set(Arc::downgrade(&inner));
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
        let inner = &self.inner;
        let answer = match request {
            Request::Pair(p) => inner.pair(&p).await.map(Response::Device),
            Request::SyncNow => {
                // The run's own error is in the status (last_error); a status is the answer.
                let _ = inner.sync_once().await;
                inner.core.sync_status().await.map(Response::Sync)
            }
            other => inner.core.handle(other).await,
        };
        answer.map_err(ApiError::from)
    }

    /// A call to the server's API for the lead's pages in the app (see `server_call`).
    pub async fn call_server(&self, call: ServerCall) -> Result<ServerReply, ApiError> {
        server_call::call(&self.inner.http, call).await
    }

    /// Opens a stream of the server's events for the lead's pages in the app (a
    /// programme's live status), with the same checks and session as
    /// [`Self::call_server`]; returns once the server has answered.
    pub async fn follow_server(&self, call: ServerCall) -> Result<ServerEvents, ApiError> {
        server_call::follow(&self.inner.http, call).await
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
        // A compaction is one transaction, so stopping mid-pass is safe; waiting for the
        // document in progress only keeps its work from being thrown away.
        self.inner.core.close().await;
        self.inner.core.store().docs().pool().close().await;
    }
}

impl Inner {
    /// Folds stored changes into snapshots off the caller's path (see
    /// [`DeviceCore::compact`]), once the rep paused typing.
    pub(crate) fn compact_in_background(self: &Arc<Self>, docs: Option<Vec<DocId>>) {
        let inner = self.clone();
        tokio::spawn(async move {
            let wait = Duration::from_millis(rapport_core::COMPACT_IDLE_MS.unsigned_abs() / 2);
            for _ in 0..COMPACT_IDLE_CHECKS {
                if inner.core.idle_for_compaction() {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            inner.core.compact(docs).await;
        });
    }

    /// One sync run now (waits for a run in progress first): the core's run, driven over
    /// the encrypted store and HTTP.
    pub(crate) async fn sync_once(self: &Arc<Self>) -> Result<rapport_api::RunSummary, NodeError> {
        let result = {
            let _guard = self.core.sync_lock().await;
            // What the run reads back loads from one snapshot.
            self.core.fold_edited().await;
            let run = self.core.begin_run();
            run.drive(self.core.store(), |post| {
                http::post(&self.http, &self.settings, post)
            })
            .await
        };
        // The server's changes are stored one row each (a first sync of a long-typed
        // visit brings thousands): fold them in.
        if result.as_ref().is_ok_and(|r| r.docs_received > 0) {
            self.compact_in_background(None);
        }
        if let Ok(status) = self.core.sync_status().await {
            let _ = self.events.send(Event::SyncFinished(status));
        }
        result
    }

    /// Pairs with a programme: the core decides, the node posts.
    async fn pair(
        &self,
        p: &rapport_api::PairRequest,
    ) -> Result<rapport_api::DeviceInfo, NodeError> {
        let mut flow = self.core.begin_pairing(p).await?;
        // At most one retry: a revoked device's old actor refused, a new one drawn.
        for _ in 0..2 {
            let (status, body) = http::post_json(&self.http, &self.settings, &flow).await?;
            let fresh = || {
                let mut bytes = [0u8; 16];
                Host::fill_random(&*self.core.host().clone(), &mut bytes);
                bytes
            };
            match flow.answer(status, &body, fresh)? {
                PairNext::Again => continue,
                PairNext::Paired(pairing) => {
                    self.core.set_pairing(pairing).await?;
                    return self.core.device_info().await;
                }
            }
        }
        Err(NodeError::invalid(
            "pairing_refused",
            "the server refused this device's actor twice; pair again",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType, ROOT, ReadDoc};
    use rapport_core::{DeviceStore, FOLD_AFTER, FOLD_WORTH, Pairing};
    use rapport_store::WriteBatch;

    use super::*;

    /// Loose change rows of `id` (not folded into its snapshot).
    async fn loose(inner: &Inner, id: DocId) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL")
            .bind(id.as_bytes().as_slice())
            .fetch_one(inner.core.store().docs().pool())
            .await
            .expect("count")
    }

    /// A paired node (no sync) holding one document with an empty "text", stored as
    /// one change of the device's actor.
    async fn node_with_a_text(dir: &Path) -> (Node, NodeOptions, DocId) {
        let mut options = NodeOptions::new(dir);
        options.key_storage = KeyStorage::File;
        options.auto_sync = false;
        let node = Node::open(options.clone()).await.expect("open");
        let actor = ActorId::random();
        node.inner
            .core
            .set_pairing(Pairing {
                server_url: "http://127.0.0.1:9".into(),
                device_id: "d1".into(),
                token: "t".into(),
                programme_id: DocId::random(),
                rep_id: Some("ivanov".into()),
                label: "Планшет Иванова".into(),
                actor: hex::encode(actor.to_bytes()),
            })
            .await
            .expect("device");
        let id = text_doc(&node, actor).await;
        (node, options, id)
    }

    /// A new document with an empty "text", stored as one change of `actor`.
    async fn text_doc(node: &Node, actor: ActorId) -> DocId {
        let id = DocId::random();
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        tx.put_object(ROOT, "text", ObjType::Text).expect("text");
        tx.commit();
        node.inner
            .core
            .store()
            .commit(WriteBatch::new().with_changes(id, doc.get_changes(&[])))
            .await
            .expect("stored");
        id
    }

    /// Types `typed` into the document's text one character per edit.
    async fn type_into(inner: &Inner, id: DocId, typed: &str) {
        for c in typed.chars() {
            inner
                .core
                .edit(id, |doc| {
                    let mut tx = doc.transaction();
                    let (_, text) = tx
                        .get(ROOT, "text")
                        .ok()
                        .flatten()
                        .ok_or_else(|| NodeError::invalid("no_text", "no text"))?;
                    let end = tx.length(&text);
                    tx.splice_text(&text, end, 0, &c.to_string())
                        .map_err(|e| NodeError::invalid("splice", e.to_string()))?;
                    tx.commit();
                    Ok(())
                })
                .await
                .expect("edit");
        }
    }

    /// The document's text and change count, read from the store.
    async fn stored_text(node: &Node, id: DocId) -> (String, usize) {
        let doc = node.inner.core.load(id).await.expect("load").expect("doc");
        let (_, text) = doc.get(ROOT, "text").expect("get").expect("text");
        (doc.text(&text).expect("text"), doc.get_changes(&[]).len())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_document_typed_one_character_per_edit_is_folded_as_it_is_typed_and_keeps_every_keystroke()
     {
        let dir = tempfile::tempdir().expect("dir");
        let (node, options, id) = node_with_a_text(dir.path()).await;
        let typed: String = "Привет, мир 🚀 ".chars().cycle().take(300).collect();
        type_into(&node.inner, id, &typed).await;
        // Asked for every FOLD_AFTER edits, folded from the edit cache in the
        // background once the typing stops.
        let started = Instant::now();
        while loose(&node.inner, id).await >= FOLD_AFTER as i64 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still {} loose changes",
                loose(&node.inner, id).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.shutdown().await;

        let node = Node::open(options).await.expect("reopen");
        assert_eq!(
            stored_text(&node, id).await,
            (typed, 301),
            "every keystroke and the whole history kept"
        );
        node.shutdown().await;
    }

    /// The rep moves on to another document: the one left is folded at once, the one
    /// typed into only after a few edits or before a sync run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_document_the_rep_moves_on_from_is_folded_at_the_next_edit() {
        let dir = tempfile::tempdir().expect("dir");
        let (node, options, first) = node_with_a_text(dir.path()).await;
        let second = text_doc(&node, ActorId::random()).await;
        type_into(&node.inner, first, "Ромашка").await;
        assert_eq!(loose(&node.inner, first).await, 1 + 7);
        type_into(&node.inner, second, "Лютик").await;
        assert_eq!(loose(&node.inner, first).await, 0, "left, so folded");
        assert_eq!(loose(&node.inner, second).await, 1 + 5, "being typed into");
        node.inner.core.fold_edited().await;
        assert_eq!(loose(&node.inner, second).await, 0, "folded before a run");
        node.shutdown().await;

        let node = Node::open(options).await.expect("reopen");
        assert_eq!(stored_text(&node, first).await, ("Ромашка".to_owned(), 8));
        assert_eq!(stored_text(&node, second).await, ("Лютик".to_owned(), 6));
        node.shutdown().await;
    }

    /// A document left with fewer loose changes than [`FOLD_WORTH`] (a rep who changes
    /// one answer and moves on) is left as it is, before a run too: replaying them costs
    /// less than a fold. Once more edits reach the threshold it is folded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_document_left_with_a_few_loose_changes_is_not_folded_until_they_are_worth_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (node, options, first) = node_with_a_text(dir.path()).await;
        let second = text_doc(&node, ActorId::random()).await;
        // Edits, one change each (the document's first change was not an edit).
        let few = FOLD_WORTH - 1;
        let typed: String = "Ёлка".chars().take(few).collect();
        type_into(&node.inner, first, &typed).await;
        type_into(&node.inner, second, "Ива").await;
        assert_eq!(
            loose(&node.inner, first).await,
            (1 + few) as i64,
            "too few to fold"
        );
        node.inner.core.fold_edited().await;
        assert_eq!(
            loose(&node.inner, first).await,
            (1 + few) as i64,
            "nor before a run"
        );
        type_into(&node.inner, first, "ь").await;
        type_into(&node.inner, second, "!").await;
        assert_eq!(loose(&node.inner, first).await, 0, "worth a fold now");
        node.shutdown().await;

        let node = Node::open(options).await.expect("reopen");
        let want = format!("{typed}ь");
        assert_eq!(stored_text(&node, first).await, (want, 1 + few + 1));
        node.shutdown().await;
    }

    /// A change the store took beside the edit cache (as a sync run commits one before
    /// the cache learns of it) makes the cached copy's snapshot short of it: that fold
    /// writes nothing, and the change and every keystroke stay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fold_from_a_copy_the_store_moved_past_writes_nothing_and_loses_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (node, options, id) = node_with_a_text(dir.path()).await;
        let other_doc = text_doc(&node, ActorId::random()).await;
        type_into(&node.inner, id, "Звонок ").await;
        let mut other = node.inner.core.load(id).await.expect("load").expect("doc");
        let heads = other.get_heads();
        let mut tx = other.transaction();
        tx.put(ROOT, "итог", "перезвонить в пятницу").expect("put");
        tx.commit();
        node.inner
            .core
            .store()
            .commit(WriteBatch::new().with_changes(id, other.get_changes(&heads)))
            .await
            .expect("another device's change");
        // The rep moves on: the fold of the copy finds a change the copy lacks.
        type_into(&node.inner, other_doc, "Н").await;
        assert_eq!(
            loose(&node.inner, id).await,
            1 + 7 + 1,
            "no fold was written: the cached copy lacks a stored change"
        );
        // The copy was let go: the next edit reads the store's, and moving on folds it.
        type_into(&node.inner, id, "директору").await;
        type_into(&node.inner, other_doc, "ет").await;
        assert_eq!(loose(&node.inner, id).await, 0);
        type_into(&node.inner, id, ", договор").await;
        node.shutdown().await;

        let node = Node::open(options).await.expect("reopen");
        let doc = node.inner.core.load(id).await.expect("load").expect("doc");
        let note = doc
            .get(ROOT, "итог")
            .expect("get")
            .map(|(v, _)| v.to_string());
        assert_eq!(note.as_deref(), Some("\"перезвонить в пятницу\""));
        assert_eq!(
            stored_text(&node, id).await,
            ("Звонок директору, договор".to_owned(), 27),
            "every keystroke and the other device's change kept"
        );
        assert_eq!(stored_text(&node, other_doc).await, ("Нет".to_owned(), 4));
        node.shutdown().await;
    }
}

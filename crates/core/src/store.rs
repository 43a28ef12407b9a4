//! What a device keeps, as the core needs it: the [`DeviceStore`] trait and the rows it
//! reads and writes.
//!
//! Implementations: the native node's encrypted SQLite file (`rapport-node`), the
//! in-memory [`crate::MemDeviceStore`] (tests, the simulation), and the web app's
//! browser store. Each passes the conformance suite (`conformance`, feature
//! `conformance`).
//!
//! # The contract
//! - **Durable on return.** When a write returns `Ok`, what it wrote survives the app
//!   being killed, the tablet's battery dying, the store being reopened.
//! - **All or nothing.** A write that returns `Err` leaves no part of it behind, except
//!   that [`DeviceStore::save_edit`] may leave its dirty mark (below).
//! - **Dirty before the changes.** [`DeviceStore::save_edit`] writes the document's dirty
//!   mark durably no later than its changes: in one transaction, or the mark first. A
//!   change on disk that no dirty mark announces would not be sent until the next
//!   reconcile; a dirty mark without its change costs one empty exchange.

use std::collections::HashMap;

use automerge::{Automerge, Change};
use rapport_api::{ApiError, RunSummary, StoppedDoc};
use rapport_domain::DocId;
use rapport_store::{CompactionPlan, StoreError, WriteBatch};

/// `Send + Sync` where threads exist; nothing on the web, where the browser's storage
/// handles are not `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
/// `Send + Sync` where threads exist; nothing on the web, where the browser's storage
/// handles are not `Send`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// One document of many loaded: `Ok(None)` when it is not stored, an error in its own
/// slot when its bytes do not load.
pub type Loaded = Result<Option<Automerge>, StoreError>;

/// This device as paired with a programme on a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairing {
    /// The server's base URL, without a trailing slash.
    pub server_url: String,
    /// The device id the server gave.
    pub device_id: String,
    /// The device token (secret).
    pub token: String,
    /// The programme.
    pub programme_id: DocId,
    /// The rep (none: the lead's device).
    pub rep_id: Option<String>,
    /// The label.
    pub label: String,
    /// The registered actor (hex).
    pub actor: String,
}

/// The sync bookkeeping.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncRow {
    /// The server's feed cursor.
    pub remote_cursor: Vec<u8>,
    /// Last run without error (unix ms).
    pub last_success_ms: Option<i64>,
    /// Last run end (unix ms).
    pub last_attempt_ms: Option<i64>,
    /// Last run's error.
    pub last_error: Option<ApiError>,
    /// Last run's totals (of the last successful run).
    pub last_run: Option<RunSummary>,
    /// The server said the device was revoked.
    pub revoked: bool,
}

/// How a sync run ended, as [`DeviceStore::record_run`] keeps it.
#[derive(Clone, Debug, PartialEq)]
pub enum RunRecord {
    /// It finished: its totals.
    Done(RunSummary),
    /// It failed: the error a person reads, and whether the device was revoked.
    Failed {
        /// The error as the UI shows it.
        error: ApiError,
        /// The server said the device is revoked.
        revoked: bool,
    },
}

/// What a stored document is (its scope never changes), so lists need no full load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The document.
    pub doc: DocId,
    /// Its kind's tag: "visit", "client", ...
    pub kind: String,
    /// The client it belongs to, if any.
    pub client: Option<DocId>,
}

/// What one response of the server leaves to store ([`DeviceStore::write_response`]):
/// the documents' changes and sync states it brought, the refusals it gave and took
/// back, the index entries of documents new to the device, the feed cursor (when the
/// run may keep it) and the dirty documents it settled.
#[derive(Debug, Default)]
pub struct ResponseWrite {
    /// Changes and sync states.
    pub batch: WriteBatch,
    /// Refusals ([`DeviceStore::stop`]).
    pub stop: Vec<StoppedDoc>,
    /// Refusals taken back ([`DeviceStore::unstop`]).
    pub unstop: Vec<DocId>,
    /// What the new documents are ([`DeviceStore::index`]).
    pub index: Vec<IndexEntry>,
    /// The feed cursor to keep ([`DeviceStore::set_remote_cursor`]).
    pub cursor: Option<Vec<u8>>,
    /// Dirty documents the server now holds whole ([`DeviceStore::clear_dirty`]).
    pub clear_dirty: Vec<DocId>,
}

impl ResponseWrite {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
            && self.stop.is_empty()
            && self.unstop.is_empty()
            && self.index.is_empty()
            && self.cursor.is_none()
            && self.clear_dirty.is_empty()
    }
}

/// What a device keeps: its documents with their changes and sync states (with the
/// server), its pairing, the sync bookkeeping, dirty and stopped documents, and the
/// document index. See the module documentation for the contract every implementation
/// keeps.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait DeviceStore: MaybeSendSync {
    // --- Documents -------------------------------------------------------------------

    /// Many documents, in the order asked. A document whose bytes do not load gives an
    /// error in its own slot; the others still load.
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, Loaded)>, StoreError>;

    /// Every stored document id, sorted.
    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError>;

    /// Stores the changes of many documents and the device's sync states (with the
    /// server) all or nothing. Changes already stored are skipped.
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Whether [`Self::commit`] keeps a document sent whole as its saved bytes
    /// ([`WriteBatch::with_whole`]). A store that does not turns it into changes, which
    /// costs a load; the core then writes the changes itself.
    fn keeps_whole_documents(&self) -> bool {
        false
    }

    /// An edit: marks `doc` dirty and stores its new `changes`, the dirty mark durable
    /// no later than the changes (see the module documentation).
    async fn save_edit(
        &self,
        doc: DocId,
        changes: Vec<Change>,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The persisted sync states (with the server) of those of `docs` that have one.
    async fn sync_states(&self, docs: &[DocId]) -> Result<HashMap<DocId, Vec<u8>>, StoreError>;

    /// Forgets the sync state of every document not in `keep`.
    async fn retain_sync_states(&self, keep: &[DocId]) -> Result<(), StoreError>;

    /// Documents holding at least `min_changes` changes outside their snapshot, most
    /// first, at most `limit`.
    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError>;

    /// Folds the document's changes into a snapshot, keeping its whole history; one
    /// transaction, so a failure leaves the document as it was.
    async fn compact(&self, doc: DocId) -> Result<(), StoreError>;

    /// Whether [`Self::fold`] writes the snapshot of a copy in memory as it is (no read
    /// of the stored changes, no load). The core then folds edited documents from its
    /// edit cache: the one the rep moved on from, every edited one before a sync run,
    /// and the one typed into after a few edits once typing pauses
    /// ([`crate::FOLD_AFTER`]); a store that does not compacts in the background after
    /// many ([`crate::COMPACT_AFTER`]).
    fn folds_from_memory(&self) -> bool {
        false
    }

    /// Folds the stored changes of `plan`'s document into its snapshot, built from a
    /// copy in memory ([`CompactionPlan::of_document`]). `Err(Conflict)`, and nothing
    /// written, unless the store holds exactly the changes the copy holds. The default
    /// compacts from what is stored, as [`Self::compact`].
    async fn fold(&self, plan: CompactionPlan) -> Result<(), StoreError> {
        self.compact(plan.doc()).await
    }

    // --- Pairing and sync bookkeeping --------------------------------------------------

    /// The paired device, if any.
    async fn pairing(&self) -> Result<Option<Pairing>, StoreError>;

    /// Records the pairing (replacing a revoked one) and starts sync from scratch: the
    /// feed cursor goes back to the start, revoked and the last error are cleared.
    async fn set_pairing(&self, pairing: &Pairing, now_ms: i64) -> Result<(), StoreError>;

    /// The sync bookkeeping.
    async fn sync_row(&self) -> Result<SyncRow, StoreError>;

    /// Persists the server's feed cursor (only after what it covers is stored).
    async fn set_remote_cursor(&self, cursor: &[u8]) -> Result<(), StoreError>;

    /// Records how a run ended (a failure keeps the last successful run's totals).
    async fn record_run(&self, now_ms: i64, record: &RunRecord) -> Result<(), StoreError>;

    // --- Dirty, stopped, index -----------------------------------------------------------

    /// Every dirty document (changes the server may not have), oldest mark first.
    async fn dirty(&self) -> Result<Vec<DocId>, StoreError>;

    /// Marks documents dirty (a mark already there keeps its time).
    async fn mark_dirty(&self, docs: &[DocId], now_ms: i64) -> Result<(), StoreError>;

    /// Takes documents out of the dirty set.
    async fn clear_dirty(&self, docs: &[DocId]) -> Result<(), StoreError>;

    /// Records refusals (replacing earlier ones of the same documents).
    async fn stop(&self, stopped: &[StoppedDoc]) -> Result<(), StoreError>;

    /// Forgets the refusals of `docs`.
    async fn unstop(&self, docs: &[DocId]) -> Result<(), StoreError>;

    /// Every stopped document, oldest first, with its kind from the index ("document"
    /// when the index does not know it).
    async fn stopped(&self) -> Result<Vec<StoppedDoc>, StoreError>;

    /// Records what documents are (replacing earlier entries of the same documents).
    async fn index(&self, entries: &[IndexEntry]) -> Result<(), StoreError>;

    /// Every indexed document.
    async fn indexed(&self) -> Result<Vec<IndexEntry>, StoreError>;

    // --- One response ----------------------------------------------------------------

    /// Writes what one response left to store, in this order: the batch (all or
    /// nothing, as [`Self::commit`]), the refusals, those taken back, the index, the
    /// cursor, the dirty marks cleared. A store that can write them in one transaction
    /// does (one durable write per response instead of up to six); this default writes
    /// them one after another, each durable before the next, which the order keeps
    /// safe: the cursor never before what it covers, a dirty mark never cleared before
    /// the document is stored.
    async fn write_response(&self, write: ResponseWrite) -> Result<(), StoreError> {
        if !write.batch.is_empty() {
            self.commit(write.batch).await?;
        }
        if !write.stop.is_empty() {
            self.stop(&write.stop).await?;
        }
        if !write.unstop.is_empty() {
            self.unstop(&write.unstop).await?;
        }
        if !write.index.is_empty() {
            self.index(&write.index).await?;
        }
        if let Some(cursor) = &write.cursor {
            self.set_remote_cursor(cursor).await?;
        }
        if !write.clear_dirty.is_empty() {
            self.clear_dirty(&write.clear_dirty).await?;
        }
        Ok(())
    }
}

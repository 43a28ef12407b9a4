//! [`IdbDeviceStore`]: the core's [`DeviceStore`] on the browser's IndexedDB.

use std::collections::HashMap;

use automerge::Change;
use rapport_api::StoppedDoc;
use rapport_core::{DeviceStore, IndexEntry, Loaded, Pairing, ResponseWrite, RunRecord, SyncRow};
use rapport_domain::DocId;
use rapport_store::{PeerId, StoreError, WriteBatch};

use crate::conn::Conn;
use crate::docs::{self, DocWrite};
use crate::local;

/// The device's store in the browser: one IndexedDB database, every value of user data
/// sealed with the database's own non-extractable key (see the crate documentation).
#[derive(Debug)]
pub struct IdbDeviceStore {
    conn: Conn,
}

impl IdbDeviceStore {
    /// Opens the database `name` of this site (creating it, and its key, when new).
    /// Errors: no IndexedDB or WebCrypto here, a database written by a newer version of
    /// the app, a database whose key is gone.
    pub async fn open(name: &str) -> Result<Self, StoreError> {
        Ok(Self {
            conn: Conn::open(name).await?,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.conn.name
    }

    /// Closes the connection; calls after it fail with a clear error. Transactions
    /// already running finish first.
    pub fn close(&self) {
        self.conn.close();
    }

    /// Test aid: from now on, transactions writing or clearing dirty marks (`dirty`) or
    /// writing document changes (`changes`) abort inside IndexedDB after their writes
    /// were issued.
    #[cfg(feature = "test-faults")]
    pub fn set_write_faults(&self, dirty: bool, changes: bool) {
        self.conn.faults.set(crate::conn::Faults { dirty, changes });
    }
}

#[async_trait::async_trait(?Send)]
impl DeviceStore for IdbDeviceStore {
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, Loaded)>, StoreError> {
        docs::load_many(&self.conn, docs).await
    }

    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        docs::list_docs(&self.conn).await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // The browser's store keeps changes only.
        let batch = batch.wholes_as_changes()?;
        let write = DocWrite {
            changes: &batch.changes,
            states: &batch.sync_states,
            ..DocWrite::default()
        };
        docs::write_docs(&self.conn, write).await
    }

    /// One transaction for the whole response: its documents, their sync states, the
    /// refusals, the index, the cursor and the cleared dirty marks.
    async fn write_response(&self, write: ResponseWrite) -> Result<(), StoreError> {
        if write.is_empty() {
            return Ok(());
        }
        let (records, deletes) = local::response_records(&write);
        let batch = write.batch.wholes_as_changes()?;
        let write = DocWrite {
            changes: &batch.changes,
            states: &batch.sync_states,
            mark: None,
            records,
            deletes,
        };
        docs::write_docs(&self.conn, write).await
    }

    async fn save_edit(
        &self,
        doc: DocId,
        changes: Vec<Change>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // The mark and the changes in one transaction: never one without the other.
        let write = DocWrite {
            changes: &[(doc, changes)],
            states: &[],
            mark: Some((doc, now_ms)),
            ..DocWrite::default()
        };
        docs::write_docs(&self.conn, write).await
    }

    async fn sync_states(&self, docs: &[DocId]) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        docs::sync_states(&self.conn, &PeerId::server(), docs).await
    }

    async fn retain_sync_states(&self, keep: &[DocId]) -> Result<(), StoreError> {
        docs::retain_sync_states(&self.conn, &PeerId::server(), keep).await
    }

    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        docs::compaction_candidates(&self.conn, min_changes, limit).await
    }

    async fn compact(&self, doc: DocId) -> Result<(), StoreError> {
        docs::compact(&self.conn, doc).await
    }

    async fn pairing(&self) -> Result<Option<Pairing>, StoreError> {
        local::pairing(&self.conn).await
    }

    async fn set_pairing(&self, pairing: &Pairing, _now_ms: i64) -> Result<(), StoreError> {
        local::set_pairing(&self.conn, pairing).await
    }

    async fn sync_row(&self) -> Result<SyncRow, StoreError> {
        local::sync_row(&self.conn).await
    }

    async fn set_remote_cursor(&self, cursor: &[u8]) -> Result<(), StoreError> {
        local::set_remote_cursor(&self.conn, cursor).await
    }

    async fn record_run(&self, now_ms: i64, record: &RunRecord) -> Result<(), StoreError> {
        local::record_run(&self.conn, now_ms, record).await
    }

    async fn dirty(&self) -> Result<Vec<DocId>, StoreError> {
        local::dirty(&self.conn).await
    }

    async fn mark_dirty(&self, docs: &[DocId], now_ms: i64) -> Result<(), StoreError> {
        local::mark_dirty(&self.conn, docs, now_ms).await
    }

    async fn clear_dirty(&self, docs: &[DocId]) -> Result<(), StoreError> {
        local::clear_dirty(&self.conn, docs).await
    }

    async fn stop(&self, stopped: &[StoppedDoc]) -> Result<(), StoreError> {
        local::stop(&self.conn, stopped).await
    }

    async fn unstop(&self, docs: &[DocId]) -> Result<(), StoreError> {
        local::unstop(&self.conn, docs).await
    }

    async fn stopped(&self) -> Result<Vec<StoppedDoc>, StoreError> {
        local::stopped(&self.conn).await
    }

    async fn index(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        local::index(&self.conn, entries).await
    }

    async fn indexed(&self) -> Result<Vec<IndexEntry>, StoreError> {
        local::indexed(&self.conn).await
    }
}

//! The device's store on the native node: the document store of `rapport-store` and the
//! node's own tables (device identity, sync bookkeeping, dirty and stopped documents,
//! the document index) in one encrypted SQLite file, as the core's [`DeviceStore`].
//!
//! Durability: WAL with `synchronous=FULL`, so every write is on disk when its call
//! returns. What one response of the server brings is one transaction. An edit writes its dirty mark (when the document has none yet) in a
//! transaction before the one of its changes: the dirty mark is never later than them.

use std::collections::HashMap;

use automerge::Change;
use rapport_api::{ApiError, StoppedDoc};
use rapport_core::{DeviceStore, IndexEntry, Loaded, Pairing, ResponseWrite, RunRecord, SyncRow};
use rapport_domain::DocId;
use rapport_store::{CompactionPlan, DocStore, PeerId, SqliteStore, StoreError, WriteBatch};
use sqlx::{QueryBuilder, Row, SqliteConnection, SqlitePool};

/// A database error, said as the store says it.
fn sql(e: sqlx::Error) -> StoreError {
    StoreError::Database {
        reason: e.to_string(),
    }
}

/// The device's store: documents and the node's tables in one encrypted SQLite file.
#[derive(Clone, Debug)]
pub struct SqlDeviceStore {
    docs: SqliteStore,
    db: LocalDb,
}

impl SqlDeviceStore {
    /// Opens the node's tables beside `docs` (migrating them).
    pub async fn open(docs: SqliteStore) -> Result<Self, StoreError> {
        let db = LocalDb::open(docs.pool().clone()).await?;
        Ok(Self { docs, db })
    }

    /// The document store.
    pub fn docs(&self) -> &SqliteStore {
        &self.docs
    }
}

#[async_trait::async_trait]
impl DeviceStore for SqlDeviceStore {
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, Loaded)>, StoreError> {
        self.docs.load_many(docs).await
    }

    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        self.docs.list_docs().await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.docs.commit(batch).await.map(|_| ())
    }

    /// One transaction (one fsync) for all of it: documents and the node's tables are
    /// in one file.
    async fn write_response(&self, write: ResponseWrite) -> Result<(), StoreError> {
        if write.is_empty() {
            return Ok(());
        }
        let mut tx = self.docs.begin_write().await?;
        if !write.batch.is_empty() {
            self.docs.commit_in(&mut tx, write.batch).await?;
        }
        write_stopped(&mut tx, &write.stop).await?;
        delete_rows(&mut tx, UNSTOP, &write.unstop).await?;
        write_index(&mut tx, &write.index).await?;
        if let Some(cursor) = &write.cursor {
            write_cursor(&mut tx, cursor).await?;
        }
        delete_rows(&mut tx, CLEAR_DIRTY, &write.clear_dirty).await?;
        tx.commit().await.map_err(sql)
    }

    fn keeps_whole_documents(&self) -> bool {
        true
    }

    async fn save_edit(
        &self,
        doc: DocId,
        changes: Vec<Change>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // The core calls this for a document not dirty yet (typing into a dirty one
        // writes the changes alone); the read spares a flush when it is marked already.
        if !self.db.is_dirty(doc).await? {
            self.db.mark_dirty(&[doc], now_ms).await?;
        }
        self.docs
            .commit(WriteBatch::new().with_changes(doc, changes))
            .await
            .map(|_| ())
    }

    async fn sync_states(&self, docs: &[DocId]) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        self.docs.sync_states(&PeerId::server(), docs).await
    }

    async fn retain_sync_states(&self, keep: &[DocId]) -> Result<(), StoreError> {
        self.docs
            .retain_sync_states(&PeerId::server(), keep)
            .await
            .map(|_| ())
    }

    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        self.docs.compaction_candidates(min_changes, limit).await
    }

    async fn compact(&self, doc: DocId) -> Result<(), StoreError> {
        self.docs.compact(doc).await.map(|_| ())
    }

    fn folds_from_memory(&self) -> bool {
        true
    }

    async fn fold(&self, plan: CompactionPlan) -> Result<(), StoreError> {
        self.docs.apply_compaction(plan).await.map(|_| ())
    }

    async fn pairing(&self) -> Result<Option<Pairing>, StoreError> {
        self.db.device().await
    }

    async fn set_pairing(&self, pairing: &Pairing, now_ms: i64) -> Result<(), StoreError> {
        self.db.set_device(pairing, now_ms).await
    }

    async fn sync_row(&self) -> Result<SyncRow, StoreError> {
        self.db.sync_row().await
    }

    async fn set_remote_cursor(&self, cursor: &[u8]) -> Result<(), StoreError> {
        self.db.set_remote_cursor(cursor).await
    }

    async fn record_run(&self, now_ms: i64, record: &RunRecord) -> Result<(), StoreError> {
        self.db.record_run(now_ms, record).await
    }

    async fn dirty(&self) -> Result<Vec<DocId>, StoreError> {
        self.db.dirty().await
    }

    async fn mark_dirty(&self, docs: &[DocId], now_ms: i64) -> Result<(), StoreError> {
        self.db.mark_dirty(docs, now_ms).await
    }

    async fn clear_dirty(&self, docs: &[DocId]) -> Result<(), StoreError> {
        self.db.clear_dirty(docs).await
    }

    async fn stop(&self, stopped: &[StoppedDoc]) -> Result<(), StoreError> {
        self.db.stop(stopped).await
    }

    async fn unstop(&self, docs: &[DocId]) -> Result<(), StoreError> {
        self.db.unstop(docs).await
    }

    async fn stopped(&self) -> Result<Vec<StoppedDoc>, StoreError> {
        self.db.stopped().await
    }

    async fn index(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        self.db.index(entries).await
    }

    async fn indexed(&self) -> Result<Vec<IndexEntry>, StoreError> {
        self.db.indexed().await
    }
}

/// The node's tables.
#[derive(Clone, Debug)]
struct LocalDb {
    pool: SqlitePool,
}

/// Rows one statement writes or deletes: a first sync brings hundreds of documents, and
/// each statement costs a round trip to the connection's thread.
const ROWS_PER_STATEMENT: usize = 300;

/// Takes documents out of the stopped set (with [`delete_rows`]).
const UNSTOP: &str = "DELETE FROM node_stopped WHERE doc_id IN ";

/// Takes documents out of the dirty set (with [`delete_rows`]).
const CLEAR_DIRTY: &str = "DELETE FROM node_dirty WHERE doc_id IN ";

/// Deletes the node's rows of `docs` with `delete` (`DELETE FROM … WHERE doc_id IN `).
async fn delete_rows(
    conn: &mut SqliteConnection,
    delete: &'static str,
    docs: &[DocId],
) -> Result<(), StoreError> {
    for docs in docs.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::new(delete);
        query.push("(");
        let mut list = query.separated(", ");
        for doc in docs {
            list.push_bind(doc.as_bytes().as_slice());
        }
        query.push(")");
        query.build().execute(&mut *conn).await.map_err(sql)?;
    }
    Ok(())
}

/// Writes refusals (replacing those of the same documents).
async fn write_stopped(
    conn: &mut SqliteConnection,
    stopped: &[StoppedDoc],
) -> Result<(), StoreError> {
    for stopped in stopped.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::new(
            "INSERT OR REPLACE INTO node_stopped (doc_id, code, message, at_ms) ",
        );
        insert.push_values(stopped, |mut row, s| {
            row.push_bind(s.doc_id.as_bytes().as_slice())
                .push_bind(&s.code)
                .push_bind(&s.message)
                .push_bind(s.at_ms);
        });
        insert.build().execute(&mut *conn).await.map_err(sql)?;
    }
    Ok(())
}

/// Writes index entries (replacing those of the same documents).
async fn write_index(
    conn: &mut SqliteConnection,
    entries: &[IndexEntry],
) -> Result<(), StoreError> {
    for entries in entries.chunks(ROWS_PER_STATEMENT) {
        let mut insert =
            QueryBuilder::new("INSERT OR REPLACE INTO node_index (doc_id, kind, client_id) ");
        insert.push_values(entries, |mut row, e| {
            row.push_bind(e.doc.as_bytes().as_slice())
                .push_bind(&e.kind)
                .push_bind(e.client.map(|c| c.as_bytes().to_vec()));
        });
        insert.build().execute(&mut *conn).await.map_err(sql)?;
    }
    Ok(())
}

/// Writes the server's feed cursor.
async fn write_cursor(conn: &mut SqliteConnection, cursor: &[u8]) -> Result<(), StoreError> {
    sqlx::query("UPDATE node_sync SET remote_cursor = ? WHERE id = 1")
        .bind(cursor)
        .execute(&mut *conn)
        .await
        .map_err(sql)?;
    Ok(())
}

fn id_of(bytes: &[u8]) -> Result<DocId, StoreError> {
    <[u8; 16]>::try_from(bytes)
        .map(DocId::from_bytes)
        .map_err(|_| StoreError::Database {
            reason: format!("a stored document id has {} bytes, not 16", bytes.len()),
        })
}

impl LocalDb {
    /// Migrates the node's tables (own migrations table: the store keeps its own).
    async fn open(pool: SqlitePool) -> Result<Self, StoreError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.dangerous_set_table_name("_rapport_node_migrations");
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration {
                reason: e.to_string(),
            })?;
        Ok(Self { pool })
    }

    /// The paired device, if any.
    async fn device(&self) -> Result<Option<Pairing>, StoreError> {
        let row = sqlx::query(
            "SELECT server_url, device_id, token, programme_id, rep_id, label, actor FROM node_device WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(sql)?;
        row.map(|r| {
            Ok(Pairing {
                server_url: r.get(0),
                device_id: r.get(1),
                token: r.get(2),
                programme_id: id_of(r.get::<&[u8], _>(3))?,
                rep_id: r.get(4),
                label: r.get(5),
                actor: r.get(6),
            })
        })
        .transpose()
    }

    /// Records the pairing (replacing a revoked one) and starts sync from scratch.
    async fn set_device(&self, d: &Pairing, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql)?;
        sqlx::query(
            "INSERT OR REPLACE INTO node_device (id, server_url, device_id, token, programme_id, rep_id, label, actor, paired_ms) \
             VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&d.server_url)
        .bind(&d.device_id)
        .bind(&d.token)
        .bind(d.programme_id.as_bytes().as_slice())
        .bind(&d.rep_id)
        .bind(&d.label)
        .bind(&d.actor)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(sql)?;
        sqlx::query(
            "UPDATE node_sync SET remote_cursor = x'', revoked = 0, last_error_code = NULL, last_error_msg = NULL WHERE id = 1",
        )
        .execute(&mut *tx)
        .await
        .map_err(sql)?;
        tx.commit().await.map_err(sql)
    }

    /// The sync bookkeeping.
    async fn sync_row(&self) -> Result<SyncRow, StoreError> {
        let r = sqlx::query(
            "SELECT remote_cursor, last_success_ms, last_attempt_ms, last_error_code, last_error_msg, last_run, revoked FROM node_sync WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(sql)?;
        let code: Option<String> = r.get(3);
        let message: Option<String> = r.get(4);
        let last_run: Option<String> = r.get(5);
        Ok(SyncRow {
            remote_cursor: r.get(0),
            last_success_ms: r.get(1),
            last_attempt_ms: r.get(2),
            last_error: code.map(|c| ApiError::new(c, message.unwrap_or_default())),
            last_run: last_run.and_then(|j| serde_json::from_str(&j).ok()),
            revoked: r.get::<i64, _>(6) != 0,
        })
    }

    /// Persists the server's cursor (only after what it covers is stored).
    async fn set_remote_cursor(&self, cursor: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(sql)?;
        write_cursor(&mut conn, cursor).await
    }

    /// Records how a run ended.
    async fn record_run(&self, now_ms: i64, record: &RunRecord) -> Result<(), StoreError> {
        let (code, message, summary, success, revoked) = match record {
            RunRecord::Done(summary) => (
                None,
                None,
                serde_json::to_string(summary).ok(),
                Some(now_ms),
                false,
            ),
            RunRecord::Failed { error, revoked } => (
                Some(error.code.clone()),
                Some(error.message.clone()),
                None,
                None,
                *revoked,
            ),
        };
        sqlx::query(
            "UPDATE node_sync SET last_attempt_ms = ?, last_error_code = ?, last_error_msg = ?, \
             last_run = COALESCE(?, last_run), last_success_ms = COALESCE(?, last_success_ms), \
             revoked = CASE WHEN ? THEN 1 ELSE revoked END WHERE id = 1",
        )
        .bind(now_ms)
        .bind(code)
        .bind(message)
        .bind(summary)
        .bind(success)
        .bind(revoked)
        .execute(&self.pool)
        .await
        .map_err(sql)?;
        Ok(())
    }

    /// Marks documents dirty (before their changes are committed).
    async fn mark_dirty(&self, docs: &[DocId], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql)?;
        for docs in docs.chunks(ROWS_PER_STATEMENT) {
            let mut insert =
                QueryBuilder::new("INSERT OR IGNORE INTO node_dirty (doc_id, since_ms) ");
            insert.push_values(docs, |mut row, doc| {
                row.push_bind(doc.as_bytes().as_slice()).push_bind(now_ms);
            });
            insert.build().execute(&mut *tx).await.map_err(sql)?;
        }
        tx.commit().await.map_err(sql)
    }

    /// Takes documents out of the dirty set (the server has all of them).
    async fn clear_dirty(&self, docs: &[DocId]) -> Result<(), StoreError> {
        self.delete_docs(CLEAR_DIRTY, docs).await
    }

    /// Every dirty document.
    async fn dirty(&self) -> Result<Vec<DocId>, StoreError> {
        let rows = sqlx::query("SELECT doc_id FROM node_dirty ORDER BY since_ms, doc_id")
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
        rows.iter().map(|r| id_of(r.get::<&[u8], _>(0))).collect()
    }

    /// Records refusals: these documents are not sent again.
    async fn stop(&self, stopped: &[StoppedDoc]) -> Result<(), StoreError> {
        if stopped.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(sql)?;
        write_stopped(&mut tx, stopped).await?;
        tx.commit().await.map_err(sql)
    }

    /// The server sent these documents again: they sync again.
    async fn unstop(&self, docs: &[DocId]) -> Result<(), StoreError> {
        self.delete_docs(UNSTOP, docs).await
    }

    /// Deletes the rows of `docs` with `delete` (`DELETE FROM … WHERE doc_id IN `), in
    /// one transaction.
    async fn delete_docs(&self, delete: &'static str, docs: &[DocId]) -> Result<(), StoreError> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(sql)?;
        delete_rows(&mut tx, delete, docs).await?;
        tx.commit().await.map_err(sql)
    }

    /// Every stopped document, with its kind from the index.
    async fn stopped(&self) -> Result<Vec<StoppedDoc>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.doc_id, COALESCE(i.kind, 'document'), s.code, s.message, s.at_ms \
             FROM node_stopped s LEFT JOIN node_index i ON i.doc_id = s.doc_id ORDER BY s.at_ms, s.doc_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(sql)?;
        rows.iter()
            .map(|r| {
                Ok(StoppedDoc {
                    doc_id: id_of(r.get::<&[u8], _>(0))?,
                    kind: r.get(1),
                    code: r.get(2),
                    message: r.get(3),
                    at_ms: r.get(4),
                })
            })
            .collect()
    }

    /// Records what documents are (idempotent).
    async fn index(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(sql)?;
        write_index(&mut tx, entries).await?;
        tx.commit().await.map_err(sql)
    }

    /// Every indexed document.
    async fn indexed(&self) -> Result<Vec<IndexEntry>, StoreError> {
        let rows = sqlx::query("SELECT doc_id, kind, client_id FROM node_index")
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
        rows.iter()
            .map(|r| {
                let client: Option<Vec<u8>> = r.get(2);
                Ok(IndexEntry {
                    doc: id_of(r.get::<&[u8], _>(0))?,
                    kind: r.get(1),
                    client: client.map(|c| id_of(&c)).transpose()?,
                })
            })
            .collect()
    }

    /// Whether `doc` has a dirty mark.
    async fn is_dirty(&self, doc: DocId) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM node_dirty WHERE doc_id = ?")
            .bind(doc.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(sql)?;
        Ok(found.is_some())
    }
}

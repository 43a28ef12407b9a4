//! The node's own tables (device identity, sync bookkeeping, dirty and stopped
//! documents, the document index) in the same encrypted SQLite file as the documents.

use rapport_api::{ApiError, RunSummary, StoppedDoc};
use rapport_domain::DocId;
use sqlx::{Row, SqlitePool};

use crate::error::{NodeError, sql};

/// This device as paired.
#[derive(Clone, Debug)]
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
    /// The actor (hex).
    pub actor: String,
}

/// The sync bookkeeping row.
#[derive(Clone, Debug, Default)]
pub struct SyncRow {
    /// The server's feed cursor.
    pub remote_cursor: Vec<u8>,
    /// Last run without error.
    pub last_success_ms: Option<i64>,
    /// Last run end.
    pub last_attempt_ms: Option<i64>,
    /// Last run's error.
    pub last_error: Option<ApiError>,
    /// Last run's totals.
    pub last_run: Option<RunSummary>,
    /// The device was revoked.
    pub revoked: bool,
}

/// The node's tables.
#[derive(Clone, Debug)]
pub struct LocalDb {
    pool: SqlitePool,
}

fn id_of(bytes: &[u8]) -> Result<DocId, NodeError> {
    <[u8; 16]>::try_from(bytes)
        .map(DocId::from_bytes)
        .map_err(|_| {
            NodeError::Store(rapport_store::StoreError::Database {
                reason: format!("a stored document id has {} bytes, not 16", bytes.len()),
            })
        })
}

impl LocalDb {
    /// Migrates the node's tables (own migrations table: the store keeps its own).
    pub async fn open(pool: SqlitePool) -> Result<Self, NodeError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.dangerous_set_table_name("_rapport_node_migrations");
        migrator.run(&pool).await.map_err(|e| {
            NodeError::Store(rapport_store::StoreError::Migration {
                reason: e.to_string(),
            })
        })?;
        Ok(Self { pool })
    }

    /// The paired device, if any.
    pub async fn device(&self) -> Result<Option<Pairing>, NodeError> {
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
    pub async fn set_device(&self, d: &Pairing, now_ms: i64) -> Result<(), NodeError> {
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
    pub async fn sync_row(&self) -> Result<SyncRow, NodeError> {
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
    pub async fn set_remote_cursor(&self, cursor: &[u8]) -> Result<(), NodeError> {
        sqlx::query("UPDATE node_sync SET remote_cursor = ? WHERE id = 1")
            .bind(cursor)
            .execute(&self.pool)
            .await
            .map_err(sql)?;
        Ok(())
    }

    /// Records how a run ended.
    pub async fn record_run(
        &self,
        now_ms: i64,
        result: Result<&RunSummary, &NodeError>,
    ) -> Result<(), NodeError> {
        let (code, message, summary, success, revoked) = match result {
            Ok(summary) => (
                None,
                None,
                serde_json::to_string(summary).ok(),
                Some(now_ms),
                false,
            ),
            Err(e) => (
                Some(e.reported_code().to_owned()),
                Some(e.to_string()),
                None,
                None,
                matches!(e, NodeError::Revoked),
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
    pub async fn mark_dirty(&self, docs: &[DocId], now_ms: i64) -> Result<(), NodeError> {
        let mut tx = self.pool.begin().await.map_err(sql)?;
        for doc in docs {
            sqlx::query("INSERT OR IGNORE INTO node_dirty (doc_id, since_ms) VALUES (?, ?)")
                .bind(doc.as_bytes().as_slice())
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
        }
        tx.commit().await.map_err(sql)
    }

    /// Takes documents out of the dirty set (the server has all of them).
    pub async fn clear_dirty(&self, docs: &[DocId]) -> Result<(), NodeError> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(sql)?;
        for doc in docs {
            sqlx::query("DELETE FROM node_dirty WHERE doc_id = ?")
                .bind(doc.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
        }
        tx.commit().await.map_err(sql)
    }

    /// Every dirty document.
    pub async fn dirty(&self) -> Result<Vec<DocId>, NodeError> {
        let rows = sqlx::query("SELECT doc_id FROM node_dirty ORDER BY since_ms, doc_id")
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
        rows.iter().map(|r| id_of(r.get::<&[u8], _>(0))).collect()
    }

    /// Records refusals: these documents are not sent again.
    pub async fn stop(&self, stopped: &[StoppedDoc]) -> Result<(), NodeError> {
        if stopped.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(sql)?;
        for s in stopped {
            sqlx::query(
                "INSERT OR REPLACE INTO node_stopped (doc_id, code, message, at_ms) VALUES (?, ?, ?, ?)",
            )
            .bind(s.doc_id.as_bytes().as_slice())
            .bind(&s.code)
            .bind(&s.message)
            .bind(s.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        tx.commit().await.map_err(sql)
    }

    /// The server sent these documents again: they sync again.
    pub async fn unstop(&self, docs: &[DocId]) -> Result<(), NodeError> {
        for doc in docs {
            sqlx::query("DELETE FROM node_stopped WHERE doc_id = ?")
                .bind(doc.as_bytes().as_slice())
                .execute(&self.pool)
                .await
                .map_err(sql)?;
        }
        Ok(())
    }

    /// The ids of the stopped documents.
    pub async fn stopped_ids(&self) -> Result<Vec<DocId>, NodeError> {
        Ok(self
            .stopped()
            .await?
            .into_iter()
            .map(|s| s.doc_id)
            .collect())
    }

    /// Every stopped document, with its kind from the index.
    pub async fn stopped(&self) -> Result<Vec<StoppedDoc>, NodeError> {
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
    pub async fn index(&self, entries: &[(DocId, &str, Option<DocId>)]) -> Result<(), NodeError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(sql)?;
        for (doc, kind, client) in entries {
            sqlx::query(
                "INSERT OR REPLACE INTO node_index (doc_id, kind, client_id) VALUES (?, ?, ?)",
            )
            .bind(doc.as_bytes().as_slice())
            .bind(*kind)
            .bind(client.map(|c| c.as_bytes().to_vec()))
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        tx.commit().await.map_err(sql)
    }

    /// Every indexed document: (id, kind, client).
    pub async fn indexed(&self) -> Result<Vec<(DocId, String, Option<DocId>)>, NodeError> {
        let rows = sqlx::query("SELECT doc_id, kind, client_id FROM node_index")
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
        rows.iter()
            .map(|r| {
                let client: Option<Vec<u8>> = r.get(2);
                Ok((
                    id_of(r.get::<&[u8], _>(0))?,
                    r.get(1),
                    client.map(|c| id_of(&c)).transpose()?,
                ))
            })
            .collect()
    }
}

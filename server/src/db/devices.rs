//! Pairing codes, paired devices, and the documents refused to them for good.

use std::collections::HashSet;

use rapport_store::DocId;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DeviceRecord, IN_CHUNK, RefusalRow, RightsStamp, doc_id, fresh_version, params};
use crate::error::{HttpError, HttpResult};

/// Gives the authors of `scope` (a programme's id; `''` for the lead accounts) a new
/// version, in the transaction that added one.
pub(super) async fn bump_authors(tx: &mut Transaction<'_, Any>, scope: &str) -> HttpResult<()> {
    sqlx::query(
        "INSERT INTO authors_versions (scope, version) VALUES ($1, $2)
         ON CONFLICT (scope) DO UPDATE SET version = $2",
    )
    .bind(scope)
    .bind(fresh_version())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn device_row(row: &AnyRow) -> HttpResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: row.try_get("id")?,
        programme_id: row.try_get("programme_id")?,
        rep_id: row.try_get("rep_id")?,
        actor: row.try_get("actor")?,
        label: row.try_get("label")?,
        created_ms: row.try_get("created_ms")?,
        last_seen_ms: row.try_get("last_seen_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
        sync_instance: row.try_get("sync_instance")?,
        token_hash: row.try_get("token_hash")?,
        rights: None,
    })
}

const DEVICE_COLUMNS: &str = "id, programme_id, rep_id, actor, label, created_ms, last_seen_ms, \
     revoked_ms, sync_instance, token_hash";

impl Db {
    /// Stores a pairing code (hashed).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_pairing_code(
        &self,
        code_hash: &str,
        programme_id: DocId,
        rep_id: Option<&str>,
        label: &str,
        lead_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> HttpResult<()> {
        sqlx::query(
            "INSERT INTO pairing_codes
                 (code_hash, programme_id, rep_id, label, created_by, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(code_hash)
        .bind(programme_id.to_string())
        .bind(rep_id)
        .bind(label)
        .bind(lead_id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses a pairing code and registers the device, in one transaction: a code is
    /// used at most once even when two devices race for it. `Ok(None)` when the code
    /// is unknown, used or expired; `(device, lead id who made the code)` otherwise.
    pub async fn redeem_pairing_code(
        &self,
        code_hash: &str,
        device: &DeviceRecord,
        now_ms: i64,
    ) -> HttpResult<Option<(DeviceRecord, String)>> {
        let mut tx = self.pool.begin().await?;
        // The UPDATE comes first so that SQLite takes its write lock at once.
        let used = sqlx::query(
            "UPDATE pairing_codes SET used_ms = $1, device_id = $2
             WHERE code_hash = $3 AND used_ms IS NULL AND expires_ms > $1
             RETURNING programme_id, rep_id, label, created_by",
        )
        .bind(now_ms)
        .bind(&device.id)
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(used) = used else {
            return Ok(None);
        };
        let paired = DeviceRecord {
            programme_id: used.try_get("programme_id")?,
            rep_id: used.try_get("rep_id")?,
            label: if device.label.trim().is_empty() {
                used.try_get("label")?
            } else {
                device.label.clone()
            },
            created_ms: now_ms,
            ..device.clone()
        };
        let inserted = sqlx::query(
            "INSERT INTO devices (id, programme_id, rep_id, actor, token_hash, label, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (actor) DO NOTHING",
        )
        .bind(&paired.id)
        .bind(&paired.programme_id)
        .bind(&paired.rep_id)
        .bind(&paired.actor)
        .bind(&paired.token_hash)
        .bind(&paired.label)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let paired = if inserted == 1 {
            // A new author of the programme's documents: devices' kept rights of it
            // are read again at their next sync.
            bump_authors(&mut tx, &paired.programme_id).await?;
            paired
        } else {
            // The actor is registered. A *revoked* device of the same programme and rep
            // may come back with a fresh code from the lead: it keeps its actor, so edits
            // it made after the revocation (still only on the tablet) upload under the
            // actor they carry instead of being refused. The old token stays dead.
            let revived = sqlx::query(
                "UPDATE devices SET token_hash = $1, label = $2, revoked_ms = NULL, last_seen_ms = NULL
                 WHERE actor = $3 AND revoked_ms IS NOT NULL AND programme_id = $4
                   AND COALESCE(rep_id, '') = COALESCE($5, '')
                 RETURNING id, created_ms",
            )
            .bind(&paired.token_hash)
            .bind(&paired.label)
            .bind(&paired.actor)
            .bind(&paired.programme_id)
            .bind(&paired.rep_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(revived) = revived else {
                // Dropping `tx` rolls back: the code stays usable.
                return Err(HttpError::invalid(
                    "actor_taken",
                    "this device's actor id is registered to a device that is active or belongs to another rep or programme; pair with a new actor",
                ));
            };
            let id: String = revived.try_get("id")?;
            sqlx::query("UPDATE pairing_codes SET device_id = $1 WHERE code_hash = $2")
                .bind(&id)
                .bind(code_hash)
                .execute(&mut *tx)
                .await?;
            DeviceRecord {
                id,
                created_ms: revived.try_get("created_ms")?,
                ..paired
            }
        };
        let lead: String = used.try_get("created_by")?;
        tx.commit().await?;
        Ok(Some((paired, lead)))
    }

    /// The device holding this token hash (revoked ones too: the caller tells why),
    /// with the stamp of its rights ([`RightsStamp`]) read in the same query: a sync
    /// then reads the rights themselves only when they changed.
    pub async fn device_by_token(&self, token_hash: &str) -> HttpResult<Option<DeviceRecord>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS},
                 COALESCE((SELECT v.clients_version FROM programme_versions v
                           WHERE v.programme_id = devices.programme_id), 0) AS stamp_clients,
                 COALESCE((SELECT a.version FROM authors_versions a
                           WHERE a.scope = devices.programme_id), 0) AS stamp_devices,
                 COALESCE((SELECT a.version FROM authors_versions a
                           WHERE a.scope = ''), 0) AS stamp_leads,
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM device_refusals r
                                        WHERE r.device_id = devices.id)
                           THEN 1 ELSE 0 END AS bigint) AS stamp_refusals
             FROM devices WHERE token_hash = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut device = device_row(&row)?;
        device.rights = Some(RightsStamp {
            clients: row.try_get("stamp_clients")?,
            authors: [row.try_get("stamp_devices")?, row.try_get("stamp_leads")?],
            has_refusals: row.try_get::<i64, _>("stamp_refusals")? != 0,
        });
        Ok(Some(device))
    }

    /// Devices of a programme, newest first.
    pub async fn devices(&self, programme_id: DocId) -> HttpResult<Vec<DeviceRecord>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE programme_id = $1 ORDER BY created_ms DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(programme_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(device_row).collect()
    }

    /// The actors that may author changes of a programme's documents: every device
    /// registered to the programme (revoked ones too: what they wrote while active is
    /// theirs) and every lead account's actor prefix, as hex; and of those, the ones that
    /// may review visits (the leads and their devices).
    pub async fn programme_authors(&self, programme_id: DocId) -> HttpResult<Authors> {
        let rows = sqlx::query(
            "SELECT actor, CASE WHEN rep_id IS NULL THEN 'lead' ELSE 'rep' END FROM devices
             WHERE programme_id = $1
             UNION SELECT actor, 'lead' FROM leads",
        )
        .bind(programme_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut authors = Authors::default();
        for row in &rows {
            let actor: String = row.try_get(0)?;
            if row.try_get::<String, _>(1)? == "lead" {
                authors.reviewers.insert(actor.clone());
            }
            authors.all.insert(actor);
        }
        Ok(authors)
    }

    /// Revokes a device of a programme; its token stops working at once. `false` when
    /// there is no such device.
    pub async fn revoke_device(
        &self,
        programme_id: DocId,
        id: &str,
        now_ms: i64,
    ) -> HttpResult<bool> {
        let n = sqlx::query(
            "UPDATE devices SET revoked_ms = COALESCE(revoked_ms, $1)
             WHERE id = $2 AND programme_id = $3",
        )
        .bind(now_ms)
        .bind(id)
        .bind(programme_id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Records a device's last sync.
    /// Records the opening of the device's store that reconciled last: the device's sync
    /// states follow what it holds.
    pub async fn set_sync_instance(&self, id: &str, instance: &str) -> HttpResult<()> {
        sqlx::query("UPDATE devices SET sync_instance = $1 WHERE id = $2")
            .bind(instance)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the device's last sync.
    pub async fn touch_device(&self, id: &str, now_ms: i64) -> HttpResult<()> {
        sqlx::query("UPDATE devices SET last_seen_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records documents refused to a device for good, `(doc, code, message)`: a
    /// document refused again gets the new code, message and time.
    pub async fn record_refusals(
        &self,
        device_id: &str,
        refused: &[(DocId, &str, &str)],
        now_ms: i64,
    ) -> HttpResult<()> {
        // 5 parameters a row; one document once per statement (PostgreSQL refuses to
        // update a row twice in one INSERT … ON CONFLICT).
        let mut seen = HashSet::new();
        let rows: Vec<_> = refused
            .iter()
            .rev()
            .filter(|(doc, _, _)| seen.insert(*doc))
            .collect();
        for chunk in rows.chunks(IN_CHUNK / 5) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", params(1 + 5 * i, 5)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO device_refusals (device_id, doc_id, code, message, at_ms) VALUES {values}
                 ON CONFLICT (device_id, doc_id) DO UPDATE SET code = excluded.code,
                     message = excluded.message, at_ms = excluded.at_ms"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (doc, code, message) in chunk {
                query = query
                    .bind(device_id)
                    .bind(doc.to_string())
                    .bind(*code)
                    .bind(*message)
                    .bind(now_ms);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Forgets the refusals of documents the server accepted from a device.
    pub async fn clear_refusals(&self, device_id: &str, docs: &[DocId]) -> HttpResult<()> {
        for chunk in docs.chunks(IN_CHUNK) {
            let sql = format!(
                "DELETE FROM device_refusals WHERE device_id = $1 AND doc_id IN ({})",
                params(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The refused documents of a programme's devices, by device, latest first; with
    /// the document's kind and its client's company from the projections, when known.
    pub async fn refusals(&self, programme_id: DocId) -> HttpResult<Vec<RefusalRow>> {
        let rows = sqlx::query(
            "SELECT r.device_id, r.doc_id, r.code, r.message, r.at_ms, m.kind, c.summary AS client
             FROM device_refusals r JOIN devices d ON d.id = r.device_id
             LEFT JOIN doc_meta m ON m.doc_id = r.doc_id
             LEFT JOIN doc_meta c ON c.doc_id = m.client_id AND c.kind = 'client'
             WHERE d.programme_id = $1
             ORDER BY r.device_id, r.at_ms DESC, r.doc_id",
        )
        .bind(programme_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let client: Option<String> = r.try_get("client")?;
                Ok(RefusalRow {
                    device_id: r.try_get("device_id")?,
                    doc_id: doc_id(&r.try_get::<String, _>("doc_id")?)?,
                    code: r.try_get("code")?,
                    message: r.try_get("message")?,
                    at_ms: r.try_get("at_ms")?,
                    kind: r.try_get("kind")?,
                    client: client
                        .and_then(|s| {
                            serde_json::from_str::<rapport_domain::ClientSummary>(&s).ok()
                        })
                        .map(|c| c.company),
                })
            })
            .collect()
    }
}

/// Who may write a programme's documents ([`Db::programme_authors`]).
#[derive(Clone, Debug, Default)]
pub struct Authors {
    /// Every registered actor (hex).
    pub all: HashSet<String>,
    /// Those that may review visits: the leads' accounts and their devices.
    pub reviewers: HashSet<String>,
}

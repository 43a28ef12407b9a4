//! The server's own tables (accounts, devices, projections) beside the document store,
//! written once for both backends through sqlx's `Any` driver: the SQL below is the
//! common subset of SQLite and PostgreSQL (`$n` parameters, text ids, bigint times).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rapport_store::{DocId, FeedCursor};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::error::{HttpError, HttpResult};

/// Which database the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The server's tables.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// A lead account.
#[derive(Clone, Debug)]
pub struct LeadRow {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// 16-byte actor prefix, hex.
    pub actor: String,
}

/// A paired device, as stored (the lead's API shows it as `rapport_api::lead::DeviceView`,
/// without the token's hash).
#[derive(Clone, Debug)]
pub struct DeviceRecord {
    /// Device id.
    pub id: String,
    /// The programme it syncs.
    pub programme_id: String,
    /// The rep it belongs to (none: a device of the lead).
    pub rep_id: Option<String>,
    /// Its Automerge actor (hex).
    pub actor: String,
    /// A label, e.g. "Планшет Иванова".
    pub label: String,
    /// When paired (unix ms).
    pub created_ms: i64,
    /// Last sync (unix ms).
    pub last_seen_ms: Option<i64>,
    /// When revoked (unix ms); a revoked device is refused at once.
    pub revoked_ms: Option<i64>,
    pub(crate) token_hash: String,
}

/// A document's projection row.
#[derive(Clone, Debug)]
pub struct MetaRow {
    /// The document.
    pub doc_id: DocId,
    /// `programme`, `client` or `visit`.
    pub kind: String,
    /// For a visit: its programme.
    pub programme_id: Option<DocId>,
    /// For a visit: its client; for a client: itself.
    pub client_id: Option<DocId>,
    /// The typed document as JSON.
    pub body: String,
    /// What the programme status needs of it, as JSON.
    pub summary: String,
    /// The document's heads when projected ([`heads_key`]).
    pub heads: String,
}

/// A document the server refused a device for good, for the lead's devices page.
#[derive(Clone, Debug)]
pub struct RefusalRow {
    /// The device it was refused to.
    pub device_id: String,
    /// The document.
    pub doc_id: DocId,
    /// The protocol's stable code (`forbidden`, `rejected`, …).
    pub code: String,
    /// The server's message, as the device got it.
    pub message: String,
    /// The last refusal (unix ms).
    pub at_ms: i64,
    /// `visit`, `client`, … when the server has a projection of the document (a
    /// document refused on its first upload has none).
    pub kind: Option<String>,
    /// The company of the document's client, when projected.
    pub client: Option<String>,
}

/// A document's heads as one comparable string (sorted hex, comma-separated).
pub fn heads_key(doc: &automerge::Automerge) -> String {
    let mut heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    heads.sort_unstable();
    heads.join(",")
}

/// The projection of one document, ready to write.
#[derive(Clone, Debug)]
pub struct Projection {
    /// The document's row.
    pub meta: MetaRow,
    /// For a programme: every client and its current rep.
    pub clients: Option<Vec<(DocId, Option<String>)>>,
    /// For a programme: the view its reps' devices receive (published, not stored here).
    pub view: Option<rapport_domain::ProgrammeView>,
}

fn doc_id(s: &str) -> HttpResult<DocId> {
    s.parse()
        .map_err(|e| HttpError::internal("bad document id in the database", e))
}

fn opt_doc_id(s: Option<String>) -> HttpResult<Option<DocId>> {
    s.as_deref().map(doc_id).transpose()
}

fn meta_row(row: &AnyRow) -> HttpResult<MetaRow> {
    Ok(MetaRow {
        doc_id: doc_id(&row.try_get::<String, _>("doc_id")?)?,
        kind: row.try_get("kind")?,
        programme_id: opt_doc_id(row.try_get("programme_id")?)?,
        client_id: opt_doc_id(row.try_get("client_id")?)?,
        body: row.try_get("body")?,
        summary: row.try_get("summary")?,
        heads: row.try_get("heads")?,
    })
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
        token_hash: row.try_get("token_hash")?,
    })
}

const DEVICE_COLUMNS: &str =
    "id, programme_id, rep_id, actor, label, created_ms, last_seen_ms, revoked_ms, token_hash";

/// Builds `$first, $first+1, …` for an IN list.
fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids per IN list: below SQLite's and PostgreSQL's parameter limits.
const IN_CHUNK: usize = 500;

impl Db {
    /// Opens the server tables next to the store and migrates them.
    pub async fn open_sqlite(path: &Path) -> Result<Self, sqlx::Error> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(&url, Backend::Sqlite, 4).await
    }

    /// Connects to PostgreSQL and migrates the server tables.
    pub async fn open_postgres(url: &str) -> Result<Self, sqlx::Error> {
        Self::open(url, Backend::Postgres, 16).await
    }

    async fn open(url: &str, backend: Backend, max: u32) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        // A migrations table of our own: the document store keeps its own in the same
        // database, and each migrator would take the other's rows for missing migrations.
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.dangerous_set_table_name("_rapport_server_migrations");
        migrator.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database answers (for `/healthz`).
    pub async fn ping(&self) -> HttpResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ----- leads and sessions -------------------------------------------------------

    /// Stores a new lead; `Err` with code `lead_exists` when the e-mail is taken.
    pub async fn insert_lead(&self, lead: &LeadRow, now_ms: i64) -> HttpResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO leads (id, email, name, password_hash, actor, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&lead.id)
        .bind(&lead.email)
        .bind(&lead.name)
        .bind(&lead.password_hash)
        .bind(&lead.actor)
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(HttpError::invalid(
                "lead_exists",
                format!("a lead with the e-mail {} exists already", lead.email),
            ));
        }
        Ok(())
    }

    /// Sets a lead's password hash and ends the lead's sessions; false when there is
    /// no such lead.
    pub async fn set_password(&self, email: &str, password_hash: &str) -> HttpResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE leads SET password_hash = $1 WHERE email = $2")
            .bind(password_hash)
            .bind(email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM sessions WHERE lead_id IN (SELECT id FROM leads WHERE email = $1)",
        )
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// How many leads exist.
    pub async fn count_leads(&self) -> HttpResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM leads")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The lead with this e-mail.
    pub async fn lead_by_email(&self, email: &str) -> HttpResult<Option<LeadRow>> {
        self.lead_where("email = $1", email).await
    }

    /// The lead with this id.
    pub async fn lead_by_id(&self, id: &str) -> HttpResult<Option<LeadRow>> {
        self.lead_where("id = $1", id).await
    }

    async fn lead_where(&self, condition: &str, value: &str) -> HttpResult<Option<LeadRow>> {
        let sql =
            format!("SELECT id, email, name, password_hash, actor FROM leads WHERE {condition}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(LeadRow {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                password_hash: r.try_get("password_hash")?,
                actor: r.try_get("actor")?,
            })
        })
        .transpose()
    }

    /// Failed sign-ins of `email` in the window that started after `since_ms`.
    pub async fn sign_in_failures(&self, email: &str, since_ms: i64) -> HttpResult<i64> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT failures FROM sign_in_failures WHERE email = $1 AND window_start > $2",
        )
        .bind(email)
        .bind(since_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(n.unwrap_or(0))
    }

    /// Counts a failed sign-in; a window older than `since_ms` starts over.
    pub async fn record_sign_in_failure(
        &self,
        email: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> HttpResult<()> {
        sqlx::query(
            "INSERT INTO sign_in_failures (email, window_start, failures) VALUES ($1, $2, 1)
             ON CONFLICT (email) DO UPDATE SET
                 failures = CASE WHEN sign_in_failures.window_start > $3
                                 THEN sign_in_failures.failures + 1 ELSE 1 END,
                 window_start = CASE WHEN sign_in_failures.window_start > $3
                                     THEN sign_in_failures.window_start ELSE $2 END",
        )
        .bind(email)
        .bind(now_ms)
        .bind(since_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets failed sign-ins after a successful one.
    pub async fn clear_sign_in_failures(&self, email: &str) -> HttpResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a session.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        lead_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> HttpResult<()> {
        // Expired sessions are of no use; sign-ins are rare enough to sweep them here.
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, lead_id, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(lead_id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The lead of a live session: `(lead, stored token hash)`.
    pub async fn session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> HttpResult<Option<(LeadRow, String)>> {
        let row = sqlx::query(
            "SELECT s.token_hash, l.id, l.email, l.name, l.password_hash, l.actor
             FROM sessions s JOIN leads l ON l.id = s.lead_id
             WHERE s.token_hash = $1 AND s.expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                LeadRow {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    password_hash: r.try_get("password_hash")?,
                    actor: r.try_get("actor")?,
                },
                r.try_get("token_hash")?,
            ))
        })
        .transpose()
    }

    /// Ends a session (and any expired ones).
    pub async fn delete_session(&self, token_hash: &str, now_ms: i64) -> HttpResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_ms <= $2")
            .bind(token_hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- pairing and devices ------------------------------------------------------

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

    /// The device holding this token hash (revoked ones too: the caller tells why).
    pub async fn device_by_token(&self, token_hash: &str) -> HttpResult<Option<DeviceRecord>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(device_row).transpose()
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
    /// theirs) and every lead account's actor prefix, as hex.
    pub async fn programme_authors(&self, programme_id: DocId) -> HttpResult<HashSet<String>> {
        let rows = sqlx::query(
            "SELECT actor FROM devices WHERE programme_id = $1
             UNION SELECT actor FROM leads",
        )
        .bind(programme_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
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
    pub async fn touch_device(&self, id: &str, now_ms: i64) -> HttpResult<()> {
        sqlx::query("UPDATE devices SET last_seen_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- refused documents --------------------------------------------------------

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

    // ----- projections --------------------------------------------------------------

    /// The projection rows of those of `docs` that have one: scope only, with empty
    /// `body` and `summary` (access control reads many; see [`Self::meta`] for a body).
    pub async fn metas(&self, docs: &[DocId]) -> HttpResult<HashMap<DocId, MetaRow>> {
        let mut out = HashMap::with_capacity(docs.len());
        for chunk in docs.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT doc_id, kind, programme_id, client_id, '' AS body, '' AS summary, heads FROM doc_meta
                 WHERE doc_id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let meta = meta_row(&row)?;
                out.insert(meta.doc_id, meta);
            }
        }
        Ok(out)
    }

    /// One document's projection with its body.
    pub async fn meta(&self, doc: DocId) -> HttpResult<Option<MetaRow>> {
        let row = sqlx::query(
            "SELECT doc_id, kind, programme_id, client_id, body, summary, heads FROM doc_meta WHERE doc_id = $1",
        )
        .bind(doc.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(meta_row).transpose()
    }

    /// Projections of a programme's documents of one kind, with bodies: `visit` by
    /// programme, `client` through the programme's client list.
    pub async fn programme_docs(
        &self,
        programme_id: DocId,
        kind: &str,
    ) -> HttpResult<Vec<MetaRow>> {
        let rows = if kind == "client" {
            sqlx::query(
                "SELECT m.doc_id, m.kind, m.programme_id, m.client_id, m.body, m.summary, m.heads
                 FROM programme_clients p JOIN doc_meta m ON m.doc_id = p.client_id
                 WHERE p.programme_id = $1 ORDER BY m.doc_id",
            )
            .bind(programme_id.to_string())
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query(
                "SELECT doc_id, kind, programme_id, client_id, body, summary, heads FROM doc_meta
                 WHERE programme_id = $1 AND kind = $2 ORDER BY doc_id",
            )
            .bind(programme_id.to_string())
            .bind(kind)
            .fetch_all(&self.pool)
            .await?
        };
        rows.iter().map(meta_row).collect()
    }

    /// The status summaries of a programme's visits (JSON each).
    pub async fn visit_summaries(&self, programme_id: DocId) -> HttpResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT summary FROM doc_meta WHERE programme_id = $1 AND kind = 'visit'",
        )
        .bind(programme_id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The status summaries of these documents (those that have a projection).
    pub async fn summaries(&self, docs: &[DocId]) -> HttpResult<Vec<String>> {
        let mut out = Vec::with_capacity(docs.len());
        for chunk in docs.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT summary FROM doc_meta WHERE doc_id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            out.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// The version of a programme's projections (0 before the first).
    pub async fn programme_version(&self, programme_id: DocId) -> HttpResult<i64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT version FROM programme_versions WHERE programme_id = $1")
                .bind(programme_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    /// Every programme's projection.
    pub async fn programmes(&self) -> HttpResult<Vec<MetaRow>> {
        let rows = sqlx::query(
            "SELECT doc_id, kind, programme_id, client_id, body, summary, heads FROM doc_meta
             WHERE kind = 'programme' ORDER BY doc_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(meta_row).collect()
    }

    /// The clients of a programme and their reps (all of them, or one rep's).
    pub async fn programme_clients(
        &self,
        programme_id: DocId,
        rep: Option<&str>,
    ) -> HttpResult<HashMap<DocId, Option<String>>> {
        let rows = match rep {
            Some(rep) => {
                sqlx::query(
                    "SELECT client_id, rep_id FROM programme_clients
                     WHERE programme_id = $1 AND rep_id = $2",
                )
                .bind(programme_id.to_string())
                .bind(rep)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT client_id, rep_id FROM programme_clients WHERE programme_id = $1",
                )
                .bind(programme_id.to_string())
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok((
                    doc_id(&r.try_get::<String, _>("client_id")?)?,
                    r.try_get("rep_id")?,
                ))
            })
            .collect()
    }

    /// Documents about these clients (the client documents and their visits).
    pub async fn docs_of_clients(&self, clients: &[DocId]) -> HttpResult<Vec<DocId>> {
        let mut out = Vec::new();
        for chunk in clients.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT doc_id FROM doc_meta WHERE client_id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for id in query.fetch_all(&self.pool).await? {
                out.push(doc_id(&id)?);
            }
        }
        Ok(out)
    }

    /// Where the projector is in the feed.
    pub async fn projector_cursor(&self) -> HttpResult<FeedCursor> {
        let hex: String = sqlx::query_scalar("SELECT cursor FROM projector WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        cursor_from_hex(&hex)
    }

    /// Writes projections and moves the projector from `from` to `to`, in one
    /// transaction; `Ok(false)` (nothing written) when another process moved it first.
    /// Clients whose rep changed are queued for [`Self::take_touch_queue`].
    pub async fn apply_projections(
        &self,
        from: FeedCursor,
        to: FeedCursor,
        projections: &[Projection],
        now_ms: i64,
    ) -> HttpResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Compare-and-swap first: it serialises projectors of several processes (and
        // takes SQLite's write lock before any read).
        let moved = sqlx::query("UPDATE projector SET cursor = $1 WHERE id = 1 AND cursor = $2")
            .bind(cursor_hex(&to))
            .bind(cursor_hex(&from))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        for p in projections {
            let m = &p.meta;
            sqlx::query(
                "INSERT INTO doc_meta
                     (doc_id, kind, programme_id, client_id, body, summary, heads, projected_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
                     programme_id = excluded.programme_id, client_id = excluded.client_id,
                     body = excluded.body, summary = excluded.summary, heads = excluded.heads,
                     projected_ms = excluded.projected_ms",
            )
            .bind(m.doc_id.to_string())
            .bind(&m.kind)
            .bind(m.programme_id.map(|d| d.to_string()))
            .bind(m.client_id.map(|d| d.to_string()))
            .bind(&m.body)
            .bind(&m.summary)
            .bind(&m.heads)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            // The status of every programme this document counts in is out of date.
            let programmes: Vec<String> = match m.kind.as_str() {
                "programme" => vec![m.doc_id.to_string()],
                "client" => {
                    sqlx::query_scalar(
                        "SELECT programme_id FROM programme_clients WHERE client_id = $1",
                    )
                    .bind(m.doc_id.to_string())
                    .fetch_all(&mut *tx)
                    .await?
                }
                _ => m.programme_id.iter().map(DocId::to_string).collect(),
            };
            for programme in programmes {
                sqlx::query(
                    "INSERT INTO programme_versions (programme_id, version) VALUES ($1, 1)
                     ON CONFLICT (programme_id) DO UPDATE
                         SET version = programme_versions.version + 1",
                )
                .bind(programme)
                .execute(&mut *tx)
                .await?;
            }
            let Some(clients) = &p.clients else { continue };
            let old = sqlx::query(
                "SELECT client_id, rep_id FROM programme_clients WHERE programme_id = $1",
            )
            .bind(m.doc_id.to_string())
            .fetch_all(&mut *tx)
            .await?;
            let mut old: HashMap<String, Option<String>> = old
                .iter()
                .map(|r| Ok((r.try_get("client_id")?, r.try_get("rep_id")?)))
                .collect::<Result<_, sqlx::Error>>()?;
            for (client, rep) in clients {
                let key = client.to_string();
                match old.remove(&key) {
                    Some(was) if was == *rep => continue,
                    _ => {}
                }
                sqlx::query(
                    "INSERT INTO programme_clients (programme_id, client_id, rep_id) VALUES ($1, $2, $3)
                     ON CONFLICT (programme_id, client_id) DO UPDATE SET rep_id = excluded.rep_id",
                )
                .bind(m.doc_id.to_string())
                .bind(&key)
                .bind(rep)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO touch_queue (client_id) VALUES ($1) ON CONFLICT DO NOTHING",
                )
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            }
            for gone in old.keys() {
                sqlx::query(
                    "DELETE FROM programme_clients WHERE programme_id = $1 AND client_id = $2",
                )
                .bind(m.doc_id.to_string())
                .bind(gone)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Clients whose documents wait to be moved to the head of the feed.
    pub async fn touch_queue(&self) -> HttpResult<Vec<DocId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT client_id FROM touch_queue")
            .fetch_all(&self.pool)
            .await?;
        ids.iter().map(|s| doc_id(s)).collect()
    }

    /// Removes clients from the touch queue once their documents were moved.
    pub async fn clear_touch_queue(&self, clients: &[DocId]) -> HttpResult<()> {
        for chunk in clients.chunks(IN_CHUNK) {
            let sql = format!(
                "DELETE FROM touch_queue WHERE client_id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Forgets every projection and rewinds the projector to the start of the feed.
    pub async fn reset_projections(&self) -> HttpResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projector SET cursor = '' WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        for table in ["doc_meta", "programme_clients", "touch_queue"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn cursor_hex(cursor: &FeedCursor) -> String {
    if *cursor == FeedCursor::start() {
        return String::new();
    }
    hex::encode(cursor.to_bytes())
}

fn cursor_from_hex(hex: &str) -> HttpResult<FeedCursor> {
    if hex.is_empty() {
        return Ok(FeedCursor::start());
    }
    let bytes = hex::decode(hex).map_err(|e| HttpError::internal("projector cursor", e))?;
    FeedCursor::from_bytes(&bytes).map_err(|e| HttpError::internal("projector cursor", e))
}

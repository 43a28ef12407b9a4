//! Projections: each document's row (scope, typed body, status summary), each
//! programme's clients and their reps, the versions that date the status, the queue of
//! reassigned clients, and the projector's place in the feed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rapport_store::{DocId, FeedCursor};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::programme_rows::{RowPrint, entry_hash};
use super::{Db, IN_CHUNK, MetaRow, Projection, doc_id, fresh_stamp, fresh_version, params};
use crate::error::{HttpError, HttpResult};

/// Projection rows per statement: 11 parameters each, far below both databases' limits,
/// and a page of the projector (or a burst of syncs) in one round trip.
const META_ROWS_PER_STATEMENT: usize = 100;

/// A programme's client rows per statement: 3 parameters each.
const CLIENT_ROWS_PER_STATEMENT: usize = 200;

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

impl Db {
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

    /// The projector's count of transactions: every row written since a count read here
    /// has a greater `status_seq`.
    pub async fn projection_seq(&self) -> HttpResult<i64> {
        Ok(sqlx::query_scalar("SELECT seq FROM projector WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The visits of a programme whose rows were written after the count `after`
    /// (every one for `-1`), with their summaries (JSON each).
    pub async fn visit_rows_since(
        &self,
        programme_id: DocId,
        after: i64,
    ) -> HttpResult<Vec<VisitRow>> {
        let rows = sqlx::query(
            "SELECT doc_id, status_seq, CAST(stamp AS BIGINT) AS stamp, summary FROM doc_meta
             WHERE programme_id = $1 AND kind = 'visit' AND status_seq > $2",
        )
        .bind(programme_id.to_string())
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VisitRow {
                    doc_id: doc_id(&r.try_get::<String, _>("doc_id")?)?,
                    seq: r.try_get("status_seq")?,
                    stamp: r.try_get("stamp")?,
                    summary: r.try_get("summary")?,
                })
            })
            .collect()
    }

    /// How many visits a programme has and the sum of their rows' stamps, read from the
    /// index alone.
    pub async fn visit_stamps(&self, programme_id: DocId) -> HttpResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(stamp), 0) AS BIGINT) AS total FROM doc_meta
             WHERE programme_id = $1 AND kind = 'visit'",
        )
        .bind(programme_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("total")?))
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

    /// The client summaries of the clients the projections list in `programme_id`, in
    /// one query (a programme of 10,000 clients: one statement, where asking by id
    /// takes twenty).
    pub async fn client_summaries_of(&self, programme_id: DocId) -> HttpResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT m.summary FROM programme_clients pc
             JOIN doc_meta m ON m.doc_id = pc.client_id
             WHERE pc.programme_id = $1",
        )
        .bind(programme_id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    /// A programme's projection with its client rows, from one statement (one
    /// snapshot: never the body of one projection with the rows of another). `None`
    /// when the programme has no projection.
    pub async fn programme_projection(
        &self,
        programme_id: DocId,
    ) -> HttpResult<Option<ProgrammeProjection>> {
        let rows = sqlx::query(
            "SELECT 'p' AS part, doc_id AS id, body AS entry
             FROM doc_meta WHERE doc_id = $1 AND kind = 'programme'
             UNION ALL
             SELECT 'c', client_id, entry FROM programme_clients
             WHERE programme_id = $1",
        )
        .bind(programme_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut head = None;
        let mut clients = Vec::with_capacity(rows.len());
        for row in &rows {
            let part: String = row.try_get("part")?;
            let entry: Option<String> = row.try_get("entry")?;
            if part == "p" {
                head = Some(entry.unwrap_or_default());
            } else {
                clients.push((doc_id(&row.try_get::<String, _>("id")?)?, entry));
            }
        }
        // Rows with no programme row: a programme that was never projected as such.
        Ok(head.map(|body| ProgrammeProjection { body, clients }))
    }

    /// The clients of a programme whose company has this key ([`company_key`]), or
    /// whose key is not known yet (`None`: a client not projected yet, or a row from
    /// before rows held keys), while the programme's projection is at `heads` (then its
    /// rows are exactly the document's clients); `None` when it is not. One statement,
    /// one snapshot; the index on (programme, key) finds the rows.
    ///
    /// [`company_key`]: rapport_domain::client::company_key
    pub async fn clients_named(
        &self,
        programme_id: DocId,
        heads: &str,
        key: &str,
    ) -> HttpResult<Option<Vec<(DocId, Option<String>)>>> {
        let rows = sqlx::query(
            "SELECT 'p' AS part, heads AS id, NULL AS company_key FROM doc_meta
             WHERE doc_id = $1 AND kind = 'programme'
             UNION ALL
             SELECT 'c', client_id, company_key FROM programme_clients
             WHERE programme_id = $1 AND (company_key = $2 OR company_key IS NULL)",
        )
        .bind(programme_id.to_string())
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        let mut at_heads = false;
        let mut clients = Vec::new();
        for row in &rows {
            let part: String = row.try_get("part")?;
            let id: String = row.try_get("id")?;
            if part == "p" {
                at_heads = id == heads;
            } else {
                clients.push((doc_id(&id)?, row.try_get("company_key")?));
            }
        }
        Ok(at_heads.then_some(clients))
    }

    /// How many clients each programme's projection lists.
    pub async fn programme_client_counts(&self) -> HttpResult<HashMap<DocId, usize>> {
        let rows = sqlx::query(
            "SELECT programme_id, COUNT(*) AS n FROM programme_clients GROUP BY programme_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    doc_id(&r.try_get::<String, _>("programme_id")?)?,
                    usize::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            })
            .collect()
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
    /// Clients whose rep changed are queued for [`Self::touch_queue`].
    ///
    /// `written` holds, per programme, the clients this process last wrote with the
    /// heads of the projection they were written with: when the stored projection is
    /// still at those heads, the programme's rows are those clients and only the
    /// difference is written, without reading the rows back (10,000 of them for a large
    /// programme). Any other heads (another process wrote since, the projections were
    /// rebuilt or restored) and the rows are read.
    pub async fn apply_projections(
        &self,
        from: FeedCursor,
        to: FeedCursor,
        projections: &[Projection],
        now_ms: i64,
        written: &WrittenClients,
    ) -> HttpResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Compare-and-swap first: it serialises projectors of several processes (and
        // takes SQLite's write lock before any read).
        // Its count dates the rows it writes (`status_seq`, read by `status_rows.rs`).
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE projector SET cursor = $1, seq = seq + 1 WHERE id = 1 AND cursor = $2
             RETURNING seq",
        )
        .bind(cursor_hex(&to))
        .bind(cursor_hex(&from))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            return Ok(false);
        };
        // The programmes' rows are the clients written with the stored heads: read
        // before the rows of this batch overwrite those heads.
        let mut known: HashMap<DocId, Prints> = HashMap::new();
        for p in projections {
            let m = &p.meta;
            if let (Some(_), Some((heads, clients))) = (&p.clients, written.get(&m.doc_id)) {
                let stored: Option<String> =
                    sqlx::query_scalar("SELECT heads FROM doc_meta WHERE doc_id = $1")
                        .bind(m.doc_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                if stored.as_deref() == Some(heads.as_str()) {
                    known.insert(m.doc_id, clients.clone());
                }
            }
        }
        self.upsert_metas(&mut tx, projections, now_ms, seq).await?;
        for p in projections {
            let Some(clients) = &p.clients else { continue };
            let programme = p.meta.doc_id;
            let mut old: HashMap<DocId, RowPrint> = match known.remove(&programme) {
                Some(known) => (*known).clone(),
                None => {
                    let rows = sqlx::query(
                        "SELECT client_id, rep_id, entry FROM programme_clients WHERE programme_id = $1",
                    )
                    .bind(programme.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let entry: Option<String> = r.try_get("entry")?;
                            Ok((
                                doc_id(&r.try_get::<String, _>("client_id")?)?,
                                (r.try_get("rep_id")?, entry_hash(entry.as_deref())),
                            ))
                        })
                        .collect::<HttpResult<_>>()?
                }
            };
            // Rows whose rep or entry changed are written; those whose rep changed
            // (or new) also wait to be moved to the head of the feed, and change the
            // devices' rights (`clients_version`).
            let mut write = Vec::new();
            let mut moved = Vec::new();
            for row in clients {
                match old.remove(&row.client) {
                    Some(was) if was == row.print() => {}
                    Some((rep, _)) if rep == row.rep => write.push(row),
                    _ => {
                        write.push(row);
                        moved.push(row.client);
                    }
                }
            }
            let gone: Vec<DocId> = old.into_keys().collect();
            for chunk in write.chunks(CLIENT_ROWS_PER_STATEMENT) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|r| {
                        let client = r * 3 + 2;
                        format!(
                            "($1, {}, (SELECT company_key FROM doc_meta WHERE doc_id = ${client}))",
                            params(client, 3)
                        )
                    })
                    .collect();
                // The client's company key comes from its own projection (written in
                // an earlier or this transaction; a client projected later sets it).
                let sql = format!(
                    "INSERT INTO programme_clients (programme_id, client_id, rep_id, entry, company_key)
                     VALUES {}
                     ON CONFLICT (programme_id, client_id)
                         DO UPDATE SET rep_id = excluded.rep_id, entry = excluded.entry,
                             company_key = excluded.company_key",
                    values.join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(programme.to_string());
                for row in chunk {
                    query = query
                        .bind(row.client.to_string())
                        .bind(&row.rep)
                        .bind(&row.entry);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in moved.chunks(IN_CHUNK) {
                let sql = format!(
                    "INSERT INTO touch_queue (client_id) VALUES {} ON CONFLICT DO NOTHING",
                    (1..=chunk.len())
                        .map(|i| format!("(${i})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for client in chunk {
                    query = query.bind(client.to_string());
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in gone.chunks(IN_CHUNK) {
                let sql = format!(
                    "DELETE FROM programme_clients WHERE programme_id = $1 AND client_id IN ({})",
                    params(2, chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(programme.to_string());
                for client in chunk {
                    query = query.bind(client.to_string());
                }
                query.execute(&mut *tx).await?;
            }
            // Devices' rights kept by every process are read again (`db/rights.rs`).
            if !moved.is_empty() || !gone.is_empty() {
                sqlx::query(
                    "INSERT INTO programme_versions (programme_id, version, clients_version)
                     VALUES ($1, $2, $2)
                     ON CONFLICT (programme_id) DO UPDATE SET clients_version = $2",
                )
                .bind(programme.to_string())
                .bind(fresh_version())
                .execute(&mut *tx)
                .await?;
            }
        }
        // The status of every programme a document of the batch counts in is out of
        // date: one step per programme, however many of its documents changed.
        let mut programmes: BTreeSet<String> = BTreeSet::new();
        let mut clients = Vec::new();
        for p in projections {
            let m = &p.meta;
            match m.kind.as_str() {
                "programme" => {
                    programmes.insert(m.doc_id.to_string());
                }
                "client" => clients.push(m.doc_id.to_string()),
                _ => programmes.extend(m.programme_id.iter().map(DocId::to_string)),
            }
        }
        // A client counts in the programmes listing it, whose rows carry its company's
        // key (renamed, or projected after the programme listed it).
        for chunk in clients.chunks(IN_CHUNK) {
            let sql = format!(
                "UPDATE programme_clients SET company_key =
                     (SELECT company_key FROM doc_meta WHERE doc_id = programme_clients.client_id)
                 WHERE client_id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&mut *tx).await?;
            let sql = format!(
                "SELECT DISTINCT programme_id FROM programme_clients WHERE client_id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            programmes.extend(query.fetch_all(&mut *tx).await?);
        }
        // One statement for them all: a busy projector's batch touches several.
        let programmes: Vec<String> = programmes.into_iter().collect();
        for chunk in programmes.chunks(IN_CHUNK / 2) {
            let sql = format!(
                "INSERT INTO programme_versions (programme_id, version) VALUES {}
                 ON CONFLICT (programme_id) DO UPDATE SET version = excluded.version",
                (0..chunk.len())
                    .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for programme in chunk {
                query = query.bind(programme).bind(fresh_version());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Writes the rows of `projections` in `tx`, several per statement (the last one
    /// of a document listed twice).
    async fn upsert_metas(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        projections: &[Projection],
        now_ms: i64,
        seq: i64,
    ) -> HttpResult<()> {
        let mut last: HashMap<DocId, usize> = HashMap::with_capacity(projections.len());
        for (i, p) in projections.iter().enumerate() {
            last.insert(p.meta.doc_id, i);
        }
        let rows: Vec<&Projection> = projections
            .iter()
            .enumerate()
            .filter(|(i, p)| last.get(&p.meta.doc_id) == Some(i))
            .map(|(_, p)| p)
            .collect();
        for chunk in rows.chunks(META_ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| format!("({})", params(r * 11 + 1, 11)))
                .collect();
            let sql = format!(
                "INSERT INTO doc_meta
                     (doc_id, kind, programme_id, client_id, body, summary, heads, projected_ms,
                      company_key, status_seq, stamp)
                 VALUES {}
                 ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
                     programme_id = excluded.programme_id, client_id = excluded.client_id,
                     body = excluded.body, summary = excluded.summary, heads = excluded.heads,
                     projected_ms = excluded.projected_ms, company_key = excluded.company_key,
                     status_seq = excluded.status_seq, stamp = excluded.stamp",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                let m = &p.meta;
                query = query
                    .bind(m.doc_id.to_string())
                    .bind(&m.kind)
                    .bind(m.programme_id.map(|d| d.to_string()))
                    .bind(m.client_id.map(|d| d.to_string()))
                    .bind(&m.body)
                    .bind(&m.summary)
                    .bind(&m.heads)
                    .bind(now_ms)
                    .bind(&p.company_key)
                    .bind(seq)
                    .bind(fresh_stamp());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
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
        // The clients are gone until projected again: no process may keep its copy.
        sqlx::query("UPDATE programme_versions SET clients_version = $1")
            .bind(fresh_version())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A visit's projection row as the status reads it ([`Db::visit_rows_since`]).
#[derive(Clone, Debug)]
pub struct VisitRow {
    /// The visit.
    pub doc_id: DocId,
    /// The projector's count when the row was written.
    pub seq: i64,
    /// The row's random stamp.
    pub stamp: i64,
    /// Its status summary (JSON).
    pub summary: String,
}

/// A programme's projection ([`Db::programme_projection`]).
#[derive(Clone, Debug)]
pub struct ProgrammeProjection {
    /// The programme without its clients (JSON).
    pub body: String,
    /// Each client and its entry (`None` in a row written before rows held
    /// entries); the entry holds the client's assignment, its rep with it.
    pub clients: Vec<(DocId, Option<String>)>,
}

/// Per programme: the heads of the projection last written by this process and the
/// prints of the client rows written with it.
pub type WrittenClients = HashMap<DocId, (String, Prints)>;

/// The prints of a programme's client rows ([`super::ClientRow::print`]).
pub type Prints = Arc<HashMap<DocId, RowPrint>>;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{ClientRow, MetaRow};

    /// A client's row: its id, rep and entry.
    type Row<'a> = (DocId, Option<&'a str>, &'a str);

    fn programme(id: DocId, heads: &str, clients: &[Row<'_>]) -> Projection {
        Projection {
            meta: MetaRow {
                doc_id: id,
                kind: "programme".into(),
                programme_id: None,
                client_id: None,
                body: "{}".into(),
                summary: "{}".into(),
                heads: heads.into(),
            },
            clients: Some(
                clients
                    .iter()
                    .map(|(c, r, e)| ClientRow {
                        client: *c,
                        rep: r.map(str::to_owned),
                        entry: (*e).to_owned(),
                    })
                    .collect(),
            ),
            company_key: None,
            view: None,
        }
    }

    fn written(p: &Projection) -> WrittenClients {
        let clients = p.clients.clone().unwrap_or_default();
        HashMap::from([(
            p.meta.doc_id,
            (
                p.meta.heads.clone(),
                Arc::new(clients.iter().map(|r| (r.client, r.print())).collect()),
            ),
        )])
    }

    /// A process that wrote a programme's clients writes only the difference next
    /// time, but only while the stored projection is the one it wrote: after another
    /// process wrote (other heads), it reads the rows back. The rows always end up as
    /// the last projection's clients, with their entries; only a new client or a
    /// change of rep waits to be moved to the head of the feed and changes the
    /// devices' rights.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_programmes_clients_are_diffed_against_what_is_stored() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::open_sqlite(&dir.path().join("проекции.sqlite3"))
            .await
            .expect("open");
        let id = DocId::random();
        let [x, y, z] = [(); 3].map(|()| DocId::random());
        let at = FeedCursor::start();
        // Each row's rep (as devices' rights read it) and entry (as the lead's API).
        let rows = || async {
            let reps = db.programme_clients(id, None).await.expect("reps");
            let mut rows: Vec<(DocId, Option<String>, Option<String>)> = db
                .programme_projection(id)
                .await
                .expect("rows")
                .expect("projected")
                .clients
                .into_iter()
                .map(|(c, entry)| (c, reps.get(&c).cloned().flatten(), entry))
                .collect();
            rows.sort();
            assert_eq!(rows.len(), reps.len(), "the same rows");
            rows
        };
        let owned = |v: &[Row<'_>]| {
            let mut v: Vec<(DocId, Option<String>, Option<String>)> = v
                .iter()
                .map(|(c, r, e)| (*c, r.map(str::to_owned), Some((*e).to_owned())))
                .collect();
            v.sort();
            v
        };
        let clients_version = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT clients_version FROM programme_versions WHERE programme_id = $1",
            )
            .bind(id.to_string())
            .fetch_one(&db.pool)
            .await
            .expect("version")
        };

        // This process writes {x}.
        let first = programme(id, "h1", &[(x, Some("ivanov"), "{\"x\":1}")]);
        assert!(
            db.apply_projections(at, at, std::slice::from_ref(&first), 1, &HashMap::new())
                .await
                .expect("apply")
        );
        let mine = written(&first);
        // Another process writes {x, y} (it knows nothing of ours).
        let other = programme(
            id,
            "h2",
            &[(x, Some("ivanov"), "{\"x\":1}"), (y, None, "{\"y\":«Юг»}")],
        );
        assert!(
            db.apply_projections(at, at, &[other], 2, &HashMap::new())
                .await
                .expect("apply")
        );
        // This process writes {x, z} from its own last write: the stored heads are the
        // other process's, so the rows are read, and y goes.
        let third_rows = [
            (x, Some("petrov"), "{\"x\":1}"),
            (z, None, "{\"z\":«Север»}"),
        ];
        let third = programme(id, "h3", &third_rows);
        assert!(
            db.apply_projections(at, at, std::slice::from_ref(&third), 3, &mine)
                .await
                .expect("apply")
        );
        assert_eq!(rows().await, owned(&third_rows));
        // Its own write is the stored one now: the difference alone is written.
        let fourth_rows = [(z, Some("ivanov"), "{\"z\":«Север»}")];
        let fourth = programme(id, "h4", &fourth_rows);
        assert!(
            db.apply_projections(at, at, std::slice::from_ref(&fourth), 4, &written(&third))
                .await
                .expect("apply")
        );
        assert_eq!(rows().await, owned(&fourth_rows));
        // x and z changed rep: both wait to be moved to the head of the feed.
        let mut queued = db.touch_queue().await.expect("queue");
        queued.sort();
        assert!(queued.contains(&x) && queued.contains(&z), "{queued:?}");
        db.clear_touch_queue(&queued).await.expect("cleared");
        // An entry changed with its rep kept (e.g. the relationship) is written, moves
        // nothing in the feed and leaves the devices' rights as they were; from this
        // process's write and from the rows read back alike.
        let version = clients_version().await;
        let fifth_rows = [(z, Some("ivanov"), "{\"z\":«Северо-Запад»}")];
        let fifth = programme(id, "h5", &fifth_rows);
        for known in [written(&fourth), HashMap::new()] {
            assert!(
                db.apply_projections(at, at, std::slice::from_ref(&fifth), 5, &known)
                    .await
                    .expect("apply")
            );
            assert_eq!(rows().await, owned(&fifth_rows));
        }
        assert_eq!(db.touch_queue().await.expect("queue"), Vec::<DocId>::new());
        assert_eq!(clients_version().await, version);
        db.pool.close().await;
    }

    fn client(id: DocId, heads: &str, company: &str) -> Projection {
        Projection {
            meta: MetaRow {
                doc_id: id,
                kind: "client".into(),
                programme_id: None,
                client_id: Some(id),
                body: "{}".into(),
                summary: "{}".into(),
                heads: heads.into(),
            },
            clients: None,
            company_key: Some(rapport_domain::client::company_key(company)),
            view: None,
        }
    }

    /// The rows of a programme carry each client's company key, whichever of the two
    /// is projected first, and follow a rename; the rows named so are given only while
    /// the programme's projection is at the heads asked with.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_programmes_rows_carry_their_clients_company_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::open_sqlite(&dir.path().join("компании.sqlite3"))
            .await
            .expect("open");
        let id = DocId::random();
        let [x, y] = [(); 2].map(|()| DocId::random());
        let at = FeedCursor::start();
        let apply = |batch: Vec<Projection>| {
            let db = &db;
            async move {
                assert!(
                    db.apply_projections(at, at, &batch, 1, &HashMap::new())
                        .await
                        .expect("apply")
                );
            }
        };
        let named = |heads: &'static str, key: &'static str| {
            let db = &db;
            async move {
                db.clients_named(id, heads, key)
                    .await
                    .expect("named")
                    .map(|mut v| {
                        v.sort();
                        v
                    })
            }
        };
        let romashka = "ооо «ромашка»".to_owned();
        // x is projected before the programme lists it; y after.
        apply(vec![client(x, "x1", " ООО «Ромашка» ")]).await;
        apply(vec![programme(
            id,
            "p1",
            &[(x, None, "{}"), (y, None, "{}")],
        )])
        .await;
        let mut both = vec![(x, Some(romashka.clone())), (y, None)];
        both.sort();
        assert_eq!(
            named("p1", "ооо «ромашка»").await,
            Some(both),
            "y's company is not known yet: it is given to be read"
        );
        assert_eq!(named("p0", "ооо «ромашка»").await, None, "other heads");
        apply(vec![client(y, "y1", "АО «Лютик»")]).await;
        assert_eq!(
            named("p1", "ооо «ромашка»").await,
            Some(vec![(x, Some(romashka))])
        );
        assert_eq!(
            named("p1", "ао «лютик»").await,
            Some(vec![(y, Some("ао «лютик»".into()))])
        );
        // x renamed: found by its new name only.
        apply(vec![client(x, "x2", "АО «Лютик-2»")]).await;
        assert_eq!(named("p1", "ооо «ромашка»").await, Some(vec![]));
        assert_eq!(
            named("p1", "ао «лютик-2»").await,
            Some(vec![(x, Some("ао «лютик-2»".into()))])
        );
        db.pool.close().await;
    }
}

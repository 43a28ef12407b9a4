//! Projections: each document's row (scope, typed body, status summary), each
//! programme's clients and their reps, the versions that date the status, the queue of
//! reassigned clients, and the projector's place in the feed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rapport_store::{DocId, FeedCursor};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, IN_CHUNK, MetaRow, Projection, doc_id, params};
use crate::error::{HttpError, HttpResult};

/// Projection rows per statement: 8 parameters each, far below both databases' limits,
/// and a page of the projector (or a burst of syncs) in one round trip.
const META_ROWS_PER_STATEMENT: usize = 100;

/// A new `clients_version`: random, not the last one plus one, so that a database put
/// back to an older copy under a running server never reaches again a version a
/// process kept other clients under (`db/rights.rs`).
fn fresh_clients_version() -> i64 {
    i64::from_ne_bytes(uuid::Uuid::new_v4().as_u64_pair().0.to_ne_bytes())
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
        let moved = sqlx::query("UPDATE projector SET cursor = $1 WHERE id = 1 AND cursor = $2")
            .bind(cursor_hex(&to))
            .bind(cursor_hex(&from))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        // The programmes' rows are the clients written with the stored heads: read
        // before the rows of this batch overwrite those heads.
        let mut known: HashMap<DocId, super::Clients> = HashMap::new();
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
        self.upsert_metas(&mut tx, projections, now_ms).await?;
        for p in projections {
            let Some(clients) = &p.clients else { continue };
            let programme = p.meta.doc_id;
            let mut old: HashMap<DocId, Option<String>> = match known.remove(&programme) {
                Some(known) => (*known).clone(),
                None => {
                    let rows = sqlx::query(
                        "SELECT client_id, rep_id FROM programme_clients WHERE programme_id = $1",
                    )
                    .bind(programme.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                doc_id(&r.try_get::<String, _>("client_id")?)?,
                                r.try_get("rep_id")?,
                            ))
                        })
                        .collect::<HttpResult<_>>()?
                }
            };
            let changed = clients.len() != old.len()
                || clients
                    .iter()
                    .any(|(client, rep)| old.get(client) != Some(rep));
            for (client, rep) in clients {
                let key = client.to_string();
                match old.remove(client) {
                    Some(was) if was == *rep => continue,
                    _ => {}
                }
                sqlx::query(
                    "INSERT INTO programme_clients (programme_id, client_id, rep_id) VALUES ($1, $2, $3)
                     ON CONFLICT (programme_id, client_id) DO UPDATE SET rep_id = excluded.rep_id",
                )
                .bind(programme.to_string())
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
                .bind(programme.to_string())
                .bind(gone.to_string())
                .execute(&mut *tx)
                .await?;
            }
            // Devices' rights kept by every process are read again (`db/rights.rs`).
            if changed {
                sqlx::query(
                    "INSERT INTO programme_versions (programme_id, version, clients_version)
                     VALUES ($1, 1, $2)
                     ON CONFLICT (programme_id) DO UPDATE SET clients_version = $2",
                )
                .bind(programme.to_string())
                .bind(fresh_clients_version())
                .execute(&mut *tx)
                .await?;
            }
        }
        // The status of every programme a document of the batch counts in is out of
        // date: one step per programme, however many of its documents changed.
        let mut programmes: BTreeSet<String> = BTreeSet::new();
        for p in projections {
            let m = &p.meta;
            match m.kind.as_str() {
                "programme" => {
                    programmes.insert(m.doc_id.to_string());
                }
                "client" => {
                    let of: Vec<String> = sqlx::query_scalar(
                        "SELECT programme_id FROM programme_clients WHERE client_id = $1",
                    )
                    .bind(m.doc_id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                    programmes.extend(of);
                }
                _ => programmes.extend(m.programme_id.iter().map(DocId::to_string)),
            }
        }
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
    ) -> HttpResult<()> {
        let mut last: HashMap<DocId, usize> = HashMap::with_capacity(projections.len());
        for (i, p) in projections.iter().enumerate() {
            last.insert(p.meta.doc_id, i);
        }
        let rows: Vec<&MetaRow> = projections
            .iter()
            .enumerate()
            .filter(|(i, p)| last.get(&p.meta.doc_id) == Some(i))
            .map(|(_, p)| &p.meta)
            .collect();
        for chunk in rows.chunks(META_ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| format!("({})", params(r * 8 + 1, 8)))
                .collect();
            let sql = format!(
                "INSERT INTO doc_meta
                     (doc_id, kind, programme_id, client_id, body, summary, heads, projected_ms)
                 VALUES {}
                 ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
                     programme_id = excluded.programme_id, client_id = excluded.client_id,
                     body = excluded.body, summary = excluded.summary, heads = excluded.heads,
                     projected_ms = excluded.projected_ms",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                query = query
                    .bind(m.doc_id.to_string())
                    .bind(&m.kind)
                    .bind(m.programme_id.map(|d| d.to_string()))
                    .bind(m.client_id.map(|d| d.to_string()))
                    .bind(&m.body)
                    .bind(&m.summary)
                    .bind(&m.heads)
                    .bind(now_ms);
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
            .bind(fresh_clients_version())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Per programme: the heads of the projection last written by this process and the
/// clients (with their reps) written with it.
pub type WrittenClients = HashMap<DocId, (String, Arc<HashMap<DocId, Option<String>>>)>;

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
    use crate::db::MetaRow;

    fn programme(id: DocId, heads: &str, clients: &[(DocId, Option<&str>)]) -> Projection {
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
                    .map(|(c, r)| (*c, r.map(str::to_owned)))
                    .collect(),
            ),
            view: None,
        }
    }

    fn written(p: &Projection) -> WrittenClients {
        let clients = p.clients.clone().unwrap_or_default();
        HashMap::from([(
            p.meta.doc_id,
            (
                p.meta.heads.clone(),
                Arc::new(clients.into_iter().collect()),
            ),
        )])
    }

    /// A process that wrote a programme's clients writes only the difference next
    /// time, but only while the stored projection is the one it wrote: after another
    /// process wrote (other heads), it reads the rows back. The rows always end up as
    /// the last projection's clients.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_programmes_clients_are_diffed_against_what_is_stored() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::open_sqlite(&dir.path().join("проекции.sqlite3"))
            .await
            .expect("open");
        let id = DocId::random();
        let [x, y, z] = [(); 3].map(|()| DocId::random());
        let at = FeedCursor::start();
        let rows = || async {
            let mut rows: Vec<(DocId, Option<String>)> = db
                .programme_clients(id, None)
                .await
                .expect("rows")
                .into_iter()
                .collect();
            rows.sort();
            rows
        };
        let sorted = |mut v: Vec<(DocId, Option<String>)>| {
            v.sort();
            v
        };

        // This process writes {x}.
        let first = programme(id, "h1", &[(x, Some("ivanov"))]);
        assert!(
            db.apply_projections(at, at, std::slice::from_ref(&first), 1, &HashMap::new())
                .await
                .expect("apply")
        );
        let mine = written(&first);
        // Another process writes {x, y} (it knows nothing of ours).
        let other = programme(id, "h2", &[(x, Some("ivanov")), (y, None)]);
        assert!(
            db.apply_projections(at, at, &[other], 2, &HashMap::new())
                .await
                .expect("apply")
        );
        // This process writes {x, z} from its own last write: the stored heads are the
        // other process's, so the rows are read, and y goes.
        let third = programme(id, "h3", &[(x, Some("petrov")), (z, None)]);
        assert!(
            db.apply_projections(at, at, std::slice::from_ref(&third), 3, &mine)
                .await
                .expect("apply")
        );
        assert_eq!(
            rows().await,
            sorted(vec![(x, Some("petrov".into())), (z, None)])
        );
        // Its own write is the stored one now: the difference alone is written.
        let fourth = programme(id, "h4", &[(z, Some("ivanov"))]);
        assert!(
            db.apply_projections(at, at, &[fourth], 4, &written(&third))
                .await
                .expect("apply")
        );
        assert_eq!(rows().await, vec![(z, Some("ivanov".into()))]);
        // x and z changed rep: both wait to be moved to the head of the feed.
        let mut queued = db.touch_queue().await.expect("queue");
        queued.sort();
        assert!(queued.contains(&x) && queued.contains(&z), "{queued:?}");
        db.pool.close().await;
    }
}

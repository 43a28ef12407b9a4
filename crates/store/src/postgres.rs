//! [`DocStore`] on PostgreSQL: the server's store, shared by every server replica.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use automerge::ChangeHash;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Uuid;
use sqlx::{Connection, Row};

use crate::error::{db, migration};
use crate::rows::{self, StoredDoc};
use crate::types::{
    CommitReport, CompactReport, CompactionPlan, DocVersion, FeedCursor, FeedPage, PeerId,
    VersionStep, Versioned,
};
use crate::{DocId, DocStore, StoreError, WriteBatch};

/// A [`DocStore`] on a PostgreSQL database (a connection pool; cheap to clone).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// The rows [`PgStore::read_docs_and_states`] reads of documents: each one's row
/// (kind 0, with its snapshot and version) and its changes' bytes (kind 1). A literal,
/// so each query built on it is one static string.
macro_rules! docs_rows {
    () => {
        "SELECT doc_id, 0 AS kind, snapshot_gen, NULL::bytea AS hash, snapshot AS data,
                0::bigint AS ord, version
           FROM docs WHERE doc_id = ANY($1)
         UNION ALL
         SELECT doc_id, 1, 0::bigint, hash, data, ord, NULL::uuid
           FROM changes WHERE doc_id = ANY($1) AND data IS NOT NULL"
    };
}

impl PgStore {
    /// Connections a store opens at most by default ([`Self::connect_with`]).
    pub const DEFAULT_CONNECTIONS: u32 = 4;

    /// Connects to `url` (`postgres://user:password@host:port/database`) and migrates,
    /// with [`Self::DEFAULT_CONNECTIONS`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Self::DEFAULT_CONNECTIONS).await
    }

    /// Connects to `url` with at most `connections` open at once, and migrates.
    ///
    /// Few connections, not many, make a busy server cheap. Each connection is a
    /// PostgreSQL process with its own caches, and the pool hands statements to all of
    /// its connections in turn: with 16, PostgreSQL took 40% more CPU per sync than
    /// with 4 (the benchmark's P3 on 2 cores), and the syncs' p99 was no better.
    pub async fn connect_with(url: &str, connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Open {
            target: "the PostgreSQL URL".to_owned(),
            reason: format!("{e}; expected postgres://user:password@host:port/database"),
        })?;
        let target = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        // One direct connection first: the pool would retry a refused connection until
        // its acquire timeout, where the operator wants the reason at once.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|e| StoreError::Open {
                target,
                reason: e.to_string(),
            })?;
        // Closing the probe is courtesy; the pool opens its own connections.
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        // The migrator holds an advisory lock: replicas starting together migrate once.
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(migration)?;
        let store = Self { pool };
        store.renumber_restored_feed().await?;
        Ok(store)
    }

    /// After a logical restore (`pg_dump` into another cluster) the documents carry
    /// the old cluster's transaction ids, which may be far above this cluster's: new
    /// commits would sort before them and no cursor would reach them. Such a store is
    /// renumbered (every restored row below any new transaction, in its old order) and
    /// given a new epoch, so devices reconcile. Returns whether it was renumbered.
    pub async fn renumber_restored_feed(&self) -> Result<bool, StoreError> {
        const AHEAD: &str = "SELECT EXISTS (SELECT 1 FROM docs
                 WHERE feed_xid >= pg_snapshot_xmax(pg_current_snapshot()))";
        // Checked without a lock first: the common start finds nothing and must not
        // stop other servers' writers for it.
        let ahead: bool = sqlx::query_scalar(AHEAD)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        if !ahead {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        // One renumbering at a time (replicas starting together), then check again.
        sqlx::query("LOCK TABLE docs IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let ahead: bool = sqlx::query_scalar(AHEAD)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if !ahead {
            return Ok(false);
        }
        sqlx::query("UPDATE docs SET feed_xid = '1'::xid8")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE store_meta SET epoch = gen_random_uuid() WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::warn!(
            "the documents' feed positions came from another PostgreSQL cluster (a restored dump): renumbered, and the store has a new epoch so devices reconcile"
        );
        Ok(true)
    }

    /// The connection pool, for projections that live in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Test aid: [`DocStore::commit`] that keeps its transaction open for `hold` after
    /// all writes (feed positions taken, not yet visible), to commit out of order.
    #[doc(hidden)]
    pub async fn commit_held_open(
        &self,
        batch: WriteBatch,
        hold: Duration,
    ) -> Result<CommitReport, StoreError> {
        self.commit_inner(batch, Some(hold)).await
    }

    /// The feed after `after`: every document, or (`groups`) those filed under one of
    /// them and those filed under none, each part read through its own index.
    async fn read_feed(
        &self,
        after: &FeedCursor,
        limit: usize,
        groups: Option<&[DocId]>,
    ) -> Result<FeedPage, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Only rows written by transactions below the snapshot's xmin: those have all
        // finished, and every later transaction gets a larger xid, so nothing can appear
        // behind the cursor we hand out. A long transaction delays the feed, never skips.
        // The order is the xid8 column's, named with its table: a bare `feed_xid` in
        // ORDER BY would name the text output column, and "100000" sorts before "99999"
        // (the feed skipped rows and its head went below cursors it had handed out
        // whenever the cluster's transaction ids gained a digit).
        const AFTER: &str = "feed_xid < pg_snapshot_xmin(pg_current_snapshot())
               AND (feed_xid, feed_seq) > ($1::text::xid8, $2)";
        let page_sql = match groups {
            None => format!(
                "SELECT doc_id, feed_xid, feed_seq FROM docs
                  WHERE {AFTER}
                  ORDER BY docs.feed_xid, docs.feed_seq
                  LIMIT $3"
            ),
            Some(_) => format!(
                "SELECT doc_id, feed_xid, feed_seq FROM (
                     (SELECT doc_id, feed_xid, feed_seq FROM docs
                       WHERE feed_group = ANY($4) AND {AFTER}
                       ORDER BY feed_xid, feed_seq LIMIT $3)
                     UNION ALL
                     (SELECT doc_id, feed_xid, feed_seq FROM docs
                       WHERE feed_group IS NULL AND {AFTER}
                       ORDER BY feed_xid, feed_seq LIMIT $3)
                 ) AS readable
                 ORDER BY readable.feed_xid, readable.feed_seq
                 LIMIT $3"
            ),
        };
        // An empty page comes with the feed's head (a row without a document), so the
        // caller's check of a cursor beyond the feed costs no second round trip. Only
        // one of the two parts has rows; `feed_xid` below is the xid8 output column.
        let sql = format!(
            "WITH page AS MATERIALIZED ({page_sql})
             SELECT doc_id, feed_xid, feed_xid::text AS xid_text, feed_seq FROM page
             UNION ALL
             (SELECT NULL::uuid, docs.feed_xid, docs.feed_xid::text, docs.feed_seq FROM docs
               WHERE NOT EXISTS (SELECT 1 FROM page)
               ORDER BY docs.feed_xid DESC, docs.feed_seq DESC LIMIT 1)
             ORDER BY feed_xid, feed_seq"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.xid.to_string())
            .bind(after.seq)
            .bind(limit);
        let groups: Option<Vec<Uuid>> = groups.map(|g| g.iter().map(DocId::as_uuid).collect());
        let found = match &groups {
            None => query.fetch_all(&self.pool).await,
            Some(groups) => query.bind(groups).fetch_all(&self.pool).await,
        }
        .map_err(db)?;
        let mut page = FeedPage {
            docs: Vec::with_capacity(found.len()),
            positions: Vec::with_capacity(found.len()),
            cursor: *after,
            head: None,
        };
        for row in found {
            let xid: String = row.try_get(2).map_err(db)?;
            let at = FeedCursor {
                xid: parse_xid(&xid)?,
                seq: row.try_get(3).map_err(db)?,
            };
            match row.try_get::<Option<Uuid>, _>(0).map_err(db)? {
                Some(doc) => {
                    page.docs.push(DocId::from(doc));
                    page.cursor = at;
                    page.positions.push(at);
                }
                None => page.head = Some(at),
            }
        }
        if page.docs.is_empty() && page.head.is_none() {
            // No document at all: the head is the start, as `feed_head` says.
            page.head = Some(FeedCursor::start());
        }
        Ok(page)
    }

    async fn commit_inner(
        &self,
        batch: WriteBatch,
        hold: Option<Duration>,
    ) -> Result<CommitReport, StoreError> {
        let mut batch = rows::prepare(batch)?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let (claimed, mut versions) = claim_wholes(&mut tx, &mut batch).await?;
        if !batch.external_deps.is_empty() {
            let docs: Vec<Uuid> = batch
                .external_deps
                .iter()
                .map(|d| d.doc.as_uuid())
                .collect();
            let deps: Vec<&[u8]> = batch.external_deps.iter().map(|d| d.dep.as_ref()).collect();
            let missing: Option<i64> = sqlx::query_scalar(
                "SELECT t.i FROM UNNEST($1::uuid[], $2::bytea[]) WITH ORDINALITY AS t(d, h, i)
                 WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.doc_id = t.d AND c.hash = t.h)
                 ORDER BY t.i LIMIT 1",
            )
            .bind(&docs)
            .bind(&deps)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let missing = missing
                .and_then(|i| usize::try_from(i - 1).ok())
                .and_then(|i| batch.external_deps.get(i));
            if let Some(dep) = missing {
                // Dropping `tx` rolls back: nothing of the batch is stored.
                return Err(dep.missing());
            }
        }

        let mut new_changes: HashMap<DocId, usize> =
            batch.docs.iter().map(|doc| (*doc, 0)).collect();
        if !batch.changes.is_empty() {
            let docs: Vec<Uuid> = batch.changes.iter().map(|c| c.doc.as_uuid()).collect();
            let hashes: Vec<&[u8]> = batch.changes.iter().map(|c| c.hash.as_ref()).collect();
            let data: Vec<&[u8]> = batch.changes.iter().map(|c| c.data.as_slice()).collect();
            // One statement for the whole batch; ORDER BY keeps the arrival order in `ord`.
            let inserted: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO changes (doc_id, hash, data)
                 SELECT d, h, x FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[])
                     WITH ORDINALITY AS t(d, h, x, i)
                 ORDER BY i
                 ON CONFLICT (doc_id, hash) DO NOTHING
                 RETURNING doc_id",
            )
            .bind(&docs)
            .bind(&hashes)
            .bind(&data)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for doc in inserted {
                *new_changes.entry(DocId::from(doc)).or_default() += 1;
            }
        }

        let mut moved: Vec<Uuid> = new_changes
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(doc, _)| doc.as_uuid())
            .collect();
        // Claimed documents have their row, version and place in the feed already.
        new_changes.extend(claimed);
        if !moved.is_empty() {
            // Sorted, so concurrent commits lock shared document rows in the same order
            // and cannot deadlock on them.
            moved.sort_unstable();
            // The versions found, under the row locks this commit holds to its end: no
            // other commit moves these documents between this read and ours.
            let found = sqlx::query(
                "SELECT doc_id, version FROM docs WHERE doc_id = ANY($1)
                 ORDER BY doc_id FOR UPDATE",
            )
            .bind(&moved)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            let mut before: HashMap<Uuid, Option<Uuid>> = HashMap::with_capacity(found.len());
            for row in found {
                before.insert(row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
            }
            let after: Vec<Uuid> = moved
                .iter()
                .map(|_| Uuid::from_bytes(*DocVersion::random().as_bytes()))
                .collect();
            sqlx::query(
                "INSERT INTO docs (doc_id, feed_xid, feed_seq, version)
                 SELECT d, pg_current_xact_id(), nextval('feed_seq'), v
                   FROM UNNEST($1::uuid[], $2::uuid[]) AS t(d, v)
                 ON CONFLICT (doc_id) DO UPDATE
                     SET feed_xid = EXCLUDED.feed_xid, feed_seq = EXCLUDED.feed_seq,
                         version = EXCLUDED.version",
            )
            .bind(&moved)
            .bind(&after)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            for (doc, after) in moved.iter().zip(after) {
                versions.insert(
                    DocId::from(*doc),
                    VersionStep {
                        before: before
                            .get(doc)
                            .copied()
                            .flatten()
                            .map(|v| DocVersion(*v.as_bytes())),
                        after: DocVersion(*after.as_bytes()),
                    },
                );
            }
        }

        if !batch.sync_states.is_empty() {
            let peers: Vec<&str> = batch.sync_states.iter().map(|s| s.0.as_str()).collect();
            let docs: Vec<Uuid> = batch.sync_states.iter().map(|s| s.1.as_uuid()).collect();
            let states: Vec<&[u8]> = batch.sync_states.iter().map(|s| s.2.as_slice()).collect();
            sqlx::query(
                "INSERT INTO sync_states (peer, doc_id, state)
                 SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::bytea[])
                 ON CONFLICT (peer, doc_id) DO UPDATE SET state = EXCLUDED.state",
            )
            .bind(&peers)
            .bind(&docs)
            .bind(&states)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }

        if let Some(hold) = hold {
            tokio::time::sleep(hold).await;
        }
        tx.commit().await.map_err(db)?;
        Ok(CommitReport {
            new_changes,
            sync_states: batch.sync_states.len(),
            versions,
        })
    }

    /// Reads the stored rows of `docs` in one statement, so a compaction committing
    /// meanwhile cannot make us see its snapshot without, or its nulled changes with,
    /// the other half.
    async fn read_docs(&self, docs: &[DocId]) -> Result<HashMap<DocId, StoredDoc>, StoreError> {
        Ok(self.read_docs_and_states(docs, None).await?.0)
    }

    /// The stored rows of `docs`, and (`states`) a peer's sync states of the documents
    /// named with it, in one query: a state is a row of its own kind (2).
    async fn read_docs_and_states(
        &self,
        docs: &[DocId],
        states: Option<(&PeerId, &[DocId])>,
    ) -> Result<(HashMap<DocId, StoredDoc>, HashMap<DocId, Vec<u8>>), StoreError> {
        let ids: Vec<Uuid> = docs.iter().map(DocId::as_uuid).collect();
        let found = match states {
            Some((peer, of)) if !of.is_empty() => {
                let state_ids: Vec<Uuid> = of.iter().map(DocId::as_uuid).collect();
                sqlx::query(concat!(
                    docs_rows!(),
                    " UNION ALL
                     SELECT doc_id, 2, 0::bigint, NULL::bytea, state, 0::bigint, NULL::uuid
                       FROM sync_states WHERE peer = $2 AND doc_id = ANY($3)
                     ORDER BY 1, 2, 6"
                ))
                .bind(&ids)
                .bind(peer.as_str())
                .bind(state_ids)
                .fetch_all(&self.pool)
                .await
            }
            _ => {
                sqlx::query(concat!(docs_rows!(), " ORDER BY 1, 2, 6"))
                    .bind(&ids)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db)?;
        let mut read_states = HashMap::new();
        let mut out: HashMap<DocId, StoredDoc> = HashMap::new();
        for row in found {
            let doc = DocId::from(row.try_get::<Uuid, _>(0).map_err(db)?);
            let kind: i32 = row.try_get(1).map_err(db)?;
            let data: Option<Vec<u8>> = row.try_get(4).map_err(db)?;
            if kind == 2 {
                read_states.insert(doc, data.unwrap_or_default());
            } else if kind == 0 {
                let stored = out.entry(doc).or_default();
                stored.snapshot = data;
                stored.snapshot_gen = row.try_get(2).map_err(db)?;
                let version: Option<Uuid> = row.try_get(6).map_err(db)?;
                stored.version = version.map(|v| DocVersion(*v.as_bytes()));
            } else if let (Some(stored), Some(data)) = (out.get_mut(&doc), data) {
                let hash: Vec<u8> = row.try_get(3).map_err(db)?;
                stored.changes.push((hash, data));
            }
        }
        Ok((out, read_states))
    }
}

#[async_trait]
impl DocStore for PgStore {
    async fn commit(&self, batch: WriteBatch) -> Result<CommitReport, StoreError> {
        self.commit_inner(batch, None).await
    }

    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError> {
        let stored = self.read_docs(docs).await?;
        Ok(docs
            .iter()
            .map(|doc| rows::versioned(*doc, stored.get(doc)))
            .collect())
    }

    async fn load_versioned_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(Vec<Versioned>, HashMap<DocId, Vec<u8>>), StoreError> {
        let (stored, states) = self
            .read_docs_and_states(docs, Some((peer, states_of)))
            .await?;
        let loaded = docs
            .iter()
            .map(|doc| rows::versioned(*doc, stored.get(doc)))
            .collect();
        Ok((loaded, states))
    }

    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError> {
        let ids: Vec<Uuid> = docs.iter().map(DocId::as_uuid).collect();
        let found = sqlx::query(
            "SELECT doc_id, version FROM docs WHERE doc_id = ANY($1) AND version IS NOT NULL",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .into_iter()
            .map(|row| {
                let doc = DocId::from(row.try_get::<Uuid, _>(0).map_err(db)?);
                let version: Uuid = row.try_get(1).map_err(db)?;
                Ok((doc, DocVersion(*version.as_bytes())))
            })
            .collect()
    }

    async fn versions_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(HashMap<DocId, DocVersion>, HashMap<DocId, Vec<u8>>), StoreError> {
        if docs.is_empty() {
            return Ok((HashMap::new(), self.states_of(peer, states_of).await?));
        }
        if states_of.is_empty() {
            return Ok((self.versions(docs).await?, HashMap::new()));
        }
        let ids: Vec<Uuid> = docs.iter().map(DocId::as_uuid).collect();
        let state_ids: Vec<Uuid> = states_of.iter().map(DocId::as_uuid).collect();
        // A row is a version (its state NULL) or a state (its version NULL).
        let found = sqlx::query(
            "SELECT doc_id, version, NULL::bytea AS state FROM docs
              WHERE doc_id = ANY($1) AND version IS NOT NULL
             UNION ALL
             SELECT doc_id, NULL::uuid, state FROM sync_states
              WHERE peer = $2 AND doc_id = ANY($3)",
        )
        .bind(&ids)
        .bind(peer.as_str())
        .bind(&state_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let (mut versions, mut states) = (HashMap::new(), HashMap::new());
        for row in found {
            let doc = DocId::from(row.try_get::<Uuid, _>(0).map_err(db)?);
            match row.try_get::<Option<Uuid>, _>(1).map_err(db)? {
                Some(version) => {
                    versions.insert(doc, DocVersion(*version.as_bytes()));
                }
                None => {
                    states.insert(doc, row.try_get(2).map_err(db)?);
                }
            }
        }
        Ok((versions, states))
    }

    async fn plan_compaction(&self, doc: DocId) -> Result<CompactionPlan, StoreError> {
        let mut stored = self.read_docs(&[doc]).await?;
        rows::plan(doc, stored.remove(&doc))
    }

    async fn apply_compaction(&self, plan: CompactionPlan) -> Result<CompactReport, StoreError> {
        if plan.generation().is_some() && plan.folded.is_empty() {
            return Ok(plan.report());
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        let plan = if plan.generation().is_none() {
            // The document's row locked first: a commit adding changes to it waits, so
            // the rows read are those the snapshot replaces.
            let snapshot_bytes: Option<Option<i32>> = sqlx::query_scalar(
                "SELECT octet_length(snapshot) FROM docs WHERE doc_id = $1 FOR UPDATE",
            )
            .bind(plan.doc.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let Some(snapshot_bytes) = snapshot_bytes else {
                return Err(plan.not_stored());
            };
            let rows =
                sqlx::query("SELECT hash, octet_length(data) FROM changes WHERE doc_id = $1")
                    .bind(plan.doc.as_uuid())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|row| {
                        let hash = rows::hash(row.try_get::<&[u8], _>(0).map_err(db)?)?;
                        let bytes: Option<i32> = row.try_get(1).map_err(db)?;
                        Ok((hash, bytes.map(|b| u64::from(b.unsigned_abs()))))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
            plan.against_rows(rows, u64::from(snapshot_bytes.unwrap_or(0).unsigned_abs()))?
        } else {
            plan
        };
        let report = plan.report();
        if plan.folded.is_empty() {
            return Ok(report);
        }
        // Compare-and-swap on the generation: a plan built before another compaction
        // would otherwise overwrite a snapshot holding changes whose bytes are gone.
        let swapped = sqlx::query(
            "UPDATE docs SET snapshot = $2, snapshot_gen = snapshot_gen + 1
             WHERE doc_id = $1 AND snapshot_gen = COALESCE($3, snapshot_gen)",
        )
        .bind(plan.doc.as_uuid())
        .bind(plan.snapshot.as_slice())
        .bind(plan.generation())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if swapped == 0 {
            return Err(plan.raced());
        }
        // Only the folded changes: a change committed after the plan keeps its bytes.
        let folded: Vec<&[u8]> = plan.folded.iter().map(AsRef::as_ref).collect();
        sqlx::query("UPDATE changes SET data = NULL WHERE doc_id = $1 AND hash = ANY($2::bytea[])")
            .bind(plan.doc.as_uuid())
            .bind(&folded)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(report)
    }

    async fn feed(&self, after: &FeedCursor, limit: usize) -> Result<FeedPage, StoreError> {
        self.read_feed(after, limit, None).await
    }

    async fn feed_in(
        &self,
        after: &FeedCursor,
        limit: usize,
        groups: &[DocId],
    ) -> Result<FeedPage, StoreError> {
        self.read_feed(after, limit, Some(groups)).await
    }

    async fn set_feed_groups(&self, groups: &[(DocId, DocId)]) -> Result<u64, StoreError> {
        let mut pairs: Vec<(Uuid, Uuid)> = groups
            .iter()
            .map(|(doc, group)| (doc.as_uuid(), group.as_uuid()))
            .collect();
        // Locked in document order, as `commit` locks: no deadlock with a commit.
        pairs.sort_unstable();
        pairs.dedup_by_key(|(doc, _)| *doc);
        let (docs, groups): (Vec<Uuid>, Vec<Uuid>) = pairs.into_iter().unzip();
        let filed = sqlx::query(
            "WITH wanted AS MATERIALIZED (
                 SELECT d.doc_id, w.g FROM docs d
                   JOIN UNNEST($1::uuid[], $2::uuid[]) AS w(id, g) ON d.doc_id = w.id
                  WHERE d.feed_group IS DISTINCT FROM w.g
                  ORDER BY d.doc_id
                    FOR UPDATE OF d
             )
             UPDATE docs SET feed_group = wanted.g FROM wanted
              WHERE docs.doc_id = wanted.doc_id",
        )
        .bind(&docs)
        .bind(&groups)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(filed)
    }

    async fn touch(&self, docs: &[DocId]) -> Result<u64, StoreError> {
        let mut ids: Vec<Uuid> = docs.iter().map(DocId::as_uuid).collect();
        // Sorted for the same lock order as `commit`.
        ids.sort_unstable();
        let moved = sqlx::query(
            "UPDATE docs SET feed_xid = pg_current_xact_id(), feed_seq = nextval('feed_seq'),
                 version = gen_random_uuid()
             WHERE doc_id = ANY($1)",
        )
        .bind(&ids)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(moved)
    }

    async fn sync_states(
        &self,
        peer: &PeerId,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        let ids: Vec<Uuid> = docs.iter().map(DocId::as_uuid).collect();
        let found = sqlx::query(
            "SELECT doc_id, state FROM sync_states WHERE peer = $1 AND doc_id = ANY($2)",
        )
        .bind(peer.as_str())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .into_iter()
            .map(|row| {
                let doc = DocId::from(row.try_get::<Uuid, _>(0).map_err(db)?);
                Ok((doc, row.try_get(1).map_err(db)?))
            })
            .collect()
    }

    async fn delete_sync_states(&self, peer: &PeerId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sync_states WHERE peer = $1")
            .bind(peer.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT doc_id FROM changes WHERE data IS NOT NULL
             GROUP BY doc_id HAVING COUNT(*) >= $1 ORDER BY COUNT(*) DESC, doc_id LIMIT $2",
        )
        .bind(i64::try_from(min_changes.max(1)).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(DocId::from).collect())
    }

    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT doc_id FROM docs ORDER BY doc_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(ids.into_iter().map(DocId::from).collect())
    }

    async fn epoch(&self) -> Result<[u8; 16], StoreError> {
        let epoch: Uuid = sqlx::query_scalar("SELECT epoch FROM store_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(*epoch.as_bytes())
    }

    async fn new_epoch(&self) -> Result<[u8; 16], StoreError> {
        let epoch: Uuid = sqlx::query_scalar(
            "UPDATE store_meta SET epoch = gen_random_uuid() WHERE id = 1 RETURNING epoch",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(*epoch.as_bytes())
    }

    async fn feed_head(&self) -> Result<FeedCursor, StoreError> {
        let head = sqlx::query(
            "SELECT feed_xid::text AS xid_text, feed_seq FROM docs
              ORDER BY docs.feed_xid DESC, docs.feed_seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = head else {
            return Ok(FeedCursor::start());
        };
        let xid: String = row.try_get(0).map_err(db)?;
        Ok(FeedCursor {
            xid: parse_xid(&xid)?,
            seq: row.try_get(1).map_err(db)?,
        })
    }

    async fn feed_held_back(
        &self,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT doc_id FROM docs
             WHERE feed_xid >= pg_snapshot_xmin(pg_current_snapshot())
               AND (feed_xid, feed_seq) > ($1::text::xid8, $2)
             ORDER BY feed_xid, feed_seq
             LIMIT $3",
        )
        .bind(after.xid.to_string())
        .bind(after.seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(DocId::from).collect())
    }

    async fn stored_changes(
        &self,
        pairs: &[(DocId, ChangeHash)],
    ) -> Result<HashSet<(DocId, ChangeHash)>, StoreError> {
        let docs: Vec<Uuid> = pairs.iter().map(|(d, _)| d.as_uuid()).collect();
        let hashes: Vec<&[u8]> = pairs.iter().map(|(_, h)| h.as_ref()).collect();
        let found = sqlx::query(
            "SELECT c.doc_id, c.hash FROM changes c
             JOIN UNNEST($1::uuid[], $2::bytea[]) AS p (doc_id, hash)
               ON c.doc_id = p.doc_id AND c.hash = p.hash",
        )
        .bind(&docs)
        .bind(&hashes)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .into_iter()
            .map(|row| {
                let doc = DocId::from(row.try_get::<Uuid, _>(0).map_err(db)?);
                Ok((doc, rows::hash(row.try_get::<&[u8], _>(1).map_err(db)?)?))
            })
            .collect()
    }

    async fn retain_sync_states(
        &self,
        peer: &PeerId,
        keep: &[DocId],
    ) -> Result<Vec<DocId>, StoreError> {
        let keep: Vec<Uuid> = keep.iter().map(DocId::as_uuid).collect();
        let removed: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM sync_states WHERE peer = $1 AND doc_id <> ALL($2) RETURNING doc_id",
        )
        .bind(peer.as_str())
        .bind(&keep)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(removed.into_iter().map(DocId::from).collect())
    }
}

/// A transaction id as PostgreSQL prints it.
/// The first step of a commit, for the documents of `batch` sent whole: those the store
/// does not hold yet get their row, with the bytes as their snapshot and a place in the
/// feed, and a row per change hash (no bytes: the snapshot holds them). Those it holds
/// already (another writer was first) go in as changes, through the rest of the commit.
/// How many changes each claimed document brought, and its version step.
async fn claim_wholes(
    tx: &mut sqlx::PgConnection,
    batch: &mut rows::PreparedBatch,
) -> Result<(HashMap<DocId, usize>, HashMap<DocId, VersionStep>), StoreError> {
    let wholes = std::mem::take(&mut batch.wholes);
    if wholes.is_empty() {
        return Ok((HashMap::new(), HashMap::new()));
    }
    let ids: Vec<Uuid> = wholes.iter().map(|w| w.doc().as_uuid()).collect();
    let after: Vec<Uuid> = wholes
        .iter()
        .map(|_| Uuid::from_bytes(*DocVersion::random().as_bytes()))
        .collect();
    let snapshots: Vec<&[u8]> = wholes.iter().map(|w| w.bytes()).collect();
    // In document order (`wholes` is sorted), the order every commit locks rows in. A
    // row another transaction is inserting waits for it; one that exists is skipped.
    let claimed: HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO docs (doc_id, feed_xid, feed_seq, version, snapshot)
         SELECT d, pg_current_xact_id(), nextval('feed_seq'), v, s
           FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[]) WITH ORDINALITY AS t(d, v, s, i)
          ORDER BY i
         ON CONFLICT (doc_id) DO NOTHING
         RETURNING doc_id",
    )
    .bind(&ids)
    .bind(&after)
    .bind(&snapshots)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?
    .into_iter()
    .collect();
    let (mut docs, mut hashes): (Vec<Uuid>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    let mut counts = HashMap::new();
    let mut versions = HashMap::new();
    for (whole, version) in wholes.iter().zip(&after) {
        let id = whole.doc().as_uuid();
        if !claimed.contains(&id) {
            batch.add_whole_as_changes(whole)?;
            continue;
        }
        for hash in whole.hashes() {
            docs.push(id);
            hashes.push(hash.as_ref());
        }
        counts.insert(whole.doc(), whole.hashes().len());
        versions.insert(
            whole.doc(),
            VersionStep {
                before: None,
                after: DocVersion(*version.as_bytes()),
            },
        );
    }
    if !docs.is_empty() {
        sqlx::query(
            "INSERT INTO changes (doc_id, hash)
             SELECT d, h FROM UNNEST($1::uuid[], $2::bytea[]) WITH ORDINALITY AS t(d, h, i)
              ORDER BY i
             ON CONFLICT (doc_id, hash) DO NOTHING",
        )
        .bind(&docs)
        .bind(&hashes)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok((counts, versions))
}

fn parse_xid(xid: &str) -> Result<u64, StoreError> {
    xid.parse().map_err(|_| StoreError::Database {
        reason: format!("PostgreSQL returned a transaction id {xid:?} that is not a number"),
    })
}

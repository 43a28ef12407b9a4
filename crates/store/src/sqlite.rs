//! [`DocStore`] on a SQLite file: the device node's store and the embedded server default.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use automerge::ChangeHash;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use crate::closing::{self, PoolLife};
use crate::error::{db, migration};
use crate::rows::{self, StoredDoc};
use crate::types::{
    CommitReport, CompactReport, CompactionPlan, DocVersion, FeedCursor, FeedPage, PeerId,
    VersionStep, Versioned,
};
use crate::{DocId, DocStore, StoreError, WriteBatch};

/// SQLITE_NOTADB: a wrong key, a file encrypted while no key was given, or not a database.
fn is_not_a_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| c & 0xff == 26),
        _ => false,
    }
}

/// Set once SQLite, SQLCipher's part included, is initialised in this process.
static INITIALISED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Initialises SQLite once per process, before any store opens, one caller at a time.
///
/// SQLite marks itself initialised *before* it runs SQLCipher's initialisation (and
/// runs that outside its lock). A database opened by another thread in that gap gets
/// "initialised" at once, and its `PRAGMA key` fails with "sqlcipher not initialized".
/// The first caller here opens an in-memory database, which returns only once the whole
/// initialisation (SQLCipher's too) is done; every other caller waits for it. Then the
/// process's exit is made to wait for encrypted stores still closing (`closing.rs`).
async fn initialise_sqlite() -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    INITIALISED
        .get_or_try_init(|| async {
            let first = SqliteConnectOptions::new()
                .filename(":memory:")
                .connect()
                .await?;
            sqlx::Connection::close(first).await?;
            closing::wait_at_exit();
            Ok(())
        })
        .await
        .map(|_| ())
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Ids per `IN (...)` list: well below SQLite's bound variable limit.
const IN_CHUNK: usize = 400;
/// Rows one multi-row INSERT writes (at most 3 parameters each).
const ROWS_PER_STATEMENT: usize = 300;

/// A [`DocStore`] in one SQLite file (WAL, `synchronous=FULL`: every commit is on disk
/// before the call returns).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// An encrypted store's: its pool is counted as closing when the last handle goes.
    _last: Option<Arc<LastHandle>>,
}

/// Marks an encrypted pool closing when the last [`SqliteStore`] handle to it is dropped
/// (see [`crate::closing`]).
#[derive(Debug)]
struct LastHandle(Arc<PoolLife>);

impl Drop for LastHandle {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if missing, and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), None).await
    }

    /// Opens (or creates) the database at `path` encrypted with SQLCipher under `key`
    /// (256 bits, used as the raw key: no passphrase derivation on every open).
    ///
    /// A wrong key gives [`StoreError::WrongKey`] and writes nothing. A build without
    /// SQLCipher gives [`StoreError::Open`] instead of silently writing plain text.
    pub async fn open_encrypted(
        path: impl AsRef<Path>,
        key: &[u8; 32],
    ) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), Some(key)).await
    }

    async fn open_with(path: &Path, key: Option<&[u8; 32]>) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            target: path.display().to_string(),
            reason,
        };
        initialise_sqlite()
            .await
            .map_err(|e| open_error(format!("SQLite could not start: {e}")))?;
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let mut life = None;
        if let Some(key) = key {
            // sqlx runs the `key` pragma before any other statement, as SQLCipher requires.
            options = options.pragma("key", format!("\"x'{}'\"", hex_upper(key)));
            // Held by every connection until SQLite has freed its keys (`closing.rs`).
            let held = Arc::new(PoolLife::default());
            life = Some(held.clone());
            options = options.collation("rapport_pool_life", move |a, b| {
                let _held = &held;
                a.cmp(b)
            });
        }
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is fsync'd before it returns; a power loss loses nothing
            // that was reported saved.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| {
                if is_not_a_database(&e) {
                    StoreError::WrongKey {
                        target: path.display().to_string(),
                    }
                } else {
                    open_error(e.to_string())
                }
            })?;
        // Made first, so that a failure below counts the pool as closing too.
        let last = life.map(|life| Arc::new(LastHandle(life)));
        if key.is_some() {
            // Without SQLCipher linked in, `PRAGMA key` is silently ignored and the data
            // would be written in plain text: refuse instead.
            let version: Option<String> = sqlx::query_scalar("PRAGMA cipher_version")
                .fetch_optional(&pool)
                .await
                .map_err(|e| open_error(e.to_string()))?;
            if version.is_none_or(|v| v.is_empty()) {
                return Err(open_error(
                    "this build has no SQLCipher, so the database cannot be encrypted; build with libsqlite3-sys's `bundled-sqlcipher` feature".to_owned(),
                ));
            }
        }
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(migration)?;
        Ok(Self { pool, _last: last })
    }

    /// The connection pool, for projections that live in the same database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes a consistent copy of the whole database to `path` (which must not exist)
    /// while the store keeps serving: `VACUUM INTO` reads one snapshot of every table,
    /// so the copy holds exactly the transactions committed before it started.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        let target = path.to_str().ok_or_else(|| StoreError::Open {
            target: path.display().to_string(),
            reason: "the backup path is not valid UTF-8".to_owned(),
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Open {
                target: path.display().to_string(),
                reason: format!("the backup could not be written: {e}"),
            })?;
        Ok(())
    }

    /// Starts a write transaction that holds the write lock from the start, so two
    /// writers never deadlock upgrading a read lock (SQLITE_BUSY mid-transaction).
    /// Tables of the caller's own in the same file can be written in it beside a
    /// [`Self::commit_in`].
    pub async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }

    /// [`DocStore::commit`] in `tx`, a transaction of [`Self::begin_write`]: stored when
    /// the caller commits it, with whatever else it wrote there; nothing of it when it
    /// is dropped. The report holds only once `tx` is committed.
    pub async fn commit_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        batch: WriteBatch,
    ) -> Result<CommitReport, StoreError> {
        let mut batch = rows::prepare(batch)?;
        // Documents sent whole: those stored already (another writer was first) go in as
        // changes; the others are claimed below. The write lock keeps it so meanwhile.
        let mut claimed = Vec::new();
        for whole in std::mem::take(&mut batch.wholes) {
            let stored = sqlx::query("SELECT 1 FROM docs WHERE doc_id = ?")
                .bind(whole.doc().as_bytes().as_slice())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            if stored.is_some() {
                batch.add_whole_as_changes(&whole)?;
            } else {
                claimed.push(whole);
            }
        }
        for dep in &batch.external_deps {
            let stored = sqlx::query("SELECT 1 FROM changes WHERE doc_id = ? AND hash = ?")
                .bind(dep.doc.as_bytes().as_slice())
                .bind(dep.dep.as_ref())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            if stored.is_none() {
                // Dropping `tx` rolls back: nothing of the batch is stored.
                return Err(dep.missing());
            }
        }
        let mut new_changes: HashMap<DocId, usize> =
            batch.docs.iter().map(|doc| (*doc, 0)).collect();
        // Many rows a statement (a first download brings thousands): each statement
        // costs a round trip to the connection's thread. One document's run of rows a
        // statement, so what it inserted counts for that document; rows go in in batch
        // order, which is the order loads replay them in.
        for run in batch.changes.chunk_by(|a, b| a.doc == b.doc) {
            for rows in run.chunks(ROWS_PER_STATEMENT) {
                let mut insert = QueryBuilder::new("INSERT INTO changes (doc_id, hash, data) ");
                insert.push_values(rows, |mut row, change| {
                    row.push_bind(change.doc.as_bytes().as_slice())
                        .push_bind(change.hash.as_ref())
                        .push_bind(change.data.as_slice());
                });
                insert.push(" ON CONFLICT (doc_id, hash) DO NOTHING");
                let inserted = insert
                    .build()
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
                *new_changes.entry(rows[0].doc).or_default() += inserted as usize;
            }
        }
        let moved: Vec<DocId> = batch
            .docs
            .iter()
            .copied()
            .filter(|doc| new_changes.get(doc).is_some_and(|n| *n > 0))
            .collect();
        let mut versions = HashMap::with_capacity(moved.len() + claimed.len());
        let placed = moved.len() + claimed.len();
        if placed > 0 {
            // One writer at a time: positions taken here are in commit order.
            let last: i64 = sqlx::query_scalar(
                "UPDATE feed_counter SET seq = seq + ? WHERE id = 1 RETURNING seq",
            )
            .bind(placed as i64)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
            let first = last - placed as i64 + 1;
            for (seq, whole) in (first..).zip(&claimed) {
                let after = DocVersion::random();
                sqlx::query(
                    "INSERT INTO docs (doc_id, feed_seq, version, snapshot) VALUES (?, ?, ?, ?)",
                )
                .bind(whole.doc().as_bytes().as_slice())
                .bind(seq)
                .bind(after.as_bytes().as_slice())
                .bind(whole.bytes())
                .execute(&mut **tx)
                .await
                .map_err(db)?;
                // No bytes: the snapshot holds the changes, as after a compaction.
                for hashes in whole.hashes().chunks(ROWS_PER_STATEMENT) {
                    let mut insert = QueryBuilder::new("INSERT INTO changes (doc_id, hash) ");
                    insert.push_values(hashes, |mut row, hash| {
                        row.push_bind(whole.doc().as_bytes().as_slice())
                            .push_bind(hash.as_ref());
                    });
                    insert.push(" ON CONFLICT (doc_id, hash) DO NOTHING");
                    insert.build().execute(&mut **tx).await.map_err(db)?;
                }
                new_changes.insert(whole.doc(), whole.hashes().len());
                versions.insert(
                    whole.doc(),
                    VersionStep {
                        before: None,
                        after,
                    },
                );
            }
            let first = first + claimed.len() as i64;
            for (seq, doc) in (first..).zip(&moved) {
                // Read under the write lock: no other commit moves it in between.
                let before: Option<Option<Vec<u8>>> =
                    sqlx::query_scalar("SELECT version FROM docs WHERE doc_id = ?")
                        .bind(doc.as_bytes().as_slice())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db)?;
                let step = VersionStep {
                    before: before
                        .flatten()
                        .map(|v| DocVersion::from_stored(&v))
                        .transpose()?,
                    after: DocVersion::random(),
                };
                sqlx::query(
                    "INSERT INTO docs (doc_id, feed_seq, version) VALUES (?, ?, ?)
                     ON CONFLICT (doc_id) DO UPDATE
                         SET feed_seq = excluded.feed_seq, version = excluded.version",
                )
                .bind(doc.as_bytes().as_slice())
                .bind(seq)
                .bind(step.after.as_bytes().as_slice())
                .execute(&mut **tx)
                .await
                .map_err(db)?;
                versions.insert(*doc, step);
            }
        }
        for states in batch.sync_states.chunks(ROWS_PER_STATEMENT) {
            let mut upsert = QueryBuilder::new("INSERT INTO sync_states (peer, doc_id, state) ");
            upsert.push_values(states, |mut row, (peer, doc, state)| {
                row.push_bind(peer.as_str())
                    .push_bind(doc.as_bytes().as_slice())
                    .push_bind(state.as_slice());
            });
            upsert.push(" ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state");
            upsert.build().execute(&mut **tx).await.map_err(db)?;
        }
        Ok(CommitReport {
            new_changes,
            sync_states: batch.sync_states.len(),
            versions,
        })
    }

    /// Reads the stored rows of `docs` in one statement per chunk (one consistent read).
    async fn read_docs(&self, docs: &[DocId]) -> Result<HashMap<DocId, StoredDoc>, StoreError> {
        let mut out: HashMap<DocId, StoredDoc> = HashMap::new();
        for chunk in docs.chunks(IN_CHUNK) {
            let list = placeholders(chunk.len());
            let sql = format!(
                "SELECT doc_id, 0 AS kind, snapshot_gen, NULL AS hash, snapshot AS data, 0 AS ord,
                        version
                   FROM docs WHERE doc_id IN ({list})
                 UNION ALL
                 SELECT doc_id, 1, 0, hash, data, rowid, NULL
                   FROM changes WHERE doc_id IN ({list}) AND data IS NOT NULL
                 ORDER BY 1, 2, 6"
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for _ in 0..2 {
                for doc in chunk {
                    query = query.bind(doc.as_bytes().as_slice());
                }
            }
            for row in query.fetch_all(&self.pool).await.map_err(db)? {
                let doc = rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?)?;
                let kind: i64 = row.try_get(1).map_err(db)?;
                let data: Option<Vec<u8>> = row.try_get(4).map_err(db)?;
                if kind == 0 {
                    let stored = out.entry(doc).or_default();
                    stored.snapshot = data;
                    stored.snapshot_gen = row.try_get(2).map_err(db)?;
                    let version: Option<&[u8]> = row.try_get(6).map_err(db)?;
                    stored.version = version.map(DocVersion::from_stored).transpose()?;
                } else if let (Some(stored), Some(data)) = (out.get_mut(&doc), data) {
                    let hash: Vec<u8> = row.try_get(3).map_err(db)?;
                    stored.changes.push((hash, data));
                }
            }
        }
        Ok(out)
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl DocStore for SqliteStore {
    async fn commit(&self, batch: WriteBatch) -> Result<CommitReport, StoreError> {
        let mut tx = self.begin_write().await?;
        let report = self.commit_in(&mut tx, batch).await?;
        tx.commit().await.map_err(db)?;
        Ok(report)
    }

    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError> {
        let stored = self.read_docs(docs).await?;
        Ok(docs
            .iter()
            .map(|doc| rows::versioned(*doc, stored.get(doc)))
            .collect())
    }

    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError> {
        let mut out = HashMap::with_capacity(docs.len());
        for chunk in docs.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT doc_id, version FROM docs WHERE doc_id IN ({}) AND version IS NOT NULL",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for doc in chunk {
                query = query.bind(doc.as_bytes().as_slice());
            }
            for row in query.fetch_all(&self.pool).await.map_err(db)? {
                let doc = rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?)?;
                out.insert(
                    doc,
                    DocVersion::from_stored(row.try_get::<&[u8], _>(1).map_err(db)?)?,
                );
            }
        }
        Ok(out)
    }

    async fn plan_compaction(&self, doc: DocId) -> Result<CompactionPlan, StoreError> {
        let mut stored = self.read_docs(&[doc]).await?;
        rows::plan(doc, stored.remove(&doc))
    }

    async fn apply_compaction(&self, plan: CompactionPlan) -> Result<CompactReport, StoreError> {
        if plan.generation().is_some() && plan.folded.is_empty() {
            return Ok(plan.report());
        }
        let mut tx = self.begin_write().await?;
        let plan = if plan.generation().is_none() {
            // Under the write lock: the rows read are those the snapshot replaces.
            let snapshot_bytes: Option<Option<i64>> =
                sqlx::query_scalar("SELECT LENGTH(snapshot) FROM docs WHERE doc_id = ?")
                    .bind(plan.doc.as_bytes().as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            let Some(snapshot_bytes) = snapshot_bytes else {
                return Err(plan.not_stored());
            };
            let rows = sqlx::query("SELECT hash, LENGTH(data) FROM changes WHERE doc_id = ?")
                .bind(plan.doc.as_bytes().as_slice())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?
                .iter()
                .map(|row| {
                    let hash = rows::hash(row.try_get::<&[u8], _>(0).map_err(db)?)?;
                    let bytes: Option<i64> = row.try_get(1).map_err(db)?;
                    Ok((hash, bytes.map(|b| b.unsigned_abs())))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            plan.against_rows(rows, snapshot_bytes.unwrap_or(0).unsigned_abs())?
        } else {
            plan
        };
        let report = plan.report();
        if plan.folded.is_empty() {
            return Ok(report);
        }
        let swapped = sqlx::query(
            "UPDATE docs SET snapshot = ?1, snapshot_gen = snapshot_gen + 1
             WHERE doc_id = ?2 AND snapshot_gen = COALESCE(?3, snapshot_gen)",
        )
        .bind(plan.snapshot.as_slice())
        .bind(plan.doc.as_bytes().as_slice())
        .bind(plan.generation())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if swapped == 0 {
            return Err(plan.raced());
        }
        // Only the folded changes: a change committed after the plan keeps its bytes.
        for hashes in plan.folded.chunks(IN_CHUNK) {
            let mut update = QueryBuilder::new("UPDATE changes SET data = NULL WHERE doc_id = ");
            update.push_bind(plan.doc.as_bytes().as_slice());
            update.push(" AND hash IN (");
            let mut list = update.separated(", ");
            for hash in hashes {
                list.push_bind(hash.as_ref());
            }
            update.push(")");
            update.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(report)
    }

    async fn feed(&self, after: &FeedCursor, limit: usize) -> Result<FeedPage, StoreError> {
        let rows = sqlx::query(
            "SELECT doc_id, feed_seq FROM docs WHERE feed_seq > ? ORDER BY feed_seq LIMIT ?",
        )
        .bind(after.seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(feed_page(after, feed_rows(rows)?, limit))
    }

    async fn feed_in(
        &self,
        after: &FeedCursor,
        limit: usize,
        groups: &[DocId],
    ) -> Result<FeedPage, StoreError> {
        let sql_limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ungrouped = sqlx::query(
            "SELECT doc_id, feed_seq FROM docs
              WHERE feed_group IS NULL AND feed_seq > ? ORDER BY feed_seq LIMIT ?",
        )
        .bind(after.seq)
        .bind(sql_limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut found = feed_rows(ungrouped)?;
        // Each slice of groups through the group index; the pages merge by position.
        for chunk in groups.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT doc_id, feed_seq FROM docs
                  WHERE feed_group IN ({}) AND feed_seq > ? ORDER BY feed_seq LIMIT ?",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for group in chunk {
                query = query.bind(group.as_bytes().as_slice());
            }
            let rows = query
                .bind(after.seq)
                .bind(sql_limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
            found.extend(feed_rows(rows)?);
        }
        found.sort_unstable_by_key(|(_, seq)| *seq);
        Ok(feed_page(after, found, limit))
    }

    async fn set_feed_groups(&self, groups: &[(DocId, DocId)]) -> Result<u64, StoreError> {
        // Read first: documents are filed once and asked again at every projection, and
        // a write transaction takes the store's one writer slot (and an fsync).
        let mut filed_already: HashMap<DocId, DocId> = HashMap::new();
        for chunk in groups.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT doc_id, feed_group FROM docs
                  WHERE feed_group IS NOT NULL AND doc_id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (doc, _) in chunk {
                query = query.bind(doc.as_bytes().as_slice());
            }
            for row in query.fetch_all(&self.pool).await.map_err(db)? {
                filed_already.insert(
                    rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?)?,
                    rows::doc_id(row.try_get::<&[u8], _>(1).map_err(db)?)?,
                );
            }
        }
        let groups: Vec<&(DocId, DocId)> = groups
            .iter()
            .filter(|(doc, group)| filed_already.get(doc) != Some(group))
            .collect();
        if groups.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut filed = 0;
        for (doc, group) in groups {
            filed += sqlx::query(
                "UPDATE docs SET feed_group = ?1
                  WHERE doc_id = ?2 AND (feed_group IS NULL OR feed_group != ?1)",
            )
            .bind(group.as_bytes().as_slice())
            .bind(doc.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        tx.commit().await.map_err(db)?;
        Ok(filed)
    }

    async fn touch(&self, docs: &[DocId]) -> Result<u64, StoreError> {
        if docs.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut moved = 0;
        for doc in docs {
            moved += sqlx::query(
                "UPDATE docs SET feed_seq = (SELECT seq + 1 FROM feed_counter WHERE id = 1),
                     version = randomblob(16)
                 WHERE doc_id = ?",
            )
            .bind(doc.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            sqlx::query("UPDATE feed_counter SET seq = seq + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(moved)
    }

    async fn sync_states(
        &self,
        peer: &PeerId,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        let mut out = HashMap::new();
        for chunk in docs.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT doc_id, state FROM sync_states WHERE peer = ? AND doc_id IN ({})",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(peer.as_str());
            for doc in chunk {
                query = query.bind(doc.as_bytes().as_slice());
            }
            for row in query.fetch_all(&self.pool).await.map_err(db)? {
                let doc = rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?)?;
                out.insert(doc, row.try_get(1).map_err(db)?);
            }
        }
        Ok(out)
    }

    async fn delete_sync_states(&self, peer: &PeerId) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM sync_states WHERE peer = ?")
            .bind(peer.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc_id FROM changes WHERE data IS NOT NULL
             GROUP BY doc_id HAVING COUNT(*) >= ? ORDER BY COUNT(*) DESC, doc_id LIMIT ?",
        )
        .bind(i64::try_from(min_changes.max(1)).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?))
            .collect()
    }

    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        let rows = sqlx::query("SELECT doc_id FROM docs ORDER BY doc_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?))
            .collect()
    }

    async fn epoch(&self) -> Result<[u8; 16], StoreError> {
        let epoch: Vec<u8> = sqlx::query_scalar("SELECT epoch FROM store_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        rows::epoch(&epoch)
    }

    async fn new_epoch(&self) -> Result<[u8; 16], StoreError> {
        let epoch: Vec<u8> = sqlx::query_scalar(
            "UPDATE store_meta SET epoch = randomblob(16) WHERE id = 1 RETURNING epoch",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        rows::epoch(&epoch)
    }

    async fn feed_head(&self) -> Result<FeedCursor, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM feed_counter WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(FeedCursor { xid: 0, seq })
    }

    async fn feed_held_back(
        &self,
        _after: &FeedCursor,
        _limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        // One writer at a time, positions taken in commit order: nothing is held back.
        Ok(Vec::new())
    }

    async fn stored_changes(
        &self,
        pairs: &[(DocId, ChangeHash)],
    ) -> Result<HashSet<(DocId, ChangeHash)>, StoreError> {
        let mut found = HashSet::new();
        // Two variables a pair.
        for chunk in pairs.chunks(IN_CHUNK / 2) {
            let sql = format!(
                "SELECT doc_id, hash FROM changes WHERE (doc_id, hash) IN (VALUES {})",
                vec!["(?, ?)"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (doc, hash) in chunk {
                query = query.bind(doc.as_bytes().as_slice()).bind(hash.as_ref());
            }
            for row in query.fetch_all(&self.pool).await.map_err(db)? {
                let doc = rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?)?;
                found.insert((doc, rows::hash(row.try_get::<&[u8], _>(1).map_err(db)?)?));
            }
        }
        Ok(found)
    }

    async fn retain_sync_states(
        &self,
        peer: &PeerId,
        keep: &[DocId],
    ) -> Result<Vec<DocId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let held: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT doc_id FROM sync_states WHERE peer = ?")
                .bind(peer.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let held = held
            .iter()
            .map(|d| rows::doc_id(d))
            .collect::<Result<Vec<_>, _>>()?;
        let removed = crate::not_kept(held, keep);
        for doc in &removed {
            sqlx::query("DELETE FROM sync_states WHERE peer = ? AND doc_id = ?")
                .bind(peer.as_str())
                .bind(doc.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(removed)
    }
}

/// The `(doc_id, feed_seq)` rows of a feed query.
fn feed_rows(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<(DocId, i64)>, StoreError> {
    rows.into_iter()
        .map(|row| {
            Ok((
                rows::doc_id(row.try_get::<&[u8], _>(0).map_err(db)?)?,
                row.try_get(1).map_err(db)?,
            ))
        })
        .collect()
}

/// A feed page of the first `limit` of `found` (in feed order).
fn feed_page(after: &FeedCursor, found: Vec<(DocId, i64)>, limit: usize) -> FeedPage {
    let mut page = FeedPage {
        docs: Vec::with_capacity(found.len().min(limit)),
        positions: Vec::with_capacity(found.len().min(limit)),
        cursor: *after,
        head: None,
    };
    for (doc, seq) in found.into_iter().take(limit) {
        page.docs.push(doc);
        page.cursor = FeedCursor { xid: 0, seq };
        page.positions.push(page.cursor);
    }
    page
}

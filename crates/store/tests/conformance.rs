//! One conformance suite, run against every store: in memory, SQLite in a temp dir and
//! a real PostgreSQL (a fresh database per test, dropped at the end).
//!
//! PostgreSQL: `RAPPORT_TEST_DATABASE_URL` (the role needs CREATEDB), through
//! `rapport_testkit::PgDb`; without the variable the PostgreSQL cases are skipped and
//! say so on stderr (`bash tests/run.sh` sets it up).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, Change, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use rapport_store::{
    CachedStore, Damage, DocId, DocStore, DocVersion, FeedCursor, GroupCommit, MemStore, PeerId,
    PgStore, SqliteStore, StoreError, WholeDoc, WriteBatch,
};
use rapport_testkit::PgDb;

// ---------------------------------------------------------------------------------------
// Harnesses: a store plus raw access (SQL, or the memory store's own) to damage or
// measure what it stored.

#[async_trait]
trait Harness: Send + Sync {
    fn store(&self) -> Arc<dyn DocStore>;
    /// Replaces the document's snapshot with bytes that are not a document.
    async fn corrupt_snapshot(&self, doc: DocId);
    /// Cuts the last bytes off every change of the document that still has bytes.
    async fn corrupt_changes(&self, doc: DocId);
    /// Snapshot plus change bytes stored for the document.
    async fn stored_bytes(&self, doc: DocId) -> i64;
    /// Change rows (with or without bytes) of the document.
    async fn change_rows(&self, doc: DocId) -> i64;
}

/// A [`MemStore`]: damaged through its test hook, measured by its footprint.
struct MemHarness {
    store: Arc<MemStore>,
}

impl MemHarness {
    fn new() -> Self {
        Self {
            store: Arc::new(MemStore::new()),
        }
    }

    fn footprint(&self, doc: DocId) -> rapport_store::Footprint {
        self.store
            .footprint(doc)
            .unwrap_or_else(|| panic!("document {doc} is not in the memory store"))
    }
}

#[async_trait]
impl Harness for MemHarness {
    fn store(&self) -> Arc<dyn DocStore> {
        self.store.clone()
    }
    async fn corrupt_snapshot(&self, doc: DocId) {
        assert!(
            self.store.damage_for_tests(doc, Damage::Snapshot),
            "no snapshot of {doc} to damage"
        );
    }
    async fn corrupt_changes(&self, doc: DocId) {
        assert!(
            self.store.damage_for_tests(doc, Damage::Changes),
            "no change of {doc} to damage"
        );
    }
    async fn stored_bytes(&self, doc: DocId) -> i64 {
        i64::try_from(self.footprint(doc).bytes).expect("a size that fits")
    }
    async fn change_rows(&self, doc: DocId) -> i64 {
        i64::try_from(self.footprint(doc).changes).expect("a count that fits")
    }
}

struct SqliteHarness {
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl SqliteHarness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for the SQLite test database");
        let store = SqliteStore::open(dir.path().join("store.db"))
            .await
            .expect("open SQLite store");
        Self {
            store: Arc::new(store),
            _dir: dir,
        }
    }

    async fn exec(&self, sql: &'static str, doc: DocId) {
        sqlx::query(sql)
            .bind(doc.as_bytes().as_slice())
            .execute(self.store.pool())
            .await
            .expect("raw SQL on the test database");
    }

    async fn scalar(&self, sql: &'static str, doc: DocId) -> i64 {
        sqlx::query_scalar(sql)
            .bind(doc.as_bytes().as_slice())
            .fetch_one(self.store.pool())
            .await
            .expect("raw SQL on the test database")
    }
}

#[async_trait]
impl Harness for SqliteHarness {
    fn store(&self) -> Arc<dyn DocStore> {
        self.store.clone()
    }
    async fn corrupt_snapshot(&self, doc: DocId) {
        self.exec(
            "UPDATE docs SET snapshot = X'DEADBEEF00' WHERE doc_id = ?",
            doc,
        )
        .await;
    }
    async fn corrupt_changes(&self, doc: DocId) {
        self.exec(
            "UPDATE changes SET data = substr(data, 1, length(data) - 3)
             WHERE doc_id = ? AND data IS NOT NULL",
            doc,
        )
        .await;
    }
    async fn stored_bytes(&self, doc: DocId) -> i64 {
        self.scalar(
            "SELECT COALESCE((SELECT length(snapshot) FROM docs WHERE doc_id = ?1), 0)
                  + COALESCE((SELECT sum(length(data)) FROM changes WHERE doc_id = ?1), 0)",
            doc,
        )
        .await
    }
    async fn change_rows(&self, doc: DocId) -> i64 {
        self.scalar("SELECT count(*) FROM changes WHERE doc_id = ?", doc)
            .await
    }
}

/// A [`PgStore`] on a fresh database of its own, dropped with the harness.
struct PgHarness {
    store: Arc<PgStore>,
    // Dropped after the store; `WITH (FORCE)` ends connections its pool still holds.
    _db: PgDb,
}

impl PgHarness {
    /// `None` without `RAPPORT_TEST_DATABASE_URL` (the case is skipped and says so).
    async fn new() -> Option<Self> {
        let db = PgDb::create().await?;
        let store = PgStore::connect(&db.url)
            .await
            .expect("connect PgStore to the fresh test database");
        Some(Self {
            store: Arc::new(store),
            _db: db,
        })
    }

    async fn exec(&self, sql: &'static str, doc: DocId) {
        sqlx::query(sql)
            .bind(doc.as_uuid())
            .execute(self.store.pool())
            .await
            .expect("raw SQL on the test database");
    }

    async fn scalar(&self, sql: &'static str, doc: DocId) -> i64 {
        sqlx::query_scalar(sql)
            .bind(doc.as_uuid())
            .fetch_one(self.store.pool())
            .await
            .expect("raw SQL on the test database")
    }
}

#[async_trait]
impl Harness for PgHarness {
    fn store(&self) -> Arc<dyn DocStore> {
        self.store.clone()
    }
    async fn corrupt_snapshot(&self, doc: DocId) {
        self.exec(
            "UPDATE docs SET snapshot = '\\xdeadbeef00'::bytea WHERE doc_id = $1",
            doc,
        )
        .await;
    }
    async fn corrupt_changes(&self, doc: DocId) {
        self.exec(
            "UPDATE changes SET data = substring(data from 1 for length(data) - 3)
             WHERE doc_id = $1 AND data IS NOT NULL",
            doc,
        )
        .await;
    }
    async fn stored_bytes(&self, doc: DocId) -> i64 {
        self.scalar(
            "SELECT (COALESCE((SELECT length(snapshot) FROM docs WHERE doc_id = $1), 0)
                   + COALESCE((SELECT sum(length(data)) FROM changes WHERE doc_id = $1), 0))::bigint",
            doc,
        )
        .await
    }
    async fn change_rows(&self, doc: DocId) -> i64 {
        self.scalar("SELECT count(*) FROM changes WHERE doc_id = $1", doc)
            .await
    }
}

/// Any harness with its store behind a [`CachedStore`] (resident documents): the suite
/// holds for the cache too. Damage done behind the cache's back clears it first, as a
/// restart would (a resident copy is the content before the damage).
struct Cached<H> {
    inner: H,
    store: Arc<CachedStore>,
}

impl<H: Harness> Cached<H> {
    fn new(inner: H) -> Self {
        let store = Arc::new(CachedStore::new(inner.store(), 64 << 20));
        Self { inner, store }
    }
}

#[async_trait]
impl<H: Harness> Harness for Cached<H> {
    fn store(&self) -> Arc<dyn DocStore> {
        self.store.clone()
    }
    async fn corrupt_snapshot(&self, doc: DocId) {
        self.store.clear();
        self.inner.corrupt_snapshot(doc).await;
    }
    async fn corrupt_changes(&self, doc: DocId) {
        self.store.clear();
        self.inner.corrupt_changes(doc).await;
    }
    async fn stored_bytes(&self, doc: DocId) -> i64 {
        self.inner.stored_bytes(doc).await
    }
    async fn change_rows(&self, doc: DocId) -> i64 {
        self.inner.change_rows(doc).await
    }
}

/// Any harness with its commits grouped ([`GroupCommit`]).
struct Grouped<H> {
    inner: H,
    store: Arc<GroupCommit>,
}

impl<H: Harness> Grouped<H> {
    fn new(inner: H) -> Self {
        let store = Arc::new(GroupCommit::new(inner.store()));
        Self { inner, store }
    }
}

#[async_trait]
impl<H: Harness> Harness for Grouped<H> {
    fn store(&self) -> Arc<dyn DocStore> {
        self.store.clone()
    }
    async fn corrupt_snapshot(&self, doc: DocId) {
        self.inner.corrupt_snapshot(doc).await;
    }
    async fn corrupt_changes(&self, doc: DocId) {
        self.inner.corrupt_changes(doc).await;
    }
    async fn stored_bytes(&self, doc: DocId) -> i64 {
        self.inner.stored_bytes(doc).await
    }
    async fn change_rows(&self, doc: DocId) -> i64 {
        self.inner.change_rows(doc).await
    }
}

// ---------------------------------------------------------------------------------------
// Documents to store.

/// A document whose "notes" text is typed in `parts.len()` commits.
fn typed_doc(parts: &[&str]) -> AutoCommit {
    let mut doc = AutoCommit::new();
    let notes = doc
        .put_object(ROOT, "notes", ObjType::Text)
        .expect("create text");
    doc.commit();
    let mut len = 0;
    for part in parts {
        doc.splice_text(&notes, len, 0, part).expect("type text");
        len += part.chars().count();
        doc.commit();
    }
    doc
}

/// A [`typed_doc`] committed to `store` under a new id.
async fn store_typed(store: &dyn DocStore, parts: &[&str]) -> (DocId, AutoCommit) {
    let id = DocId::random();
    let mut doc = typed_doc(parts);
    store
        .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
        .await
        .expect("commit");
    (id, doc)
}

fn changes_of(doc: &mut AutoCommit) -> Vec<Change> {
    doc.get_changes(&[])
}

fn notes(doc: &Automerge) -> String {
    match doc.get(ROOT, "notes").expect("read notes") {
        Some((Value::Object(ObjType::Text), id)) => doc.text(&id).expect("read text"),
        other => panic!("no notes text in the document: {other:?}"),
    }
}

/// A document with one change: a fresh actor puts `value` at "v" (no dependencies).
fn one_change(value: &str) -> Change {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "v", value).expect("put");
    doc.commit();
    changes_of(&mut doc).pop().expect("one change")
}

fn loaded(result: Result<Option<Automerge>, StoreError>) -> Automerge {
    result.expect("load").expect("the document is stored")
}

/// Reads the feed from `from` page by page until it holds at least `want` documents and
/// then ends. PostgreSQL's feed holds back rows until every older transaction of the
/// cluster has finished (parallel tests in other databases included), so an empty page
/// before `want` is reached means "not yet": poll, bounded in time.
async fn read_feed(
    store: &dyn DocStore,
    from: FeedCursor,
    page: usize,
    want: usize,
) -> (Vec<DocId>, FeedCursor) {
    read_feed_in(store, from, page, want, None).await
}

/// [`read_feed`] of [`DocStore::feed_in`] `groups` (`None`: the whole feed).
async fn read_feed_in(
    store: &dyn DocStore,
    from: FeedCursor,
    page: usize,
    want: usize,
    groups: Option<&[DocId]>,
) -> (Vec<DocId>, FeedCursor) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut cursor = from;
    let mut docs = Vec::new();
    for _ in 0..100_000 {
        let got = match groups {
            None => store.feed(&cursor, page).await,
            Some(groups) => store.feed_in(&cursor, page, groups).await,
        }
        .expect("feed");
        if got.docs.is_empty() {
            assert_eq!(got.cursor, cursor, "an empty page keeps the cursor");
            if docs.len() >= want || Instant::now() > deadline {
                return (docs, cursor);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        assert!(got.docs.len() <= page);
        docs.extend(got.docs);
        cursor = got.cursor;
    }
    panic!("the feed did not end within 100 000 pages");
}

/// Asserts that nothing but a marker committed now comes after `cursor`. Waiting for the
/// marker makes "nothing else" mean nothing else, not "delayed".
async fn assert_feed_after_is_only_a_new_marker(store: &dyn DocStore, cursor: FeedCursor) {
    let marker = DocId::random();
    store
        .commit(WriteBatch::new().with_changes(marker, vec![one_change("метка")]))
        .await
        .expect("commit marker");
    let (docs, _) = read_feed(store, cursor, 10, 1).await;
    assert_eq!(docs, vec![marker]);
}

const CYRILLIC: [&str; 3] = [
    "ООО «Ромашка»: ",
    "директор Пётр Иванович, ",
    "связь отличная 👍",
];

// ---------------------------------------------------------------------------------------
// The cases, written once.

mod cases {
    use super::*;

    pub async fn round_trip_keeps_cyrillic_text(h: &dyn Harness) {
        let store = h.store();
        let mut doc = typed_doc(&CYRILLIC);
        let id = DocId::random();
        let report = store
            .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
            .await
            .expect("commit");
        assert_eq!(report.new_for(id), 4);
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), CYRILLIC.concat());
        assert_eq!(back.get_heads(), doc.get_heads());
        assert_eq!(store.list_docs().await.expect("list"), vec![id]);
    }

    pub async fn unknown_document_loads_as_none(h: &dyn Harness) {
        let store = h.store();
        let known = DocId::random();
        store
            .commit(WriteBatch::new().with_changes(known, vec![one_change("есть")]))
            .await
            .expect("commit");
        let unknown = DocId::random();
        assert!(store.load(unknown).await.expect("load").is_none());
        let many = store.load_many(&[unknown, known]).await.expect("load_many");
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].0, unknown);
        assert!(matches!(many[0].1, Ok(None)));
        assert_eq!(many[1].0, known);
        assert!(matches!(many[1].1, Ok(Some(_))));
        let err = store
            .compact(unknown)
            .await
            .expect_err("nothing to compact");
        assert_eq!(err.code(), "not_found");
    }

    pub async fn recommit_stores_nothing_twice(h: &dyn Harness) {
        let store = h.store();
        let mut doc = typed_doc(&CYRILLIC);
        let id = DocId::random();
        let batch = WriteBatch::new().with_changes(id, changes_of(&mut doc));
        assert_eq!(
            store
                .commit(batch.clone())
                .await
                .expect("commit")
                .new_for(id),
            4
        );
        let (_, cursor) = read_feed(&*store, FeedCursor::start(), 10, 1).await;
        let rows = h.change_rows(id).await;

        let again = store.commit(batch.clone()).await.expect("retry");
        assert_eq!(again.new_for(id), 0, "a retried batch is not new");
        assert_eq!(h.change_rows(id).await, rows);
        // A retry that stores nothing does not move the document in the feed.
        assert_feed_after_is_only_a_new_marker(&*store, cursor).await;

        let compacted = store.compact(id).await.expect("compact");
        assert_eq!(compacted.changes_folded, 4);
        let after = store.commit(batch).await.expect("retry after compaction");
        assert_eq!(
            after.new_for(id),
            0,
            "compaction must not forget stored hashes"
        );
        assert_eq!(h.change_rows(id).await, rows);
        assert_eq!(
            store
                .compact(id)
                .await
                .expect("compact again")
                .changes_folded,
            0,
            "the retried changes were not stored again"
        );
        assert_eq!(notes(&loaded(store.load(id).await)), CYRILLIC.concat());
    }

    pub async fn batch_is_all_or_nothing(h: &dyn Harness) {
        let store = h.store();
        // An existing document, to check it is not touched either.
        let existing = DocId::random();
        let mut doc = typed_doc(&["Начало"]);
        store
            .commit(WriteBatch::new().with_changes(existing, changes_of(&mut doc)))
            .await
            .expect("commit");
        let heads = doc.get_heads();
        let (_, cursor) = read_feed(&*store, FeedCursor::start(), 10, 1).await;
        let notes_id = doc.get(ROOT, "notes").expect("get").expect("notes").1;
        doc.splice_text(&notes_id, 0, 0, "Новое: ").expect("type");
        doc.commit();
        let more = doc.get_changes(&heads);

        let fresh = DocId::random();
        let broken = DocId::random();
        let mut gap = typed_doc(&["раз", "два"]);
        let gap_changes = changes_of(&mut gap);
        let last = gap_changes.last().cloned().expect("a change");
        let peer = PeerId::new("планшет-1");
        let batch = WriteBatch::new()
            .with_changes(existing, more)
            .with_changes(fresh, vec![one_change("новый")])
            .with_changes(broken, vec![last.clone()])
            .with_sync_state(peer.clone(), fresh, vec![1, 2, 3]);
        let err = store
            .commit(batch)
            .await
            .expect_err("a change with a missing dependency");
        match &err {
            StoreError::MissingDependencies { doc, change, .. } => {
                assert_eq!(*doc, broken);
                assert_eq!(*change, last.hash());
            }
            other => panic!("expected MissingDependencies, got {other:?}"),
        }
        assert_eq!(err.code(), "missing_dependencies");
        assert!(
            store.load(fresh).await.expect("load").is_none(),
            "fresh doc not stored"
        );
        assert!(store.load(broken).await.expect("load").is_none());
        assert_eq!(notes(&loaded(store.load(existing).await)), "Начало");
        assert!(
            store
                .sync_states(&peer, &[fresh])
                .await
                .expect("states")
                .is_empty()
        );
        assert_eq!(store.list_docs().await.expect("list"), vec![existing]);
        assert_feed_after_is_only_a_new_marker(&*store, cursor).await;

        // The same batch with the missing change included goes through.
        let ok = store
            .commit(WriteBatch::new().with_changes(broken, gap_changes))
            .await
            .expect("complete batch");
        assert_eq!(ok.new_for(broken), 3);
        assert_eq!(notes(&loaded(store.load(broken).await)), "раздва");
    }

    pub async fn compaction_keeps_content_and_shrinks_storage(h: &dyn Harness) {
        let store = h.store();
        let id = DocId::random();
        // 200 keystrokes, one change each, as a rep types.
        let text: Vec<String> = "Клиент доволен качеством связи, скорость по договору. "
            .chars()
            .cycle()
            .take(200)
            .map(String::from)
            .collect();
        let parts: Vec<&str> = text.iter().map(String::as_str).collect();
        let mut doc = typed_doc(&parts);
        store
            .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
            .await
            .expect("commit");
        let rows = h.change_rows(id).await;
        let before = h.stored_bytes(id).await;

        let report = store.compact(id).await.expect("compact");
        assert_eq!(report.changes_folded, 201);
        assert_eq!(report.bytes_before, before as u64);
        let after = h.stored_bytes(id).await;
        assert_eq!(report.bytes_after, after as u64);
        assert!(
            after * 4 < before,
            "storage shrinks: {before} → {after} bytes"
        );
        assert_eq!(
            h.change_rows(id).await,
            rows,
            "hash rows stay for idempotency"
        );
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), parts.concat());
        assert_eq!(back.get_heads(), doc.get_heads());
    }

    pub async fn change_committed_during_compaction_survives(h: &dyn Harness) {
        let store = h.store();
        let (id, mut doc) = store_typed(&*store, &CYRILLIC).await;

        // Deterministic interleaving: plan, a change lands, then the plan is written.
        let plan = store.plan_compaction(id).await.expect("plan");
        assert_eq!(plan.changes_to_fold(), 4);
        let heads = doc.get_heads();
        let notes_id = doc.get(ROOT, "notes").expect("get").expect("notes").1;
        doc.splice_text(&notes_id, 0, 0, "Срочно! ").expect("type");
        doc.commit();
        store
            .commit(WriteBatch::new().with_changes(id, doc.get_changes(&heads)))
            .await
            .expect("commit during compaction");
        let stale = store.plan_compaction(id).await.expect("second plan");
        let report = store.apply_compaction(plan).await.expect("apply");
        assert_eq!(report.changes_folded, 4);
        assert_eq!(
            notes(&loaded(store.load(id).await)),
            format!("Срочно! {}", CYRILLIC.concat())
        );
        // A plan made before that compaction must not overwrite its snapshot.
        let err = store.apply_compaction(stale).await.expect_err("stale plan");
        assert_eq!(err.code(), "conflict");
        assert_eq!(store.compact(id).await.expect("compact").changes_folded, 1);
        assert_eq!(
            notes(&loaded(store.load(id).await)),
            format!("Срочно! {}", CYRILLIC.concat())
        );

        // Real concurrency: an appender commits while compactions run in a loop.
        let appender = {
            let store = store.clone();
            let mut doc = doc.clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    let heads = doc.get_heads();
                    doc.put(ROOT, format!("k{i}"), i as i64).expect("put");
                    doc.commit();
                    let batch = WriteBatch::new().with_changes(id, doc.get_changes(&heads));
                    store.commit(batch).await.expect("append");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                doc
            })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !appender.is_finished() && Instant::now() < deadline {
            match store.compact(id).await {
                Ok(_) => {}
                Err(e) if e.code() == "conflict" => {}
                Err(e) => panic!("compaction failed: {e}"),
            }
        }
        let mut doc = appender.await.expect("appender");
        let back = loaded(store.load(id).await);
        assert_eq!(
            back.get_heads(),
            doc.get_heads(),
            "every appended change survives"
        );
        for i in 0..30i64 {
            let got = back
                .get(ROOT, format!("k{i}"))
                .expect("get")
                .map(|(v, _)| v);
            assert_eq!(
                got,
                Some(Value::Scalar(std::borrow::Cow::Owned(ScalarValue::Int(i))))
            );
        }
    }

    /// A copy in memory (an editor's) folds the stored changes into its own snapshot
    /// with no load, and only when the store holds exactly what the copy holds.
    pub async fn a_copy_in_memory_folds_only_what_the_store_holds_exactly(h: &dyn Harness) {
        let store = h.store();
        let (id, mut doc) = store_typed(&*store, &CYRILLIC).await;
        let stale_plan = store.plan_compaction(id).await.expect("plan of the rows");
        let version = store.versions(&[id]).await.expect("versions")[&id];
        let rows = h.change_rows(id).await;
        let before = h.stored_bytes(id).await;

        let report = store
            .apply_compaction(rapport_store::CompactionPlan::of_document(
                id,
                doc.document(),
            ))
            .await
            .expect("fold from the copy");
        assert_eq!(report.changes_folded, 4, "every stored change: {report:?}");
        assert_eq!(report.bytes_before, before as u64);
        assert_eq!(report.bytes_after, h.stored_bytes(id).await as u64);
        assert_eq!(report.bytes_after, doc.save().len() as u64);
        assert_eq!(h.change_rows(id).await, rows, "hash rows stay");
        assert_eq!(
            store.versions(&[id]).await.expect("versions")[&id],
            version,
            "folding keeps the content and its version"
        );
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), CYRILLIC.concat());
        assert_eq!(back.get_heads(), doc.get_heads());
        let err = store
            .apply_compaction(stale_plan)
            .await
            .expect_err("a plan of the rows before the fold");
        assert_eq!(err.code(), "conflict");

        // Nothing loose: nothing to do.
        let again = store
            .apply_compaction(rapport_store::CompactionPlan::of_document(
                id,
                doc.document(),
            ))
            .await
            .expect("fold again");
        assert_eq!(again.changes_folded, 0);

        // The store moved on without the copy (a sync committed another device's
        // change): the copy's snapshot would drop it, so nothing is written.
        let mut stale_copy = doc.clone();
        let mut other = doc.fork();
        let text = text_obj(&other);
        other.splice_text(&text, 0, 0, "Срочно! ").expect("type");
        other.commit();
        store
            .commit(WriteBatch::new().with_changes(id, other.get_changes(&doc.get_heads())))
            .await
            .expect("the other device's change");
        let before = h.stored_bytes(id).await;
        let err = store
            .apply_compaction(rapport_store::CompactionPlan::of_document(
                id,
                stale_copy.document(),
            ))
            .await
            .expect_err("a copy lacking a stored change");
        assert_eq!(err.code(), "conflict");
        assert!(err.to_string().contains(&id.to_string()), "{err}");
        assert_eq!(h.stored_bytes(id).await, before, "nothing written");
        assert_eq!(
            notes(&loaded(store.load(id).await)),
            format!("Срочно! {}", CYRILLIC.concat())
        );

        // The copy is ahead of the store (an edit not committed): its snapshot would
        // hold a change the rows do not list, so nothing is written.
        let text = text_obj(&other);
        other.splice_text(&text, 0, 0, "Очень ").expect("type");
        other.commit();
        let err = store
            .apply_compaction(rapport_store::CompactionPlan::of_document(
                id,
                other.document(),
            ))
            .await
            .expect_err("a copy holding an uncommitted change");
        assert_eq!(err.code(), "conflict");
        assert_eq!(h.stored_bytes(id).await, before, "nothing written");
        let heads = stale_copy.get_heads();
        store
            .commit(WriteBatch::new().with_changes(id, other.get_changes(&heads)))
            .await
            .expect("the edit committed");
        let report = store
            .apply_compaction(rapport_store::CompactionPlan::of_document(
                id,
                other.document(),
            ))
            .await
            .expect("the copy holds what the store holds now");
        assert_eq!(report.changes_folded, 2);
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), format!("Очень Срочно! {}", CYRILLIC.concat()));
        assert_eq!(back.get_heads(), other.get_heads());

        let unknown = store
            .apply_compaction(rapport_store::CompactionPlan::of_document(
                DocId::random(),
                other.document(),
            ))
            .await
            .expect_err("a document not stored");
        assert_eq!(unknown.code(), "not_found");
    }

    pub async fn feed_orders_pages_and_lists_each_doc_once(h: &dyn Harness) {
        let store = h.store();
        let empty = store.feed(&FeedCursor::start(), 10).await.expect("feed");
        assert!(empty.docs.is_empty());
        let [a, b, c, d] = [(); 4].map(|_| DocId::random());
        let mut docs: HashMap<DocId, AutoCommit> = HashMap::new();
        for id in [a, b, c] {
            let mut doc = typed_doc(&["первая версия"]);
            store
                .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
                .await
                .expect("commit");
            docs.insert(id, doc);
        }
        // A changes again: it moves to the head. Then C and D in one batch.
        let doc_a = docs.get_mut(&a).expect("doc");
        let heads = doc_a.get_heads();
        doc_a.put(ROOT, "статус", "проведена").expect("put");
        doc_a.commit();
        store
            .commit(WriteBatch::new().with_changes(a, doc_a.get_changes(&heads)))
            .await
            .expect("commit");
        let doc_c = docs.get_mut(&c).expect("doc");
        let heads = doc_c.get_heads();
        doc_c.put(ROOT, "статус", "отменена").expect("put");
        doc_c.commit();
        store
            .commit(
                WriteBatch::new()
                    .with_changes(c, doc_c.get_changes(&heads))
                    .with_changes(d, vec![one_change("d")]),
            )
            .await
            .expect("commit");

        // Once all four are visible the pages below are fixed (see `read_feed`).
        let (all, _) = read_feed(&*store, FeedCursor::start(), 1, 4).await;
        assert_eq!(all.len(), 4, "each document once: {all:?}");
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 4);
        let first = store.feed(&FeedCursor::start(), 2).await.expect("page 1");
        assert_eq!(first.docs, vec![b, a]);
        assert_eq!(first.positions.len(), 2);
        assert_eq!(first.positions.last(), Some(&first.cursor));
        // Resuming from the position after B (a reader that stopped mid-page) gives A next.
        let resumed = store.feed(&first.positions[0], 1).await.expect("resume");
        assert_eq!(resumed.docs, vec![a]);
        // Devices carry the cursor as bytes.
        let bytes = first.cursor.to_bytes();
        assert!(bytes.len() <= 64);
        let cursor = FeedCursor::from_bytes(&bytes).expect("cursor from bytes");
        assert_eq!(cursor, first.cursor);
        let second = store.feed(&cursor, 2).await.expect("page 2");
        let mut rest = second.docs.clone();
        rest.sort();
        let mut expected = vec![c, d];
        expected.sort();
        assert_eq!(rest, expected, "C and D changed in one commit, after A");
        let third = store.feed(&second.cursor, 2).await.expect("page 3");
        assert!(third.docs.is_empty());
        assert_eq!(third.cursor, second.cursor);

        for garbage in [&b""[..], &[0u8; 17][..], "курсор".as_bytes()] {
            let err = FeedCursor::from_bytes(garbage).expect_err("garbage cursor");
            assert_eq!(err.code(), "bad_feed_cursor");
        }
    }

    pub async fn touch_moves_documents_to_the_head_of_the_feed(h: &dyn Harness) {
        let store = h.store();
        let [a, b] = [(); 2].map(|_| DocId::random());
        let mut written = 0;
        for id in [a, b] {
            let mut doc = typed_doc(&["визит"]);
            let changes = changes_of(&mut doc);
            written = changes.len();
            store
                .commit(WriteBatch::new().with_changes(id, changes))
                .await
                .expect("commit");
        }
        let (seen, cursor) = read_feed(&*store, FeedCursor::start(), 10, 2).await;
        assert!(seen.contains(&a) && seen.contains(&b), "{seen:?}");
        let moved = store.touch(&[a, DocId::random()]).await.expect("touch");
        assert_eq!(moved, 1, "only the stored document moves");
        let (again, _) = read_feed(&*store, cursor, 10, 1).await;
        assert_eq!(again, vec![a], "a reader past A sees it again, and only it");
        let loaded = store.load(a).await.expect("load").expect("stored");
        assert_eq!(
            loaded.get_changes(&[]).len(),
            written,
            "touch changed nothing in A"
        );
    }

    pub async fn compaction_candidates_are_documents_with_many_loose_changes(h: &dyn Harness) {
        let store = h.store();
        let [busy, quiet] = [(); 2].map(|_| DocId::random());
        let words = ["один", "два", "три", "четыре", "пять", "шесть"];
        let mut doc = typed_doc(&words);
        store
            .commit(WriteBatch::new().with_changes(busy, changes_of(&mut doc)))
            .await
            .expect("commit busy");
        let mut doc = typed_doc(&["тихо"]);
        store
            .commit(WriteBatch::new().with_changes(quiet, changes_of(&mut doc)))
            .await
            .expect("commit quiet");
        let found = store
            .compaction_candidates(5, 10)
            .await
            .expect("candidates");
        assert_eq!(found, vec![busy], "only the document with 5+ loose changes");
        store.compact(busy).await.expect("compact");
        let found = store
            .compaction_candidates(5, 10)
            .await
            .expect("candidates");
        assert!(
            found.is_empty(),
            "a compacted document is no candidate: {found:?}"
        );
        let all = store.compaction_candidates(1, 1).await.expect("limit");
        assert_eq!(all.len(), 1, "the limit holds");
    }

    pub async fn sync_states_are_per_peer(h: &dyn Harness) {
        let store = h.store();
        let [a, b] = [(); 2].map(|_| DocId::random());
        let tablet = PeerId::new("планшет-Иванова");
        let laptop = PeerId::new("laptop-2");
        store
            .commit(
                WriteBatch::new()
                    .with_sync_state(tablet.clone(), a, vec![1; 66])
                    .with_sync_state(laptop.clone(), a, vec![2; 66])
                    .with_sync_state(tablet.clone(), b, vec![3])
                    .with_sync_state(tablet.clone(), b, vec![4]),
            )
            .await
            .expect("commit");
        let got = store.sync_states(&tablet, &[a, b]).await.expect("states");
        assert_eq!(got, HashMap::from([(a, vec![1; 66]), (b, vec![4])]));
        let got = store
            .sync_states(&laptop, &[a, b, DocId::random()])
            .await
            .expect("states");
        assert_eq!(got, HashMap::from([(a, vec![2; 66])]));
        store
            .commit(WriteBatch::new().with_sync_state(laptop.clone(), a, vec![9]))
            .await
            .expect("overwrite");
        assert_eq!(
            store.sync_states(&laptop, &[a]).await.expect("s")[&a],
            vec![9]
        );
        assert_eq!(store.delete_sync_states(&tablet).await.expect("delete"), 2);
        assert!(
            store
                .sync_states(&tablet, &[a, b])
                .await
                .expect("s")
                .is_empty()
        );
        assert_eq!(store.sync_states(&laptop, &[a]).await.expect("s").len(), 1);
    }

    /// A sync's first read: documents (or their versions) with one peer's sync states,
    /// in one round trip where the store can. The answer is what the separate reads
    /// give, also once the documents are resident in a cache and after they change.
    pub async fn documents_come_with_one_peers_states(h: &dyn Harness) {
        let store = h.store();
        let (a, mut doc) = store_typed(&*store, &CYRILLIC).await;
        let [b, unknown] = [(); 2].map(|_| DocId::random());
        let tablet = PeerId::new("планшет-Иванова");
        let laptop = PeerId::new("ноутбук");
        store
            .commit(
                WriteBatch::new()
                    .with_sync_state(tablet.clone(), a, "состояние а".into())
                    .with_sync_state(tablet.clone(), b, vec![3; 40])
                    .with_sync_state(laptop.clone(), a, vec![9]),
            )
            .await
            .expect("states");
        let tablets = HashMap::from([(a, "состояние а".as_bytes().to_vec()), (b, vec![3; 40])]);
        for round in ["first read", "resident"] {
            let (loaded_docs, states) = store
                .load_many_with_states(&[a, unknown], &tablet, &[a, b, unknown])
                .await
                .expect("load with states");
            let ids: Vec<DocId> = loaded_docs.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, vec![a, unknown], "{round}: in the order asked");
            let mut loaded_docs = loaded_docs.into_iter();
            let first = loaded(loaded_docs.next().expect("a").1);
            assert_eq!(notes(&first), CYRILLIC.concat(), "{round}");
            assert!(matches!(loaded_docs.next(), Some((_, Ok(None)))), "{round}");
            assert_eq!(states, tablets, "{round}: the tablet's states only");

            let (versioned, states) = store
                .load_versioned_and_states(&[a, unknown], &tablet, &[a, b, unknown])
                .await
                .expect("versioned loads with states");
            let stored_versions = store.versions(&[a, unknown]).await.expect("versions");
            let versions: Vec<Option<DocVersion>> = versioned.iter().map(|v| v.version).collect();
            assert_eq!(
                versions,
                vec![stored_versions.get(&a).copied(), None],
                "{round}: each document with its stored version, in the order asked"
            );
            let first = versioned.into_iter().next().expect("a");
            assert_eq!(notes(&loaded(first.loaded)), CYRILLIC.concat(), "{round}");
            assert_eq!(states, tablets, "{round}: the tablet's states only");

            let (versions, states) = store
                .versions_and_states(&[a, unknown], &tablet, &[a, b])
                .await
                .expect("versions with states");
            assert_eq!(
                versions,
                store.versions(&[a, unknown]).await.expect("versions"),
                "{round}"
            );
            assert_eq!(versions.len(), 1, "{round}: only stored documents");
            assert_eq!(states, tablets, "{round}");
        }
        // Either list may be empty: nothing is read for it.
        let (versions, states) = store
            .versions_and_states(&[], &laptop, &[a])
            .await
            .expect("states only");
        assert!(versions.is_empty());
        assert_eq!(states, HashMap::from([(a, vec![9])]));
        let (loaded_docs, states) = store
            .load_many_with_states(&[a], &laptop, &[])
            .await
            .expect("documents only");
        assert_eq!(loaded_docs.len(), 1);
        assert!(states.is_empty());

        // A change and a new state: both read anew.
        let text = text_obj(&doc);
        let before = doc.get_heads();
        doc.splice_text(&text, 0, 0, "Срочно! ").expect("type");
        doc.commit();
        let new = doc.get_changes(&before);
        store
            .commit(WriteBatch::new().with_changes(a, new).with_sync_state(
                tablet.clone(),
                a,
                vec![7; 7],
            ))
            .await
            .expect("commit");
        let (loaded_docs, states) = store
            .load_many_with_states(&[a], &tablet, &[a, b])
            .await
            .expect("load again");
        let back = loaded(loaded_docs.into_iter().next().expect("a").1);
        assert_eq!(notes(&back), format!("Срочно! {}", CYRILLIC.concat()));
        assert_eq!(states, HashMap::from([(a, vec![7; 7]), (b, vec![3; 40])]));
    }

    pub async fn corrupt_snapshot_names_the_document(h: &dyn Harness) {
        let store = h.store();
        let [bad, good] = [(); 2].map(|_| DocId::random());
        for id in [bad, good] {
            let mut doc = typed_doc(&CYRILLIC);
            store
                .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
                .await
                .expect("commit");
            store.compact(id).await.expect("compact");
        }
        h.corrupt_snapshot(bad).await;
        assert_corrupt(h, bad, good).await;
    }

    pub async fn corrupt_change_names_the_document(h: &dyn Harness) {
        let store = h.store();
        let [bad, good] = [(); 2].map(|_| DocId::random());
        for id in [bad, good] {
            let mut doc = typed_doc(&CYRILLIC);
            store
                .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
                .await
                .expect("commit");
        }
        h.corrupt_changes(bad).await;
        assert_corrupt(h, bad, good).await;
    }

    async fn assert_corrupt(h: &dyn Harness, bad: DocId, good: DocId) {
        let store = h.store();
        match store.load(bad).await {
            Err(StoreError::Corrupt { doc, reason }) => {
                assert_eq!(doc, bad, "the error names the document ({reason})");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        let many = store.load_many(&[bad, good]).await.expect("load_many");
        assert!(matches!(&many[0].1, Err(StoreError::Corrupt { doc, .. }) if *doc == bad));
        assert_eq!(
            notes(&loaded(many.into_iter().nth(1).expect("good").1)),
            CYRILLIC.concat()
        );
        let err = store
            .compact(bad)
            .await
            .expect_err("cannot compact a corrupt doc");
        assert_eq!(err.code(), "corrupt_document");
        assert!(err.to_string().contains(&bad.to_string()));
    }

    pub async fn big_batch_commits_in_one_go(h: &dyn Harness) {
        let store = h.store();
        let mut batch = WriteBatch::new();
        let mut ids = Vec::new();
        for d in 0..200 {
            let mut doc = AutoCommit::new();
            for i in 0..20 {
                doc.put(ROOT, format!("вопрос-{i}"), format!("ответ {d}/{i}"))
                    .expect("put");
                doc.commit();
            }
            let id = DocId::random();
            ids.push(id);
            batch = batch.with_changes(id, changes_of(&mut doc));
        }
        let started = Instant::now();
        let report = store.commit(batch).await.expect("commit");
        let commit_time = started.elapsed();
        assert_eq!(report.total_new(), 4000);
        let started = Instant::now();
        let many = store.load_many(&ids).await.expect("load_many");
        let load_time = started.elapsed();
        eprintln!("200 docs × 20 changes: commit {commit_time:?}, load_many {load_time:?}");
        for (d, (id, result)) in many.into_iter().enumerate() {
            assert_eq!(id, ids[d]);
            let doc = loaded(result);
            let got = doc
                .get(ROOT, "вопрос-19")
                .expect("get")
                .map(|(v, _)| v.to_string());
            assert_eq!(got, Some(format!("\"ответ {d}/19\"")));
        }
        assert!(
            commit_time < Duration::from_secs(20),
            "commit took {commit_time:?}"
        );
        let (feed, _) = read_feed(&*store, FeedCursor::start(), 64, 200).await;
        assert_eq!(feed.len(), 200);
    }

    /// Documents of more changes than one statement writes (a visit typed one letter
    /// per change): every change stored once and counted once, sent as changes partly
    /// held already or sent whole.
    pub async fn a_long_history_is_stored_and_counted_exactly(h: &dyn Harness) {
        let store = h.store();
        let letters: Vec<String> = "Клиент просит вторую линию связи в офис на Лиговском. "
            .chars()
            .cycle()
            .take(700)
            .map(String::from)
            .collect();
        let parts: Vec<&str> = letters.iter().map(String::as_str).collect();
        let mut doc = typed_doc(&parts);
        let changes = changes_of(&mut doc);
        assert_eq!(changes.len(), 701);
        let id = DocId::random();
        let first = store
            .commit(WriteBatch::new().with_changes(id, changes[..350].to_vec()))
            .await
            .expect("the first half");
        assert_eq!(first.new_changes[&id], 350);
        let rest = store
            .commit(WriteBatch::new().with_changes(id, changes.clone()))
            .await
            .expect("all of it, half held already");
        assert_eq!(rest.new_changes[&id], 351, "only what was not held");
        assert_eq!(h.change_rows(id).await, 701);
        let folded = store.compact(id).await.expect("compact");
        assert_eq!(
            folded.changes_folded, 701,
            "every change folded: {folded:?}"
        );
        assert_eq!(h.stored_bytes(id).await as u64, folded.bytes_after);
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), letters.concat());
        assert_eq!(back.get_heads(), doc.get_heads());

        let whole_id = DocId::random();
        let whole = WholeDoc::new(
            whole_id,
            doc.save(),
            changes.iter().map(Change::hash).collect(),
        )
        .expect("one saved document");
        let report = store
            .commit(WriteBatch::new().with_whole(whole))
            .await
            .expect("sent whole");
        assert_eq!(report.new_changes[&whole_id], 701);
        assert_eq!(h.change_rows(whole_id).await, 701, "a row per change");
        let held = store
            .stored_changes(
                &changes
                    .iter()
                    .map(|c| (whole_id, c.hash()))
                    .collect::<Vec<_>>(),
            )
            .await
            .expect("stored changes");
        assert_eq!(held.len(), 701);
        assert_eq!(notes(&loaded(store.load(whole_id).await)), letters.concat());
    }

    pub async fn epoch_is_stable_until_a_new_one_is_given(h: &dyn Harness) {
        let store = h.store();
        let first = store.epoch().await.expect("epoch");
        assert_ne!(first, [0; 16], "a random epoch");
        assert_eq!(store.epoch().await.expect("epoch again"), first, "stable");
        let second = store.new_epoch().await.expect("new epoch");
        assert_ne!(second, first, "a restore gives a new epoch");
        assert_eq!(store.epoch().await.expect("epoch after"), second);
    }

    pub async fn feed_head_is_at_or_beyond_every_cursor_handed_out(h: &dyn Harness) {
        let store = h.store();
        assert_eq!(
            store.feed_head().await.expect("head of nothing"),
            FeedCursor::start()
        );
        let nothing = store.feed(&FeedCursor::start(), 10).await.expect("feed");
        assert!(
            nothing.head.is_none_or(|h| h == FeedCursor::start()),
            "{:?}",
            nothing.head
        );
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = DocId::random();
            ids.push(id);
            store
                .commit(
                    WriteBatch::new().with_changes(id, vec![one_change(&format!("запись {i}"))]),
                )
                .await
                .expect("commit");
        }
        store.touch(&ids[..2]).await.expect("touch");
        let (_, cursor) = read_feed(&*store, FeedCursor::start(), 2, 5).await;
        let head = store.feed_head().await.expect("head");
        assert!(
            head >= cursor,
            "head {head:?} behind a cursor handed out {cursor:?}"
        );
        // A store that reads the head with an empty page says the same head.
        let (_, end) = read_feed(&*store, FeedCursor::start(), 10, 5).await;
        for page in [
            store.feed(&end, 10).await.expect("feed"),
            store
                .feed_in(&end, 10, &[DocId::random()])
                .await
                .expect("feed_in"),
        ] {
            if page.docs.is_empty()
                && let Some(said) = page.head
            {
                assert_eq!(said, head, "the head read with an empty page");
            }
        }
        // A later commit moves the head past the old one.
        store
            .commit(WriteBatch::new().with_changes(ids[4], vec![one_change("ещё")]))
            .await
            .expect("commit");
        assert!(store.feed_head().await.expect("head") > head);
    }

    pub async fn stored_changes_tells_which_changes_are_held(h: &dyn Harness) {
        let store = h.store();
        let (a, b) = (DocId::random(), DocId::random());
        let mut doc = typed_doc(&CYRILLIC);
        let changes = changes_of(&mut doc);
        let hashes: Vec<_> = changes.iter().map(Change::hash).collect();
        store
            .commit(WriteBatch::new().with_changes(a, changes))
            .await
            .expect("commit");
        // Folded into a snapshot, a change still counts as held.
        store.compact(a).await.expect("compact");
        let foreign = one_change("чужое").hash();
        let mut asked: Vec<_> = hashes.iter().map(|h| (a, *h)).collect();
        asked.push((a, foreign));
        asked.push((b, hashes[0]));
        let found = store.stored_changes(&asked).await.expect("stored_changes");
        let expected: HashSet<_> = hashes.iter().map(|h| (a, *h)).collect();
        assert_eq!(found, expected);
        assert!(store.stored_changes(&[]).await.expect("none").is_empty());
        // Many at once (more than one statement's worth of variables).
        let many: Vec<_> = (0..900).map(|_| (DocId::random(), foreign)).collect();
        assert!(store.stored_changes(&many).await.expect("many").is_empty());
    }

    pub async fn retain_sync_states_forgets_the_rest_of_one_peer(h: &dyn Harness) {
        let store = h.store();
        let docs: Vec<DocId> = (0..5).map(|_| DocId::random()).collect();
        let (tablet, laptop) = (PeerId::new("планшет"), PeerId::new("ноутбук"));
        let mut batch = WriteBatch::new();
        for d in &docs {
            batch = batch
                .with_sync_state(tablet.clone(), *d, vec![1, 2, 3])
                .with_sync_state(laptop.clone(), *d, vec![4]);
        }
        store.commit(batch).await.expect("commit states");
        let removed = store
            .retain_sync_states(&tablet, &docs[..2])
            .await
            .expect("retain");
        assert_eq!(
            removed.into_iter().collect::<HashSet<_>>(),
            docs[2..].iter().copied().collect()
        );
        let left = store.sync_states(&tablet, &docs).await.expect("states");
        assert_eq!(
            left.keys().copied().collect::<HashSet<_>>(),
            docs[..2].iter().copied().collect()
        );
        assert_eq!(
            store
                .sync_states(&laptop, &docs)
                .await
                .expect("other peer")
                .len(),
            5,
            "another peer keeps its states"
        );
        assert_eq!(
            store
                .retain_sync_states(&tablet, &[])
                .await
                .expect("all")
                .len(),
            2
        );
    }

    /// A reader of some feed groups reads the documents filed under them and those
    /// filed under none, in feed order, at the positions the whole feed gives them;
    /// filing a document neither moves it nor changes its version.
    pub async fn feed_in_reads_its_groups_and_the_unfiled(h: &dyn Harness) {
        let store = h.store();
        let (ga, gb) = (DocId::random(), DocId::random());
        let [a1, b, unfiled, a2] = [(); 4].map(|()| DocId::random());
        for (id, text) in [
            (a1, "Визит к «Ромашке»"),
            (b, "Визит к «Лютику»"),
            (unfiled, "Ещё не разобран"),
            (a2, "Второй визит к «Ромашке»"),
        ] {
            store
                .commit(WriteBatch::new().with_changes(id, vec![one_change(text)]))
                .await
                .expect("commit");
        }
        // Waited for: PostgreSQL's feed may hold the rows back a moment.
        let (all, _) = read_feed(&*store, FeedCursor::start(), 100, 4).await;
        assert_eq!(all, vec![a1, b, unfiled, a2]);
        let whole = store.feed(&FeedCursor::start(), 100).await.expect("feed");
        let versions = store
            .versions(&[a1, b, unfiled, a2])
            .await
            .expect("versions");
        let filed = store
            .set_feed_groups(&[(a1, ga), (b, gb), (a2, ga), (DocId::random(), ga)])
            .await
            .expect("file");
        assert_eq!(filed, 3, "an unknown document is ignored");
        assert_eq!(
            store.set_feed_groups(&[(a1, ga)]).await.expect("again"),
            0,
            "filed already"
        );
        assert_eq!(
            store
                .versions(&[a1, b, unfiled, a2])
                .await
                .expect("versions"),
            versions,
            "filing changes no version"
        );
        let start = FeedCursor::start();
        let whole_after = store.feed(&start, 100).await.expect("feed");
        assert_eq!(whole_after, whole, "filing moves nothing in the feed");
        let mine = [ga];
        // One document a page: each page continues where the last one stopped.
        let (docs, cursor) = read_feed_in(&*store, start, 1, 3, Some(&mine)).await;
        assert_eq!(docs, vec![a1, unfiled, a2]);
        assert_eq!(cursor, *whole.positions.last().expect("a2's position"));
        let page = store.feed_in(&start, 10, &mine).await.expect("feed_in");
        let at = |id: DocId| whole.positions[whole.docs.iter().position(|d| *d == id).unwrap()];
        assert_eq!(page.positions, vec![at(a1), at(unfiled), at(a2)]);
        let (docs, _) = read_feed_in(&*store, start, 10, 2, Some(&[gb])).await;
        assert_eq!(docs, vec![b, unfiled]);
        let (docs, _) = read_feed_in(&*store, start, 10, 1, Some(&[])).await;
        assert_eq!(docs, vec![unfiled], "no group: the unfiled only");

        // A later commit of `b` is not ga's reader's; a new document is everyone's
        // until it is filed.
        store
            .commit(WriteBatch::new().with_changes(b, vec![one_change("Итог по «Лютику»")]))
            .await
            .expect("commit b");
        let marker = DocId::random();
        store
            .commit(WriteBatch::new().with_changes(marker, vec![one_change("метка")]))
            .await
            .expect("commit marker");
        let (docs, _) = read_feed_in(&*store, cursor, 10, 1, Some(&mine)).await;
        assert_eq!(docs, vec![marker]);
        let (docs, _) = read_feed_in(&*store, cursor, 10, 2, Some(&[gb, ga])).await;
        assert_eq!(docs, vec![b, marker]);
        // Filed again under another group: its reader finds it, the old one does not.
        assert_eq!(
            store.set_feed_groups(&[(marker, gb)]).await.expect("file"),
            1
        );
        let (docs, _) = read_feed_in(&*store, cursor, 10, 0, Some(&mine)).await;
        assert_eq!(docs, Vec::<DocId>::new());
        let (docs, _) = read_feed_in(&*store, cursor, 10, 2, Some(&[gb])).await;
        assert_eq!(docs, vec![b, marker]);
    }

    /// A document's version moves with every commit that adds changes to it and with a
    /// touch, and with nothing else (a repeated upload, a compaction); a load reports
    /// the version of the content it read; an unknown document has none.
    pub async fn versions_name_the_content(h: &dyn Harness) {
        let store = h.store();
        let (id, other) = (DocId::random(), DocId::random());
        let mut doc = typed_doc(&["Встреча ", "в офисе"]);
        let first = changes_of(&mut doc);
        let report = store
            .commit(WriteBatch::new().with_changes(id, first.clone()))
            .await
            .expect("commit");
        let step = report.versions[&id];
        assert_eq!(step.before, None, "a new document had no version");
        let current = |store: Arc<dyn DocStore>| async move {
            store.versions(&[id, other]).await.expect("versions")
        };
        assert_eq!(
            current(store.clone()).await,
            HashMap::from([(id, step.after)])
        );
        let loaded = store.load_versioned(&[id]).await.expect("load").remove(0);
        assert_eq!(loaded.version, Some(step.after));
        assert!(loaded.bytes > 0);

        let again = store
            .commit(WriteBatch::new().with_changes(id, first))
            .await
            .expect("recommit");
        assert!(again.versions.is_empty(), "nothing new: {again:?}");
        store.compact(id).await.expect("compact");
        assert_eq!(
            current(store.clone()).await[&id],
            step.after,
            "compaction keeps it"
        );

        doc.splice_text(text_obj(&doc), 0, 0, "Итог: ")
            .expect("edit");
        let more = store
            .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
            .await
            .expect("commit more");
        let next = more.versions[&id];
        assert_eq!(next.before, Some(step.after));
        assert_ne!(next.after, step.after);
        assert_eq!(current(store.clone()).await[&id], next.after);

        store.touch(&[id]).await.expect("touch");
        let touched = current(store.clone()).await[&id];
        assert_ne!(touched, next.after, "a touch moves it too");
        let loaded = store.load_versioned(&[id, other]).await.expect("load");
        assert_eq!(loaded[0].version, Some(touched));
        assert_eq!(notes(loaded_doc(&loaded[0])), "Итог: Встреча в офисе");
        assert!(matches!(loaded[1].loaded, Ok(None)) && loaded[1].version.is_none());
    }

    /// A document sent whole to a store that does not hold it: the saved bytes are its
    /// snapshot, as they came, and each change a row without bytes. It loads the same,
    /// its changes count as new, it enters the feed, and its hashes make later sends of
    /// the same changes no-ops; an edit on top is a change loaded after the snapshot.
    pub async fn a_document_sent_whole_is_kept_as_its_saved_bytes(h: &dyn Harness) {
        let store = h.store();
        let mut doc = typed_doc(&CYRILLIC);
        let id = DocId::random();
        let whole = whole_of(id, &mut doc);
        let report = store
            .commit(WriteBatch::new().with_whole(whole.clone()))
            .await
            .expect("commit");
        assert_eq!(report.new_for(id), 4);
        assert_eq!(report.versions[&id].before, None, "a new document");
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), CYRILLIC.concat());
        assert_eq!(back.get_heads(), doc.get_heads());
        assert_eq!(h.change_rows(id).await, 4, "a row per change");
        assert_eq!(
            h.stored_bytes(id).await,
            i64::try_from(whole.bytes().len()).expect("fits"),
            "the bytes as they came and nothing more"
        );
        let (docs, cursor) = read_feed(&*store, FeedCursor::start(), 10, 1).await;
        assert_eq!(docs, vec![id]);
        let pairs: Vec<(DocId, automerge::ChangeHash)> =
            whole.hashes().iter().map(|hash| (id, *hash)).collect();
        assert_eq!(
            store.stored_changes(&pairs).await.expect("held").len(),
            4,
            "every change is known to be held"
        );

        // Sent again (a retried request): nothing new, the feed does not move.
        let again = store
            .commit(WriteBatch::new().with_whole(whole))
            .await
            .expect("again");
        assert_eq!(again.new_for(id), 0);
        assert!(again.versions.is_empty(), "nothing new: {again:?}");
        let retried = store
            .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
            .await
            .expect("the same changes one by one");
        assert_eq!(retried.new_for(id), 0);
        assert_feed_after_is_only_a_new_marker(&*store, cursor).await;

        let heads = doc.get_heads();
        doc.splice_text(text_obj(&doc), 0, 0, "Итог: ")
            .expect("edit");
        doc.commit();
        let edit = store
            .commit(WriteBatch::new().with_changes(id, doc.get_changes(&heads)))
            .await
            .expect("an edit on top");
        assert_eq!(edit.new_for(id), 1);
        let back = loaded(store.load(id).await);
        assert_eq!(notes(&back), format!("Итог: {}", CYRILLIC.concat()));
        let compacted = store.compact(id).await.expect("compact");
        assert_eq!(compacted.changes_folded, 1, "only the edit was loose");
        assert_eq!(notes(&loaded(store.load(id).await)), notes(&back));
    }

    /// A document sent whole to a store that holds it already (another writer was first,
    /// or a lead edited it meanwhile): nothing the store held is replaced, and what the
    /// bytes bring that it lacked is added.
    pub async fn a_document_sent_whole_to_a_store_holding_it_adds_what_it_lacked(h: &dyn Harness) {
        let store = h.store();
        let id = DocId::random();
        let mut device = typed_doc(&CYRILLIC[..2]);
        store
            .commit(WriteBatch::new().with_changes(id, changes_of(&mut device)))
            .await
            .expect("first part");
        // The lead's edit, which the device does not have.
        let mut lead = device.fork().with_actor(automerge::ActorId::random());
        let start = lead.get_heads();
        lead.splice_text(text_obj(&lead), 0, 0, "[проверено] ")
            .expect("lead edits");
        lead.commit();
        store
            .commit(WriteBatch::new().with_changes(id, lead.get_changes(&start)))
            .await
            .expect("the lead's edit");
        // The device types on and sends the document whole.
        let len = notes(device.document()).chars().count();
        device
            .splice_text(text_obj(&device), len, 0, CYRILLIC[2])
            .expect("type");
        device.commit();
        let report = store
            .commit(WriteBatch::new().with_whole(whole_of(id, &mut device)))
            .await
            .expect("commit whole");
        assert_eq!(report.new_for(id), 1, "only the change the store lacked");
        assert!(report.versions[&id].before.is_some());
        let back = loaded(store.load(id).await);
        assert_eq!(
            notes(&back),
            format!("[проверено] {}", CYRILLIC.concat()),
            "the lead's edit and the device's text"
        );
        assert_eq!(h.change_rows(id).await, 5);
    }

    /// A document sent whole in a batch that cannot be stored whole: nothing of it is
    /// stored, and the same document commits afterwards.
    pub async fn a_document_sent_whole_is_all_or_nothing_with_its_batch(h: &dyn Harness) {
        let store = h.store();
        let id = DocId::random();
        let mut doc = typed_doc(&CYRILLIC);
        let whole = whole_of(id, &mut doc);
        let mut gap = typed_doc(&["раз", "два"]);
        let last = changes_of(&mut gap).pop().expect("a change");
        let err = store
            .commit(
                WriteBatch::new()
                    .with_whole(whole.clone())
                    .with_changes(DocId::random(), vec![last]),
            )
            .await
            .expect_err("a change with a missing dependency");
        assert_eq!(err.code(), "missing_dependencies");
        assert!(store.load(id).await.expect("load").is_none());
        assert!(store.list_docs().await.expect("list").is_empty());
        let report = store
            .commit(WriteBatch::new().with_whole(whole))
            .await
            .expect("commit alone");
        assert_eq!(report.new_for(id), 4);
        assert_eq!(notes(&loaded(store.load(id).await)), CYRILLIC.concat());
    }
}

/// `doc` as a device sends it on its first upload: saved whole, with its change hashes.
fn whole_of(id: DocId, doc: &mut AutoCommit) -> WholeDoc {
    let hashes = doc.get_changes(&[]).iter().map(Change::hash).collect();
    WholeDoc::new(id, doc.save(), hashes).expect("a saved document is one document chunk")
}

/// The document of a [`rapport_store::Versioned`] that must have loaded.
fn loaded_doc(v: &rapport_store::Versioned) -> &Automerge {
    match &v.loaded {
        Ok(Some(doc)) => doc,
        other => panic!("document {} did not load: {other:?}", v.doc),
    }
}

/// The "notes" text object of a [`typed_doc`].
fn text_obj(doc: &AutoCommit) -> automerge::ObjId {
    match doc.get(ROOT, "notes").expect("notes") {
        Some((Value::Object(ObjType::Text), id)) => id,
        other => panic!("no notes text: {other:?}"),
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::MemHarness::new();
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::SqliteHarness::new().await;
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::PgHarness::new().await else {
                        return;
                    };
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod cached_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::Cached::new(crate::MemHarness::new());
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod cached_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::Cached::new(crate::SqliteHarness::new().await);
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod grouped_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::Grouped::new(crate::SqliteHarness::new().await);
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod grouped_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::PgHarness::new().await else {
                        return;
                    };
                    let h = crate::Grouped::new(h);
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod cached_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::PgHarness::new().await else {
                        return;
                    };
                    let h = crate::Cached::new(h);
                    crate::cases::$case(&h).await;
                }
            )*
        }
    };
}

conformance!(
    round_trip_keeps_cyrillic_text,
    unknown_document_loads_as_none,
    recommit_stores_nothing_twice,
    batch_is_all_or_nothing,
    compaction_keeps_content_and_shrinks_storage,
    change_committed_during_compaction_survives,
    a_copy_in_memory_folds_only_what_the_store_holds_exactly,
    feed_orders_pages_and_lists_each_doc_once,
    touch_moves_documents_to_the_head_of_the_feed,
    compaction_candidates_are_documents_with_many_loose_changes,
    sync_states_are_per_peer,
    documents_come_with_one_peers_states,
    corrupt_snapshot_names_the_document,
    corrupt_change_names_the_document,
    big_batch_commits_in_one_go,
    a_long_history_is_stored_and_counted_exactly,
    epoch_is_stable_until_a_new_one_is_given,
    feed_head_is_at_or_beyond_every_cursor_handed_out,
    stored_changes_tells_which_changes_are_held,
    retain_sync_states_forgets_the_rest_of_one_peer,
    versions_name_the_content,
    feed_in_reads_its_groups_and_the_unfiled,
    a_document_sent_whole_is_kept_as_its_saved_bytes,
    a_document_sent_whole_to_a_store_holding_it_adds_what_it_lacked,
    a_document_sent_whole_is_all_or_nothing_with_its_batch,
);

// ---------------------------------------------------------------------------------------
// Backend-specific cases.

/// Concurrent writers commit while a reader follows the feed: the reader must see every
/// commit, and for every document the last version it was told about must be the final
/// one. With `held`, some writers keep their transaction open after taking feed
/// positions, so transactions commit out of the order of their positions.
async fn feed_sees_every_commit_of_concurrent_writers(
    store: Arc<dyn DocStore>,
    held: Option<Arc<PgStore>>,
) {
    const WRITERS: usize = 8;
    const COMMITS: usize = 50;
    let shared: Vec<DocId> = (0..3).map(|_| DocId::random()).collect();
    let deadline = Instant::now() + Duration::from_secs(90);

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let held = held.clone();
        let shared = shared.clone();
        writers.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            for i in 0..COMMITS {
                let own = DocId::random();
                let mut batch =
                    WriteBatch::new().with_changes(own, vec![one_change(&format!("{w}/{i}"))]);
                if i % 4 == w % 4 {
                    batch = batch.with_changes(
                        shared[(w + i) % shared.len()],
                        vec![one_change(&format!("общий {w}/{i}"))],
                    );
                }
                let result = match &held {
                    Some(pg) if (i + w) % 5 == 0 => {
                        let hold = Duration::from_millis(20 + 15 * (i % 7) as u64);
                        pg.commit_held_open(batch, hold).await
                    }
                    _ => store.commit(batch).await,
                };
                match result {
                    Ok(_) => committed.push(own),
                    // Concurrent writers on the shared rows may deadlock; the database
                    // aborts one and nothing of it is stored: not a feed update.
                    Err(e) if e.is_retryable() => {}
                    Err(e) => panic!("writer {w} commit {i}: {e}"),
                }
            }
            committed
        }));
    }

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = FeedCursor::start();
            let mut last_seen: HashMap<DocId, Vec<automerge::ChangeHash>> = HashMap::new();
            while Instant::now() < deadline {
                let writers_done = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.feed(&cursor, 25).await.expect("feed");
                if page.docs.is_empty() {
                    if writers_done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                read_page(&*store, &page.docs, &mut last_seen).await;
                cursor = page.cursor;
            }
            (last_seen, cursor)
        })
    };

    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.expect("writer task"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut last_seen, mut cursor) = reader.await.expect("reader task");
    assert!(
        committed.len() > WRITERS * COMMITS * 9 / 10,
        "most commits succeed"
    );
    let mut all = committed.clone();
    all.extend(shared.iter().copied());
    let mut final_heads: HashMap<DocId, Vec<automerge::ChangeHash>> = HashMap::new();
    for (doc, result) in store.load_many(&all).await.expect("load_many") {
        // A shared doc no commit happened to touch is not stored.
        if let Some(final_doc) = result.expect("load") {
            final_heads.insert(doc, final_doc.get_heads());
        }
    }
    // Every commit has ended, but a transaction of a parallel test (anywhere in the
    // cluster) may still hold the feed back: follow it until the reader has seen every
    // final version. A feed that skipped a row never gets there, and the deadline fails
    // the test below; waiting for a quiet spell instead failed when another test held a
    // transaction open for longer than the spell.
    while Instant::now() < deadline
        && final_heads
            .iter()
            .any(|(doc, heads)| last_seen.get(doc) != Some(heads))
    {
        let page = store.feed(&cursor, 25).await.expect("feed");
        if page.docs.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        read_page(&*store, &page.docs, &mut last_seen).await;
        cursor = page.cursor;
    }

    let missed: Vec<&DocId> = committed
        .iter()
        .filter(|d| !last_seen.contains_key(d))
        .collect();
    assert!(
        missed.is_empty(),
        "the feed skipped {} of {} committed documents",
        missed.len(),
        committed.len()
    );
    for (doc, heads) in &final_heads {
        assert_eq!(
            last_seen.get(doc),
            Some(heads),
            "the reader's last view of {doc} is not its final version"
        );
    }
}

/// Records the current heads of every document of a feed page.
async fn read_page(
    store: &dyn DocStore,
    docs: &[DocId],
    last_seen: &mut HashMap<DocId, Vec<automerge::ChangeHash>>,
) {
    for (doc, loaded) in store.load_many(docs).await.expect("load_many") {
        let doc_now = loaded.expect("load").expect("a fed document is stored");
        last_seen.insert(doc, doc_now.get_heads());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_feed_never_skips_out_of_order_commits() {
    let Some(h) = PgHarness::new().await else {
        return;
    };
    feed_sees_every_commit_of_concurrent_writers(h.store.clone(), Some(h.store.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_feed_sees_every_commit_of_concurrent_writers() {
    let h = SqliteHarness::new().await;
    feed_sees_every_commit_of_concurrent_writers(h.store.clone(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_feed_sees_every_commit_of_concurrent_writers() {
    let h = MemHarness::new();
    feed_sees_every_commit_of_concurrent_writers(h.store.clone(), None).await;
}

/// A backup put back: everything after it is gone; `rapport-server restore` gives the
/// store a new epoch, a copy put back by hand keeps the one it had.
#[tokio::test]
async fn memory_restore_goes_back_to_the_snapshot_with_or_without_a_new_epoch() {
    let store = MemStore::new();
    let (kept, lost) = (DocId::random(), DocId::random());
    let tablet = PeerId::new("планшет");
    store
        .commit(
            WriteBatch::new()
                .with_changes(kept, vec![one_change("до копии")])
                .with_sync_state(tablet.clone(), kept, vec![1]),
        )
        .await
        .expect("commit");
    let backup = store.snapshot();
    let (_, cursor) = read_feed(&store, FeedCursor::start(), 10, 1).await;
    let epoch = store.epoch().await.expect("epoch");
    store
        .commit(
            WriteBatch::new()
                .with_changes(lost, vec![one_change("после копии")])
                .with_sync_state(tablet.clone(), lost, vec![2]),
        )
        .await
        .expect("commit");
    let ahead = store.feed_head().await.expect("head");

    store.restore(backup.clone(), false);
    assert_eq!(store.epoch().await.expect("epoch"), epoch, "kept by hand");
    assert_eq!(store.list_docs().await.expect("list"), vec![kept]);
    assert!(store.load(lost).await.expect("load").is_none(), "lost");
    assert!(
        store.feed_head().await.expect("head") < ahead,
        "a cursor handed out after the copy is beyond the feed now"
    );
    assert_eq!(store.feed_head().await.expect("head"), cursor);
    let states = store
        .sync_states(&tablet, &[kept, lost])
        .await
        .expect("states");
    assert_eq!(states, HashMap::from([(kept, vec![1])]));

    store.restore(backup, true);
    assert_ne!(store.epoch().await.expect("epoch"), epoch, "a new epoch");
    assert_eq!(
        notes_v(&loaded(store.load(kept).await)),
        "до копии",
        "the snapshot's documents are back"
    );
}

/// The value a [`one_change`] document holds.
fn notes_v(doc: &Automerge) -> String {
    match doc.get(ROOT, "v").expect("read v") {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(text) => text.to_string(),
            other => panic!("not text: {other:?}"),
        },
        other => panic!("no value in the document: {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_data_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("устройство.db");
    let id = DocId::random();
    let mut doc = typed_doc(&CYRILLIC);
    {
        let store = SqliteStore::open(&path).await.expect("create the file");
        store
            .commit(
                WriteBatch::new()
                    .with_changes(id, changes_of(&mut doc))
                    .with_sync_state(PeerId::server(), id, vec![7; 66]),
            )
            .await
            .expect("commit");
        store.pool().close().await;
    }
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(notes(&loaded(store.load(id).await)), CYRILLIC.concat());
    let states = store
        .sync_states(&PeerId::server(), &[id])
        .await
        .expect("states");
    assert_eq!(states.get(&id), Some(&vec![7; 66]));
    let (feed, _) = read_feed(&store, FeedCursor::start(), 10, 1).await;
    assert_eq!(feed, vec![id]);
}

#[tokio::test]
async fn sqlite_open_error_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("нет-такой-папки").join("store.db");
    let err = SqliteStore::open(&path).await.expect_err("missing folder");
    assert_eq!(err.code(), "store_open_failed");
    let message = err.to_string();
    assert!(message.contains("cannot open the database at"), "{message}");
    assert!(message.contains("нет-такой-папки"), "{message}");
}

#[tokio::test]
async fn postgres_connect_error_names_the_server_without_password() {
    let err = PgStore::connect("postgres://rapport:секрет@127.0.0.1:1/rapport")
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.code(), "store_open_failed");
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("секрет"), "the password leaks: {message}");
    let err = PgStore::connect("mysql://nope")
        .await
        .expect_err("not a PostgreSQL URL");
    assert_eq!(err.code(), "store_open_failed");
}

/// A document committed while an older transaction is still open is held back by the
/// feed (it could otherwise be skipped) but listed by `feed_held_back`, so a device's
/// first sync gets it at once; once the older transaction ends the feed hands it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_feed_held_back_lists_what_the_feed_still_holds_back() {
    let Some(h) = PgHarness::new().await else {
        return;
    };
    let store = h.store.clone();
    let (slow, quick) = (DocId::random(), DocId::random());
    let held = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .commit_held_open(
                    WriteBatch::new().with_changes(slow, vec![one_change("медленно")]),
                    Duration::from_secs(3),
                )
                .await
        })
    };
    // The slow transaction has taken its position before the quick one commits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    store
        .commit(WriteBatch::new().with_changes(quick, vec![one_change("быстро")]))
        .await
        .expect("quick commit");
    let page = store.feed(&FeedCursor::start(), 10).await.expect("feed");
    assert!(!page.docs.contains(&quick), "held back: {:?}", page.docs);
    let back = store
        .feed_held_back(&FeedCursor::start(), 10)
        .await
        .expect("held back");
    assert_eq!(back, vec![quick], "only what is committed and held back");
    held.await.expect("task").expect("slow commit");
    let (fed, cursor) = read_feed(&*store, FeedCursor::start(), 10, 2).await;
    assert_eq!(
        fed.iter().collect::<HashSet<_>>(),
        [slow, quick].iter().collect()
    );
    assert!(
        store
            .feed_held_back(&cursor, 10)
            .await
            .expect("none")
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_backup_is_a_store_that_opens_with_everything_committed_before_it() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path().join("store.db"))
        .await
        .expect("open");
    let id = DocId::random();
    let mut doc = typed_doc(&CYRILLIC);
    store
        .commit(WriteBatch::new().with_changes(id, changes_of(&mut doc)))
        .await
        .expect("commit");
    let copy = dir.path().join("копия.db");
    store.backup_to(&copy).await.expect("backup");
    let err = store.backup_to(&copy).await.expect_err("never over a file");
    assert!(err.to_string().contains("копия.db"), "{err}");
    let restored = SqliteStore::open(&copy).await.expect("the copy opens");
    assert_eq!(notes(&loaded(restored.load(id).await)), CYRILLIC.concat());
    assert_eq!(
        restored.epoch().await.expect("epoch"),
        store.epoch().await.expect("epoch"),
        "a copy is the same store until a restore gives it a new epoch"
    );
}

/// A dump restored into another cluster carries transaction ids from the future of
/// this cluster: new commits would sort before the restored rows and no cursor would
/// reach them. Opening such a store renumbers it and gives it a new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_feed_from_another_cluster_is_renumbered_with_a_new_epoch() {
    let Some(h) = PgHarness::new().await else {
        return;
    };
    let store = h.store.clone();
    let old: Vec<DocId> = (0..3).map(|_| DocId::random()).collect();
    for (i, id) in old.iter().enumerate() {
        store
            .commit(WriteBatch::new().with_changes(*id, vec![one_change(&format!("старое {i}"))]))
            .await
            .expect("commit");
    }
    assert!(
        !store.renumber_restored_feed().await.expect("check"),
        "a store of this cluster is left alone"
    );
    let epoch = store.epoch().await.expect("epoch");
    // What a restore from another, older-numbered cluster looks like.
    sqlx::query("UPDATE docs SET feed_xid = (feed_xid::text::bigint + 4000000000)::text::xid8")
        .execute(store.pool())
        .await
        .expect("ids from the future");
    assert!(store.renumber_restored_feed().await.expect("renumber"));
    assert_ne!(store.epoch().await.expect("epoch"), epoch, "a new epoch");
    let new = DocId::random();
    store
        .commit(WriteBatch::new().with_changes(new, vec![one_change("новое")]))
        .await
        .expect("commit after the restore");
    let (fed, _) = read_feed(&*store, FeedCursor::start(), 2, 4).await;
    assert_eq!(fed.len(), 4, "every document once: {fed:?}");
    assert_eq!(fed[3], new, "a new commit comes after the restored ones");
    assert_eq!(
        fed[..3].iter().collect::<HashSet<_>>(),
        old.iter().collect::<HashSet<_>>()
    );
}

/// Transaction ids order the feed as numbers: 9 before 10 before 11 (text would put
/// "10" first). When the cluster's ids gained a digit, a text order made the feed skip
/// the rows of shorter ids and put its head below cursors it had handed out, so devices
/// were told again and again that the store went back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_orders_transaction_ids_as_numbers_across_a_new_digit() {
    let Some(h) = PgHarness::new().await else {
        return;
    };
    let store = h.store.clone();
    let docs: Vec<DocId> = (0..3).map(|_| DocId::random()).collect();
    for (i, id) in docs.iter().enumerate() {
        store
            .commit(WriteBatch::new().with_changes(*id, vec![one_change(&format!("визит {i}"))]))
            .await
            .expect("commit");
    }
    let group = DocId::random();
    store
        .set_feed_groups(&[(docs[0], group), (docs[2], group)])
        .await
        .expect("file");
    // Ids on both sides of a new digit, below every running transaction (visible).
    for (id, xid) in docs.iter().zip(["9", "10", "11"]) {
        sqlx::query("UPDATE docs SET feed_xid = $2::text::xid8 WHERE doc_id = $1")
            .bind(id.as_uuid())
            .bind(xid)
            .execute(store.pool())
            .await
            .expect("set the transaction id");
    }
    // One document a page: each page starts after the last one's position.
    let (fed, cursor) = read_feed(&*store, FeedCursor::start(), 1, 3).await;
    assert_eq!(fed, docs, "in the order of their transaction ids");
    assert_eq!(
        store.feed_head().await.expect("head"),
        cursor,
        "the head is the last row"
    );
    let (fed, _) = read_feed_in(&*store, FeedCursor::start(), 1, 3, Some(&[group])).await;
    assert_eq!(fed, docs);
    // The empty page after the last row says the same head, read in the same query.
    for page in [
        store.feed(&cursor, 10).await.expect("feed"),
        store.feed_in(&cursor, 10, &[group]).await.expect("feed_in"),
    ] {
        assert!(page.docs.is_empty());
        assert_eq!(page.head, Some(cursor), "the head with the empty page");
    }
}

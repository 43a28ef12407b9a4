//! Group commit ([`GroupCommit`]): batches queued while a commit is under way are stored
//! in one transaction, each caller gets its own report once its batch is durable, and a
//! batch the store refuses fails alone. The conformance suite runs the SQLite and
//! PostgreSQL stores behind group commit too (`conformance.rs`, modules `grouped_*`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc};
use rapport_store::{
    CommitReport, CompactReport, CompactionPlan, DocId, DocStore, DocVersion, FeedCursor, FeedPage,
    GroupCommit, MemStore, PeerId, PgStore, SqliteStore, StoreError, Versioned, WriteBatch,
};
use rapport_testkit::PgDb;
use std::collections::{HashMap, HashSet};
use tokio::sync::Semaphore;

/// A store whose first commit waits until the test opens the gate: meanwhile the other
/// callers queue behind it, which makes the grouping certain, not a matter of timing.
struct Gated {
    inner: Arc<dyn DocStore>,
    gate: Semaphore,
    entered: Semaphore,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl DocStore for Gated {
    async fn commit(&self, batch: WriteBatch) -> Result<CommitReport, StoreError> {
        if !self.first.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.entered.add_permits(1);
            let _open = self.gate.acquire().await.expect("the gate opens");
        }
        self.inner.commit(batch).await
    }
    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError> {
        self.inner.load_versioned(docs).await
    }
    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError> {
        self.inner.versions(docs).await
    }
    async fn plan_compaction(&self, doc: DocId) -> Result<CompactionPlan, StoreError> {
        self.inner.plan_compaction(doc).await
    }
    async fn apply_compaction(&self, plan: CompactionPlan) -> Result<CompactReport, StoreError> {
        self.inner.apply_compaction(plan).await
    }
    async fn feed(&self, after: &FeedCursor, limit: usize) -> Result<FeedPage, StoreError> {
        self.inner.feed(after, limit).await
    }
    async fn feed_in(
        &self,
        after: &FeedCursor,
        limit: usize,
        groups: &[DocId],
    ) -> Result<FeedPage, StoreError> {
        self.inner.feed_in(after, limit, groups).await
    }
    async fn set_feed_groups(&self, groups: &[(DocId, DocId)]) -> Result<u64, StoreError> {
        self.inner.set_feed_groups(groups).await
    }
    async fn touch(&self, docs: &[DocId]) -> Result<u64, StoreError> {
        self.inner.touch(docs).await
    }
    async fn sync_states(
        &self,
        peer: &PeerId,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        self.inner.sync_states(peer, docs).await
    }
    async fn delete_sync_states(&self, peer: &PeerId) -> Result<u64, StoreError> {
        self.inner.delete_sync_states(peer).await
    }
    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        self.inner.compaction_candidates(min_changes, limit).await
    }
    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        self.inner.list_docs().await
    }
    async fn epoch(&self) -> Result<[u8; 16], StoreError> {
        self.inner.epoch().await
    }
    async fn new_epoch(&self) -> Result<[u8; 16], StoreError> {
        self.inner.new_epoch().await
    }
    async fn feed_head(&self) -> Result<FeedCursor, StoreError> {
        self.inner.feed_head().await
    }
    async fn feed_held_back(
        &self,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        self.inner.feed_held_back(after, limit).await
    }
    async fn stored_changes(
        &self,
        pairs: &[(DocId, ChangeHash)],
    ) -> Result<HashSet<(DocId, ChangeHash)>, StoreError> {
        self.inner.stored_changes(pairs).await
    }
    async fn retain_sync_states(
        &self,
        peer: &PeerId,
        keep: &[DocId],
    ) -> Result<Vec<DocId>, StoreError> {
        self.inner.retain_sync_states(peer, keep).await
    }
}

/// One change of a fresh document: `key` set to `value`.
fn change(key: &str, value: &str) -> automerge::Change {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, key, value).expect("put");
    doc.commit();
    doc.get_changes(&[]).pop().expect("one change")
}

/// The first commit holds the turn while 12 devices queue (one of them sends a change
/// whose dependency the store never got, two write the same shared document); then
/// the queued batches go in one transaction, the refused one fails alone, and every
/// other caller's report names its own documents.
async fn queued_batches_commit_together_and_a_refused_one_fails_alone(inner: Arc<dyn DocStore>) {
    let gated = Arc::new(Gated {
        inner,
        gate: Semaphore::new(0),
        entered: Semaphore::new(0),
        first: false.into(),
    });
    let store = Arc::new(GroupCommit::new(gated.clone()));
    let first = DocId::random();
    let leader = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .commit(WriteBatch::new().with_changes(first, vec![change("визит", "первый")]))
                .await
        }
    });
    let _entered = gated
        .entered
        .acquire()
        .await
        .expect("the first commit starts");

    let shared = DocId::random();
    let shared_change = change("общий", "клиент «Ромашка»");
    // A change whose dependency is not stored: the store refuses its batch.
    let mut orphan_doc = AutoCommit::new();
    orphan_doc.put(ROOT, "v", "раз").expect("put");
    orphan_doc.commit();
    orphan_doc.put(ROOT, "v", "два").expect("put");
    orphan_doc.commit();
    let orphan = orphan_doc
        .get_changes(&[])
        .pop()
        .expect("the second change");
    let orphan_id = DocId::random();
    const DEVICES: usize = 12;
    let mut tasks = Vec::new();
    let mut own = Vec::new();
    for i in 0..DEVICES {
        let id = DocId::random();
        own.push(id);
        let mut batch = WriteBatch::new()
            .with_changes(id, vec![change("визит", &format!("устройство {i}"))])
            .with_sync_state(PeerId::new(format!("устройство-{i}")), id, vec![i as u8]);
        if i < 2 {
            batch = batch.with_changes(shared, vec![shared_change.clone()]);
        }
        if i == 5 {
            batch = batch.with_changes(orphan_id, vec![orphan.clone()]);
        }
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.commit(batch).await }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.waiting() < DEVICES {
        assert!(Instant::now() < deadline, "the devices never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gated.gate.add_permits(1);
    let led = leader.await.expect("leader").expect("the first commit");
    assert_eq!(led.new_changes[&first], 1);
    let mut shared_counted = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("device");
        if i == 5 {
            let err = result.expect_err("a change without its dependency is refused");
            assert!(
                matches!(err, StoreError::MissingDependencies { .. }),
                "{err:?}"
            );
            continue;
        }
        let report = result.expect("committed");
        assert_eq!(report.new_changes[&own[i]], 1, "device {i}");
        assert_eq!(report.sync_states, 1);
        assert!(
            report.versions.contains_key(&own[i]),
            "its own document moved"
        );
        shared_counted += report.new_changes.get(&shared).copied().unwrap_or(0);
    }
    assert_eq!(shared_counted, 1, "the shared change is counted once");
    let stats = store.stats();
    assert_eq!(stats.batches, 1 + DEVICES as u64);
    // The first alone, the group of twelve (refused), then each of the twelve alone.
    assert_eq!(stats.commits, 1 + 1 + DEVICES as u64);
    for (i, id) in own.iter().enumerate() {
        let stored = store.load(*id).await.expect("load");
        assert_eq!(
            stored.is_some(),
            i != 5,
            "device {i}: all of a batch or nothing"
        );
    }
    let shared_doc = store.load(shared).await.expect("load").expect("stored");
    assert_eq!(
        shared_doc
            .get(ROOT, "общий")
            .expect("read")
            .expect("set")
            .0
            .as_str(),
        Some("клиент «Ромашка»")
    );
    assert!(store.load(orphan_id).await.expect("load").is_none());
    let states = store
        .sync_states(&PeerId::new("устройство-3"), &[own[3]])
        .await
        .expect("states");
    assert_eq!(states[&own[3]], vec![3]);
}

/// Without a refused batch the queued ones take a single transaction.
async fn a_group_is_one_transaction(inner: Arc<dyn DocStore>) {
    let gated = Arc::new(Gated {
        inner,
        gate: Semaphore::new(0),
        entered: Semaphore::new(0),
        first: false.into(),
    });
    let store = Arc::new(GroupCommit::new(gated.clone()));
    let leader = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .commit(WriteBatch::new().with_changes(DocId::random(), vec![change("a", "б")]))
                .await
        }
    });
    let _entered = gated
        .entered
        .acquire()
        .await
        .expect("the first commit starts");
    let ids: Vec<DocId> = (0..8).map(|_| DocId::random()).collect();
    // The first two also write one shared document.
    let shared = DocId::random();
    let shared_change = change("общий", "да");
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (store, id) = (store.clone(), *id);
            let mut batch = WriteBatch::new().with_changes(id, vec![change("визит", "ок")]);
            if i < 2 {
                batch = batch.with_changes(shared, vec![shared_change.clone()]);
            }
            tokio::spawn(async move { store.commit(batch).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.waiting() < ids.len() {
        assert!(Instant::now() < deadline, "the commits never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gated.gate.add_permits(1);
    leader.await.expect("leader").expect("commit");
    let mut shared_counted = 0;
    for (id, task) in ids.iter().zip(tasks) {
        let report = task.await.expect("task").expect("commit");
        assert!(report.versions.contains_key(id), "its own document moved");
        assert!(
            !report.versions.contains_key(&shared),
            "a document of two batches of one group is followed by neither"
        );
        shared_counted += report.new_changes.get(&shared).copied().unwrap_or(0);
    }
    assert_eq!(shared_counted, 1, "the shared change is counted once");
    assert_eq!(store.stats().commits, 2, "{:?}", store.stats());
    for id in ids {
        assert!(store.load(id).await.expect("load").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_queued_batches_commit_together_and_a_refused_one_fails_alone() {
    queued_batches_commit_together_and_a_refused_one_fails_alone(Arc::new(MemStore::new())).await;
    a_group_is_one_transaction(Arc::new(MemStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queued_batches_commit_together_and_a_refused_one_fails_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(
        SqliteStore::open(dir.path().join("группа.db"))
            .await
            .expect("open"),
    );
    queued_batches_commit_together_and_a_refused_one_fails_alone(store.clone()).await;
    a_group_is_one_transaction(store.clone()).await;
    store.pool().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queued_batches_commit_together_and_a_refused_one_fails_alone() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = Arc::new(PgStore::connect(&db.url).await.expect("connect"));
    queued_batches_commit_together_and_a_refused_one_fails_alone(store.clone()).await;
    a_group_is_one_transaction(store).await;
}

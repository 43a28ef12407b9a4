//! Resident documents ([`CachedStore`]): a resident copy is served only while it is the
//! stored content, whoever wrote since and whatever happened to the store (another
//! process on the same database, a store put back in time); commits through the cache
//! keep its copies current; the memory budget holds. The conformance suite runs every
//! store behind the cache too (`conformance.rs`, modules `cached_*`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT, ReadDoc};
use rapport_store::{CachedStore, DocId, DocStore, MemStore, PgStore, SqliteStore, WriteBatch};
use rapport_testkit::PgDb;

/// A document with one list of names, each added in its own change.
fn names_doc() -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put_object(ROOT, "names", automerge::ObjType::List)
        .expect("list");
    doc.commit();
    doc
}

fn add_name(doc: &mut AutoCommit, name: &str) -> Vec<automerge::Change> {
    let heads = doc.get_heads();
    let list = names_obj(doc.document());
    let len = doc.length(&list);
    doc.insert(&list, len, name).expect("insert");
    doc.commit();
    doc.get_changes(&heads)
}

fn names_obj(doc: &Automerge) -> automerge::ObjId {
    doc.get(ROOT, "names").expect("read").expect("names list").1
}

fn names(doc: &Automerge) -> Vec<String> {
    let list = names_obj(doc);
    (0..doc.length(&list))
        .map(|i| {
            doc.get(&list, i)
                .expect("read")
                .expect("a name")
                .0
                .as_str()
                .expect("text")
                .to_owned()
        })
        .collect()
}

async fn load_names(store: &dyn DocStore, id: DocId) -> Vec<String> {
    names(&store.load(id).await.expect("load").expect("stored"))
}

/// Stores a names document with `first` in it; returns the writer's copy.
async fn stored_names(store: &dyn DocStore, id: DocId, first: &str) -> AutoCommit {
    let mut doc = names_doc();
    add_name(&mut doc, first);
    store
        .commit(WriteBatch::new().with_changes(id, doc.get_changes(&[])))
        .await
        .expect("commit");
    doc
}

#[tokio::test]
async fn commits_through_the_cache_keep_its_copy_current() {
    let cache = CachedStore::new(Arc::new(MemStore::new()), 64 << 20);
    let id = DocId::random();
    let mut doc = stored_names(&cache, id, "Анна").await;
    assert_eq!(load_names(&cache, id).await, ["Анна"]);
    assert_eq!(cache.stats().misses, 1);
    let changes = add_name(&mut doc, "Борис");
    cache
        .commit(WriteBatch::new().with_changes(id, changes))
        .await
        .expect("commit");
    assert_eq!(cache.stats().followed, 1, "the copy took the commit");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1), "{stats:?}");
}

/// A writer's copy (the sync engine's: the resident copy with a device's changes
/// applied) with `name` added; the copy, the heads it was read at and the new changes.
async fn writers_copy(
    cache: &CachedStore,
    id: DocId,
    name: &str,
) -> (
    Automerge,
    Vec<automerge::ChangeHash>,
    Vec<automerge::Change>,
) {
    let mut copy = cache.load(id).await.expect("load").expect("stored");
    let base = copy.get_heads();
    let list = names_obj(&copy);
    let len = copy.length(&list);
    let mut tx = copy.transaction();
    tx.insert(&list, len, name).expect("insert");
    tx.commit();
    let changes = copy.get_changes(&base);
    (copy, base, changes)
}

/// The names the cache serves are `want` (in any order), and the store's.
async fn served_is_stored(cache: &CachedStore, inner: &dyn DocStore, id: DocId, want: &[&str]) {
    let mut served = load_names(cache, id).await;
    let mut stored = load_names(inner, id).await;
    served.sort();
    stored.sort();
    assert_eq!(served, want);
    assert_eq!(served, stored);
}

/// Commits `changes` with the writer's `copy` read at `base` (what the sync engine does).
async fn commit_with_copy(
    cache: &CachedStore,
    id: DocId,
    (copy, base, changes): (
        Automerge,
        Vec<automerge::ChangeHash>,
        Vec<automerge::Change>,
    ),
) {
    cache
        .commit(
            WriteBatch::new()
                .with_copy(id, base, copy)
                .with_changes(id, changes),
        )
        .await
        .expect("commit");
}

#[tokio::test]
async fn a_writers_copy_of_the_resident_content_takes_its_place() {
    let inner = Arc::new(MemStore::new());
    let cache = CachedStore::new(inner.clone(), 64 << 20);
    let id = DocId::random();
    stored_names(&cache, id, "Анна").await;
    let (copy, base, changes) = writers_copy(&cache, id, "Борис").await;
    commit_with_copy(&cache, id, (copy, base, changes)).await;
    let stats = cache.stats();
    assert_eq!((stats.followed, stats.adopted), (1, 1), "{stats:?}");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);
    assert_eq!(load_names(&*inner, id).await, ["Анна", "Борис"]);
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.misses),
        (1, 1),
        "served resident: {stats:?}"
    );
}

/// A writer read the resident copy; another commit moved it before the writer's commit:
/// the writer's copy lacks that commit and must not take the resident copy's place.
#[tokio::test]
async fn a_writers_copy_read_before_another_commit_is_not_taken() {
    let inner = Arc::new(MemStore::new());
    let cache = CachedStore::new(inner.clone(), 64 << 20);
    let id = DocId::random();
    let mut theirs = stored_names(&cache, id, "Анна").await;
    let (copy, base, changes) = writers_copy(&cache, id, "Борис").await;
    let other = add_name(&mut theirs, "Вера");
    cache
        .commit(WriteBatch::new().with_changes(id, other))
        .await
        .expect("their commit");
    commit_with_copy(&cache, id, (copy, base, changes)).await;
    let stats = cache.stats();
    assert_eq!((stats.followed, stats.adopted), (2, 0), "{stats:?}");
    served_is_stored(&cache, &*inner, id, &["Анна", "Борис", "Вера"]).await;
}

/// A copy holding a change the batch does not commit is not taken: the resident copy
/// shows only what is stored.
#[tokio::test]
async fn a_writers_copy_holding_more_than_the_batch_is_not_taken() {
    let inner = Arc::new(MemStore::new());
    let cache = CachedStore::new(inner.clone(), 64 << 20);
    let id = DocId::random();
    stored_names(&cache, id, "Анна").await;
    let (mut copy, base, changes) = writers_copy(&cache, id, "Борис").await;
    let list = names_obj(&copy);
    let mut tx = copy.transaction();
    tx.insert(&list, 2, "не сохранено").expect("insert");
    tx.commit();
    commit_with_copy(&cache, id, (copy, base, changes)).await;
    let stats = cache.stats();
    assert_eq!((stats.followed, stats.adopted), (1, 0), "{stats:?}");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);
    assert_eq!(load_names(&*inner, id).await, ["Анна", "Борис"]);
}

/// A copy holding a change held back for a missing dependency (a device sent a change
/// without the one before it) is not taken: that change is not stored, and a later
/// commit of the missing one would bring it into the resident copy.
#[tokio::test]
async fn a_writers_copy_holding_a_change_waiting_for_its_dependency_is_not_taken() {
    let inner = Arc::new(MemStore::new());
    let cache = CachedStore::new(inner.clone(), 64 << 20);
    let id = DocId::random();
    let mut theirs = stored_names(&cache, id, "Анна").await;
    let before_last = add_name(&mut theirs, "Вера");
    let last = add_name(&mut theirs, "Глеб");
    let (mut copy, base, changes) = writers_copy(&cache, id, "Борис").await;
    copy.apply_changes(last).expect("held back");
    assert!(!copy.get_missing_deps(&[]).is_empty());
    commit_with_copy(&cache, id, (copy, base, changes)).await;
    assert_eq!(cache.stats().adopted, 0);
    cache
        .commit(WriteBatch::new().with_changes(id, before_last))
        .await
        .expect("the missing one comes");
    served_is_stored(&cache, &*inner, id, &["Анна", "Борис", "Вера"]).await;
}

#[tokio::test]
async fn a_copy_handed_out_is_the_callers_own() {
    let cache = CachedStore::new(Arc::new(MemStore::new()), 64 << 20);
    let id = DocId::random();
    stored_names(&cache, id, "Анна").await;
    let mut mine = cache.load(id).await.expect("load").expect("stored");
    let list = names_obj(&mine);
    let mut tx = mine.transaction();
    tx.insert(&list, 1, "не сохранено").expect("insert");
    tx.commit();
    assert_eq!(load_names(&cache, id).await, ["Анна"]);
    assert_eq!(cache.stats().hits, 1);
}

/// A store put back to an earlier copy (a backup, an old disk image) without a new
/// epoch: the cache holds a later state, which must never be served as the store's.
#[tokio::test]
async fn a_store_put_back_in_time_is_never_served_a_later_copy() {
    let mem = Arc::new(MemStore::new());
    let cache = CachedStore::new(mem.clone(), 64 << 20);
    let id = DocId::random();
    let mut doc = stored_names(&cache, id, "Анна").await;
    let backup = mem.snapshot();
    let mut later = doc.fork();
    cache
        .commit(WriteBatch::new().with_changes(id, add_name(&mut later, "Борис")))
        .await
        .expect("commit");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);

    mem.restore(backup, false);
    assert_eq!(
        load_names(&cache, id).await,
        ["Анна"],
        "the restored content"
    );
    // Written after the restore, behind the cache's back: other content, new version.
    mem.commit(WriteBatch::new().with_changes(id, add_name(&mut doc, "Вера")))
        .await
        .expect("commit behind the cache");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Вера"]);

    // Put back to before the document existed.
    let empty = Arc::new(MemStore::new());
    let cache = CachedStore::new(empty.clone(), 64 << 20);
    let before = empty.snapshot();
    stored_names(&cache, id, "Анна").await;
    assert_eq!(load_names(&cache, id).await, ["Анна"]);
    empty.restore(before, false);
    assert!(cache.load(id).await.expect("load").is_none());
}

/// Two processes on one database: the second one's commits are seen by the first one's
/// cache at its next load.
async fn another_process_writes(mine: Arc<dyn DocStore>, theirs: Arc<dyn DocStore>) {
    let cache = CachedStore::new(mine, 64 << 20);
    let id = DocId::random();
    let mut doc = stored_names(&cache, id, "Анна").await;
    assert_eq!(load_names(&cache, id).await, ["Анна"]);
    theirs
        .commit(WriteBatch::new().with_changes(id, add_name(&mut doc, "Борис")))
        .await
        .expect("their commit");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);
    // Their touch (a reassigned client's documents re-fed) costs a load, nothing else.
    theirs.touch(&[id]).await.expect("touch");
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);
    assert_eq!(load_names(&cache, id).await, ["Анна", "Борис"]);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 3), "{stats:?}");
}

#[tokio::test]
async fn sqlite_another_process_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let mine = SqliteStore::open(&path).await.expect("open");
    let theirs = SqliteStore::open(&path).await.expect("open again");
    another_process_writes(Arc::new(mine), Arc::new(theirs)).await;
}

#[tokio::test]
async fn postgres_another_process_writes() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let mine = PgStore::connect(&db.url).await.expect("connect");
    let theirs = PgStore::connect(&db.url).await.expect("connect again");
    another_process_writes(Arc::new(mine), Arc::new(theirs)).await;
}

/// Two server processes, each with its cache, writing one document at once and
/// reading it between writes: every name written is in the end state both read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_caching_processes_write_one_document() {
    const WRITERS: usize = 4;
    const EACH: usize = 15;
    let Some(db) = PgDb::create().await else {
        return;
    };
    let mut caches: Vec<Arc<CachedStore>> = Vec::new();
    for _ in 0..2 {
        let store = PgStore::connect(&db.url).await.expect("connect");
        caches.push(Arc::new(CachedStore::new(Arc::new(store), 64 << 20)));
    }
    let id = DocId::random();
    let mut base = stored_names(&*caches[0], id, "начало").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let cache = caches[w % 2].clone();
        let mut doc = base.fork();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                assert!(Instant::now() < deadline, "writers took over a minute");
                // Each writer's edits build on what its process reads now.
                let now = cache.load(id).await.expect("load").expect("stored");
                doc.merge(&mut AutoCommit::load(&now.save()).expect("reload"))
                    .expect("merge");
                let changes = add_name(&mut doc, &format!("писатель {w}, правка {i}"));
                cache
                    .commit(WriteBatch::new().with_changes(id, changes))
                    .await
                    .expect("commit");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    for cache in &caches {
        let got = load_names(&**cache, id).await;
        assert_eq!(got.len(), 1 + WRITERS * EACH, "{got:?}");
        for w in 0..WRITERS {
            for i in 0..EACH {
                let name = format!("писатель {w}, правка {i}");
                assert!(got.contains(&name), "{name} missing");
            }
        }
    }
    let stats = caches[0].stats();
    assert!(stats.hits > 0 && stats.followed > 0, "{stats:?}");
}

#[tokio::test]
async fn the_budget_bounds_what_stays_resident() {
    let mem = Arc::new(MemStore::new());
    let ids: Vec<DocId> = (0..40).map(|_| DocId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        stored_names(&*mem, *id, &format!("Клиент {i}")).await;
    }
    let one = {
        let probe = CachedStore::new(mem.clone(), u64::MAX);
        probe.load(ids[0]).await.expect("load");
        probe.stats().bytes
    };
    let cache = CachedStore::new(mem.clone(), one * 10);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(load_names(&cache, *id).await, [format!("Клиент {i}")]);
    }
    let stats = cache.stats();
    assert!(stats.bytes <= one * 10, "{stats:?}");
    assert!((8..=10).contains(&stats.docs), "{stats:?}");
    // The most recent are resident, the first ones were dropped.
    load_names(&cache, ids[39]).await;
    load_names(&cache, ids[0]).await;
    let after = cache.stats();
    assert_eq!((after.hits, after.misses), (1, 41), "{after:?}");
}

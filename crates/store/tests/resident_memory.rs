//! The resident documents' budget counts what a kept copy really takes: the estimate
//! ([`resident_memory`]) is checked against a counting allocator, for the
//! shapes Rapport's documents take (a few answers, a long list of clients in one
//! change, a note typed one character per change, two devices typing at once), and
//! through the cache itself, after a load and after commits it follows.

// The counting allocator is the only unsafe code here: it forwards to the system's.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjType, ROOT};
use rapport_store::{CachedStore, DocId, DocStore, MemStore, WriteBatch, resident_memory};

thread_local! {
    /// Bytes this thread allocated less those it freed (the tests run in parallel, each
    /// measures on its own thread).
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

/// Counts on the calling thread (not at all while its thread-locals are torn down).
fn count(bytes: i64) {
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

fn live() -> i64 {
    LIVE.with(Cell::get)
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter
// is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What one loaded copy of `bytes` takes, averaged over a few held at once; and what
/// a clone of it takes (the copy the cache keeps: a load also builds indexes that a
/// clone leaves out).
fn measured(bytes: &[u8]) -> (u64, u64) {
    const COPIES: i64 = 8;
    let before = live();
    let held: Vec<Automerge> = (0..COPIES)
        .map(|_| Automerge::load(bytes).expect("loads"))
        .collect();
    let loaded = (live() - before) / COPIES;
    let before = live();
    let clones: Vec<Automerge> = held.iter().map(Automerge::clone).collect();
    let cloned = (live() - before) / COPIES;
    drop((held, clones));
    (loaded.max(0) as u64, cloned.max(0) as u64)
}

/// The estimate is at least what the cache's copy (a clone of a loaded document)
/// takes, and at most six times it (plus a little): it counts operations, and Automerge
/// keeps a run of characters pasted in one splice in a fifth of what it keeps for the
/// same text typed a character per change.
fn check(name: &str, doc: &Automerge) {
    let (loaded, real) = measured(&doc.save());
    let counted = resident_memory(doc);
    eprintln!("{name}: {loaded} B loaded, {real} B cloned, counted {counted} B");
    assert!(
        counted >= real,
        "{name}: counted {counted} B, a resident copy takes {real} B"
    );
    assert!(
        counted <= 6 * real + 16 * 1024,
        "{name}: counted {counted} B, far above the {real} B a resident copy takes"
    );
}

/// `n` clients (a map of five fields each) put in one change, as an import does.
fn clients(n: usize) -> Automerge {
    let mut doc = AutoCommit::new();
    let all = doc.put_object(ROOT, "clients", ObjType::Map).expect("map");
    for i in 0..n {
        let c = doc
            .put_object(&all, DocId::random().to_string(), ObjType::Map)
            .expect("client");
        doc.put(&c, "company", format!("ООО «Ромашка-{i}»"))
            .expect("put");
        doc.put(&c, "original_rep", format!("rep-{}", i % 100))
            .expect("put");
        doc.put(&c, "strength", "unknown").expect("put");
        doc.put(&c, "monopolised", false).expect("put");
        doc.put(&c, "added_ms", 1_780_000_000_000_i64 + i as i64)
            .expect("put");
    }
    doc.commit();
    doc.document().clone()
}

/// A note typed one character per change (the way a device stores keystrokes before
/// compaction), by `writers` devices at once, merged.
fn typed(chars: usize, writers: usize) -> Automerge {
    let mut base = AutoCommit::new();
    let note = base.put_object(ROOT, "note", ObjType::Text).expect("text");
    base.commit();
    let mut merged = base.fork();
    for w in 0..writers {
        let mut device = base.fork();
        for i in 0..chars / writers {
            device
                .splice_text(&note, i, 0, if w == 0 { "ж" } else { "ы" })
                .expect("type");
            device.commit();
        }
        merged.merge(&mut device).expect("merge");
    }
    merged.document().clone()
}

#[test]
fn the_budget_counts_at_least_what_a_resident_copy_takes_and_not_far_more() {
    check("empty", &Automerge::new());
    let mut visit = AutoCommit::new();
    let answers = visit
        .put_object(ROOT, "answers", ObjType::Map)
        .expect("map");
    for q in 0..40 {
        let text = visit
            .put_object(&answers, format!("q{q}"), ObjType::Text)
            .expect("text");
        visit
            .splice_text(&text, 0, 0, "Гордятся командой, просят ускорить доставку")
            .expect("answer");
        visit.commit();
    }
    check("visit, 40 answers", visit.document());
    check("100 clients", &clients(100));
    check("5,000 clients", &clients(5_000));
    check("typed 300", &typed(300, 1));
    check("typed 3,000", &typed(3_000, 1));
    check("typed 2,000 by two devices at once", &typed(2_000, 2));
}

#[tokio::test(flavor = "current_thread")]
async fn what_the_cache_holds_is_counted_after_a_load_and_after_the_commits_it_follows() {
    let mem = Arc::new(MemStore::new());
    let id = DocId::random();
    let mut doc = AutoCommit::new();
    let note = doc.put_object(ROOT, "note", ObjType::Text).expect("text");
    doc.commit();
    mem.commit(WriteBatch::new().with_changes(id, doc.get_changes(&[])))
        .await
        .expect("stored");
    let cache = CachedStore::new(mem.clone(), u64::MAX);
    cache.load(id).await.expect("load").expect("stored");
    let after_load = cache.stats().bytes;
    assert!(after_load >= measured(&doc.save()).1, "{after_load}");
    // Keystrokes committed through the cache: its copy follows them, and so does the
    // count.
    for i in 0..500 {
        let heads = doc.get_heads();
        doc.splice_text(&note, i, 0, "щ").expect("type");
        doc.commit();
        let batch = WriteBatch::new().with_changes(id, doc.get_changes(&heads));
        cache.commit(batch).await.expect("stored");
    }
    let stats = cache.stats();
    assert_eq!(stats.docs, 1, "{stats:?}");
    assert!(
        stats.followed >= 500,
        "the copy followed the commits: {stats:?}"
    );
    let (real, _) = measured(&doc.save());
    assert!(
        stats.bytes >= real,
        "counted {} B for a copy that takes {real} B",
        stats.bytes
    );
}

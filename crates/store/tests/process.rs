//! SQLite stores across a process's life: the first opens, made at the same moment from
//! many threads, and the end, right after the last store is dropped.
//!
//! - **Start.** SQLite marks itself initialised before it runs SQLCipher's own start,
//!   outside its lock. A database opened by another thread in that gap fails its
//!   `PRAGMA key` with "sqlcipher not initialized". Only a process's first opens can
//!   meet it, so the test is in a binary of its own and is run again in fresh processes.
//! - **End.** SQLCipher frees its keys, heap and locks in an exit handler. A process that
//!   ends while a connection of a dropped store is still being closed by its worker
//!   thread crashed there (SIGSEGV in `sqlite3FreeCodecArg`). The store counts such
//!   stores as closing until SQLite has freed their keys, and the exit waits for them.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use rapport_store::{DocId, DocStore, SqliteStore, WriteBatch, wait_for_closed_stores};

/// Threads opening at once. The gap at the start lasts microseconds (until SQLCipher's
/// start takes SQLite's main lock), so without its fix a run fails only when the first
/// opener is preempted inside it: rarely, more often on a loaded machine, as on CI.
const THREADS: usize = 16;

/// Fresh processes that run the opening test, each.
const OPENING_RUNS: usize = 8;

/// Fresh processes that run the exit test. Without the exit handler about one in twelve
/// crashed (measured on two cores), so 24 of them catch it nine times in ten.
const EXIT_RUNS: usize = 24;

const OPENING_TEST: &str = "the_first_stores_of_a_process_open_together_encrypted_or_not";
const EXIT_TEST: &str = "encrypted_stores_dropped_as_the_process_ends";

/// Encrypted stores the exit test drops as its process ends.
const STORES_AT_EXIT: usize = 8;

/// One document with Cyrillic text, stored in `store`.
async fn store_one(store: &SqliteStore) -> DocId {
    let id = DocId::random();
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "заметка", "Клиент просит перезвонить в четверг")
        .expect("put");
    store
        .commit(
            WriteBatch::new()
                .with_changes(id, doc.document().get_changes(&[]).into_iter().collect()),
        )
        .await
        .expect("commit");
    id
}

#[test]
fn the_first_stores_of_a_process_open_together_encrypted_or_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Arc::new(Barrier::new(THREADS));
    let opened: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let start = Arc::clone(&start);
                let path = dir.path().join(format!("устройство-{i}.db"));
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    start.wait();
                    runtime.block_on(async {
                        // Half encrypted (a tablet's store), half plain (a server's).
                        let store = if i % 2 == 0 {
                            SqliteStore::open_encrypted(&path, &[i as u8 + 1; 32]).await
                        } else {
                            SqliteStore::open(&path).await
                        }
                        .map_err(|e| format!("store {i}: {e}"))?;
                        let id = store_one(&store).await;
                        match store.load(id).await {
                            Ok(Some(_)) => Ok(()),
                            Ok(None) => Err(format!("store {i} lost its document")),
                            Err(e) => Err(format!("store {i} cannot read: {e}")),
                        }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an opening thread panicked"))
            .collect()
    });
    let failed: Vec<&String> = opened.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "stores failed to open: {failed:#?}");
}

/// The files of the database at `db` other than the database itself (WAL, shared memory).
fn side_files(db: &Path) -> Vec<String> {
    let name = db.file_name().and_then(|n| n.to_str()).expect("file name");
    std::fs::read_dir(db.parent().expect("parent"))
        .expect("read dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(name) && n != name)
        .collect()
}

#[tokio::test]
async fn a_dropped_encrypted_store_counts_as_closing_until_its_database_is_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("планшет.db");
    let store = SqliteStore::open_encrypted(&path, &[9; 32])
        .await
        .expect("open");
    let id = store_one(&store).await;
    let other = store.clone();
    drop(store);
    other.load(id).await.expect("load").expect("stored");
    assert!(
        !side_files(&path).is_empty(),
        "a handle is left: the database must still be open (its WAL beside it)"
    );
    drop(other);
    // Off the runtime: its tasks hand the last connections back to the pool to be closed.
    let closed = tokio::task::spawn_blocking(|| wait_for_closed_stores(Duration::from_secs(10)))
        .await
        .expect("waiting thread");
    assert!(closed, "the dropped store never finished closing");
    // Closing the last connection folds the WAL into the file and removes it: the wait
    // ended when the database was closed, not before.
    assert_eq!(
        side_files(&path),
        Vec::<String>::new(),
        "the wait ended before the database was closed"
    );
    let again = SqliteStore::open_encrypted(&path, &[9; 32])
        .await
        .expect("reopen");
    again.load(id).await.expect("load").expect("kept");
}

/// Run alone in a fresh process by the next test: encrypted stores dropped as the test
/// ends, so that the process exits while their connections are being closed.
#[tokio::test]
async fn encrypted_stores_dropped_as_the_process_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut stores = Vec::new();
    for i in 0..STORES_AT_EXIT {
        let path = dir.path().join(format!("выход-{i}.db"));
        let store = SqliteStore::open_encrypted(&path, &[i as u8 + 1; 32])
            .await
            .expect("open");
        let id = store_one(&store).await;
        // Reads at once, so that the pool opens all its connections: more to close.
        let reads = tokio::join!(
            store.load(id),
            store.load(id),
            store.load(id),
            store.load(id)
        );
        for read in [reads.0, reads.1, reads.2, reads.3] {
            read.expect("load").expect("stored");
        }
        stores.push(store);
    }
    // The stores are dropped here, and the runtime right after; the process ends then.
    drop(stores);
}

#[test]
fn processes_that_start_and_end_with_encrypted_stores_exit_cleanly() {
    let me = std::env::current_exe().expect("this test binary");
    for (test, runs) in [(OPENING_TEST, OPENING_RUNS), (EXIT_TEST, EXIT_RUNS)] {
        for run in 0..runs {
            let out = Command::new(&me)
                .args(["--exact", test, "--test-threads=1", "--quiet"])
                .output()
                .expect("run a test in a fresh process");
            assert!(
                out.status.success(),
                "{test}: process {run} of {runs} ended with {}:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

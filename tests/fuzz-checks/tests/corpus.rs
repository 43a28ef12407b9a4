//! Every committed fuzz corpus input, replayed through its target's check: the inputs
//! libFuzzer found interesting stay passing in the ordinary (stable, debug) test run.
//! A failure names the corpus files that broke (at most [`MAX_REPORTED`] of them).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

/// After this many failing inputs the replay stops: one bug tends to break many.
const MAX_REPORTED: usize = 10;

/// Runs `check` on every file of `fuzz/corpus/<target>/`, in name order.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{target}: the corpus is empty");

    let started = Instant::now();
    let mut failed = Vec::new();
    let mut replayed = 0;
    for path in &files {
        replayed += 1;
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            let name = path.file_name().expect("file name").to_string_lossy();
            failed.push(name.into_owned());
            if failed.len() == MAX_REPORTED {
                break;
            }
        }
    }
    eprintln!(
        "[corpus] {target}: {replayed} of {} inputs in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "{target}: these corpus inputs fail their check (fuzz/corpus/{target}/; \
         the panics are printed above{}): {failed:?}",
        if failed.len() == MAX_REPORTED {
            ", the replay stopped at the first ten"
        } else {
            ""
        }
    );
}

#[test]
fn protocol_decode_corpus_passes() {
    replay(
        "protocol_decode",
        rapport_fuzz_checks::protocol_decode::check,
    );
}

#[test]
fn server_sync_corpus_passes() {
    replay("server_sync", rapport_fuzz_checks::server_sync::check);
}

#[test]
fn sheets_import_corpus_passes() {
    replay("sheets_import", rapport_fuzz_checks::sheets_import::check);
}

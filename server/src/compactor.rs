//! Background compaction: documents that gathered many loose changes are folded into a
//! snapshot, so loading them (every sync, every projection) reads one blob instead of
//! thousands of rows. The store writes the snapshot and drops the folded changes' bytes
//! in one transaction, and refuses a plan made from stale data, so compactors in
//! several processes and concurrent uploads are safe; the change hashes stay, so a
//! retried upload is still recognised.

use std::sync::Arc;
use std::time::Duration;

use rapport_store::{DocStore, StoreError};
use tokio_util::sync::CancellationToken;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Documents compacted.
    pub documents: usize,
    /// Changes folded into snapshots.
    pub changes: usize,
}

/// Documents compacted per pass at most (a pass stays short; the next one continues).
const PER_PASS: usize = 100;

/// Compacts the documents with at least `min_changes` loose changes.
pub async fn compact_once(store: &dyn DocStore, min_changes: usize) -> Result<Pass, StoreError> {
    let mut pass = Pass::default();
    for doc in store.compaction_candidates(min_changes, PER_PASS).await? {
        match store.compact(doc).await {
            Ok(report) => {
                pass.documents += 1;
                pass.changes += report.changes_folded;
            }
            // Another process compacted it first, or it changed meanwhile: next pass.
            Err(StoreError::Conflict { .. }) => {}
            // A damaged document stays as it is (and is reported where it is loaded).
            Err(e @ StoreError::Corrupt { .. }) => {
                tracing::error!(%doc, error = %e, "document not compacted");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(pass)
}

/// Compacts every `interval` until `stop` is cancelled.
pub async fn run(
    store: Arc<dyn DocStore>,
    interval: Duration,
    min_changes: usize,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => break,
        }
        match compact_once(&*store, min_changes).await {
            Ok(pass) if pass.documents > 0 => {
                metrics::counter!("rapport_compacted_changes_total").increment(pass.changes as u64);
                tracing::info!(
                    documents = pass.documents,
                    changes = pass.changes,
                    "compacted"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "compaction pass failed; retrying later"),
        }
    }
}

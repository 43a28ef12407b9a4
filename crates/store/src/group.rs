//! Group commit: commits that arrive while another is under way are stored together, in
//! one transaction, in front of any [`DocStore`].
//!
//! A server answers each sync request only once what it accepted is durable, so every
//! request pays a transaction (on PostgreSQL several round trips and a WAL flush; on
//! SQLite an fsync). When many devices sync at once, most of that is waiting on the
//! one before. Here a caller queues its batch and takes its turn; whoever holds the
//! turn commits every batch queued by then (at most [`MAX_BATCHES`] of them, about
//! [`MAX_BYTES`] of changes) in one [`DocStore::commit`], and gives each caller its own
//! report. There is no timer: a lone commit goes straight through, and the busier the
//! store, the larger the groups.
//!
//! - **Durable before answered**: a caller gets its report only after the transaction
//!   holding its batch committed.
//! - **One bad batch does not fail the others**: when a group's commit fails, its
//!   batches are committed one by one, each getting its own result.
//! - **A caller that goes away does not lose the others' work**: a group is committed
//!   by a task of its own, which runs to the end even if the caller whose turn it was
//!   is dropped (a device that disconnected).
//! - **Reports stay exact for caches**: a document in several batches of one group
//!   gets no version step in their reports (its content after the commit is none of
//!   them alone), so a cache above drops its copy instead of following it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use automerge::ChangeHash;
use tokio::sync::oneshot;

use crate::types::{
    CommitReport, CompactReport, CompactionPlan, DocVersion, FeedCursor, FeedPage, PeerId,
    Versioned,
};
use crate::{DocId, DocStore, StoreError, WholeDoc, WriteBatch};

/// Most batches in one group.
pub const MAX_BATCHES: usize = 64;
/// Change bytes after which a group takes no more batches (one batch alone may be
/// larger: it is committed as it is).
pub const MAX_BYTES: usize = 8 << 20;

/// What group commit did so far (see [`GroupCommit::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Batches committed.
    pub batches: u64,
    /// Transactions they took (groups, and single commits after a failed group).
    pub commits: u64,
}

/// A batch waiting for its turn, and where its result goes.
struct Waiting {
    batch: WriteBatch,
    reply: oneshot::Sender<Result<CommitReport, StoreError>>,
}

/// A [`DocStore`] whose commits are grouped (see the module doc).
pub struct GroupCommit {
    inner: Arc<dyn DocStore>,
    queue: Mutex<VecDeque<Waiting>>,
    /// Held by whoever commits a group, until its task ends.
    turn: Arc<tokio::sync::Mutex<()>>,
    batches: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Groups the commits made through it to `inner`.
    pub fn new(inner: Arc<dyn DocStore>) -> Self {
        Self {
            inner,
            queue: Mutex::new(VecDeque::new()),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            batches: Arc::default(),
            commits: Arc::default(),
        }
    }

    /// Batches committed and the transactions they took, so far.
    pub fn stats(&self) -> GroupStats {
        GroupStats {
            batches: self.batches.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }

    /// Batches waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.queue().len()
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<Waiting>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The batches at the front of the queue that make one group.
    fn take_group(&self) -> Vec<Waiting> {
        let mut queue = self.queue();
        let mut group = Vec::new();
        let mut bytes = 0;
        while let Some(next) = queue.front() {
            let size = change_bytes(&next.batch);
            if !group.is_empty() && (group.len() >= MAX_BATCHES || bytes + size > MAX_BYTES) {
                break;
            }
            bytes += size;
            group.extend(queue.pop_front());
        }
        group
    }
}

/// The bytes of the changes of `batch`, whole documents' included.
fn change_bytes(batch: &WriteBatch) -> usize {
    let changes: usize = batch
        .changes
        .iter()
        .flat_map(|(_, changes)| changes)
        .map(|c| c.raw_bytes().len())
        .sum();
    let wholes: usize = batch.wholes.iter().map(|w| w.bytes().len()).sum();
    changes + wholes
}

/// Commits one group through `inner` and answers each of its callers.
async fn commit_group(
    inner: Arc<dyn DocStore>,
    group: Vec<Waiting>,
    batches: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
) {
    batches.fetch_add(group.len() as u64, Ordering::Relaxed);
    if group.len() == 1 {
        commits.fetch_add(1, Ordering::Relaxed);
        for w in group {
            let _ = w.reply.send(inner.commit(w.batch).await);
        }
        return;
    }
    // Each batch's documents and states, for its own report; the merged batch.
    let shapes: Vec<(Vec<DocId>, usize)> = group
        .iter()
        .map(|w| {
            let mut docs: Vec<DocId> = w.batch.changes.iter().map(|(d, _)| *d).collect();
            docs.extend(w.batch.wholes.iter().map(WholeDoc::doc));
            docs.sort_unstable();
            docs.dedup();
            (docs, w.batch.sync_states.len())
        })
        .collect();
    let mut merged = WriteBatch::new();
    for w in &group {
        merged.changes.extend(w.batch.changes.iter().cloned());
        merged.wholes.extend(w.batch.wholes.iter().cloned());
        merged
            .sync_states
            .extend(w.batch.sync_states.iter().cloned());
    }
    commits.fetch_add(1, Ordering::Relaxed);
    match inner.commit(merged).await {
        Ok(report) => {
            for (w, report) in group.into_iter().zip(split(&report, &shapes)) {
                let _ = w.reply.send(Ok(report));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, batches = group.len(), "a group commit failed: its batches are committed one by one");
            for w in group {
                commits.fetch_add(1, Ordering::Relaxed);
                let _ = w.reply.send(inner.commit(w.batch).await);
            }
        }
    }
}

/// Each batch's report out of the report of the group's commit. A document in several
/// batches counts its new changes in the first and gets no version step in any.
fn split(report: &CommitReport, shapes: &[(Vec<DocId>, usize)]) -> Vec<CommitReport> {
    let mut batches_of: HashMap<DocId, usize> = HashMap::new();
    for (docs, _) in shapes {
        for doc in docs {
            *batches_of.entry(*doc).or_default() += 1;
        }
    }
    let mut counted: HashSet<DocId> = HashSet::new();
    shapes
        .iter()
        .map(|(docs, states)| {
            let mut own = CommitReport {
                sync_states: *states,
                ..CommitReport::default()
            };
            for doc in docs {
                let new = if counted.insert(*doc) {
                    report.new_changes.get(doc).copied().unwrap_or(0)
                } else {
                    0
                };
                own.new_changes.insert(*doc, new);
                if batches_of.get(doc) == Some(&1)
                    && let Some(step) = report.versions.get(doc)
                {
                    own.versions.insert(*doc, *step);
                }
            }
            own
        })
        .collect()
}

#[async_trait]
impl DocStore for GroupCommit {
    async fn commit(&self, batch: WriteBatch) -> Result<CommitReport, StoreError> {
        let (reply, mut result) = oneshot::channel();
        self.queue().push_back(Waiting { batch, reply });
        // Bounded: every turn commits at least the batch at the front of the queue, and
        // ours is in it; a turn taken after ours was committed finds the result.
        loop {
            let turn = self.turn.clone().lock_owned().await;
            match result.try_recv() {
                Ok(done) => return done,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(StoreError::Database {
                        reason: "the group commit holding this batch stopped before it ended; nothing of it may be stored: send it again".into(),
                    });
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group = self.take_group();
            let (inner, batches, commits) = (
                self.inner.clone(),
                self.batches.clone(),
                self.commits.clone(),
            );
            // A task of its own: the group is committed and answered even if this
            // caller is dropped meanwhile.
            let task = tokio::spawn(async move {
                commit_group(inner, group, batches, commits).await;
                drop(turn);
            });
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a group commit task ended abnormally");
            }
        }
    }

    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError> {
        self.inner.load_versioned(docs).await
    }

    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError> {
        self.inner.versions(docs).await
    }

    async fn versions_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(HashMap<DocId, DocVersion>, HashMap<DocId, Vec<u8>>), StoreError> {
        self.inner.versions_and_states(docs, peer, states_of).await
    }

    async fn load_versioned_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(Vec<Versioned>, HashMap<DocId, Vec<u8>>), StoreError> {
        self.inner
            .load_versioned_and_states(docs, peer, states_of)
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_in_several_batches_is_counted_once_and_followed_by_none() {
        let (a, b, shared) = (DocId::random(), DocId::random(), DocId::random());
        let step = |n: u8| crate::VersionStep {
            before: None,
            after: DocVersion([n; 16]),
        };
        let report = CommitReport {
            new_changes: HashMap::from([(a, 2), (b, 1), (shared, 5)]),
            sync_states: 4,
            versions: HashMap::from([(a, step(1)), (b, step(2)), (shared, step(3))]),
        };
        let shapes = vec![(vec![a, shared], 2), (vec![b, shared], 1), (vec![], 1)];
        let split = split(&report, &shapes);
        assert_eq!(split[0].new_changes, HashMap::from([(a, 2), (shared, 5)]));
        assert_eq!(split[1].new_changes, HashMap::from([(b, 1), (shared, 0)]));
        assert_eq!(split[0].versions, HashMap::from([(a, step(1))]));
        assert_eq!(split[1].versions, HashMap::from([(b, step(2))]));
        assert!(split[2].new_changes.is_empty() && split[2].versions.is_empty());
        assert_eq!(
            split.iter().map(|r| r.sync_states).collect::<Vec<_>>(),
            [2, 1, 1]
        );
    }
}

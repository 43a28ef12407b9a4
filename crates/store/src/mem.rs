//! [`DocStore`] in memory: simulations and tests of many devices, and any user that
//! wants the store's behaviour without a database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use automerge::ChangeHash;

use crate::rows::{self, StoredDoc};
use crate::types::{
    CommitReport, CompactReport, CompactionPlan, DocVersion, FeedCursor, FeedPage, PeerId,
    VersionStep, Versioned,
};
use crate::{DocId, DocStore, StoreError, WriteBatch};

/// A [`DocStore`] in this process's memory, with the behaviour of the SQLite store:
/// documents as append-only changes keyed by hash plus a snapshot after compaction
/// (which keeps every change's hash, so a retried upload is still recognised), sync
/// states per peer, one change feed in commit order, an epoch.
///
/// Every call takes effect whole when it returns (a commit is all or nothing), and
/// nothing waits: its futures complete at their first poll. Cheap to share behind an
/// `Arc`; [`Self::snapshot`] and [`Self::restore`] stand for a backup and putting it
/// back.
pub struct MemStore {
    inner: Mutex<Inner>,
    /// A commit of another writer that lands just before the next feed read (see
    /// [`MemStore::commit_before_next_feed`]).
    racing: Mutex<Option<WriteBatch>>,
}

/// What a [`MemStore`] holds at one moment, as a backup holds it (the epoch included).
#[derive(Clone)]
pub struct MemStoreSnapshot(Inner);

impl fmt::Debug for MemStoreSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemStoreSnapshot")
            .field("docs", &self.0.docs.len())
            .field("feed_head", &self.0.seq)
            .finish_non_exhaustive()
    }
}

/// What one document takes in a [`MemStore`] (see [`MemStore::footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of the snapshot plus the changes not folded into it.
    pub bytes: u64,
    /// Changes stored, folded into the snapshot or not (their hashes stay).
    pub changes: usize,
    /// Changes not folded into the snapshot yet.
    pub loose_changes: usize,
}

/// What [`MemStore::damage_for_tests`] does to a stored document.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The snapshot's bytes replaced by bytes that are not a document.
    Snapshot,
    /// The last three bytes cut off every change not folded into the snapshot.
    Changes,
}

#[derive(Clone)]
struct Inner {
    epoch: [u8; 16],
    /// The feed counter: the position of the last document moved to the head.
    seq: i64,
    /// Documents that have stored changes.
    docs: BTreeMap<DocId, Doc>,
    /// The feed: position → document, one entry per document (its latest position).
    feed: BTreeMap<i64, DocId>,
    states: HashMap<PeerId, HashMap<DocId, Vec<u8>>>,
}

#[derive(Clone, Default)]
struct Doc {
    snapshot: Option<Vec<u8>>,
    snapshot_gen: i64,
    feed_seq: i64,
    /// The feed group it is filed under ([`DocStore::set_feed_groups`]).
    group: Option<DocId>,
    /// The content's version (see [`DocVersion`]).
    version: Option<DocVersion>,
    /// Every change in arrival order; `None` once folded into the snapshot.
    changes: Vec<(ChangeHash, Option<Vec<u8>>)>,
    /// Where each change is in `changes`.
    index: HashMap<ChangeHash, usize>,
}

impl Doc {
    /// The rows a load or a compaction plan reads.
    fn stored(&self) -> StoredDoc {
        StoredDoc {
            snapshot: self.snapshot.clone(),
            snapshot_gen: self.snapshot_gen,
            version: self.version,
            changes: self
                .changes
                .iter()
                .filter_map(|(hash, data)| Some((hash.as_ref().to_vec(), data.clone()?)))
                .collect(),
        }
    }

    fn loose(&self) -> usize {
        self.changes.iter().filter(|(_, d)| d.is_some()).count()
    }
}

/// A fresh random epoch (a version 4 UUID's bytes: never all zero).
fn random_epoch() -> [u8; 16] {
    *DocId::random().as_bytes()
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemStore")
            .field("docs", &inner.docs.len())
            .field("feed_head", &inner.seq)
            .finish_non_exhaustive()
    }
}

impl MemStore {
    /// An empty store with a fresh random epoch.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                epoch: random_epoch(),
                seq: 0,
                docs: BTreeMap::new(),
                feed: BTreeMap::new(),
                states: HashMap::new(),
            }),
            racing: Mutex::new(None),
        }
    }

    /// Makes `batch` land just before the next [`DocStore::feed`] read, as another
    /// writer's commit lands while a request is under way on a real server (which
    /// loads the documents a device sent, then reads the feed): the interleaving that
    /// one request at a time in memory never shows otherwise.
    pub fn commit_before_next_feed(&self, batch: WriteBatch) {
        *self.racing.lock().unwrap_or_else(|e| e.into_inner()) = Some(batch);
    }

    /// The state, also after a panic of another user of the store: every change to it
    /// is made after the checks that can fail, so a panic leaves it whole.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of everything stored, epoch included: a backup.
    pub fn snapshot(&self) -> MemStoreSnapshot {
        MemStoreSnapshot(self.lock().clone())
    }

    /// Puts back a [`Self::snapshot`]: whatever was stored after it is gone. With
    /// `new_epoch` the store gets a new random epoch, as `rapport-server restore` gives
    /// one; without, it keeps the snapshot's, as a copy put back by hand does (the
    /// store went back in time without saying so).
    pub fn restore(&self, snapshot: MemStoreSnapshot, new_epoch: bool) {
        let mut restored = snapshot.0;
        if new_epoch {
            restored.epoch = random_epoch();
        }
        *self.lock() = restored;
    }

    /// What `doc` takes in the store; `None` when it is not stored.
    pub fn footprint(&self, doc: DocId) -> Option<Footprint> {
        let inner = self.lock();
        let stored = inner.docs.get(&doc)?;
        let snapshot = stored.snapshot.as_ref().map_or(0, Vec::len);
        let changes: usize = stored
            .changes
            .iter()
            .filter_map(|(_, d)| d.as_ref())
            .map(Vec::len)
            .sum();
        Some(Footprint {
            bytes: (snapshot + changes) as u64,
            changes: stored.changes.len(),
            loose_changes: stored.loose(),
        })
    }

    /// How many changes are stored, over every document (each counted once).
    pub fn change_count(&self) -> usize {
        self.lock().docs.values().map(|d| d.changes.len()).sum()
    }

    /// Test aid: damages the stored bytes of `doc` as a failing disk would, so tests
    /// can check that loading it names the document. Returns whether there was
    /// something to damage.
    #[doc(hidden)]
    pub fn damage_for_tests(&self, doc: DocId, damage: Damage) -> bool {
        let mut inner = self.lock();
        let Some(stored) = inner.docs.get_mut(&doc) else {
            return false;
        };
        match damage {
            Damage::Snapshot => stored
                .snapshot
                .as_mut()
                .map(|s| *s = vec![0xde, 0xad, 0xbe, 0xef, 0x00])
                .is_some(),
            Damage::Changes => {
                let mut cut = false;
                for data in stored.changes.iter_mut().filter_map(|(_, d)| d.as_mut()) {
                    data.truncate(data.len().saturating_sub(3));
                    cut = true;
                }
                cut
            }
        }
    }
}

impl MemStore {
    /// The feed after `after`: every document, or (`groups`) those filed under one of
    /// them and those filed under none.
    async fn read_feed(
        &self,
        after: &FeedCursor,
        limit: usize,
        groups: Option<&HashSet<DocId>>,
    ) -> Result<FeedPage, StoreError> {
        let racing = self.racing.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(batch) = racing {
            self.commit(batch).await?;
        }
        let inner = self.lock();
        let mut page = FeedPage {
            docs: Vec::new(),
            positions: Vec::new(),
            cursor: *after,
            head: None,
        };
        let from = after.seq.saturating_add(1);
        let readable = |doc: &DocId| match (groups, inner.docs.get(doc).and_then(|d| d.group)) {
            (Some(groups), Some(group)) => groups.contains(&group),
            _ => true,
        };
        for (seq, doc) in inner
            .feed
            .range(from..)
            .filter(|(_, doc)| readable(doc))
            .take(limit)
        {
            page.docs.push(*doc);
            page.cursor = FeedCursor { xid: 0, seq: *seq };
            page.positions.push(page.cursor);
        }
        Ok(page)
    }
}

impl Inner {
    /// Moves `doc` (stored) to the head of the feed with a new version; the step from
    /// its version before.
    fn move_to_head(&mut self, doc: DocId) -> Option<VersionStep> {
        self.seq += 1;
        let seq = self.seq;
        let stored = self.docs.get_mut(&doc)?;
        self.feed.remove(&stored.feed_seq);
        stored.feed_seq = seq;
        self.feed.insert(seq, doc);
        let step = VersionStep {
            before: stored.version,
            after: DocVersion::random(),
        };
        stored.version = Some(step.after);
        Some(step)
    }

    fn holds(&self, doc: DocId, hash: &ChangeHash) -> bool {
        self.docs
            .get(&doc)
            .is_some_and(|d| d.index.contains_key(hash))
    }
}

#[async_trait]
impl DocStore for MemStore {
    async fn commit(&self, batch: WriteBatch) -> Result<CommitReport, StoreError> {
        let mut batch = rows::prepare(batch)?;
        let mut inner = self.lock();
        // Documents sent whole: those stored already go in as changes. Turning them is
        // the last check that can fail.
        let mut claimed = Vec::new();
        for whole in std::mem::take(&mut batch.wholes) {
            if inner.docs.contains_key(&whole.doc()) {
                batch.add_whole_as_changes(&whole)?;
            } else {
                claimed.push(whole);
            }
        }
        // Every check before the first write: a refused batch leaves nothing behind.
        if let Some(dep) = batch
            .external_deps
            .iter()
            .find(|dep| !inner.holds(dep.doc, &dep.dep))
        {
            return Err(dep.missing());
        }
        let mut new_changes: HashMap<DocId, usize> =
            batch.docs.iter().map(|doc| (*doc, 0)).collect();
        for change in batch.changes {
            if inner.holds(change.doc, &change.hash) {
                continue;
            }
            let stored = inner.docs.entry(change.doc).or_default();
            stored.index.insert(change.hash, stored.changes.len());
            stored.changes.push((change.hash, Some(change.data)));
            *new_changes.entry(change.doc).or_default() += 1;
        }
        // In the batch's order, as the SQLite store numbers them: wholes first.
        let mut versions = HashMap::new();
        for whole in claimed {
            let doc = whole.doc();
            let stored = inner.docs.entry(doc).or_default();
            for hash in whole.hashes() {
                stored.index.insert(*hash, stored.changes.len());
                stored.changes.push((*hash, None));
            }
            stored.snapshot = Some(whole.bytes().to_vec());
            new_changes.insert(doc, whole.hashes().len());
            if let Some(step) = inner.move_to_head(doc) {
                versions.insert(doc, step);
            }
        }
        for doc in &batch.docs {
            if new_changes.get(doc).is_some_and(|n| *n > 0)
                && let Some(step) = inner.move_to_head(*doc)
            {
                versions.insert(*doc, step);
            }
        }
        for (peer, doc, state) in &batch.sync_states {
            inner
                .states
                .entry(peer.clone())
                .or_default()
                .insert(*doc, state.clone());
        }
        Ok(CommitReport {
            new_changes,
            sync_states: batch.sync_states.len(),
            versions,
        })
    }

    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError> {
        // Copied under the lock, rebuilt outside it: a load never holds up a writer.
        let stored: Vec<(DocId, Option<StoredDoc>)> = {
            let inner = self.lock();
            docs.iter()
                .map(|doc| (*doc, inner.docs.get(doc).map(Doc::stored)))
                .collect()
        };
        Ok(stored
            .into_iter()
            .map(|(doc, stored)| rows::versioned(doc, stored.as_ref()))
            .collect())
    }

    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError> {
        let inner = self.lock();
        Ok(docs
            .iter()
            .filter_map(|doc| Some((*doc, inner.docs.get(doc)?.version?)))
            .collect())
    }

    async fn plan_compaction(&self, doc: DocId) -> Result<CompactionPlan, StoreError> {
        let stored = self.lock().docs.get(&doc).map(Doc::stored);
        rows::plan(doc, stored)
    }

    async fn apply_compaction(&self, plan: CompactionPlan) -> Result<CompactReport, StoreError> {
        if plan.generation().is_some() && plan.folded.is_empty() {
            return Ok(plan.report());
        }
        let mut inner = self.lock();
        let Some(stored) = inner.docs.get_mut(&plan.doc) else {
            return match plan.generation() {
                Some(_) => Err(plan.raced()),
                None => Err(plan.not_stored()),
            };
        };
        let plan = match plan.generation() {
            Some(generation) if generation != stored.snapshot_gen => return Err(plan.raced()),
            Some(_) => plan,
            None => {
                let rows = stored
                    .changes
                    .iter()
                    .map(|(hash, data)| (*hash, data.as_ref().map(|d| d.len() as u64)))
                    .collect();
                let snapshot_bytes = stored.snapshot.as_ref().map_or(0, |s| s.len() as u64);
                plan.against_rows(rows, snapshot_bytes)?
            }
        };
        let report = plan.report();
        if plan.folded.is_empty() {
            return Ok(report);
        }
        // Only the folded changes: a change committed after the plan keeps its bytes.
        for hash in &plan.folded {
            if let Some(&i) = stored.index.get(hash) {
                stored.changes[i].1 = None;
            }
        }
        stored.snapshot = Some(plan.snapshot);
        stored.snapshot_gen += 1;
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
        let groups: HashSet<DocId> = groups.iter().copied().collect();
        self.read_feed(after, limit, Some(&groups)).await
    }

    async fn set_feed_groups(&self, groups: &[(DocId, DocId)]) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut filed = 0;
        for (doc, group) in groups {
            if let Some(stored) = inner.docs.get_mut(doc)
                && stored.group != Some(*group)
            {
                stored.group = Some(*group);
                filed += 1;
            }
        }
        Ok(filed)
    }

    async fn touch(&self, docs: &[DocId]) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut moved = 0;
        for doc in docs {
            if inner.docs.contains_key(doc) {
                inner.move_to_head(*doc);
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn sync_states(
        &self,
        peer: &PeerId,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        let inner = self.lock();
        let Some(held) = inner.states.get(peer) else {
            return Ok(HashMap::new());
        };
        Ok(docs
            .iter()
            .filter_map(|doc| Some((*doc, held.get(doc)?.clone())))
            .collect())
    }

    async fn delete_sync_states(&self, peer: &PeerId) -> Result<u64, StoreError> {
        let removed = self.lock().states.remove(peer);
        Ok(removed.map_or(0, |held| held.len() as u64))
    }

    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        let inner = self.lock();
        let mut found: Vec<(usize, DocId)> = inner
            .docs
            .iter()
            .map(|(doc, stored)| (stored.loose(), *doc))
            .filter(|(loose, _)| *loose >= min_changes.max(1))
            .collect();
        // Most loose changes first, then by id (as the SQL stores order them).
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(found.into_iter().take(limit).map(|(_, doc)| doc).collect())
    }

    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        Ok(self.lock().docs.keys().copied().collect())
    }

    async fn epoch(&self) -> Result<[u8; 16], StoreError> {
        Ok(self.lock().epoch)
    }

    async fn new_epoch(&self) -> Result<[u8; 16], StoreError> {
        let epoch = random_epoch();
        self.lock().epoch = epoch;
        Ok(epoch)
    }

    async fn feed_head(&self) -> Result<FeedCursor, StoreError> {
        Ok(FeedCursor {
            xid: 0,
            seq: self.lock().seq,
        })
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
        let inner = self.lock();
        Ok(pairs
            .iter()
            .filter(|(doc, hash)| inner.holds(*doc, hash))
            .copied()
            .collect())
    }

    async fn retain_sync_states(
        &self,
        peer: &PeerId,
        keep: &[DocId],
    ) -> Result<Vec<DocId>, StoreError> {
        let mut inner = self.lock();
        let Some(held) = inner.states.get_mut(peer) else {
            return Ok(Vec::new());
        };
        let removed = crate::not_kept(held.keys().copied().collect(), keep);
        for doc in &removed {
            held.remove(doc);
        }
        Ok(removed)
    }
}

//! Resident documents: a cache of loaded documents in front of any [`DocStore`].
//!
//! Loading a document is the costly part of most requests (a programme of 10,000
//! clients takes 200 ms to load; a clone of the loaded copy 5 ms). A server keeps the
//! documents it loaded, within a memory budget, least recently used first out.
//!
//! **A copy is used only while it is the stored content.** Every load asks the store
//! for the current [`DocVersion`] of the cached documents (one indexed query) and uses
//! a copy only when its version is that one; any other is loaded again. Every commit
//! that adds changes writes a fresh random version, whichever process makes it, so a
//! process learns of another's writes (several server processes on one PostgreSQL) by
//! that query, with no message between them. A database put back from a backup or a
//! copy keeps the versions of the content it holds, and a random version is never
//! written again for other content: a copy loaded before the restore does not match
//! anything the restored store holds unless it is that very content.
//!
//! **Commits through the cache keep its copies current**: a commit reports each
//! document's version before and after; a copy whose version is the one before gets
//! the committed changes applied and takes the version after. A copy of any other
//! version is dropped. A writer that changed its own copy (the sync engine applied a
//! device's changes to it and checked them) hands it over with the batch
//! ([`WriteBatch::with_copy`]): when it read exactly the resident copy's content, it
//! takes that copy's place, and the changes are not applied a second time.
//!
//! Callers get their own copy (a clone) of a cached document: they may change it
//! (the sync engine applies a device's changes to it before checking them) without
//! touching the cached one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use automerge::{Automerge, Change, ChangeHash, ReadDoc};

use crate::types::{
    CommitReport, CompactReport, CompactionPlan, DocVersion, FeedCursor, FeedPage, PeerId,
    ResultCopy, Versioned,
};
use crate::{DocId, DocStore, StoreError, WriteBatch};

/// Resident copies still current: each with its version and stored size.
type Copies = HashMap<DocId, (Arc<Automerge>, DocVersion, u64)>;

/// A peer's sync states of some documents.
type States = HashMap<DocId, Vec<u8>>;

/// What a resident copy (a clone of a loaded document) takes in memory, as the budget
/// counts it: a fixed part, a part per operation and one per change. Measured with a
/// counting allocator (`tests/resident_memory.rs` checks the estimate is never below
/// it, and at most six times above): an empty copy takes 5 KB, a change about 130
/// bytes, an operation about 40 in a map, 170 for a character typed in a change of its
/// own, down to 10 for characters pasted in one splice (which the count puts at 48).
/// The stored form says little of it: a note of 3,000 characters typed one per change
/// is a few hundred bytes stored and 400 KB in memory; a map of 5,000 entries, 60 KB
/// and 1.2 MB; a rep's visit with a few answers, 820 bytes and 10 KB.
const MEMORY_PER_DOC: u64 = 8 * 1024;
const MEMORY_PER_OP: u64 = 48;
const MEMORY_PER_CHANGE: u64 = 192;

/// The memory a resident copy of `doc` is counted as taking (see [`MEMORY_PER_DOC`]).
pub fn resident_memory(doc: &Automerge) -> u64 {
    MEMORY_PER_DOC
        + changes_memory(
            doc.get_changes_meta(&[])
                .iter()
                .map(|m| m.max_op + 1 - m.start_op),
        )
}

/// The memory that changes of these operation counts add to a loaded document.
fn changes_memory(ops: impl Iterator<Item = u64>) -> u64 {
    ops.map(|n| MEMORY_PER_CHANGE + MEMORY_PER_OP * n).sum()
}

/// What the cache did so far (see [`CachedStore::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Documents served from a resident copy.
    pub hits: u64,
    /// Documents loaded from the store.
    pub misses: u64,
    /// Resident copies brought up to date by a commit through the cache.
    pub followed: u64,
    /// Of those, copies replaced by the writer's own copy ([`crate::ResultCopy`])
    /// instead of having the changes applied again.
    pub adopted: u64,
    /// Documents resident now.
    pub docs: usize,
    /// Their estimated memory, in bytes.
    pub bytes: u64,
}

/// A [`DocStore`] that keeps loaded documents resident (see the module doc).
pub struct CachedStore {
    inner: Arc<dyn DocStore>,
    budget: u64,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
    followed: AtomicU64,
    adopted: AtomicU64,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Entry {
    doc: Arc<Automerge>,
    version: DocVersion,
    /// Its memory, as [`resident_memory`] counts it.
    weight: u64,
    /// Its stored size (what [`Versioned::bytes`] reports).
    stored: u64,
    tick: u64,
}

/// The resident copies, least recently used first out.
#[derive(Default)]
struct Lru {
    entries: HashMap<DocId, Entry>,
    /// Last use → document: the oldest first.
    order: BTreeMap<u64, DocId>,
    tick: u64,
    weight: u64,
}

impl Lru {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The copy of `id` if it is of `version` (used: it moves to the back); a copy of
    /// another version is dropped.
    fn get(&mut self, id: DocId, version: DocVersion) -> Option<Arc<Automerge>> {
        let entry = self.entries.get(&id)?;
        if entry.version != version {
            self.remove(id);
            return None;
        }
        let old = entry.tick;
        let tick = self.next_tick();
        self.order.remove(&old);
        self.order.insert(tick, id);
        let entry = self.entries.get_mut(&id)?;
        entry.tick = tick;
        Some(entry.doc.clone())
    }

    fn remove(&mut self, id: DocId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.order.remove(&entry.tick);
        self.weight -= entry.weight;
        Some(entry)
    }

    /// Keeps `doc` as the copy of `id` at `version`, then drops the least recently used
    /// copies until the budget holds. A document larger than a quarter of the budget
    /// is not kept: it would push out most of the others.
    fn put(
        &mut self,
        id: DocId,
        doc: Arc<Automerge>,
        version: DocVersion,
        (weight, stored): (u64, u64),
        budget: u64,
    ) {
        self.remove(id);
        if weight > budget / 4 {
            return;
        }
        let tick = self.next_tick();
        self.order.insert(tick, id);
        self.entries.insert(
            id,
            Entry {
                doc,
                version,
                weight,
                stored,
                tick,
            },
        );
        self.weight += weight;
        while self.weight > budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.weight -= entry.weight;
            }
        }
    }
}

impl CachedStore {
    /// `inner` with resident documents taking at most about `budget_bytes` of memory.
    pub fn new(inner: Arc<dyn DocStore>, budget_bytes: u64) -> Self {
        Self {
            inner,
            budget: budget_bytes,
            lru: Mutex::new(Lru::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            followed: AtomicU64::new(0),
            adopted: AtomicU64::new(0),
        }
    }

    /// What the cache did so far and holds now.
    pub fn stats(&self) -> CacheStats {
        let lru = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            followed: self.followed.load(Ordering::Relaxed),
            adopted: self.adopted.load(Ordering::Relaxed),
            docs: lru.entries.len(),
            bytes: lru.weight,
        }
    }

    /// Drops every resident copy.
    pub fn clear(&self) {
        *self.lock() = Lru::default();
    }

    /// The copies, also after a panic of another user: every change to them is made
    /// after the checks that can fail, so a panic leaves them whole.
    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The resident copies of `docs` that are still the stored content, with their
    /// versions and stored sizes.
    async fn current_copies(
        &self,
        docs: &[DocId],
        states: Option<(&PeerId, &[DocId])>,
    ) -> Result<(Copies, Option<States>), StoreError> {
        let resident: Vec<DocId> = {
            let lru = self.lock();
            let mut seen = HashSet::new();
            docs.iter()
                .copied()
                .filter(|id| lru.entries.contains_key(id) && seen.insert(*id))
                .collect()
        };
        if resident.is_empty() {
            return Ok((HashMap::new(), None));
        }
        let (current, states) = match states {
            Some((peer, of)) => {
                let (versions, states) =
                    self.inner.versions_and_states(&resident, peer, of).await?;
                (versions, Some(states))
            }
            None => (self.inner.versions(&resident).await?, None),
        };
        let mut lru = self.lock();
        let mut out = HashMap::with_capacity(resident.len());
        for id in resident {
            match current.get(&id) {
                Some(version) => {
                    if let Some(doc) = lru.get(id, *version) {
                        let stored = lru.entries.get(&id).map_or(0, |e| e.stored);
                        out.insert(id, (doc, *version, stored));
                    }
                }
                // No longer stored (a store put back to before the document existed).
                None => {
                    lru.remove(id);
                }
            }
        }
        Ok((out, states))
    }

    /// Takes the resident copy of `id` out when it is of `step.before`, the version
    /// the commit started from; drops any copy of another version but `step.after`.
    fn take_before(&self, id: DocId, step: crate::VersionStep) -> Option<Entry> {
        let mut lru = self.lock();
        match lru.entries.get(&id) {
            Some(e) if Some(e.version) == step.before => lru.remove(id),
            // Loaded after the commit already.
            Some(e) if e.version == step.after => None,
            Some(_) => {
                lru.remove(id);
                None
            }
            None => None,
        }
    }

    /// Brings the resident copy of `id` from `step.before` to `step.after` by applying
    /// `changes` (what the commit stored); drops it when it was of another version.
    fn follow(&self, id: DocId, step: crate::VersionStep, changes: Vec<Change>) {
        if let Some(entry) = self.take_before(id, step) {
            self.apply_to(id, step, entry, changes);
        }
    }

    /// `entry`, taken out at `step.before`, with `changes` applied, kept at `step.after`.
    fn apply_to(
        &self,
        id: DocId,
        step: crate::VersionStep,
        mut entry: Entry,
        changes: Vec<Change>,
    ) {
        // A reader may be cloning the copy right now: then this works on its own copy.
        let doc = Arc::make_mut(&mut entry.doc);
        if doc.apply_changes(changes.iter().cloned()).is_err()
            || !doc.get_missing_deps(&[]).is_empty()
        {
            // The store holds what the copy cannot show: load it again when asked.
            return;
        }
        let doc = Arc::clone(&entry.doc);
        self.keep_after(id, step, &entry, doc, &changes);
    }

    /// Brings the resident copy of `copy.doc` from `step.before` to `step.after` by
    /// taking the writer's copy in its place, when the writer read exactly the resident
    /// content (the same heads): the writer's copy is then that content with the
    /// committed changes, what [`Self::follow`] would make, without applying them a
    /// second time. A writer that read other content (it loaded the document from the
    /// store, or a commit moved the resident copy meanwhile) gets the changes applied.
    fn adopt(&self, step: crate::VersionStep, copy: ResultCopy, changes: Vec<Change>) {
        let id = copy.doc;
        let Some(entry) = self.take_before(id, step) else {
            return;
        };
        let (mut read_at, mut resident) = (copy.base, entry.doc.get_heads());
        read_at.sort_unstable();
        resident.sort_unstable();
        // The copy must be what it says: every committed change in it, and nothing
        // beyond them and what it was read at (each head is one or the other), nor any
        // change held back for a missing dependency, which a later apply would add.
        let exact = || {
            let committed: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
            copy.copy.get_missing_deps(&[]).is_empty()
                && committed
                    .iter()
                    .all(|h| copy.copy.get_change_by_hash(h).is_some())
                && copy
                    .copy
                    .get_heads()
                    .iter()
                    .all(|h| committed.contains(h) || read_at.binary_search(h).is_ok())
        };
        if read_at != resident || !exact() {
            self.apply_to(id, step, entry, changes);
            return;
        }
        self.adopted.fetch_add(1, Ordering::Relaxed);
        self.keep_after(id, step, &entry, Arc::new(copy.copy), &changes);
    }

    /// Keeps `doc` as the copy of `id` at `step.after`, counted as `entry` was plus
    /// `changes`, unless a copy was loaded meanwhile (it names its own version).
    fn keep_after(
        &self,
        id: DocId,
        step: crate::VersionStep,
        entry: &Entry,
        doc: Arc<Automerge>,
        changes: &[Change],
    ) {
        let added_stored: u64 = changes.iter().map(|c| c.raw_bytes().len() as u64).sum();
        let added = changes_memory(changes.iter().map(|c| c.len() as u64));
        let mut lru = self.lock();
        if lru.entries.contains_key(&id) {
            // Someone loaded it meanwhile: that copy names its own version.
            return;
        }
        let counted = (entry.weight + added, entry.stored + added_stored);
        lru.put(id, doc, step.after, counted, self.budget);
        self.followed.fetch_add(1, Ordering::Relaxed);
    }

    /// [`DocStore::load_versioned`], and `peer`'s sync states of the documents named
    /// with it, read in the query that checks the resident copies when there are any,
    /// else in the one that loads the others.
    async fn load_versioned_with(
        &self,
        docs: &[DocId],
        states: Option<(&PeerId, &[DocId])>,
    ) -> Result<(Vec<Versioned>, States), StoreError> {
        let (copies, mut read_states) = self.current_copies(docs, states).await?;
        let mut misses: Vec<DocId> = Vec::new();
        let mut seen = HashSet::new();
        for id in docs {
            if !copies.contains_key(id) && seen.insert(*id) {
                misses.push(*id);
            }
        }
        self.hits.fetch_add(
            (docs.len() - docs.iter().filter(|d| !copies.contains_key(d)).count()) as u64,
            Ordering::Relaxed,
        );
        self.misses
            .fetch_add(misses.len() as u64, Ordering::Relaxed);
        let mut loaded: HashMap<DocId, Versioned> = HashMap::with_capacity(misses.len());
        // The states come with the loads when no resident copy had them read already.
        if !misses.is_empty() {
            let versioned = match (&read_states, states) {
                (None, Some((peer, of))) => {
                    let (versioned, states) = self
                        .inner
                        .load_versioned_and_states(&misses, peer, of)
                        .await?;
                    read_states = Some(states);
                    versioned
                }
                _ => self.inner.load_versioned(&misses).await?,
            };
            for v in versioned {
                if let (Ok(Some(doc)), Some(version)) = (&v.loaded, v.version) {
                    let counted = (resident_memory(doc), v.bytes);
                    let copy = Arc::new(doc.clone());
                    self.lock().put(v.doc, copy, version, counted, self.budget);
                }
                loaded.insert(v.doc, v);
            }
        }
        let mut out = Vec::with_capacity(docs.len());
        for id in docs {
            if let Some((doc, version, stored)) = copies.get(id) {
                out.push(Versioned {
                    doc: *id,
                    loaded: Ok(Some(Automerge::clone(doc))),
                    version: Some(*version),
                    bytes: *stored,
                });
            } else if let Some(v) = loaded.remove(id) {
                out.push(v);
            } else {
                // Asked twice in one call: the first answer was moved out already.
                let again = self.inner.load_versioned(&[*id]).await?;
                out.extend(again);
            }
        }
        let states = match (read_states, states) {
            (Some(read), _) => read,
            (None, Some((peer, of))) => self.inner.states_of(peer, of).await?,
            (None, None) => HashMap::new(),
        };
        Ok((out, states))
    }
}

#[async_trait]
impl DocStore for CachedStore {
    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError> {
        Ok(self.load_versioned_with(docs, None).await?.0)
    }

    async fn load_versioned_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(Vec<Versioned>, States), StoreError> {
        self.load_versioned_with(docs, Some((peer, states_of)))
            .await
    }

    async fn commit(&self, mut batch: WriteBatch) -> Result<CommitReport, StoreError> {
        // The writer's copies as they stand after the commit, and the changes of other
        // resident documents, kept to bring the cached copies along.
        let mut copies: HashMap<DocId, ResultCopy> = std::mem::take(&mut batch.copies)
            .into_iter()
            .map(|c| (c.doc, c))
            .collect();
        let mut held: HashMap<DocId, Vec<Change>> = HashMap::new();
        {
            let lru = self.lock();
            for (id, changes) in &batch.changes {
                if lru.entries.contains_key(id) {
                    held.entry(*id).or_default().extend(changes.iter().cloned());
                }
            }
        }
        let report = self.inner.commit(batch).await?;
        for (id, step) in &report.versions {
            let Some(changes) = held.remove(id) else {
                // Not resident when the commit began; a copy loaded meanwhile
                // carries its own version, which the next load checks.
                continue;
            };
            match copies.remove(id) {
                Some(copy) => self.adopt(*step, copy, changes),
                None => self.follow(*id, *step, changes),
            }
        }
        Ok(report)
    }

    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError> {
        self.inner.versions(docs).await
    }

    async fn plan_compaction(&self, doc: DocId) -> Result<CompactionPlan, StoreError> {
        self.inner.plan_compaction(doc).await
    }

    async fn apply_compaction(&self, plan: CompactionPlan) -> Result<CompactReport, StoreError> {
        // Compaction keeps the content and its version: resident copies stay current.
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
        // The content and its version stay: resident copies stay current.
        self.inner.set_feed_groups(groups).await
    }

    async fn touch(&self, docs: &[DocId]) -> Result<u64, StoreError> {
        let moved = self.inner.touch(docs).await?;
        // A touch gives new versions to unchanged content; the copies would only miss.
        let mut lru = self.lock();
        for id in docs {
            lru.remove(*id);
        }
        Ok(moved)
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
        // A new epoch follows a restore: nothing resident is worth checking.
        self.clear();
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

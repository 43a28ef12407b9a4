//! Editing the device's documents: the edit cache, the durable edit (dirty mark no
//! later than the changes, both before the call returns), and compaction's policy and
//! pass.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use automerge::Automerge;
use rapport_domain::DocId;
use rapport_store::{CompactionPlan, WriteBatch};

use crate::device::{Cached, DeviceCore};
use crate::error::NodeError;
use crate::store::{DeviceStore, IndexEntry};

/// Most documents kept open in memory for editing.
const CACHE_DOCS: usize = 64;

/// Stored changes a document may hold outside its snapshot before the device folds them
/// in. Every edit is one change, so a visit typed one character per edit holds ~2,000
/// of them; loading replays each one, which made opening such a visit ~9x slower than
/// loading its saved bytes (P4 of `rapport-bench`).
pub const COMPACT_AFTER: usize = 128;
/// Compaction waits until no edit came for this long (ms): its write makes the edit
/// behind it wait for one more disk flush, so the rep finishes typing first.
pub const COMPACT_IDLE_MS: i64 = 500;
/// Changes edits leave outside the snapshot before the core asks for the document to be
/// folded, on a store that can fold from memory ([`DeviceStore::folds_from_memory`]);
/// the fold itself waits, as compaction does, until the rep pauses typing
/// ([`COMPACT_IDLE_MS`]), so no keystroke waits for it. A document holding
/// [`FOLD_WORTH`] loose changes or more is also folded as soon as the rep edits another
/// one, and before a sync run ([`DeviceCore::fold_edited`]), so a visit the rep moved on
/// from is stored as one snapshot. The copy is in the edit cache already: a fold is one
/// `save` and one write, no load. Automerge 0.12 pays ~2 ms to apply a few whole
/// answers' changes on top of a loaded visit, about twice the load itself (`visit_costs`
/// in the benchmark): a document read back with many loose changes pays for each.
pub const FOLD_AFTER: usize = 16;
/// Loose changes a document must hold for it to be folded when the rep moves on from it
/// or before a sync run. Fewer cost less to replay at the next load than the fold's
/// save and write cost now: a short answer's change replays in ~0.1 ms on a loaded
/// visit, a keystroke's in ~20 µs, while a fold is one `save` and one write of the
/// whole snapshot. A rep who changes one answer of a synced visit and moves on (the
/// usual edit of a visit seen before) leaves it as it is.
pub const FOLD_WORTH: usize = 4;

impl<S: DeviceStore> DeviceCore<S> {
    /// The document `id` in the edit cache (loaded from the store with the device's
    /// actor on a miss, or when sync changed it since it was loaded).
    async fn cached<'c>(
        &self,
        cache: &'c mut HashMap<DocId, Cached>,
        id: DocId,
    ) -> Result<&'c mut Automerge, NodeError> {
        let synced = self.shared.mem().sync_gen.get(&id).copied().unwrap_or(0);
        if cache.get(&id).is_none_or(|c| c.sync_gen != synced) {
            let device = self.paired().await?;
            let actor = self.edit_actor(&device)?;
            let doc = self.load(id).await?.ok_or(NodeError::NotFound {
                what: "document",
                id,
            })?;
            if !cache.contains_key(&id) && cache.len() >= CACHE_DOCS {
                // One with no edit left to fold, if there is one.
                let evict = {
                    let mem = self.shared.mem();
                    let folded = |d: &&DocId| mem.uncompacted.get(*d).is_none_or(|n| *n == 0);
                    cache
                        .keys()
                        .find(folded)
                        .or_else(|| cache.keys().next())
                        .copied()
                };
                if let Some(evict) = evict {
                    cache.remove(&evict);
                }
            }
            cache.insert(
                id,
                Cached {
                    sync_gen: synced,
                    doc: doc.with_actor(actor),
                },
            );
        }
        cache
            .get_mut(&id)
            .map(|c| &mut c.doc)
            .ok_or(NodeError::NotFound {
                what: "document",
                id,
            })
    }

    /// Reads the document `id` through the edit cache, so opening a visit and then
    /// typing into it loads it once.
    pub async fn read<T>(
        &self,
        id: DocId,
        f: impl FnOnce(&Automerge) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let mut cache = self.cache.lock().await;
        let doc = self.cached(&mut cache, id).await?;
        f(doc)
    }

    /// Applies `f` to the document `id` and makes the resulting changes durable before
    /// returning, the dirty mark no later than them: a crash can never leave a saved
    /// change the next sync would not send.
    pub async fn edit<T>(
        &self,
        id: DocId,
        f: impl FnOnce(&mut Automerge) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let mut cache = self.cache.lock().await;
        let doc = self.cached(&mut cache, id).await?;
        let before = doc.get_heads();
        let result = f(doc);
        let changes: Vec<_> = doc.get_changes(&before);
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                if !changes.is_empty() {
                    // Never keep in memory what is not on disk.
                    cache.remove(&id);
                }
                return Err(e);
            }
        };
        if changes.is_empty() {
            return Ok(out);
        }
        let change_count = changes.len();
        // Dirty in memory first: a run that takes the document out of the dirty set
        // meanwhile sees the edit and puts the mark back. A document dirty already has
        // its store mark: the changes alone are written (one disk flush per keystroke).
        let marked = self.shared.edited(id);
        let now = self.shared.now_ms();
        let saved = if marked {
            self.store
                .commit(WriteBatch::new().with_changes(id, changes))
                .await
        } else {
            self.store.save_edit(id, changes, now).await
        };
        if let Err(e) = saved {
            cache.remove(&id);
            return Err(e.into());
        }
        let folds = self.store.folds_from_memory();
        let due = {
            let mut mem = self.shared.mem();
            mem.last_edit_ms = now;
            let uncompacted = mem.uncompacted.entry(id).or_default();
            let before = *uncompacted;
            *uncompacted += change_count;
            if folds {
                // Asked once; the fold (whichever comes first) sets the count back.
                before < FOLD_AFTER && *uncompacted >= FOLD_AFTER
            } else {
                let due = *uncompacted >= COMPACT_AFTER;
                if due {
                    *uncompacted = 0;
                }
                due
            }
        };
        // The documents the rep moved on from, once per move: their snapshots saved
        // while the copies are in hand, written once the cache is let go.
        let left = if folds {
            self.fold_plans(&cache, |doc, loose| doc != id && loose >= FOLD_WORTH)
        } else {
            Vec::new()
        };
        drop(cache);
        self.fold(left).await;
        if due {
            self.shared.host.compaction_due(vec![id]);
        }
        self.shared.host.edited();
        Ok(out)
    }

    /// Folds every document in the edit cache that edits left [`FOLD_WORTH`] changes or
    /// more outside its snapshot, from its copy in memory, on a store that can
    /// ([`DeviceStore::folds_from_memory`]). A sync run calls it first: a document read
    /// back from one snapshot loads in half the time of one with loose changes.
    pub async fn fold_edited(&self) {
        if !self.store.folds_from_memory() {
            return;
        }
        self.fold_cached(|_, loose| loose >= FOLD_WORTH).await;
    }

    /// Snapshots of the cached documents `due` picks (by id and loose edits), their
    /// counts of loose edits taken; a document cached at an older sync is left alone
    /// (the next edit reloads it).
    fn fold_plans(
        &self,
        cache: &HashMap<DocId, Cached>,
        due: impl Fn(DocId, usize) -> bool,
    ) -> Vec<(CompactionPlan, usize)> {
        let mut mem = self.shared.mem();
        let mut plans = Vec::new();
        for (id, cached) in cache {
            let loose = mem.uncompacted.get(id).copied().unwrap_or(0);
            let current = mem.sync_gen.get(id).copied().unwrap_or(0) == cached.sync_gen;
            if current && due(*id, loose) {
                mem.uncompacted.insert(*id, 0);
                plans.push((CompactionPlan::of_document(*id, &cached.doc), loose));
            }
        }
        plans
    }

    /// Folds those of `docs` open in the edit cache from their copies there; returns the
    /// others.
    async fn fold_open(&self, docs: Vec<DocId>) -> Vec<DocId> {
        if !self.store.folds_from_memory() {
            return docs;
        }
        let asked: HashSet<DocId> = docs.iter().copied().collect();
        let folded = self.fold_cached(|doc, _| asked.contains(&doc)).await;
        docs.into_iter().filter(|d| !folded.contains(d)).collect()
    }

    /// Folds the cached documents `due` picks ([`Self::fold_plans`]); returns them.
    async fn fold_cached(&self, due: impl Fn(DocId, usize) -> bool) -> HashSet<DocId> {
        let cache = self.cache.lock().await;
        let plans = self.fold_plans(&cache, due);
        drop(cache);
        let picked = plans.iter().map(|(plan, _)| plan.doc()).collect();
        self.fold(plans).await;
        picked
    }

    /// Writes snapshots of edited documents' copies in memory over their stored
    /// changes. A copy the store no longer matches (a sync or another edit committed
    /// since it was saved) writes nothing; the copy is let go, so the next edit reads
    /// the document again from the store, and asks for a fold again.
    async fn fold(&self, plans: Vec<(CompactionPlan, usize)>) {
        for (plan, loose) in plans {
            let id = plan.doc();
            if let Err(e) = self.store.fold(plan).await {
                tracing::debug!(doc = %id, error = %e, "an edited document was not folded; the next edit tries again");
                self.cache.lock().await.remove(&id);
                let mut mem = self.shared.mem();
                let uncompacted = mem.uncompacted.entry(id).or_default();
                *uncompacted = (*uncompacted + loose).min(FOLD_AFTER - 1);
            }
        }
    }

    /// Saves a whole new document made on this device (all its changes), its index
    /// entry (if it has one) first: a crash after it leaves an entry for a missing
    /// document (ignored by lists); the other order could hide a saved document until
    /// the next start.
    pub async fn save_new(
        &self,
        id: DocId,
        doc: &Automerge,
        entry: Option<IndexEntry>,
    ) -> Result<(), NodeError> {
        if let Some(entry) = entry {
            self.store.index(&[entry]).await?;
        }
        self.shared.marked(&[id]);
        self.store
            .save_edit(id, doc.get_changes(&[]), self.shared.now_ms())
            .await?;
        self.shared.host.edited();
        Ok(())
    }

    /// Whether the rep paused typing long enough for compaction to run now.
    pub fn idle_for_compaction(&self) -> bool {
        let last = self.shared.mem().last_edit_ms;
        self.closing.load(Ordering::SeqCst) || self.shared.now_ms() - last >= COMPACT_IDLE_MS
    }

    /// Folds stored changes into snapshots: `docs`, or every document holding at least
    /// [`COMPACT_AFTER`] loose changes. Those open in the edit cache are folded from
    /// their copies there, on a store that can (no load); the others are read from the
    /// store. Compaction keeps the whole history and is one write per document, so a
    /// failure or a crash leaves the document as it was, only slower to load. One pass
    /// at a time; stops before its next document once the core is closing.
    pub async fn compact(&self, docs: Option<Vec<DocId>>) {
        let _pass = self.compact_lock.lock().await;
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        let docs = match docs {
            Some(docs) => docs,
            None => match self
                .store
                .compaction_candidates(COMPACT_AFTER, 10_000)
                .await
            {
                Ok(docs) => docs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list documents to compact");
                    return;
                }
            },
        };
        let docs = self.fold_open(docs).await;
        for id in docs {
            if self.closing.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = self.store.compact(id).await {
                tracing::warn!(doc = %id, error = %e, "cannot compact a document; it stays as it was");
            }
        }
    }
}

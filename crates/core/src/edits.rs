//! Editing the device's documents: the edit cache, the durable edit (dirty mark no
//! later than the changes, both before the call returns), and compaction's policy and
//! pass.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use automerge::Automerge;
use rapport_domain::DocId;
use rapport_store::WriteBatch;

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
            if !cache.contains_key(&id)
                && cache.len() >= CACHE_DOCS
                && let Some(evict) = cache.keys().next().copied()
            {
                cache.remove(&evict);
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
        let due = {
            let mut mem = self.shared.mem();
            mem.last_edit_ms = now;
            let uncompacted = mem.uncompacted.entry(id).or_default();
            *uncompacted += change_count;
            let due = *uncompacted >= COMPACT_AFTER;
            if due {
                *uncompacted = 0;
            }
            due
        };
        drop(cache);
        if due {
            self.shared.host.compaction_due(vec![id]);
        }
        self.shared.host.edited();
        Ok(out)
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
    /// [`COMPACT_AFTER`] loose changes. Compaction keeps the whole history and is one
    /// write per document, so a failure or a crash leaves the document as it was, only
    /// slower to load. One pass at a time; stops before its next document once the core
    /// is closing.
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

//! Editing the device's documents: the edit cache, the durable edit (dirty mark
//! first, then the changes, before the call returns), compaction in the background,
//! and the index repair after a crash.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use automerge::Automerge;
use rapport_domain::DocId;
use rapport_store::{DocStore, WriteBatch};

use crate::error::NodeError;
use crate::{Inner, now_ms};

/// Most documents kept open in memory for editing.
const CACHE_DOCS: usize = 64;

/// Stored changes a document may hold outside its snapshot before the node folds them
/// in. Every edit is one change, so a visit typed one character per edit holds ~2,000
/// of them; loading replays each one, which made opening such a visit ~9x slower than
/// loading its saved bytes (P4 of `rapport-bench`).
const COMPACT_AFTER: usize = 128;
/// Compaction waits until no edit came for this long (ms)...
const COMPACT_IDLE_MS: i64 = 500;
/// ...checking at most this many times (every half of it: 30 s in all).
const COMPACT_IDLE_CHECKS: usize = 120;

impl Inner {
    /// The document `id` in the edit cache (loaded from the store with the device's
    /// actor on a miss).
    async fn cached<'c>(
        &self,
        cache: &'c mut HashMap<DocId, Automerge>,
        id: DocId,
    ) -> Result<&'c mut Automerge, NodeError> {
        if !cache.contains_key(&id) {
            let device = self.device().await?.ok_or(NodeError::NotPaired)?;
            let actor = self.edit_actor(&device)?;
            let doc = self.store.load(id).await?.ok_or(NodeError::NotFound {
                what: "document",
                id,
            })?;
            if cache.len() >= CACHE_DOCS
                && let Some(evict) = cache.keys().next().copied()
            {
                cache.remove(&evict);
            }
            cache.insert(id, doc.with_actor(actor));
        }
        cache.get_mut(&id).ok_or(NodeError::NotFound {
            what: "document",
            id,
        })
    }

    /// Reads the document `id` through the edit cache, so opening a visit and then
    /// typing into it loads it once.
    pub(crate) async fn read<T>(
        &self,
        id: DocId,
        f: impl FnOnce(&Automerge) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let mut cache = self.cache.lock().await;
        let doc = self.cached(&mut cache, id).await?;
        f(doc)
    }

    /// Applies `f` to the document `id` and makes the resulting changes durable before
    /// returning. The dirty mark is written first, so a crash can never leave a saved
    /// change the next sync would not send.
    pub(crate) async fn edit<T>(
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
        let now = now_ms();
        let change_count = changes.len();
        let known_dirty = self.mem().dirty.contains(&id);
        let saved = async {
            if !known_dirty {
                self.db.mark_dirty(&[id], now).await?;
            }
            self.store
                .commit(WriteBatch::new().with_changes(id, changes))
                .await?;
            Ok::<(), NodeError>(())
        }
        .await;
        if let Err(e) = saved {
            cache.remove(&id);
            return Err(e);
        }
        self.last_edit_ms.store(now, Ordering::SeqCst);
        let compact = {
            let mut mem = self.mem();
            mem.dirty.insert(id);
            *mem.edit_gen.entry(id).or_default() += 1;
            let uncompacted = mem.uncompacted.entry(id).or_default();
            *uncompacted += change_count;
            let due = *uncompacted >= COMPACT_AFTER;
            if due {
                *uncompacted = 0;
            }
            due
        };
        drop(cache);
        if compact {
            self.compact_in_background(Some(vec![id]));
        }
        self.kick.notify_one();
        Ok(out)
    }

    /// Folds stored changes into snapshots off the caller's path: `docs`, or every
    /// document holding at least [`COMPACT_AFTER`] loose changes. Compaction keeps the
    /// whole history (a snapshot is `Automerge::save`) and is one transaction per
    /// document, so a failure or a crash leaves the document as it was, only slower to load.
    pub(crate) fn compact_in_background(&self, docs: Option<Vec<DocId>>) {
        let store = self.store.clone();
        let lock = self.compact_lock.clone();
        let closing = self.closing.clone();
        let last_edit = self.last_edit_ms.clone();
        tokio::spawn(async move {
            // A compaction's commit makes the edit behind it wait for one more disk
            // flush: let the rep finish typing first (bounded, so it happens anyway).
            for _ in 0..COMPACT_IDLE_CHECKS {
                if closing.load(Ordering::SeqCst)
                    || now_ms() - last_edit.load(Ordering::SeqCst) >= COMPACT_IDLE_MS
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(COMPACT_IDLE_MS as u64 / 2))
                    .await;
            }
            let _pass = lock.lock().await;
            if closing.load(Ordering::SeqCst) {
                return;
            }
            let docs = match docs {
                Some(docs) => docs,
                None => match store.compaction_candidates(COMPACT_AFTER, 10_000).await {
                    Ok(docs) => docs,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list documents to compact");
                        return;
                    }
                },
            };
            for id in docs {
                if closing.load(Ordering::SeqCst) {
                    break;
                }
                if let Err(e) = store.compact(id).await {
                    tracing::warn!(doc = %id, error = %e, "cannot compact a document; it stays as it was");
                }
            }
        });
    }

    /// Indexes stored documents the index does not know (after a crash between a
    /// document's commit and its index row).
    pub(crate) async fn repair_index(&self) -> Result<(), NodeError> {
        let known: HashSet<DocId> = self.db.indexed().await?.into_iter().map(|e| e.0).collect();
        let missing: Vec<DocId> = self
            .store
            .list_docs()
            .await?
            .into_iter()
            .filter(|d| !known.contains(d))
            .collect();
        let mut entries = Vec::new();
        for (id, loaded) in self.store.load_many(&missing).await? {
            if let Ok(Some(doc)) = loaded
                && let Ok(scope) = rapport_domain::doc_scope(&doc)
            {
                entries.push((id, scope.kind.tag(), scope.client_id));
            }
        }
        self.db.index(&entries).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};

    use std::time::Duration;

    use automerge::ActorId;

    use super::*;
    use crate::local::Pairing;
    use crate::{KeyStorage, Node, NodeOptions};

    /// Loose change rows of `id` (not folded into its snapshot).
    async fn loose(inner: &Inner, id: DocId) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL")
            .bind(id.as_bytes().as_slice())
            .fetch_one(inner.store.pool())
            .await
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_document_typed_one_character_per_edit_is_compacted_and_keeps_every_keystroke() {
        let dir = tempfile::tempdir().expect("dir");
        let mut options = NodeOptions::new(dir.path());
        options.key_storage = KeyStorage::File;
        options.auto_sync = false;
        let node = Node::open(options.clone()).await.expect("open");
        let inner = node.inner();
        let actor = ActorId::random();
        inner
            .db
            .set_device(
                &Pairing {
                    server_url: "http://127.0.0.1:9".into(),
                    device_id: "d1".into(),
                    token: "t".into(),
                    programme_id: DocId::random(),
                    rep_id: Some("ivanov".into()),
                    label: "Планшет Иванова".into(),
                    actor: hex::encode(actor.to_bytes()),
                },
                now_ms(),
            )
            .await
            .expect("device");
        let id = DocId::random();
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        tx.put_object(ROOT, "text", ObjType::Text).expect("text");
        tx.commit();
        inner
            .store
            .commit(WriteBatch::new().with_changes(id, doc.get_changes(&[])))
            .await
            .expect("stored");

        let typed: String = "Привет, мир 🚀 ".chars().cycle().take(300).collect();
        for c in typed.chars() {
            inner
                .edit(id, |doc| {
                    let mut tx = doc.transaction();
                    let (_, text) = tx
                        .get(ROOT, "text")
                        .ok()
                        .flatten()
                        .ok_or_else(|| NodeError::invalid("no_text", "no text"))?;
                    let end = tx.length(&text);
                    tx.splice_text(&text, end, 0, &c.to_string())
                        .map_err(|e| NodeError::invalid("splice", e.to_string()))?;
                    tx.commit();
                    Ok(())
                })
                .await
                .expect("edit");
        }
        // Compactions run in the background after 128 and 256 edits.
        let started = Instant::now();
        while loose(inner, id).await >= COMPACT_AFTER as i64 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still {} loose changes",
                loose(inner, id).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.shutdown().await;

        let node = Node::open(options).await.expect("reopen");
        let doc = node
            .inner()
            .store
            .load(id)
            .await
            .expect("load")
            .expect("doc");
        let (_, text) = doc.get(ROOT, "text").expect("get").expect("text");
        assert_eq!(
            doc.text(&text).expect("text"),
            typed,
            "every keystroke kept"
        );
        assert_eq!(doc.get_changes(&[]).len(), 301, "the whole history kept");
        node.shutdown().await;
    }
}

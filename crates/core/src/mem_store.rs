//! [`MemDeviceStore`]: a [`DeviceStore`] in memory, for tests and the simulation. Every
//! write is durable when it returns (a crash of the app loses nothing it wrote), it can
//! be copied and put back ([`MemDeviceStore::snapshot`], an image of the tablet), and
//! it can be made to fail writes, as a full disk or a battery dying mid-run does
//! ([`MemDeviceStore::set_faults`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use automerge::{Automerge, Change, ChangeHash};
use rapport_api::StoppedDoc;
use rapport_domain::DocId;
use rapport_store::{StoreError, WriteBatch};

use crate::store::{DeviceStore, IndexEntry, Loaded, Pairing, RunRecord, SyncRow};

/// One stored document: a snapshot (after compaction) and the changes after it.
#[derive(Clone, Debug, Default)]
struct StoredDoc {
    snapshot: Option<Vec<u8>>,
    loose: Vec<Change>,
    hashes: HashSet<ChangeHash>,
}

/// Everything the store holds: what an image of the device's folder holds.
#[derive(Clone, Debug, Default)]
pub struct MemDeviceSnapshot {
    docs: BTreeMap<DocId, StoredDoc>,
    states: BTreeMap<DocId, Vec<u8>>,
    pairing: Option<Pairing>,
    sync: SyncRow,
    dirty: BTreeMap<DocId, i64>,
    stopped: BTreeMap<DocId, StoppedDoc>,
    index: BTreeMap<DocId, IndexEntry>,
}

/// Writes the store refuses, to test what a failing disk does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteFaults {
    /// Writes of dirty marks fail.
    pub dirty: bool,
    /// Writes of document changes fail.
    pub changes: bool,
    /// After this many more successful writes, every write fails (the device died):
    /// `None` = no limit.
    pub writes_left: Option<u64>,
}

/// A device store in memory. See the module documentation.
#[derive(Debug, Default)]
pub struct MemDeviceStore {
    data: Mutex<MemDeviceSnapshot>,
    faults: Mutex<WriteFaults>,
}

fn injected(what: &str) -> StoreError {
    StoreError::Unavailable {
        reason: format!("injected failure writing {what}"),
    }
}

impl MemDeviceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `snapshot` (an image of a device put back, or copied).
    pub fn from_snapshot(snapshot: MemDeviceSnapshot) -> Self {
        Self {
            data: Mutex::new(snapshot),
            faults: Mutex::default(),
        }
    }

    /// A copy of everything stored.
    pub fn snapshot(&self) -> MemDeviceSnapshot {
        self.lock().clone()
    }

    /// Which writes fail from now on.
    pub fn set_faults(&self, faults: WriteFaults) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemDeviceSnapshot> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One write may happen (else the injected error): counts it against `writes_left`.
    fn write(&self, dirty: bool, changes: bool) -> Result<(), StoreError> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(left) = &mut faults.writes_left {
            if *left == 0 {
                return Err(injected("anything: the device is off"));
            }
            *left -= 1;
        }
        if dirty && faults.dirty {
            return Err(injected("a dirty mark"));
        }
        if changes && faults.changes {
            return Err(injected("document changes"));
        }
        Ok(())
    }
}

impl StoredDoc {
    fn load(&self, id: DocId) -> Loaded {
        let corrupt = |reason: String| StoreError::Corrupt { doc: id, reason };
        let mut doc = match &self.snapshot {
            Some(bytes) => Automerge::load(bytes).map_err(|e| corrupt(e.to_string()))?,
            None => Automerge::new(),
        };
        doc.apply_changes(self.loose.iter().cloned())
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(doc))
    }
}

/// Adds `changes` to `docs`, all or nothing: every dependency must be stored or come
/// earlier in the batch.
fn add_changes(
    docs: &mut BTreeMap<DocId, StoredDoc>,
    batch: &[(DocId, Vec<Change>)],
) -> Result<(), StoreError> {
    let mut staged: BTreeMap<DocId, StoredDoc> = BTreeMap::new();
    for (id, changes) in batch {
        let entry = staged
            .entry(*id)
            .or_insert_with(|| docs.get(id).cloned().unwrap_or_default());
        let mut pending: Vec<&Change> = changes
            .iter()
            .filter(|c| !entry.hashes.contains(&c.hash()))
            .collect();
        // Causal order within the batch need not be given: take what is ready, again.
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for change in pending {
                if change.deps().iter().all(|d| entry.hashes.contains(d)) {
                    if entry.hashes.insert(change.hash()) {
                        entry.loose.push(change.clone());
                    }
                } else {
                    rest.push(change);
                }
            }
            if rest.len() == before {
                let change = rest[0];
                let missing = change
                    .deps()
                    .iter()
                    .find(|d| !entry.hashes.contains(d))
                    .copied()
                    .unwrap_or(change.hash());
                return Err(StoreError::MissingDependencies {
                    doc: *id,
                    change: change.hash(),
                    missing,
                });
            }
            pending = rest;
        }
    }
    docs.extend(staged);
    Ok(())
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl DeviceStore for MemDeviceStore {
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, Loaded)>, StoreError> {
        let data = self.lock();
        Ok(docs
            .iter()
            .map(|id| {
                let loaded = match data.docs.get(id) {
                    Some(doc) => doc.load(*id),
                    None => Ok(None),
                };
                (*id, loaded)
            })
            .collect())
    }

    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        Ok(self.lock().docs.keys().copied().collect())
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        // This store keeps changes only.
        let batch = batch.wholes_as_changes()?;
        self.write(false, !batch.changes.is_empty())?;
        let mut data = self.lock();
        let mut docs = data.docs.clone();
        add_changes(&mut docs, &batch.changes)?;
        data.docs = docs;
        for (_, doc, state) in batch.sync_states {
            data.states.insert(doc, state);
        }
        Ok(())
    }

    async fn save_edit(
        &self,
        doc: DocId,
        changes: Vec<Change>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // The mark first, as a store of two transactions would.
        self.mark_dirty(&[doc], now_ms).await?;
        self.write(false, true)?;
        let mut data = self.lock();
        let mut docs = data.docs.clone();
        add_changes(&mut docs, &[(doc, changes)])?;
        data.docs = docs;
        Ok(())
    }

    async fn sync_states(&self, docs: &[DocId]) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        let data = self.lock();
        Ok(docs
            .iter()
            .filter_map(|id| Some((*id, data.states.get(id)?.clone())))
            .collect())
    }

    async fn retain_sync_states(&self, keep: &[DocId]) -> Result<(), StoreError> {
        self.write(false, false)?;
        let keep: BTreeSet<&DocId> = keep.iter().collect();
        self.lock().states.retain(|id, _| keep.contains(id));
        Ok(())
    }

    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError> {
        let data = self.lock();
        let mut found: Vec<(usize, DocId)> = data
            .docs
            .iter()
            .filter(|(_, d)| d.loose.len() >= min_changes.max(1))
            .map(|(id, d)| (d.loose.len(), *id))
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(found.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn compact(&self, doc: DocId) -> Result<(), StoreError> {
        let stored = self
            .lock()
            .docs
            .get(&doc)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                what: format!("document {doc}"),
            })?;
        let loaded = stored.load(doc)?.unwrap_or_default();
        self.write(false, true)?;
        let mut data = self.lock();
        if let Some(entry) = data.docs.get_mut(&doc) {
            // Changes committed since the load stay loose.
            let folded: HashSet<ChangeHash> = stored.loose.iter().map(Change::hash).collect();
            entry.loose.retain(|c| !folded.contains(&c.hash()));
            entry.snapshot = Some(loaded.save());
        }
        Ok(())
    }

    async fn pairing(&self) -> Result<Option<Pairing>, StoreError> {
        Ok(self.lock().pairing.clone())
    }

    async fn set_pairing(&self, pairing: &Pairing, _now_ms: i64) -> Result<(), StoreError> {
        self.write(false, false)?;
        let mut data = self.lock();
        data.pairing = Some(pairing.clone());
        data.sync.remote_cursor.clear();
        data.sync.revoked = false;
        data.sync.last_error = None;
        Ok(())
    }

    async fn sync_row(&self) -> Result<SyncRow, StoreError> {
        Ok(self.lock().sync.clone())
    }

    async fn set_remote_cursor(&self, cursor: &[u8]) -> Result<(), StoreError> {
        self.write(false, false)?;
        self.lock().sync.remote_cursor = cursor.to_vec();
        Ok(())
    }

    async fn record_run(&self, now_ms: i64, record: &RunRecord) -> Result<(), StoreError> {
        self.write(false, false)?;
        let sync = &mut self.lock().sync;
        sync.last_attempt_ms = Some(now_ms);
        match record {
            RunRecord::Done(summary) => {
                sync.last_error = None;
                sync.last_run = Some(summary.clone());
                sync.last_success_ms = Some(now_ms);
            }
            RunRecord::Failed { error, revoked } => {
                sync.last_error = Some(error.clone());
                sync.revoked |= *revoked;
            }
        }
        Ok(())
    }

    async fn dirty(&self) -> Result<Vec<DocId>, StoreError> {
        let data = self.lock();
        let mut marks: Vec<(i64, DocId)> = data.dirty.iter().map(|(d, t)| (*t, *d)).collect();
        marks.sort();
        Ok(marks.into_iter().map(|(_, d)| d).collect())
    }

    async fn mark_dirty(&self, docs: &[DocId], now_ms: i64) -> Result<(), StoreError> {
        self.write(true, false)?;
        let mut data = self.lock();
        for doc in docs {
            data.dirty.entry(*doc).or_insert(now_ms);
        }
        Ok(())
    }

    async fn clear_dirty(&self, docs: &[DocId]) -> Result<(), StoreError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.write(false, false)?;
        let mut data = self.lock();
        for doc in docs {
            data.dirty.remove(doc);
        }
        Ok(())
    }

    async fn stop(&self, stopped: &[StoppedDoc]) -> Result<(), StoreError> {
        if stopped.is_empty() {
            return Ok(());
        }
        self.write(false, false)?;
        let mut data = self.lock();
        for s in stopped {
            data.stopped.insert(s.doc_id, s.clone());
        }
        Ok(())
    }

    async fn unstop(&self, docs: &[DocId]) -> Result<(), StoreError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.write(false, false)?;
        let mut data = self.lock();
        for doc in docs {
            data.stopped.remove(doc);
        }
        Ok(())
    }

    async fn stopped(&self) -> Result<Vec<StoppedDoc>, StoreError> {
        let data = self.lock();
        let mut out: Vec<StoppedDoc> = data
            .stopped
            .values()
            .map(|s| StoppedDoc {
                kind: data
                    .index
                    .get(&s.doc_id)
                    .map_or_else(|| "document".to_owned(), |e| e.kind.clone()),
                ..s.clone()
            })
            .collect();
        out.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.doc_id.cmp(&b.doc_id)));
        Ok(out)
    }

    async fn index(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(false, false)?;
        let mut data = self.lock();
        for e in entries {
            data.index.insert(e.doc, e.clone());
        }
        Ok(())
    }

    async fn indexed(&self) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(self.lock().index.values().cloned().collect())
    }
}

//! Backend-independent pieces: preparing a batch for insert and rebuilding documents
//! from stored rows.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use rapport_domain::DocId;

use crate::types::{CompactionPlan, DocVersion, PeerId, PlanBase, Versioned, WholeDoc, WriteBatch};
use crate::{LoadResult, StoreError};

/// One change ready to insert.
pub(crate) struct NewChange {
    pub doc: DocId,
    pub hash: ChangeHash,
    pub data: Vec<u8>,
}

/// A dependency of a batch change that the batch itself does not hold: it must be stored.
pub(crate) struct ExternalDep {
    pub doc: DocId,
    pub change: ChangeHash,
    pub dep: ChangeHash,
}

impl ExternalDep {
    /// The error when the store does not hold the dependency: nothing of the batch may
    /// be stored.
    pub(crate) fn missing(&self) -> StoreError {
        StoreError::MissingDependencies {
            doc: self.doc,
            change: self.change,
            missing: self.dep,
        }
    }
}

/// A [`WriteBatch`] flattened, de-duplicated and checked for what it needs from the store.
pub(crate) struct PreparedBatch {
    /// Every document of the batch, in first-seen order.
    pub docs: Vec<DocId>,
    /// Distinct changes, in batch order.
    pub changes: Vec<NewChange>,
    /// Dependencies outside the batch, each once.
    pub external_deps: Vec<ExternalDep>,
    /// Distinct (peer, doc) sync states; the last one in the batch wins.
    pub sync_states: Vec<(PeerId, DocId, Vec<u8>)>,
    /// Documents arriving whole, each the only entry of its document in the batch, in
    /// document order (the order every writer locks them in).
    pub wholes: Vec<WholeDoc>,
}

impl PreparedBatch {
    /// Adds the changes of a whole document the store turned out to hold already: they
    /// go in as changes (the ones it holds are skipped as any duplicate is). They depend
    /// only on each other, so no dependency is outside the batch.
    pub(crate) fn add_whole_as_changes(&mut self, whole: &WholeDoc) -> Result<(), StoreError> {
        let doc = whole.doc();
        if !self.docs.contains(&doc) {
            self.docs.push(doc);
        }
        for change in whole.changes()? {
            self.changes.push(NewChange {
                doc,
                hash: change.hash(),
                data: change.raw_bytes().to_vec(),
            });
        }
        Ok(())
    }
}

/// Flattens `batch`. A document sent whole that the batch also names otherwise (twice
/// whole, or with changes: batches merged by a group commit) goes in as changes.
pub(crate) fn prepare(mut batch: WriteBatch) -> Result<PreparedBatch, StoreError> {
    let mut wholes: HashMap<DocId, WholeDoc> = HashMap::new();
    let mut named: HashSet<DocId> = batch.changes.iter().map(|(doc, _)| *doc).collect();
    for whole in std::mem::take(&mut batch.wholes) {
        let doc = whole.doc();
        if named.insert(doc) {
            wholes.insert(doc, whole);
        } else {
            let earlier = wholes.remove(&doc);
            for whole in earlier.into_iter().chain([whole]) {
                batch.changes.push((doc, whole.changes()?));
            }
        }
    }
    let mut wholes: Vec<WholeDoc> = wholes.into_values().collect();
    wholes.sort_unstable_by_key(WholeDoc::doc);
    let mut docs = Vec::new();
    let mut seen_docs = HashSet::new();
    let mut in_batch: HashSet<(DocId, ChangeHash)> = HashSet::new();
    let mut changes = Vec::new();
    let mut deps: Vec<(DocId, ChangeHash, Vec<ChangeHash>)> = Vec::new();
    for (doc, doc_changes) in batch.changes {
        if seen_docs.insert(doc) {
            docs.push(doc);
        }
        for change in doc_changes {
            let hash = change.hash();
            if !in_batch.insert((doc, hash)) {
                continue;
            }
            deps.push((doc, hash, change.deps().to_vec()));
            changes.push(NewChange {
                doc,
                hash,
                data: change.raw_bytes().to_vec(),
            });
        }
    }
    let mut external_deps = Vec::new();
    let mut seen_deps = HashSet::new();
    for (doc, change, change_deps) in deps {
        for dep in change_deps {
            if !in_batch.contains(&(doc, dep)) && seen_deps.insert((doc, dep)) {
                external_deps.push(ExternalDep { doc, change, dep });
            }
        }
    }
    let mut states: HashMap<(PeerId, DocId), usize> = HashMap::new();
    let mut sync_states: Vec<(PeerId, DocId, Vec<u8>)> = Vec::new();
    for (peer, doc, state) in batch.sync_states {
        match states.get(&(peer.clone(), doc)) {
            Some(&i) => sync_states[i].2 = state,
            None => {
                states.insert((peer.clone(), doc), sync_states.len());
                sync_states.push((peer, doc, state));
            }
        }
    }
    Ok(PreparedBatch {
        docs,
        changes,
        external_deps,
        sync_states,
        wholes,
    })
}

/// The stored rows of one document, as read in one consistent snapshot of the database.
#[derive(Default)]
pub(crate) struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    pub snapshot_gen: i64,
    /// The version of this content (`None` for a row written before versions existed).
    pub version: Option<DocVersion>,
    /// Changes whose bytes are still stored, in arrival order.
    pub changes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StoredDoc {
    fn bytes(&self) -> u64 {
        let snapshot = self.snapshot.as_ref().map_or(0, Vec::len);
        let changes: usize = self.changes.iter().map(|(_, data)| data.len()).sum();
        (snapshot + changes) as u64
    }
}

/// Rebuilds the document: the snapshot, then the remaining changes. Returns the hashes
/// of the applied changes too (what a compaction may fold).
pub(crate) fn assemble(
    doc: DocId,
    stored: &StoredDoc,
) -> Result<(Automerge, Vec<ChangeHash>), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { doc, reason };
    let mut am = match &stored.snapshot {
        Some(bytes) => Automerge::load(bytes)
            .map_err(|e| corrupt(format!("the snapshot does not load: {e}")))?,
        None => Automerge::new(),
    };
    let mut hashes = Vec::with_capacity(stored.changes.len());
    let mut changes = Vec::with_capacity(stored.changes.len());
    for (hash, data) in &stored.changes {
        let stored_hash = ChangeHash::try_from(hash.as_slice())
            .map_err(|_| corrupt(format!("a change hash is {} bytes, not 32", hash.len())))?;
        let change = Change::from_bytes(data.clone())
            .map_err(|e| corrupt(format!("change {stored_hash} does not decode: {e}")))?;
        if change.hash() != stored_hash {
            return Err(corrupt(format!(
                "change stored as {stored_hash} has hash {}",
                change.hash()
            )));
        }
        hashes.push(stored_hash);
        changes.push(change);
    }
    am.apply_changes(changes)
        .map_err(|e| corrupt(format!("the changes do not apply: {e}")))?;
    // Commit refuses changes with unknown dependencies, so a gap means lost rows.
    if let Some(missing) = am.get_missing_deps(&[]).first() {
        return Err(corrupt(format!(
            "stored changes depend on change {missing}, which is missing"
        )));
    }
    Ok((am, hashes))
}

/// The per-document load result.
pub(crate) fn load_result(doc: DocId, stored: Option<&StoredDoc>) -> LoadResult {
    match stored {
        None => Ok(None),
        Some(stored) => assemble(doc, stored).map(|(am, _)| Some(am)),
    }
}

/// The per-document load result with the version and size of what was read.
pub(crate) fn versioned(doc: DocId, stored: Option<&StoredDoc>) -> Versioned {
    Versioned {
        doc,
        loaded: load_result(doc, stored),
        version: stored.and_then(|s| s.version),
        bytes: stored.map_or(0, StoredDoc::bytes),
    }
}

/// Builds the snapshot a compaction writes.
pub(crate) fn plan(doc: DocId, stored: Option<StoredDoc>) -> Result<CompactionPlan, StoreError> {
    let stored = stored.ok_or_else(|| StoreError::NotFound {
        what: format!("document {doc}"),
    })?;
    let bytes_before = stored.bytes();
    let (am, folded) = assemble(doc, &stored)?;
    let snapshot = if folded.is_empty() {
        Vec::new()
    } else {
        am.save()
    };
    Ok(CompactionPlan {
        doc,
        base: PlanBase::Stored(stored.snapshot_gen),
        snapshot,
        folded,
        bytes_before,
    })
}

/// A 16-byte id read back from the database.
#[cfg(feature = "sqlite")]
pub(crate) fn doc_id(bytes: &[u8]) -> Result<DocId, StoreError> {
    <[u8; 16]>::try_from(bytes)
        .map(DocId::from_bytes)
        .map_err(|_| StoreError::Database {
            reason: format!("a stored document id is {} bytes, not 16", bytes.len()),
        })
}

/// A 32-byte change hash read back from the database.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn hash(bytes: &[u8]) -> Result<ChangeHash, StoreError> {
    ChangeHash::try_from(bytes).map_err(|_| StoreError::Database {
        reason: format!("a stored change hash is {} bytes, not 32", bytes.len()),
    })
}

/// The store's 16-byte epoch read back from the database.
#[cfg(feature = "sqlite")]
pub(crate) fn epoch(bytes: &[u8]) -> Result<[u8; 16], StoreError> {
    <[u8; 16]>::try_from(bytes).map_err(|_| StoreError::Database {
        reason: format!("the stored epoch is {} bytes, not 16", bytes.len()),
    })
}

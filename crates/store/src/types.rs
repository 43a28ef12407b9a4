//! Values passed in and out of a [`crate::DocStore`].

use std::collections::HashMap;
use std::fmt;

use automerge::{Change, ChangeHash};
use rapport_domain::DocId;

use crate::StoreError;

/// Who a sync state belongs to: a device id, or [`PeerId::server`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(String);

impl PeerId {
    /// A peer named by `id` (for a device: its device id).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The server, as the peer a device keeps its sync states for.
    pub fn server() -> Self {
        Self("server".to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({:?})", self.0)
    }
}

impl From<&str> for PeerId {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// What one [`crate::DocStore::commit`] writes, all or nothing.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// New changes per document (in causal order where possible; duplicates are fine).
    pub changes: Vec<(DocId, Vec<Change>)>,
    /// Documents arriving whole, new to the store as far as the writer knows.
    pub wholes: Vec<WholeDoc>,
    /// Sync states to store, replacing any earlier one of the same (peer, document).
    pub sync_states: Vec<(PeerId, DocId, Vec<u8>)>,
    /// The writer's copies of documents as they stand once the batch commits. Stores
    /// ignore them; the cache of resident documents keeps one in place of applying the
    /// changes to its own copy again ([`crate::CachedStore`]).
    pub copies: Vec<ResultCopy>,
}

/// A writer's copy of a document once the batch's changes for it are applied: the
/// document as read at `base` (its heads then) with those changes. It is the stored
/// content after the commit exactly when the store held the content of `base` just
/// before it; the cache of resident documents checks that before keeping it.
#[derive(Clone)]
pub struct ResultCopy {
    pub(crate) doc: DocId,
    pub(crate) base: Vec<ChangeHash>,
    pub(crate) copy: automerge::Automerge,
}

impl fmt::Debug for ResultCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultCopy")
            .field("doc", &self.doc)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A document arriving whole: the bytes of one saved document (exactly one document
/// chunk, as `Automerge::save` writes it) and the hash of every change it holds.
///
/// A store that does not hold the document yet keeps the bytes as they are, as its
/// snapshot, with a row per change hash beside it, as if a compaction had folded them:
/// nothing is decoded or encoded again. A store that holds the document already when
/// it commits (another writer was first) stores the changes read from the bytes
/// instead, so nothing it held is replaced.
#[derive(Clone)]
pub struct WholeDoc {
    doc: DocId,
    bytes: Vec<u8>,
    hashes: Vec<ChangeHash>,
}

impl fmt::Debug for WholeDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WholeDoc")
            .field("doc", &self.doc)
            .field("bytes", &self.bytes.len())
            .field("changes", &self.hashes.len())
            .finish()
    }
}

impl WholeDoc {
    /// `bytes` as `doc`'s whole content, if they are exactly one document chunk; `hashes`
    /// are the hashes of every change the document holds (the caller loaded the bytes).
    /// `None` otherwise: the caller stores changes.
    pub fn new(doc: DocId, bytes: Vec<u8>, hashes: Vec<ChangeHash>) -> Option<Self> {
        (is_one_document(&bytes) && !hashes.is_empty()).then_some(Self { doc, bytes, hashes })
    }

    /// The document.
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// The saved bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The hash of every change the bytes hold.
    pub fn hashes(&self) -> &[ChangeHash] {
        &self.hashes
    }

    /// The changes the bytes hold, for a store that keeps changes only, or that holds the
    /// document already; an error when the bytes do not load or hold other changes than
    /// the hashes say.
    pub fn changes(&self) -> Result<Vec<Change>, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            doc: self.doc,
            reason,
        };
        let doc = automerge::Automerge::load(&self.bytes)
            .map_err(|e| corrupt(format!("a document sent whole does not load: {e}")))?;
        let changes = doc.get_changes(&[]);
        let mut found: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
        let mut said = self.hashes.clone();
        found.sort_unstable();
        said.sort_unstable();
        if found != said {
            return Err(corrupt(format!(
                "a document sent whole holds {} changes, {} were named",
                found.len(),
                said.len()
            )));
        }
        Ok(changes)
    }
}

/// Automerge's chunk header: magic bytes, checksum, chunk type, then the length of the
/// data as LEB128.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT_CHUNK: u8 = 0;

/// Whether `bytes` are exactly one Automerge document chunk: nothing before or after it,
/// so a strict load reads exactly what a lenient one did.
pub fn is_one_document(bytes: &[u8]) -> bool {
    let Some(rest) = bytes.strip_prefix(&CHUNK_MAGIC[..]) else {
        return false;
    };
    let Some((&kind, rest)) = rest.get(4..).and_then(<[u8]>::split_first) else {
        return false;
    };
    if kind != DOCUMENT_CHUNK {
        return false;
    }
    let mut len: u64 = 0;
    for (i, byte) in rest.iter().take(10).enumerate() {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return usize::try_from(len).is_ok_and(|len| rest.len() - (i + 1) == len);
        }
    }
    false
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds changes of one document.
    pub fn with_changes(mut self, doc: DocId, changes: Vec<Change>) -> Self {
        self.changes.push((doc, changes));
        self
    }

    /// Adds a document arriving whole.
    pub fn with_whole(mut self, whole: WholeDoc) -> Self {
        self.wholes.push(whole);
        self
    }

    /// Adds the writer's copy of `doc` as it stands with this batch's changes for it:
    /// the copy it read at `base` (those heads) with them applied. See [`ResultCopy`].
    pub fn with_copy(
        mut self,
        doc: DocId,
        base: Vec<ChangeHash>,
        copy: automerge::Automerge,
    ) -> Self {
        self.copies.push(ResultCopy { doc, base, copy });
        self
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.wholes.is_empty() && self.sync_states.is_empty()
    }

    /// The batch with every whole document turned into its changes: for a store that
    /// keeps changes only.
    pub fn wholes_as_changes(mut self) -> Result<Self, StoreError> {
        for whole in std::mem::take(&mut self.wholes) {
            let changes = whole.changes()?;
            self.changes.push((whole.doc, changes));
        }
        Ok(self)
    }

    /// Adds the sync state of `peer` for `doc`.
    pub fn with_sync_state(mut self, peer: PeerId, doc: DocId, state: Vec<u8>) -> Self {
        self.sync_states.push((peer, doc, state));
        self
    }
}

/// What a commit stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// Per document of the batch: how many of its changes were not stored before.
    pub new_changes: HashMap<DocId, usize>,
    /// How many sync states were written.
    pub sync_states: usize,
    /// Per document that got new changes: its version before and after the commit
    /// (what a cache of loaded documents needs to follow the commit).
    pub versions: HashMap<DocId, VersionStep>,
}

/// A token naming one state of a stored document's content. Every commit that adds
/// changes to a document (and every [`crate::DocStore::touch`]) gives it a fresh random
/// one; compaction, which does not change the content, keeps it. Equal versions mean
/// equal content, also after the database was restored from a backup or a copy: the
/// copy's versions come with the content they named, and a random token is never
/// handed out again (a counter would be: a restored counter counts the same numbers
/// again, for other content).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocVersion(pub(crate) [u8; 16]);

impl DocVersion {
    /// A fresh random version (a version 4 UUID's bytes).
    pub(crate) fn random() -> Self {
        Self(*DocId::random().as_bytes())
    }

    /// The 16 bytes, as stored.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A version read back from 16 stored bytes (SQLite keeps them as a blob).
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_stored(bytes: &[u8]) -> Result<Self, StoreError> {
        <[u8; 16]>::try_from(bytes)
            .map(Self)
            .map_err(|_| StoreError::Database {
                reason: format!("a stored document version is {} bytes, not 16", bytes.len()),
            })
    }
}

impl fmt::Debug for DocVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocVersion(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// How one commit moved a document's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionStep {
    /// The version the commit found (`None`: the document was new).
    pub before: Option<DocVersion>,
    /// The version the commit wrote.
    pub after: DocVersion,
}

/// One document of [`crate::DocStore::load_versioned`].
#[derive(Debug)]
pub struct Versioned {
    /// The document.
    pub doc: DocId,
    /// What loading it gave.
    pub loaded: crate::LoadResult,
    /// The version of the content read (`None` when not stored).
    pub version: Option<DocVersion>,
    /// Bytes of the stored rows read (snapshot plus changes not folded into it).
    pub bytes: u64,
}

impl CommitReport {
    /// How many changes of `doc` were new (0 for a document not in the batch).
    pub fn new_for(&self, doc: DocId) -> usize {
        self.new_changes.get(&doc).copied().unwrap_or(0)
    }

    /// How many changes were new in the whole batch.
    pub fn total_new(&self) -> usize {
        self.new_changes.values().sum()
    }
}

/// A snapshot ready to be written by [`crate::DocStore::apply_compaction`]: built by
/// [`crate::DocStore::plan_compaction`] from what is stored, or by
/// [`CompactionPlan::of_document`] from a copy already in memory.
#[derive(Clone)]
pub struct CompactionPlan {
    pub(crate) doc: DocId,
    /// What the snapshot was built from, checked when it is written.
    pub(crate) base: PlanBase,
    pub(crate) snapshot: Vec<u8>,
    /// The changes whose bytes the snapshot makes redundant (for a plan of a copy in
    /// memory: found when it is written).
    pub(crate) folded: Vec<ChangeHash>,
    pub(crate) bytes_before: u64,
}

/// What a [`CompactionPlan`]'s snapshot was built from.
#[derive(Clone)]
pub(crate) enum PlanBase {
    /// The stored rows at this snapshot generation (compare-and-swap on write).
    Stored(i64),
    /// A copy in memory holding exactly these changes, sorted: written only if the
    /// store holds exactly them, so a snapshot never drops the bytes of a change it
    /// lacks nor holds one the store's rows do not list.
    Holding(Vec<ChangeHash>),
}

impl CompactionPlan {
    /// A plan folding every stored change of `doc` into the snapshot of `am`, a copy
    /// of it in memory (an editor's): no read of the store and no load. Applying it
    /// gives `Err(Conflict)` unless the store holds exactly the changes `am` holds
    /// (a sync committed more since the copy was loaded, or the copy holds an edit
    /// not committed yet), and nothing is written then.
    pub fn of_document(doc: DocId, am: &automerge::Automerge) -> Self {
        let mut holding: Vec<ChangeHash> = am
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| m.hash)
            .collect();
        holding.sort_unstable();
        Self {
            doc,
            base: PlanBase::Holding(holding),
            snapshot: am.save(),
            folded: Vec::new(),
            bytes_before: 0,
        }
    }

    /// For a plan of a copy in memory, given the store's rows of the document
    /// (`hash`, bytes of its change data when not folded yet) and the size of its
    /// snapshot: the plan with the changes to fold, or `Err(Conflict)` when the rows
    /// are not exactly the copy's changes. A plan of stored rows is returned as is.
    pub(crate) fn against_rows(
        mut self,
        rows: Vec<(ChangeHash, Option<u64>)>,
        snapshot_bytes: u64,
    ) -> Result<Self, StoreError> {
        let PlanBase::Holding(holding) = &self.base else {
            return Ok(self);
        };
        let mut stored: Vec<ChangeHash> = rows.iter().map(|(h, _)| *h).collect();
        stored.sort_unstable();
        if &stored != holding {
            return Err(StoreError::Conflict {
                reason: format!(
                    "document {} holds {} stored changes, the copy in memory {}: it changed since the copy was loaded",
                    self.doc,
                    stored.len(),
                    holding.len()
                ),
            });
        }
        self.bytes_before = snapshot_bytes;
        for (hash, data) in rows {
            if let Some(bytes) = data {
                self.bytes_before += bytes;
                self.folded.push(hash);
            }
        }
        Ok(self)
    }

    /// The document the plan is for.
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// The snapshot generation a plan of stored rows was built from; `None` for a plan
    /// of a copy in memory, which [`Self::against_rows`] checks instead.
    pub(crate) fn generation(&self) -> Option<i64> {
        match self.base {
            PlanBase::Stored(generation) => Some(generation),
            PlanBase::Holding(_) => None,
        }
    }

    /// How many stored changes the snapshot folds in.
    pub fn changes_to_fold(&self) -> usize {
        self.folded.len()
    }

    /// What applying the plan does (nothing when it folds no change).
    pub(crate) fn report(&self) -> CompactReport {
        CompactReport {
            doc: self.doc,
            changes_folded: self.folded.len(),
            bytes_before: self.bytes_before,
            bytes_after: if self.folded.is_empty() {
                self.bytes_before
            } else {
                self.snapshot.len() as u64
            },
        }
    }

    /// The error when the plan's document is not stored.
    pub(crate) fn not_stored(&self) -> StoreError {
        StoreError::NotFound {
            what: format!("document {}", self.doc),
        }
    }

    /// The error when another compaction of the document got in first.
    pub(crate) fn raced(&self) -> StoreError {
        StoreError::Conflict {
            reason: format!(
                "document {} was compacted by someone else since this plan was made",
                self.doc
            ),
        }
    }
}

impl fmt::Debug for CompactionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactionPlan")
            .field("doc", &self.doc)
            .field(
                "base",
                &match &self.base {
                    PlanBase::Stored(generation) => format!("stored at {generation}"),
                    PlanBase::Holding(changes) => format!("a copy of {} changes", changes.len()),
                },
            )
            .field("snapshot_len", &self.snapshot.len())
            .field("folded", &self.folded.len())
            .finish()
    }
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// The compacted document.
    pub doc: DocId,
    /// How many changes were folded into the snapshot (0: nothing to do).
    pub changes_folded: usize,
    /// Bytes of snapshot and change data the snapshot replaced.
    pub bytes_before: u64,
    /// Bytes of the new snapshot.
    pub bytes_after: u64,
}

/// A position in a store's change feed. Opaque: devices keep it as bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedCursor {
    /// PostgreSQL: the writer's transaction id (xid8); SQLite and memory: always 0.
    pub(crate) xid: u64,
    /// The feed sequence value of the last document seen.
    pub(crate) seq: i64,
}

/// Version tag of the byte form, so a later format can be told apart.
const CURSOR_V1: u8 = 1;
const CURSOR_LEN: usize = 17;

impl FeedCursor {
    /// Length of [`Self::to_bytes`].
    pub const BYTES: usize = CURSOR_LEN;

    /// The start of the feed: every stored document comes after it.
    pub fn start() -> Self {
        Self::default()
    }

    /// The cursor as bytes (17 bytes), to keep on a device or send over the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CURSOR_LEN);
        out.push(CURSOR_V1);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// The cursor from [`Self::to_bytes`]; `Err(BadCursor)` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::BadCursor { reason };
        if bytes.len() != CURSOR_LEN {
            return Err(bad(format!(
                "expected {CURSOR_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        if bytes[0] != CURSOR_V1 {
            return Err(bad(format!("unknown cursor version {}", bytes[0])));
        }
        let mut xid = [0u8; 8];
        xid.copy_from_slice(&bytes[1..9]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[9..17]);
        let seq = i64::from_be_bytes(seq);
        if seq < 0 {
            return Err(bad(format!("negative sequence value {seq}")));
        }
        Ok(Self {
            xid: u64::from_be_bytes(xid),
            seq,
        })
    }
}

impl fmt::Debug for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FeedCursor({}:{})", self.xid, self.seq)
    }
}

/// One page of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// Documents changed after the cursor, oldest change first, each once.
    pub docs: Vec<DocId>,
    /// The cursor just after each document of `docs` (same order), so a reader that
    /// stops in the middle of a page (a full response) can resume exactly there.
    pub positions: Vec<FeedCursor>,
    /// Where to continue from (the cursor passed in when `docs` is empty).
    pub cursor: FeedCursor,
    /// With an empty page, the feed's head ([`DocStore::feed_head`]) when the store
    /// read it in the same query (PostgreSQL), so a reader checking whether its cursor
    /// is beyond the feed needs no second round trip; `None` when it was not read.
    ///
    /// [`DocStore::feed_head`]: crate::DocStore::feed_head
    pub head: Option<FeedCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::empty(&[])]
    #[case::short(&[1, 0, 0])]
    #[case::long(&[1; 18])]
    #[case::wrong_version(&[2; 17])]
    #[case::negative_seq(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0])]
    #[case::text("курсор, не байты".as_bytes())]
    fn garbage_cursor_is_rejected(#[case] bytes: &[u8]) {
        let err = FeedCursor::from_bytes(bytes).expect_err("garbage must not parse");
        assert_eq!(err.code(), "bad_feed_cursor");
    }

    #[rstest]
    #[case(FeedCursor::start())]
    #[case(FeedCursor { xid: 0, seq: 42 })]
    #[case(FeedCursor { xid: u64::MAX, seq: i64::MAX })]
    fn cursor_round_trips_through_bytes(#[case] cursor: FeedCursor) {
        let bytes = cursor.to_bytes();
        assert!(bytes.len() <= 64);
        assert_eq!(FeedCursor::from_bytes(&bytes).ok(), Some(cursor));
    }

    #[test]
    fn only_exactly_one_saved_document_is_taken_whole() {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "клиент", "ООО «Ромашка»")
            .expect("put");
        doc.commit();
        let hashes: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(Change::hash).collect();
        let saved = doc.save();
        let id = DocId::random();
        assert!(is_one_document(&saved));
        assert!(WholeDoc::new(id, saved.clone(), hashes.clone()).is_some());
        // Anything after the chunk, a cut chunk, a change chunk, no hashes: not whole.
        let mut longer = saved.clone();
        longer.push(0);
        assert!(!is_one_document(&longer));
        assert!(!is_one_document(&saved[..saved.len() - 1]));
        assert!(!is_one_document(&saved[..8]));
        assert!(!is_one_document(&[]));
        let change = doc.get_changes(&[]).pop().expect("a change");
        assert!(!is_one_document(change.raw_bytes()));
        let mut two = saved.clone();
        two.extend_from_slice(change.raw_bytes());
        assert!(!is_one_document(&two));
        assert!(WholeDoc::new(id, saved.clone(), Vec::new()).is_none());
        // Its changes are read back from the bytes, and must be the ones named.
        let whole = WholeDoc::new(id, saved.clone(), hashes).expect("whole");
        assert_eq!(whole.changes().expect("changes").len(), 1);
        let wrong = WholeDoc::new(id, saved, vec![ChangeHash([7; 32])]).expect("whole");
        assert_eq!(
            wrong.changes().expect_err("other hashes").code(),
            "corrupt_document"
        );
    }
}

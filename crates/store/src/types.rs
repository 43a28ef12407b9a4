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
    /// Sync states to store, replacing any earlier one of the same (peer, document).
    pub sync_states: Vec<(PeerId, DocId, Vec<u8>)>,
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

/// A snapshot built by [`crate::DocStore::plan_compaction`], ready to be written.
#[derive(Clone)]
pub struct CompactionPlan {
    pub(crate) doc: DocId,
    /// The snapshot generation the plan was built from (compare-and-swap on write).
    pub(crate) base_gen: i64,
    pub(crate) snapshot: Vec<u8>,
    /// The changes whose bytes the snapshot makes redundant.
    pub(crate) folded: Vec<ChangeHash>,
    pub(crate) bytes_before: u64,
}

impl CompactionPlan {
    /// The document the plan is for.
    pub fn doc(&self) -> DocId {
        self.doc
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
            .field("base_gen", &self.base_gen)
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
}

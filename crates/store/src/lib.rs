//! Document storage: the [`DocStore`] trait, its in-memory implementation
//! ([`MemStore`]) and its SQLite and PostgreSQL implementations.
//!
//! Each database backend is a cargo feature, off by default: `sqlite` (`SqliteStore`:
//! the device node and the embedded server) and `postgres` (`PgStore`: server
//! replicas). A user asks for the backends it runs on, so the device links no
//! PostgreSQL driver. Without either, the crate is the trait, its types and
//! [`MemStore`]: no database driver, no async runtime, and it builds for the browser
//! (`wasm32-unknown-unknown`). The `group` feature adds `GroupCommit` (commits that
//! arrive together stored in one transaction), which needs the tokio runtime.
//!
//! Documents are stored as append-only Automerge changes keyed by change hash, folded
//! into snapshots by compaction; a document new to the store that arrives whole
//! ([`WholeDoc`]) is stored as its snapshot at once. Every commit that adds changes to a document moves it
//! to the head of a change feed that devices follow with a [`FeedCursor`].

mod cache;
#[cfg(feature = "sqlite")]
mod closing;
mod error;
#[cfg(feature = "group")]
mod group;
mod mem;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;
mod types;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use automerge::{Automerge, ChangeHash};
pub use rapport_domain::DocId;

pub use cache::{CacheStats, CachedStore, resident_memory};
#[cfg(feature = "sqlite")]
pub use closing::wait_for_closed_stores;
pub use error::StoreError;
#[cfg(feature = "group")]
pub use group::{GroupCommit, GroupStats};
#[doc(hidden)]
pub use mem::Damage;
pub use mem::{Footprint, MemStore, MemStoreSnapshot};
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use types::{
    CommitReport, CompactReport, CompactionPlan, DocVersion, FeedCursor, FeedPage, PeerId,
    ResultCopy, VersionStep, Versioned, WholeDoc, WriteBatch, is_one_document,
};

/// The result of loading one document of many: `Ok(None)` when it is not stored.
pub type LoadResult = Result<Option<Automerge>, StoreError>;

/// Where documents, their changes and per-peer sync states live.
///
/// Implementations: [`MemStore`] (in memory: simulations and tests), `SqliteStore`
/// (device node, embedded server; feature `sqlite`) and `PgStore` (server replicas on
/// one PostgreSQL; feature `postgres`). All three pass the same conformance suite.
#[async_trait]
pub trait DocStore: Send + Sync {
    /// Stores the changes of many documents and the sync states, all or nothing, durably
    /// before returning. Changes already stored are skipped (uploads are idempotent).
    async fn commit(&self, batch: WriteBatch) -> Result<CommitReport, StoreError>;

    /// The document (snapshot plus remaining changes), or `None` when it is not stored.
    async fn load(&self, doc: DocId) -> LoadResult {
        match self.load_many(&[doc]).await?.pop() {
            Some((_, loaded)) => loaded,
            None => Ok(None),
        }
    }

    /// Many documents in few queries, in the order asked. A corrupt document gives an
    /// error in its own slot; the others still load.
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, LoadResult)>, StoreError> {
        Ok(self
            .load_versioned(docs)
            .await?
            .into_iter()
            .map(|v| (v.doc, v.loaded))
            .collect())
    }

    /// [`Self::load_many`] with the version of each document's content, read in the
    /// same consistent read as the content.
    async fn load_versioned(&self, docs: &[DocId]) -> Result<Vec<Versioned>, StoreError>;

    /// The current versions of those of `docs` that are stored (one cheap query): what
    /// tells a process whether a copy it loaded earlier is still the stored content,
    /// whoever wrote since (another server process on the same database included).
    async fn versions(&self, docs: &[DocId]) -> Result<HashMap<DocId, DocVersion>, StoreError>;

    /// [`Self::versions`] of `docs` and `peer`'s [`Self::sync_states`] of `states_of`,
    /// each read only when its list is not empty: in one round trip where the store can
    /// (a sync's first step checks its resident copies and reads the device's states).
    async fn versions_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(HashMap<DocId, DocVersion>, HashMap<DocId, Vec<u8>>), StoreError> {
        let versions = if docs.is_empty() {
            HashMap::new()
        } else {
            self.versions(docs).await?
        };
        Ok((versions, self.states_of(peer, states_of).await?))
    }

    /// [`Self::load_many`] of `docs` and `peer`'s [`Self::sync_states`] of `states_of`
    /// (none read when it is empty): what a sync reads before it answers. A store keeping
    /// resident copies checks them in the same query as the states
    /// ([`Self::versions_and_states`]).
    async fn load_many_with_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(Vec<(DocId, LoadResult)>, HashMap<DocId, Vec<u8>>), StoreError> {
        let (loaded, states) = self
            .load_versioned_and_states(docs, peer, states_of)
            .await?;
        let loaded = loaded.into_iter().map(|v| (v.doc, v.loaded)).collect();
        Ok((loaded, states))
    }

    /// [`Self::load_versioned`] of `docs` and `peer`'s [`Self::sync_states`] of
    /// `states_of` (none read when it is empty), in one round trip where the store can:
    /// what a sync reads when none of its documents is resident.
    async fn load_versioned_and_states(
        &self,
        docs: &[DocId],
        peer: &PeerId,
        states_of: &[DocId],
    ) -> Result<(Vec<Versioned>, HashMap<DocId, Vec<u8>>), StoreError> {
        let loaded = self.load_versioned(docs).await?;
        Ok((loaded, self.states_of(peer, states_of).await?))
    }

    /// [`Self::sync_states`], with no query for no documents.
    async fn states_of(
        &self,
        peer: &PeerId,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
        if docs.is_empty() {
            return Ok(HashMap::new());
        }
        self.sync_states(peer, docs).await
    }

    /// Reads the document and builds a snapshot of it, without writing anything.
    /// `Err(NotFound)` when the document is not stored.
    async fn plan_compaction(&self, doc: DocId) -> Result<CompactionPlan, StoreError>;

    /// Writes the snapshot of `plan` and drops the bytes of the changes it holds, in one
    /// transaction. Changes committed since the plan was made are kept. A plan made
    /// before another compaction of the same document gives `Err(Conflict)`.
    async fn apply_compaction(&self, plan: CompactionPlan) -> Result<CompactReport, StoreError>;

    /// Folds the document's changes into a snapshot: [`Self::plan_compaction`] then
    /// [`Self::apply_compaction`].
    async fn compact(&self, doc: DocId) -> Result<CompactReport, StoreError> {
        let plan = self.plan_compaction(doc).await?;
        self.apply_compaction(plan).await
    }

    /// Up to `limit` documents changed after `after`, oldest change first, each once, and
    /// the cursor to continue from. Never skips a committed change.
    async fn feed(&self, after: &FeedCursor, limit: usize) -> Result<FeedPage, StoreError>;

    /// [`Self::feed`] of only the documents filed under one of `groups`
    /// ([`Self::set_feed_groups`]) and those not filed under any yet: what a reader
    /// needs that may read nothing else. Read through an index, so a reader pays for
    /// its own documents, not for every commit of the store. Positions and cursors are
    /// those of [`Self::feed`]: a reader may switch between the two.
    async fn feed_in(
        &self,
        after: &FeedCursor,
        limit: usize,
        groups: &[DocId],
    ) -> Result<FeedPage, StoreError>;

    /// Files stored documents under feed groups, `(document, group)`. Neither moves a
    /// document in the feed nor changes its version: readers of its group find it where
    /// it was, and a reader of no group stops seeing it only where it never could read
    /// it anyway (the caller's promise: a document is filed under a group every reader
    /// that may read it asks for). Unknown ids are ignored; returns how many documents
    /// got a new group.
    async fn set_feed_groups(&self, groups: &[(DocId, DocId)]) -> Result<u64, StoreError>;

    /// Moves stored documents to the head of the feed without changing them, so that
    /// readers whose cursor is past them see them again (a device given access to a
    /// document it skipped before). Unknown ids are ignored; returns how many moved.
    async fn touch(&self, docs: &[DocId]) -> Result<u64, StoreError>;

    /// The stored sync states of `peer` for those of `docs` that have one.
    async fn sync_states(
        &self,
        peer: &PeerId,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Vec<u8>>, StoreError>;

    /// Forgets every sync state of `peer` (a revoked or re-paired device); returns how
    /// many were removed.
    async fn delete_sync_states(&self, peer: &PeerId) -> Result<u64, StoreError>;

    /// Documents holding at least `min_changes` changes not yet folded into a snapshot,
    /// most first, at most `limit`: what a background compactor works on.
    async fn compaction_candidates(
        &self,
        min_changes: usize,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError>;

    /// Every stored document id, sorted.
    async fn list_docs(&self) -> Result<Vec<DocId>, StoreError>;

    /// The store's identity: random, set when the store is created and replaced by
    /// [`Self::new_epoch`] after a restore from a backup. A cursor of another epoch
    /// points into a feed this store never had.
    async fn epoch(&self) -> Result<[u8; 16], StoreError>;

    /// Gives the store a new random epoch (after a restore) and returns it.
    async fn new_epoch(&self) -> Result<[u8; 16], StoreError>;

    /// The newest position of the feed (or the start when nothing is stored). A cursor
    /// beyond it was handed out by a later state of this store: the store went back in
    /// time (restored from a copy without a new epoch).
    async fn feed_head(&self) -> Result<FeedCursor, StoreError>;

    /// Documents committed after `after` that [`Self::feed`] still holds back (on
    /// PostgreSQL, while a transaction older than their commit is open; never on
    /// SQLite or in memory), at most `limit`. Reading them does not move any cursor: the feed
    /// hands them out again once it may.
    async fn feed_held_back(
        &self,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<Vec<DocId>, StoreError>;

    /// Which of the `(document, change)` pairs are stored (folded into a snapshot or
    /// not): what a device holds that this store lacks is the rest.
    async fn stored_changes(
        &self,
        pairs: &[(DocId, ChangeHash)],
    ) -> Result<HashSet<(DocId, ChangeHash)>, StoreError>;

    /// Forgets the sync states of `peer` for every document not in `keep`; returns the
    /// documents whose state was removed. A state claims what the peer holds: after the
    /// peer went back in time, the claims of documents it no longer holds (or no
    /// longer holds whole) would make the feed skip what it lacks.
    async fn retain_sync_states(
        &self,
        peer: &PeerId,
        keep: &[DocId],
    ) -> Result<Vec<DocId>, StoreError>;
}

/// The sync states of `peer` that `store` would [`DocStore::retain_sync_states`] away:
/// those of documents not in `keep`.
pub(crate) fn not_kept(held: Vec<DocId>, keep: &[DocId]) -> Vec<DocId> {
    let keep: HashSet<&DocId> = keep.iter().collect();
    held.into_iter().filter(|d| !keep.contains(d)).collect()
}

//! What the sync engine asks of the server it runs in.

use std::collections::HashMap;

use async_trait::async_trait;
use automerge::Automerge;
use rapport_protocol::{NewChanges, Rejection};
use rapport_store::DocId;

use crate::access::Access;
use crate::error::HttpResult;

/// What is particular to one server, and to one device on it, in a sync request: which
/// documents the device may read and write, the check of new changes before they are
/// committed, and a document pushed to it before the feed. One value serves one
/// request of one device.
///
/// The server (`rapport-server`'s handler) answers from its projections, the device's
/// rights and the programme's register of authors; the in-memory test server from a
/// set of forbidden documents and an optional check.
#[async_trait]
pub trait SyncPolicy: Send + Sync {
    /// What [`Self::check`] needs from the stored copy of a document the device sent,
    /// read before the device's changes are applied (the server: the document's scope).
    type Before: Send;

    /// The device's rights over `docs` as known without loading them (the server: its
    /// projections). A document left out is judged by its content once loaded
    /// ([`Self::access_by_content`]); one it may not touch is refused before loading.
    async fn known_access(&self, docs: &[DocId]) -> HttpResult<HashMap<DocId, Access>>;

    /// The device's rights over a loaded document [`Self::known_access`] left out (not
    /// projected yet), or one the feed still holds back, judged by its content.
    fn access_by_content(&self, id: DocId, doc: &Automerge) -> Access;

    /// Reads the stored copy of a document the device sent (empty when it is new)
    /// before the device's changes are applied: what [`Self::check`] needs, or why the
    /// device may not touch it (the document is refused with that code and message).
    fn before_upload(&self, id: DocId, stored: &Automerge) -> Result<Self::Before, Rejection>;

    /// The check of a document's new `changes` before they are committed: `doc` is the
    /// stored copy with them applied. An `Err` refuses them; nothing of the document is
    /// stored.
    fn check(
        &self,
        id: DocId,
        before: &Self::Before,
        doc: &Automerge,
        changes: NewChanges<'_>,
    ) -> Result<(), Rejection>;

    /// A document the device gets before the feed until its sync state shows it has it
    /// (a rep's programme view: the questionnaire); `None` for none.
    fn pushed_first(&self) -> Option<DocId>;

    /// The feed groups holding every document the device may read
    /// ([`rapport_store::DocStore::feed_in`]): its feed is read from those and the
    /// unfiled documents only, so it pays for its own documents, not for every commit
    /// of the store. `None` (the default): the whole feed.
    fn feed_groups(&self) -> Option<Vec<DocId>> {
        None
    }
}

//! One sync request under way, and its steps in the order they run.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, ChangeHash};
use rapport_protocol::{
    ErrorCode, FeedResult, Limits, NewChanges, ServerExchange, SyncRequest, receive,
};
use rapport_store::{
    DocId, DocStore, FeedCursor, FeedPage, LoadResult, PeerId, StoreError, WriteBatch,
};

use super::cursor::Place;
use super::policy::SyncPolicy;
use super::reply::{SyncReply, refusals};
use crate::access::Access;
use crate::error::{HttpError, HttpResult};

/// Feed documents read per query.
const FEED_PAGE: usize = 500;
/// Feed documents looked at per request at most (the rest come with `more`), so one
/// request of a fresh device on a large programme stays short.
const MAX_SCAN: usize = 10_000;

/// Documents of one request per thread at least, before the work is spread over the
/// cores: below it a thread costs more than it saves (a device's usual sync sends a
/// few documents).
const PER_THREAD: usize = 8;

/// `f` of every item, in order, spread over the machine's cores when there are enough
/// items. The caller's task waits meanwhile (its thread is handed over to the runtime's
/// other tasks when the runtime has several).
fn on_every_core<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    // A usual request never asks how many cores there are: on Linux the answer reads
    // the cgroup's files each time (1.5% of the server's CPU under P3 when asked
    // per request), so it is asked once per process.
    let wanted = items.len() / PER_THREAD;
    let threads = if wanted <= 1 {
        wanted
    } else {
        cores().min(wanted)
    };
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<T> = items.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    let run = || {
        std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| scope.spawn(move || chunk.into_iter().map(f).collect::<Vec<R>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    };
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

/// The cores this process may use, asked once.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// Whether two lists of heads name the same changes (in any order).
fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    a.len() == b.len() && a.iter().all(|h| b.contains(h))
}

/// One sync request under way: the store, what the device may do, and the exchange
/// that collects the answer.
pub(super) struct Round<'a, P: SyncPolicy> {
    store: &'a dyn DocStore,
    policy: &'a P,
    peer: &'a PeerId,
    limits: Limits,
    exchange: ServerExchange,
    /// The documents the device sent.
    requested: Vec<DocId>,
    /// The documents answered already (those the device sent, the one pushed to it):
    /// the feed skips them.
    handled: HashSet<DocId>,
    /// The device starts over (an empty cursor): its sync states here claim nothing.
    fresh: bool,
    /// The heads of the stored copy each answered document was answered from (empty:
    /// it was not stored yet). The feed is read after these copies were loaded, and
    /// skips answered documents: one whose stored heads moved meanwhile (another
    /// device's commit) must not let the cursor pass it, or the device would never be
    /// offered that commit.
    answered_from: HashMap<DocId, Vec<ChangeHash>>,
    /// Each accepted upload's copy with the device's changes applied (read at its
    /// [`Self::answered_from`] heads): handed to the commit, so that resident documents
    /// take it rather than apply the same changes again ([`rapport_store::ResultCopy`]).
    copies: HashMap<DocId, Automerge>,
}

impl<'a, P: SyncPolicy> Round<'a, P> {
    /// Opens the exchange.
    pub(super) fn start(
        store: &'a dyn DocStore,
        policy: &'a P,
        peer: &'a PeerId,
        request: SyncRequest,
        limits: Limits,
    ) -> Self {
        // A device with an empty cursor holds nothing it learned from this store: a new
        // device, one whose first request's answer was lost, or one put back to an image
        // from before its first sync. Its sync states here may claim what it no longer
        // holds (a server restored to a backup taken after the device reconciled keeps
        // the older claims), and the feed would skip by them: they are not read. A
        // forgotten state costs one whole document, never data.
        let fresh = request.cursor.is_empty();
        let exchange = ServerExchange::new(request, limits);
        let requested = exchange.requested();
        Self {
            store,
            policy,
            peer,
            limits,
            exchange,
            handled: requested.iter().copied().collect(),
            requested,
            fresh,
            answered_from: HashMap::new(),
            copies: HashMap::new(),
        }
    }

    /// The stored copies of `docs` and the device's sync states of `states_of` here
    /// (none when it starts over), read together: a store checking resident copies
    /// reads the states in the same query.
    async fn load_with_states(
        &self,
        docs: &[DocId],
        states_of: &[DocId],
    ) -> HttpResult<(Vec<(DocId, LoadResult)>, HashMap<DocId, Vec<u8>>)> {
        let states_of = if self.fresh { &[] } else { states_of };
        Ok(self
            .store
            .load_many_with_states(docs, self.peer, states_of)
            .await?)
    }

    /// Step 1, the device's documents: each one it may write gets its changes applied to
    /// the stored copy and checked ([`SyncPolicy::check`]); one it may not is refused.
    /// Whether the device still lacks the document pushed first
    /// ([`SyncPolicy::pushed_first`]), read in the same query as the documents' sync
    /// states.
    pub(super) async fn apply_uploads(&mut self) -> HttpResult<bool> {
        let known = self.policy.known_access(&self.requested).await?;
        let mut allowed = Vec::with_capacity(self.requested.len());
        for id in &self.requested {
            match known.get(id) {
                Some(Access::Forbidden(why)) => {
                    self.exchange.refuse(*id, ErrorCode::Forbidden, *why)
                }
                _ => allowed.push(*id),
            }
        }
        // The document pushed first, until the device acknowledges it (step 2).
        let pushed = self
            .policy
            .pushed_first()
            .filter(|id| !self.requested.contains(id));
        let mut asked = allowed.clone();
        asked.extend(pushed);
        let (stored, states) = self.load_with_states(&allowed, &asked).await?;
        let policy = self.policy;
        let mut work = Vec::with_capacity(stored.len());
        for (id, loaded) in stored {
            let Some((doc, before)) = self.stored_copy(id, loaded) else {
                continue;
            };
            self.answered_from.insert(id, doc.get_heads());
            // An error here is in the exchange already.
            if let Ok(incoming) = self.exchange.take(id) {
                work.push((incoming, doc, before));
            }
        }
        // Applying and checking one document's changes touches nothing of another's:
        // a large upload (a tablet back after days offline) is received on every core.
        let received = on_every_core(work, |(incoming, mut doc, before)| {
            let id = incoming.doc();
            let check =
                |doc: &Automerge, changes: NewChanges<'_>| policy.check(id, &before, doc, changes);
            let received = receive(
                incoming,
                &mut doc,
                states.get(&id).map(Vec::as_slice),
                check,
            );
            // A refused document's copy, which may hold the refused changes, is dropped
            // here; its error goes to the exchange.
            let copy = received.is_ok().then_some((id, doc));
            (received, copy)
        });
        for (result, copy) in received {
            if self.exchange.accept(result).is_ok()
                && let Some((id, doc)) = copy
            {
                self.copies.insert(id, doc);
            }
        }
        Ok(pushed.is_some_and(|id| !states.contains_key(&id)))
    }

    /// The stored copy of an uploaded document (empty when it is new) and what the
    /// check needs of it; `None`, with the document refused, when that copy cannot be
    /// read or the device may not touch the document.
    fn stored_copy(
        &mut self,
        id: DocId,
        loaded: Result<Option<Automerge>, StoreError>,
    ) -> Option<(Automerge, P::Before)> {
        let doc = match loaded {
            Ok(Some(doc)) => doc,
            Ok(None) => Automerge::new(),
            Err(e) => {
                tracing::error!(doc = %id, error = %e, "stored document cannot be loaded");
                self.exchange.refuse(
                    id,
                    ErrorCode::Internal,
                    "the server's copy of this document is damaged; the operator has been told — keep your copy",
                );
                return None;
            }
        };
        match self.policy.before_upload(id, &doc) {
            Ok(before) => Some((doc, before)),
            Err(refused) => {
                self.exchange.refuse(id, refused.code, refused.message);
                None
            }
        }
    }

    /// Step 2, the push: a device that has never acknowledged the document pushed first
    /// (a rep's programme view: the questionnaire, its clients' names) gets it now, not
    /// when the feed reaches it: the view is rewritten at every edit of the programme,
    /// and on PostgreSQL the feed holds a just-committed row back while any older
    /// transaction of the cluster is open, so during a busy setup a fresh tablet could
    /// otherwise sync again and again without the questionnaire.
    pub(super) async fn push_view(&mut self) -> HttpResult<()> {
        let Some(id) = self.policy.pushed_first() else {
            return Ok(());
        };
        if let Some(doc) = self.store.load(id).await?
            && self.exchange.feed_doc(id, &doc, None) == FeedResult::Added
        {
            self.handled.insert(id);
            self.answered_from.insert(id, doc.get_heads());
        }
        Ok(())
    }

    /// Step 3, the feed page: what changed after the device's cursor and it may read, page
    /// by page until the response is full or [`MAX_SCAN`] documents were looked at. Only
    /// the device's feed groups are read when the policy names them
    /// ([`SyncPolicy::feed_groups`]).
    /// Where the cursor goes next and whether more follows; `None` when the cursor is
    /// beyond anything this store handed out (it went back in time without a new
    /// epoch).
    pub(super) async fn page_feed(
        &mut self,
        from: Place,
    ) -> HttpResult<Option<(FeedCursor, bool)>> {
        let store = self.store;
        let groups = self.policy.feed_groups();
        let mut next = from.at;
        let mut scanned = 0;
        loop {
            let page = match &groups {
                Some(groups) => store.feed_in(&next, FEED_PAGE, groups).await?,
                None => store.feed(&next, FEED_PAGE).await?,
            };
            if page.docs.is_empty() {
                // Nothing after the cursor: is the cursor beyond anything this store ever
                // handed out? Then the store went back in time without a new epoch.
                if scanned == 0 && !from.first_contact {
                    let head = match page.head {
                        Some(head) => head,
                        None => store.feed_head().await?,
                    };
                    if from.at > head {
                        // The positions say which side moved, should it happen unexpectedly.
                        tracing::warn!(cursor = ?from.at, head = ?head, "a device's cursor is beyond the feed's head");
                        return Ok(None);
                    }
                }
                return Ok(Some((next, false)));
            }
            if let Some(full_at) = self.offer_page(&page, next).await? {
                return Ok(Some((full_at, true)));
            }
            next = page.cursor;
            scanned += page.docs.len();
            if page.docs.len() < FEED_PAGE {
                return Ok(Some((next, false)));
            }
            if scanned >= MAX_SCAN {
                return Ok(Some((next, true)));
            }
        }
    }

    /// Offers the documents of one feed page (which starts at `page_start`) that the
    /// device may read and has not been answered about; when the response fills up,
    /// the cursor before the document that did not fit.
    async fn offer_page(
        &mut self,
        page: &FeedPage,
        page_start: FeedCursor,
    ) -> HttpResult<Option<FeedCursor>> {
        let known = self.policy.known_access(&page.docs).await?;
        let candidates: Vec<DocId> = page
            .docs
            .iter()
            .copied()
            .filter(|id| !self.handled.contains(id))
            .filter(|id| known.get(id).is_none_or(Access::readable))
            .collect();
        // Answered documents on the page are loaded again, to see whether a commit
        // moved them after the copy they were answered from was read.
        let answered: Vec<DocId> = page
            .docs
            .iter()
            .copied()
            .filter(|id| self.answered_from.contains_key(id))
            .collect();
        let mut to_load = candidates.clone();
        to_load.extend(&answered);
        let (stored, states) = self.load_with_states(&to_load, &candidates).await?;
        let mut loaded: HashMap<DocId, Automerge> = HashMap::new();
        for (id, doc) in stored {
            match doc {
                Ok(Some(doc)) => {
                    loaded.insert(id, doc);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(doc = %id, error = %e, "feed document cannot be loaded"),
            }
        }
        let before = |i: usize| {
            if i == 0 {
                page_start
            } else {
                page.positions[i - 1]
            }
        };
        for (i, id) in page.docs.iter().enumerate() {
            if let Some(from) = self.answered_from.get(id) {
                // Answered already from a copy older than the stored one: stop before
                // it. The device comes back for `more` and is offered the document
                // then (or sends it, and is answered from the newer copy).
                if loaded
                    .get(id)
                    .is_some_and(|now| !same_heads(&now.get_heads(), from))
                {
                    return Ok(Some(before(i)));
                }
                continue;
            }
            let Some(doc) = loaded.get(id) else { continue };
            // Documents the policy does not know yet are judged by their content.
            if !known.contains_key(id) && !self.policy.access_by_content(*id, doc).readable() {
                continue;
            }
            let state_bytes = states.get(id).map(Vec::as_slice);
            if self.exchange.feed_doc(*id, doc, state_bytes) == FeedResult::Full {
                return Ok(Some(before(i)));
            }
        }
        Ok(None)
    }

    /// Step 4, held-back documents: a first contact (a fresh device, or one starting over
    /// after a reconcile) that read the feed to its end also gets every document that
    /// existed when it asked, also those PostgreSQL's feed still holds back behind an older
    /// open transaction (committed after `after`), when it may read them. The cursor stays
    /// before them: the feed hands them out again later, and the states persisted now make
    /// that a skip.
    pub(super) async fn offer_held_back(&mut self, after: FeedCursor) -> HttpResult<()> {
        let store = self.store;
        let held: Vec<DocId> = store
            .feed_held_back(&after, FEED_PAGE)
            .await?
            .into_iter()
            .filter(|id| !self.handled.contains(id))
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let (stored, states) = self.load_with_states(&held, &held).await?;
        for (id, doc) in stored {
            let Ok(Some(doc)) = doc else { continue };
            // Judged by content: the projection may not have seen it yet either.
            if !self.policy.access_by_content(id, &doc).readable() {
                continue;
            }
            if self
                .exchange
                .feed_doc(id, &doc, states.get(&id).map(Vec::as_slice))
                == FeedResult::Full
            {
                break;
            }
        }
        Ok(())
    }

    /// Step 5, commit: every accepted change and sync state in one transaction, and
    /// only then the reply, which carries the device's next cursor.
    pub(super) async fn commit_and_reply(
        mut self,
        cursor: Vec<u8>,
        more: bool,
    ) -> HttpResult<SyncReply> {
        let outcome = self.exchange.finish(cursor, more);
        let (refused, accepted) = refusals(&outcome);
        let mut batch = WriteBatch::new();
        let (mut changed, mut changes_sent) = (0, 0);
        for commit in outcome.commits {
            let count = commit.change_count();
            if count > 0 {
                changed += 1;
                changes_sent += count;
            }
            if let Some(whole) = commit.whole {
                batch = batch.with_whole(whole);
            } else if !commit.changes.is_empty() {
                if let (Some(copy), Some(base)) = (
                    self.copies.remove(&commit.doc),
                    self.answered_from.remove(&commit.doc),
                ) {
                    batch = batch.with_copy(commit.doc, base, copy);
                }
                batch = batch.with_changes(commit.doc, commit.changes);
            }
            batch = batch.with_sync_state(self.peer.clone(), commit.doc, commit.state);
        }
        let mut changes_new = 0;
        if !batch.is_empty() {
            changes_new = self.store.commit(batch).await?.total_new();
        }
        let errors = outcome.response.errors.len();
        let body = outcome
            .response
            .encode(&self.limits)
            .map_err(|e| HttpError::internal("encoding the sync response", e))?;
        Ok(SyncReply {
            body,
            reconcile: None,
            requested: self.requested.len(),
            changed,
            changes_sent,
            changes_new,
            errors,
            refused,
            accepted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_mapped_once_in_order_on_any_number_of_threads() {
        for n in [0, 1, PER_THREAD, 2 * PER_THREAD + 1, 100] {
            let items: Vec<usize> = (0..n).collect();
            let threads = std::sync::Mutex::new(HashSet::new());
            let out = on_every_core(items, |i| {
                threads
                    .lock()
                    .expect("lock")
                    .insert(std::thread::current().id());
                format!("визит {i}")
            });
            let want: Vec<String> = (0..n).map(|i| format!("визит {i}")).collect();
            assert_eq!(out, want);
            if n >= 2 * PER_THREAD && cores() > 1 {
                assert!(
                    threads.lock().expect("lock").len() > 1,
                    "spread over threads"
                );
            }
        }
    }
}

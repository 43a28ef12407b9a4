//! `POST /api/v1/sync`: the protocol of `rapport-protocol` on the real store.
//!
//! One request: decode; for each document the device sent, check its rights, apply
//! its changes to the stored copy and validate the result (schema, rights, author);
//! then page the change feed after the device's cursor for documents it may read;
//! commit every accepted change and sync state in ONE transaction; only then reply.
//! A document whose changes are refused stores nothing and gets an error with a
//! stable code; the others of the request proceed (one bad document must not stop a
//! rep's whole upload).
//!
//! Here: [`sync()`] and its steps, in the order they run. The device's cursor is in
//! `cursor`, the check of uploaded changes in `check`, the record of refused documents
//! in `refusals`, and the reconcile of `POST /api/v1/sync/heads` in `heads`.

mod check;
mod cursor;
mod heads;
mod refusals;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use automerge::{Automerge, Change};
use axum::http::StatusCode;
use rapport_domain::{DocScope, doc_scope};
use rapport_protocol::{ErrorCode, FeedResult, ServerExchange, SyncRequest};
use rapport_store::{DocId, FeedCursor, FeedPage, PeerId, WriteBatch};

use self::check::validate;
use self::cursor::{Place, device_cursor, place_cursor, reconcile_response};
pub use self::heads::heads;
use self::refusals::Refusals;
use crate::access::{Access, DeviceAccess, scope_of};
use crate::db::DeviceRecord;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// How stale a device's "last seen" may get before a sync records it again.
const LAST_SEEN_PRECISION_MS: i64 = 60_000;

/// Feed documents read per query.
const FEED_PAGE: usize = 500;
/// Feed documents looked at per request at most (the rest come with `more`), so one
/// request of a fresh device on a large programme stays short.
const MAX_SCAN: usize = 10_000;

/// Handles one sync request body from `device`; the result is the response body. The
/// steps, each below: the device's documents, the view push, the feed, the held-back
/// documents of a first contact, commit.
pub async fn sync(state: &AppState, device: &DeviceRecord, body: &[u8]) -> HttpResult<Vec<u8>> {
    let started = Instant::now();
    let request = decode(state, body)?;
    let Some(place) = place_cursor(&state.epoch, &request.cursor) else {
        return reconcile_response(
            state,
            device,
            "a cursor of another epoch: the store was restored",
        );
    };
    let mut round = Round::start(state, device, request).await?;
    let view_missing = round.apply_uploads().await?;
    if view_missing {
        round.push_view().await?;
    }
    let Some((next, more)) = round.page_feed(place).await? else {
        return reconcile_response(
            state,
            device,
            "a cursor beyond the feed: the store went back in time",
        );
    };
    if place.first_contact && !more {
        round.offer_held_back(next).await?;
    }
    let place = Place {
        at: next,
        first_contact: place.first_contact && more,
    };
    round.commit_and_reply(place, more, started).await
}

/// Reads the request body; a body that cannot be read is refused whole (413 when it is
/// over the limits, 400 otherwise).
fn decode(state: &AppState, body: &[u8]) -> HttpResult<SyncRequest> {
    SyncRequest::decode(body, &state.limits).map_err(|e| {
        let status = if e.code().contains("too_large") {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        HttpError::new(
            status,
            e.code(),
            format!("the sync request could not be read: {e}; nothing was stored"),
        )
    })
}

/// One sync request under way: who asks, what they may do, and the exchange that
/// collects the answer.
struct Round<'a> {
    state: &'a AppState,
    device: &'a DeviceRecord,
    peer: PeerId,
    access: DeviceAccess,
    exchange: ServerExchange,
    /// The documents the device sent.
    requested: Vec<DocId>,
    /// The documents answered already (those the device sent, the view pushed to it):
    /// the feed skips them.
    handled: HashSet<DocId>,
}

impl<'a> Round<'a> {
    /// Loads the device's rights and opens the exchange.
    async fn start(
        state: &'a AppState,
        device: &'a DeviceRecord,
        request: SyncRequest,
    ) -> HttpResult<Self> {
        let access = DeviceAccess::load(&state.db, device).await?;
        let exchange = ServerExchange::new(request, state.limits);
        let requested = exchange.requested();
        Ok(Self {
            state,
            device,
            peer: PeerId::new(device.id.clone()),
            access,
            exchange,
            handled: requested.iter().copied().collect(),
            requested,
        })
    }

    /// Step 1, the device's documents: each one it may write gets its changes applied to
    /// the stored copy and checked ([`validate`]); one it may not is refused. Whether the
    /// device (a rep's) still lacks its programme's view, read in the same query as the
    /// documents' sync states.
    async fn apply_uploads(&mut self) -> HttpResult<bool> {
        let (state, access) = (self.state, &self.access);
        // Who may have written what the device sends (loaded only when it sends documents).
        let authors = if self.requested.is_empty() {
            HashSet::new()
        } else {
            state.db.programme_authors(access.programme()).await?
        };
        let metas = state.db.metas(&self.requested).await?;
        let mut allowed = Vec::with_capacity(self.requested.len());
        for id in &self.requested {
            match metas.get(id).and_then(scope_of).map(|s| access.access(&s)) {
                Some(Access::Forbidden(why)) => {
                    self.exchange.refuse(*id, ErrorCode::Forbidden, why)
                }
                _ => allowed.push(*id),
            }
        }
        let stored = state.store.load_many(&allowed).await?;
        // A rep's device also gets its programme's view until it acknowledges it (step 2).
        let view_doc = rapport_domain::view_id(access.programme());
        let wants_view = self.device.rep_id.is_some() && !self.requested.contains(&view_doc);
        let mut asked = allowed;
        if wants_view {
            asked.push(view_doc);
        }
        let states = state.store.sync_states(&self.peer, &asked).await?;
        for (id, loaded) in stored {
            let Some((mut doc, before)) = self.stored_copy(id, loaded) else {
                continue;
            };
            let validate = |doc: &Automerge, changes: &[Change]| {
                validate(&self.access, &authors, id, before.as_ref(), doc, changes)
            };
            let state_bytes = states.get(&id).map(Vec::as_slice);
            // A refused document gets its error from the exchange; its copy, which may
            // hold the refused changes, is dropped here.
            let _ = self.exchange.sync_doc(id, &mut doc, state_bytes, validate);
        }
        Ok(wants_view && !states.contains_key(&view_doc))
    }

    /// The stored copy of an uploaded document (empty when it is new) and its scope
    /// before the upload; `None`, with the document refused, when that copy cannot be
    /// read or the device may not touch the document.
    fn stored_copy(
        &mut self,
        id: DocId,
        loaded: Result<Option<Automerge>, rapport_store::StoreError>,
    ) -> Option<(Automerge, Option<DocScope>)> {
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
        let before = if doc.get_heads().is_empty() {
            None
        } else {
            match doc_scope(&doc) {
                Ok(scope) => Some(scope),
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "stored document has no scope");
                    self.exchange.refuse(
                        id,
                        ErrorCode::Internal,
                        "the server's copy of this document is unreadable; keep your copy",
                    );
                    return None;
                }
            }
        };
        if let Some(Access::Forbidden(why)) = before.as_ref().map(|s| self.access.access(s)) {
            self.exchange.refuse(id, ErrorCode::Forbidden, why);
            return None;
        }
        Some((doc, before))
    }

    /// Step 2, the view push: a rep's device that has never acknowledged its programme's
    /// view (the questionnaire, its clients' names) gets it now, not when the feed reaches
    /// it: the view is rewritten at every edit of the programme, and on PostgreSQL the feed
    /// holds a just-committed row back while any older transaction of the cluster is open,
    /// so during a busy setup a fresh tablet could otherwise sync again and again without
    /// the questionnaire.
    async fn push_view(&mut self) -> HttpResult<()> {
        let id = rapport_domain::view_id(self.access.programme());
        if let Some(doc) = self.state.store.load(id).await?
            && self.exchange.feed_doc(id, &doc, None) == FeedResult::Added
        {
            self.handled.insert(id);
        }
        Ok(())
    }

    /// Step 3, the feed page: what changed after the device's cursor and it may read, page
    /// by page until the response is full or [`MAX_SCAN`] documents were looked at.
    /// Where the cursor goes next and whether more follows; `None` when the cursor is
    /// beyond anything this store handed out (it went back in time without a new
    /// epoch).
    async fn page_feed(&mut self, from: Place) -> HttpResult<Option<(FeedCursor, bool)>> {
        let state = self.state;
        let store = &state.store;
        let mut next = from.at;
        let mut scanned = 0;
        loop {
            let page = store.feed(&next, FEED_PAGE).await?;
            if page.docs.is_empty() {
                // Nothing after the cursor: is the cursor beyond anything this store ever
                // handed out? Then the store went back in time without a new epoch.
                if scanned == 0 && !from.first_contact && from.at > store.feed_head().await? {
                    return Ok(None);
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
        let (state, access) = (self.state, &self.access);
        let metas = state.db.metas(&page.docs).await?;
        let candidates: Vec<DocId> = page
            .docs
            .iter()
            .copied()
            .filter(|id| !self.handled.contains(id))
            .filter(|id| {
                metas
                    .get(id)
                    .and_then(scope_of)
                    .is_none_or(|s| access.access(&s).readable())
            })
            .collect();
        let mut loaded: HashMap<DocId, Automerge> = HashMap::new();
        for (id, doc) in state.store.load_many(&candidates).await? {
            match doc {
                Ok(Some(doc)) => {
                    loaded.insert(id, doc);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(doc = %id, error = %e, "feed document cannot be loaded"),
            }
        }
        let states = state.store.sync_states(&self.peer, &candidates).await?;
        for (i, id) in page.docs.iter().enumerate() {
            let Some(doc) = loaded.get(id) else { continue };
            // Documents not projected yet are judged by their content.
            if !metas.contains_key(id)
                && !doc_scope(doc).is_ok_and(|s| access.access(&s).readable())
            {
                continue;
            }
            let state_bytes = states.get(id).map(Vec::as_slice);
            if self.exchange.feed_doc(*id, doc, state_bytes) == FeedResult::Full {
                return Ok(Some(if i == 0 {
                    page_start
                } else {
                    page.positions[i - 1]
                }));
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
    async fn offer_held_back(&mut self, after: FeedCursor) -> HttpResult<()> {
        let store = &self.state.store;
        let held: Vec<DocId> = store
            .feed_held_back(&after, FEED_PAGE)
            .await?
            .into_iter()
            .filter(|id| !self.handled.contains(id))
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let states = store.sync_states(&self.peer, &held).await?;
        for (id, doc) in store.load_many(&held).await? {
            let Ok(Some(doc)) = doc else { continue };
            // Judged by content: the projection may not have seen it yet either.
            if !doc_scope(&doc).is_ok_and(|s| self.access.access(&s).readable()) {
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

    /// Step 5, commit: every accepted change and sync state in one transaction, then the
    /// device's last sync and refused documents, then the reply, which carries the
    /// device's next cursor (`place`).
    async fn commit_and_reply(
        self,
        place: Place,
        more: bool,
        started: Instant,
    ) -> HttpResult<Vec<u8>> {
        let (state, device) = (self.state, self.device);
        let outcome = self
            .exchange
            .finish(device_cursor(&state.epoch, place), more);
        let refusals = Refusals::of(&outcome);
        let mut batch = WriteBatch::new();
        let mut changed = 0;
        for commit in outcome.commits {
            if !commit.changes.is_empty() {
                changed += 1;
                batch = batch.with_changes(commit.doc, commit.changes);
            }
            batch = batch.with_sync_state(self.peer.clone(), commit.doc, commit.state);
        }
        if !batch.changes.is_empty() || !batch.sync_states.is_empty() {
            let report = state.store.commit(batch).await?;
            metrics::counter!("rapport_changes_committed_total")
                .increment(report.total_new() as u64);
        }
        if changed > 0 {
            state.projector.notify();
        }
        // "Last seen" is for the lead's device list: a minute's precision is enough, and
        // a write on every request would load the database for nothing.
        let now = crate::clock::now_ms();
        if device
            .last_seen_ms
            .is_none_or(|seen| now - seen >= LAST_SEEN_PRECISION_MS)
            && let Err(e) = state.db.touch_device(&device.id, now).await
        {
            tracing::warn!(error = %e, "could not record the device's last sync");
        }
        refusals.write(state, device, now).await;
        let errors = outcome.response.errors.len();
        let body = outcome
            .response
            .encode(&state.limits)
            .map_err(|e| HttpError::internal("encoding the sync response", e))?;
        metrics::counter!("rapport_sync_requests_total").increment(1);
        metrics::counter!("rapport_sync_doc_errors_total").increment(errors as u64);
        metrics::histogram!("rapport_sync_seconds").record(started.elapsed().as_secs_f64());
        tracing::debug!(device = %device.id, docs = self.requested.len(), changed, errors, bytes = body.len(), "sync");
        Ok(body)
    }
}

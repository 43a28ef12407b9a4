//! `POST /api/v1/sync`: the protocol of `rapport-protocol` on the real store.
//!
//! One request: decode; for each document the device sent, check its rights, apply
//! its changes to the stored copy and validate the result (schema, rights, author);
//! then page the change feed after the device's cursor for documents it may read;
//! commit every accepted change and sync state in ONE transaction; only then reply.
//! A document whose changes are refused stores nothing and gets an error with a
//! stable code; the others of the request proceed (one bad document must not stop a
//! rep's whole upload).

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change};
use axum::http::StatusCode;
use rapport_domain::{ACTOR_PREFIX_HEX, check_document, doc_scope};
use rapport_protocol::{
    ErrorCode, FeedResult, HeadsRequest, Rejection, ServerExchange, ServerOutcome, SyncRequest,
    SyncResponse, reconcile,
};
use rapport_store::{DocId, FeedCursor, PeerId, WriteBatch};

use crate::access::{Access, DeviceAccess, READ_ONLY, scope_of};
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

/// Where a device is in this store's feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    /// The feed position.
    at: FeedCursor,
    /// The device's first contact (a fresh device, or one starting over after a
    /// reconcile) is still going on: it gets held-back documents at its last page.
    first_contact: bool,
}

/// Marks a cursor handed out in the middle of a first contact.
const FIRST_CONTACT: u8 = 1;

/// The cursor a device keeps: the store's epoch, the feed position, and a marker while
/// a first contact goes on over several pages. A restore gives the store a new epoch,
/// so a device's cursor from before it is recognised.
fn device_cursor(epoch: &[u8; 16], place: Place) -> Vec<u8> {
    let mut out = epoch.to_vec();
    out.extend_from_slice(&place.at.to_bytes());
    if place.first_contact {
        out.push(FIRST_CONTACT);
    }
    out
}

/// Where a device's cursor points in this store's feed: `None` when it is not a
/// position of this store (another epoch, an older format, garbage). An empty cursor
/// is the start of a first contact.
fn place_cursor(epoch: &[u8; 16], bytes: &[u8]) -> Option<Place> {
    if bytes.is_empty() {
        return Some(Place {
            at: FeedCursor::start(),
            first_contact: true,
        });
    }
    let (theirs, rest) = bytes.split_at_checked(16)?;
    if theirs != epoch {
        return None;
    }
    let (at, first_contact) = match rest.split_at_checked(FeedCursor::BYTES) {
        Some((at, [FIRST_CONTACT])) => (at, true),
        _ => (rest, false),
    };
    Some(Place {
        at: FeedCursor::from_bytes(at).ok()?,
        first_contact,
    })
}

/// The answer to a device whose cursor this store does not know: reconcile, then
/// start over from the beginning of the feed. Nothing of the request is applied: the
/// device's sync states may claim changes this store lost.
fn reconcile_response(state: &AppState, device: &DeviceRecord, why: &str) -> HttpResult<Vec<u8>> {
    tracing::warn!(device = %device.id, why, "the device's cursor is unknown here: it reconciles");
    metrics::counter!("rapport_sync_reconcile_asked_total").increment(1);
    SyncResponse {
        cursor: device_cursor(
            &state.epoch,
            Place {
                at: FeedCursor::start(),
                first_contact: true,
            },
        ),
        reconcile: true,
        ..SyncResponse::default()
    }
    .encode(&state.limits)
    .map_err(|e| HttpError::internal("encoding the sync response", e))
}

/// Adds the programme view `id` to the response (the device never acknowledged it).
async fn push_view(
    state: &AppState,
    id: DocId,
    exchange: &mut ServerExchange,
    handled: &mut HashSet<DocId>,
) -> HttpResult<()> {
    if let Some(doc) = state.store.load(id).await?
        && exchange.feed_doc(id, &doc, None) == FeedResult::Added
    {
        handled.insert(id);
    }
    Ok(())
}

/// Handles one sync request body from `device`; the result is the response body.
pub async fn sync(state: &AppState, device: &DeviceRecord, body: &[u8]) -> HttpResult<Vec<u8>> {
    let started = std::time::Instant::now();
    let limits = state.limits;
    let request = SyncRequest::decode(body, &limits).map_err(|e| {
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
    })?;
    let Some(Place {
        at: cursor,
        first_contact,
    }) = place_cursor(&state.epoch, &request.cursor)
    else {
        return reconcile_response(
            state,
            device,
            "a cursor of another epoch: the store was restored",
        );
    };
    let peer = PeerId::new(device.id.clone());
    let view = DeviceAccess::load(&state.db, device).await?;
    let mut exchange = ServerExchange::new(request, limits);
    // Who may have written what the device sends (loaded only when it sends documents).
    let authors = if exchange.requested().is_empty() {
        HashSet::new()
    } else {
        state.db.programme_authors(view.programme()).await?
    };

    // 1. The device's documents.
    let requested = exchange.requested();
    let metas = state.db.metas(&requested).await?;
    let mut allowed = Vec::with_capacity(requested.len());
    for id in &requested {
        match metas.get(id).and_then(scope_of).map(|s| view.access(&s)) {
            Some(Access::Forbidden(why)) => exchange.refuse(*id, ErrorCode::Forbidden, why),
            _ => allowed.push(*id),
        }
    }
    let stored = state.store.load_many(&allowed).await?;
    // A rep's device also gets its programme's view until it acknowledges it (step 2);
    // its state is read with the others, in the same query.
    let view_doc = rapport_domain::view_id(view.programme());
    let wants_view = device.rep_id.is_some() && !requested.contains(&view_doc);
    let mut asked = allowed.clone();
    if wants_view {
        asked.push(view_doc);
    }
    let states = state.store.sync_states(&peer, &asked).await?;
    let view_missing = wants_view && !states.contains_key(&view_doc);
    let mut merged: HashMap<DocId, Automerge> = HashMap::new();
    for (id, loaded) in stored {
        let mut doc = match loaded {
            Ok(Some(doc)) => doc,
            Ok(None) => Automerge::new(),
            Err(e) => {
                tracing::error!(doc = %id, error = %e, "stored document cannot be loaded");
                exchange.refuse(
                    id,
                    ErrorCode::Internal,
                    "the server's copy of this document is damaged; the operator has been told — keep your copy",
                );
                continue;
            }
        };
        let before = if doc.get_heads().is_empty() {
            None
        } else {
            match doc_scope(&doc) {
                Ok(scope) => Some(scope),
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "stored document has no scope");
                    exchange.refuse(
                        id,
                        ErrorCode::Internal,
                        "the server's copy of this document is unreadable; keep your copy",
                    );
                    continue;
                }
            }
        };
        if let Some(Access::Forbidden(why)) = before.as_ref().map(|s| view.access(s)) {
            exchange.refuse(id, ErrorCode::Forbidden, why);
            continue;
        }
        let validate = |doc: &Automerge, changes: &[Change]| {
            validate(&view, &authors, id, before.as_ref(), doc, changes)
        };
        let state_bytes = states.get(&id).map(Vec::as_slice);
        if exchange
            .sync_doc(id, &mut doc, state_bytes, validate)
            .is_ok()
        {
            merged.insert(id, doc);
        }
    }

    // 2. A rep's device that has never acknowledged its programme's view (the
    // questionnaire, its clients' names) gets it now, not when the feed reaches it: the
    // view is rewritten at every edit of the programme, and on PostgreSQL the feed holds
    // a just-committed row back while any older transaction of the cluster is open, so
    // during a busy setup a fresh tablet could otherwise sync again and again without
    // the questionnaire.
    let mut handled: HashSet<DocId> = requested.iter().copied().collect();
    if view_missing {
        push_view(state, view_doc, &mut exchange, &mut handled).await?;
    }

    // 3. The feed after the device's cursor.
    let mut next = cursor;
    let mut more = false;
    let mut scanned = 0;
    'feed: loop {
        let page = state.store.feed(&next, FEED_PAGE).await?;
        if page.docs.is_empty() {
            // Nothing after the cursor: is the cursor beyond anything this store ever
            // handed out? Then the store went back in time without a new epoch.
            if scanned == 0 && !first_contact && cursor > state.store.feed_head().await? {
                return reconcile_response(
                    state,
                    device,
                    "a cursor beyond the feed: the store went back in time",
                );
            }
            break;
        }
        let metas = state.db.metas(&page.docs).await?;
        let candidates: Vec<DocId> = page
            .docs
            .iter()
            .copied()
            .filter(|id| !handled.contains(id))
            .filter(|id| {
                metas
                    .get(id)
                    .and_then(scope_of)
                    .is_none_or(|s| view.access(&s).readable())
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
        let states = state.store.sync_states(&peer, &candidates).await?;
        let page_start = next;
        for (i, id) in page.docs.iter().enumerate() {
            let Some(doc) = loaded.get(id) else { continue };
            // Documents not projected yet are judged by their content.
            if !metas.contains_key(id) && !doc_scope(doc).is_ok_and(|s| view.access(&s).readable())
            {
                continue;
            }
            let state_bytes = states.get(id).map(Vec::as_slice);
            if exchange.feed_doc(*id, doc, state_bytes) == FeedResult::Full {
                next = if i == 0 {
                    page_start
                } else {
                    page.positions[i - 1]
                };
                more = true;
                break 'feed;
            }
        }
        next = page.cursor;
        scanned += page.docs.len();
        if page.docs.len() < FEED_PAGE {
            break;
        }
        if scanned >= MAX_SCAN {
            more = true;
            break;
        }
    }

    // 4. A first contact (a fresh device, or one starting over after a reconcile) gets
    // every document that existed when it asked, also those PostgreSQL's feed still
    // holds back behind an older open transaction. The cursor stays before them: the
    // feed hands them out again later, and the states persisted now make that a skip.
    if first_contact && !more {
        offer_held_back(state, &view, &peer, next, &mut exchange, &handled).await?;
    }

    // 5. Commit, then reply.
    let place = Place {
        at: next,
        first_contact: first_contact && more,
    };
    let outcome = exchange.finish(device_cursor(&state.epoch, place), more);
    let refusals = Refusals::of(&outcome);
    let mut batch = WriteBatch::new();
    let mut changed = 0;
    for commit in outcome.commits {
        if !commit.changes.is_empty() {
            changed += 1;
            batch = batch.with_changes(commit.doc, commit.changes);
        }
        batch = batch.with_sync_state(peer.clone(), commit.doc, commit.state);
    }
    if !batch.changes.is_empty() || !batch.sync_states.is_empty() {
        let report = state.store.commit(batch).await?;
        metrics::counter!("rapport_changes_committed_total").increment(report.total_new() as u64);
    }
    if changed > 0 {
        state.projector.notify();
    }
    // "Last seen" is for the lead's device list: a minute's precision is enough, and
    // a write on every request would load the database for nothing.
    let now = crate::now_ms();
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
        .encode(&limits)
        .map_err(|e| HttpError::internal("encoding the sync response", e))?;
    metrics::counter!("rapport_sync_requests_total").increment(1);
    metrics::counter!("rapport_sync_doc_errors_total").increment(errors as u64);
    metrics::histogram!("rapport_sync_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(device = %device.id, docs = requested.len(), changed, errors, bytes = body.len(), "sync");
    Ok(body)
}

/// What one request changes in the device's refused documents (the lead's devices
/// page): every refusal that stops a document on the device, and the documents the
/// server accepted this time (their earlier refusal is over).
struct Refusals {
    refused: Vec<(DocId, &'static str, String)>,
    accepted: Vec<DocId>,
}

impl Refusals {
    fn of(outcome: &ServerOutcome) -> Self {
        let refused: Vec<(DocId, &'static str, String)> = outcome
            .response
            .errors
            .iter()
            .filter(|e| e.code.stops())
            .map(|e| (e.doc, e.code.as_str(), e.message.clone()))
            .collect();
        // A committed document may still be refused (the server's changes too large
        // to send): the refusal wins.
        let accepted = outcome
            .commits
            .iter()
            .map(|c| c.doc)
            .filter(|d| !refused.iter().any(|(r, _, _)| r == d))
            .collect();
        Self { refused, accepted }
    }

    /// Writes them once the commit succeeded. A request without refusals or uploaded
    /// documents (most of them) does not touch the database. A failure is logged, not
    /// the request's: the device retries a refused document at each start.
    async fn write(self, state: &AppState, device: &DeviceRecord, now: i64) {
        if !self.refused.is_empty() {
            let rows: Vec<(DocId, &str, &str)> = self
                .refused
                .iter()
                .map(|(d, c, m)| (*d, *c, m.as_str()))
                .collect();
            if let Err(e) = state.db.record_refusals(&device.id, &rows, now).await {
                tracing::warn!(error = %e, "could not record the documents refused to the device");
            }
        }
        if !self.accepted.is_empty()
            && let Err(e) = state.db.clear_refusals(&device.id, &self.accepted).await
        {
            tracing::warn!(error = %e, "could not clear the device's accepted documents");
        }
    }
}

/// Documents committed after `after` that the feed still holds back, offered to a
/// device in its first contact when it may read them (without moving its cursor).
async fn offer_held_back(
    state: &AppState,
    view: &DeviceAccess,
    peer: &PeerId,
    after: FeedCursor,
    exchange: &mut ServerExchange,
    handled: &HashSet<DocId>,
) -> HttpResult<()> {
    let held: Vec<DocId> = state
        .store
        .feed_held_back(&after, FEED_PAGE)
        .await?
        .into_iter()
        .filter(|id| !handled.contains(id))
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    let states = state.store.sync_states(peer, &held).await?;
    for (id, doc) in state.store.load_many(&held).await? {
        let Ok(Some(doc)) = doc else { continue };
        // Judged by content: the projection may not have seen it yet either.
        if !doc_scope(&doc).is_ok_and(|s| view.access(&s).readable()) {
            continue;
        }
        if exchange.feed_doc(id, &doc, states.get(&id).map(Vec::as_slice)) == FeedResult::Full {
            break;
        }
    }
    Ok(())
}

/// `POST /api/v1/sync/heads`: a device lists the heads of every document it holds;
/// the answer is the documents this store lacks changes of, and every sync state of the
/// device that may no longer say the truth is forgotten first (see the protocol's
/// *When storage goes back in time*). Nothing is loaded: hashes are looked up.
pub async fn heads(state: &AppState, device: &DeviceRecord, body: &[u8]) -> HttpResult<Vec<u8>> {
    let request = HeadsRequest::decode(body, &state.limits).map_err(|e| {
        HttpError::bad_request(
            e.code(),
            format!("the heads request could not be read: {e}; nothing was changed"),
        )
    })?;
    let peer = PeerId::new(device.id.clone());
    let docs: Vec<DocId> = request.docs.iter().map(|(d, _)| *d).collect();
    let stored = state
        .store
        .stored_changes(&reconcile::pairs(&request))
        .await?;
    let states = state.store.sync_states(&peer, &docs).await?;
    let answer = reconcile::answer(&request, &stored, &states);
    let forgotten = state
        .store
        .retain_sync_states(&peer, &answer.keep_states)
        .await?;
    // Documents the server believed the device held but it did not list (it went back
    // to a copy from before it got them, or another copy of it got them): its cursor may
    // be past them, so they go to the head of the feed, where it finds them again.
    let listed: HashSet<DocId> = docs.iter().copied().collect();
    let unlisted: Vec<DocId> = forgotten
        .iter()
        .copied()
        .filter(|d| !listed.contains(d))
        .collect();
    if !unlisted.is_empty() {
        state.store.touch(&unlisted).await?;
    }
    metrics::counter!("rapport_sync_reconciles_total").increment(1);
    tracing::info!(
        device = %device.id,
        held = docs.len(),
        lacking = answer.response.lacking.len(),
        stale = answer.response.stale.len(),
        forgotten = forgotten.len(),
        moved = unlisted.len(),
        "a device reconciled"
    );
    answer
        .response
        .encode(&state.limits)
        .map_err(|e| HttpError::internal("encoding the heads response", e))
}

/// Whether `actor` (hex) is registered in `authors`: itself, or its first 16 bytes for
/// an actor that adds a suffix per edit or per opening of a device's store.
fn registered_author(authors: &HashSet<String>, actor: &str) -> bool {
    authors.contains(actor)
        || (actor.len() > ACTOR_PREFIX_HEX
            && actor
                .get(..ACTOR_PREFIX_HEX)
                .is_some_and(|p| authors.contains(p)))
}

/// The server's check of a document's new changes before they are committed.
///
/// Authors: every new change must be written by an actor registered to this
/// programme (its devices, its leads). The uploading device need not be the author: a
/// device relays what it holds of its rep's other devices, which is how a server
/// restored from a backup gets back what it lost. The uploader itself must still be
/// allowed to write the document. Requiring the author's *current* right to write would
/// refuse, after a restore, what a rep wrote before the client was reassigned.
fn validate(
    view: &DeviceAccess,
    authors: &HashSet<String>,
    id: DocId,
    before: Option<&rapport_domain::DocScope>,
    doc: &Automerge,
    changes: &[Change],
) -> Result<(), Rejection> {
    if changes.is_empty() {
        return Ok(());
    }
    let rejected = |message: String| Rejection {
        code: ErrorCode::Rejected,
        message,
    };
    if let Some(foreign) = changes
        .iter()
        .find(|c| !registered_author(authors, &c.actor_id().to_hex_string()))
    {
        return Err(Rejection {
            code: ErrorCode::Forbidden,
            message: format!(
                "a change by an author not registered to this programme ({}) cannot be uploaded; nothing was stored",
                foreign.actor_id()
            ),
        });
    }
    check_document(doc).map_err(|e| {
        rejected(format!(
            "the document does not match the questionnaire's schema ({e}); nothing was stored — update the app"
        ))
    })?;
    let scope = doc_scope(doc).map_err(|e| rejected(format!("{e}; nothing was stored")))?;
    if scope.id != id {
        return Err(rejected(format!(
            "the document says its id is {}, but it was sent as {id}; nothing was stored",
            scope.id
        )));
    }
    if before.is_some_and(|b| *b != scope) {
        return Err(rejected(
            "a document cannot change its kind, programme or client; nothing was stored".into(),
        ));
    }
    match view.access(&scope) {
        Access::Write => Ok(()),
        Access::Read => Err(Rejection {
            code: ErrorCode::Forbidden,
            message: READ_ONLY.into(),
        }),
        Access::Forbidden(why) => Err(Rejection {
            code: ErrorCode::Forbidden,
            message: why.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_placed_only_in_the_epoch_that_handed_it_out() {
        let epoch = [7u8; 16];
        let start = place_cursor(&epoch, &[]).expect("empty is the start");
        assert!(start.first_contact && start.at == FeedCursor::start());
        for first_contact in [false, true] {
            let place = Place {
                at: FeedCursor::start(),
                first_contact,
            };
            let bytes = device_cursor(&epoch, place);
            assert_eq!(place_cursor(&epoch, &bytes), Some(place));
            assert_eq!(place_cursor(&[8; 16], &bytes), None, "another epoch");
        }
        let plain = device_cursor(
            &epoch,
            Place {
                at: FeedCursor::start(),
                first_contact: false,
            },
        );
        // The cursor of an older server (the feed position alone), garbage, a wrong marker.
        for bad in [
            plain[16..].to_vec(),
            b"\xd0\xba\xd1\x83\xd1\x80\xd1\x81\xd0\xbe\xd1\x80".to_vec(),
            [plain.as_slice(), &[9]].concat(),
            plain[..20].to_vec(),
        ] {
            assert_eq!(place_cursor(&epoch, &bad), None, "{bad:?}");
        }
    }

    #[test]
    fn authors_are_found_by_their_registered_actor_or_its_16_byte_prefix() {
        let registered = "0123456789abcdef0123456789abcdef".to_owned();
        let authors: HashSet<String> = [registered.clone()].into();
        assert!(registered_author(&authors, &registered));
        assert!(registered_author(
            &authors,
            &format!("{registered}a1b2c3d4e5f60718")
        ));
        assert!(!registered_author(
            &authors,
            "fedcba9876543210fedcba9876543210"
        ));
        assert!(!registered_author(&authors, &registered[..30]));
    }
}

//! One sync run of the device: the protocol's [`DeviceSession`] driven over HTTP with
//! reqwest, every response persisted before the next request.
//!
//! Crash safety: after each response the new changes and sync states go to the store
//! in one transaction, then the feed cursor; a run killed at any point resumes from
//! what was persisted and sends again only what the server has not acknowledged (the
//! server deduplicates by change hash).
//!
//! The cursor is persisted after a response in the middle of a run too, when that is
//! safe (see [`Settling`]): a first contact of a thousand documents cut after its first
//! page then resumes at the second page instead of downloading the first one again.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use automerge::ChangeHash;
use rapport_api::{Event, RunSummary, StoppedDoc};
use rapport_domain::{DocId, doc_scope};
use rapport_protocol::{
    DeviceConfig, DeviceSession, DocError, ErrorCode, HeadsRequest, HeadsResponse, Limits,
    MemDocSet, Outcome,
};
use rapport_store::{DocStore, PeerId, WriteBatch};

use crate::error::NodeError;
use crate::http::{post, post_bytes};
use crate::local::Pairing;
use crate::{Inner, now_ms};

/// The documents of one run: loaded from the store (committed state only, so nothing
/// a crash could take back is ever sent), plus what the server sent.
#[derive(Default)]
struct RunDocs {
    /// Documents and persisted states, as the session reads them.
    set: MemDocSet,
    /// Heads as last persisted, to find the changes a response added.
    persisted_heads: HashMap<DocId, Vec<ChangeHash>>,
}

impl RunDocs {
    /// Loads from the store the documents (and states) of `ids` not loaded yet.
    async fn load(&mut self, inner: &Inner, ids: &[DocId]) -> Result<(), NodeError> {
        let missing: Vec<DocId> = ids
            .iter()
            .filter(|id| !self.set.docs.contains_key(id))
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for (id, loaded) in inner.store.load_many(&missing).await? {
            // A document that does not load stays out of the set: the session sees it as
            // new and asks the server for all of it, which repairs the local copy.
            match loaded {
                Ok(Some(doc)) => {
                    self.persisted_heads.insert(id, doc.get_heads());
                    self.set.docs.insert(id, doc);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(doc = %id, error = %e, "a local document does not load"),
            }
        }
        let states = inner.store.sync_states(&PeerId::server(), &missing).await?;
        self.set.states.extend(states);
        Ok(())
    }
}

/// How a pass of a run ended.
enum Pass {
    /// Quiescent.
    Done,
    /// The server does not know our cursor: reconcile, then run again.
    Reconcile,
}

/// Most passes of one run: a reconciliation asked for by the server, then the run again.
const MAX_PASSES: usize = 3;

/// Runs one sync to quiescence; the caller holds the node's sync lock.
///
/// The first run after the node opened its store, and a run the server answers with
/// `reconcile`, first reconcile: see the protocol's *When storage goes back in time*.
pub(crate) async fn run(inner: &Inner) -> Result<RunSummary, NodeError> {
    let device = inner.device().await?.ok_or(NodeError::NotPaired)?;
    if inner.db.sync_row().await?.revoked {
        return Err(NodeError::Revoked);
    }
    let mut summary = RunSummary::default();
    let started = Instant::now();
    for _ in 0..MAX_PASSES {
        if inner
            .reconcile
            .swap(false, std::sync::atomic::Ordering::SeqCst)
            && let Err(e) = reconcile(inner, &device, &mut summary).await
        {
            inner
                .reconcile
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(e);
        }
        match pass(inner, &device, &mut summary).await? {
            Pass::Done => {
                summary.duration_ms =
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                return Ok(summary);
            }
            Pass::Reconcile => {
                inner
                    .reconcile
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    Err(NodeError::Sync {
        code: "sync_reconcile_loop",
        message: "the server asked to reconcile again and again; data is kept, sync again later"
            .into(),
    })
}

/// Reconciles with the server: sends the heads of every document this device holds;
/// forgets the sync state of each the server lacks changes of and marks it for sending
/// whole; marks for an exchange each whose record on the server was stale; and gives
/// every stopped document another try (its cause may be gone: the server was repaired,
/// access came back). A refusal that still holds stops it again.
async fn reconcile(
    inner: &Inner,
    device: &Pairing,
    summary: &mut RunSummary,
) -> Result<(), NodeError> {
    let ids = inner.store.list_docs().await?;
    let mut request = HeadsRequest::default();
    // Loaded in slices: a device may hold thousands of documents.
    for chunk in ids.chunks(100) {
        for (id, loaded) in inner.store.load_many(chunk).await? {
            match loaded {
                Ok(Some(doc)) => request.docs.push((id, doc.get_heads())),
                Ok(None) => {}
                // Listed with no heads: the server forgets its state, so it sends the
                // document whole, which repairs the local copy.
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "a local document does not load");
                    request.docs.push((id, Vec::new()));
                }
            }
        }
    }
    let limits = Limits::DEFAULT;
    let body = request.encode(&limits).map_err(|e| NodeError::Sync {
        code: e.code(),
        message: e.to_string(),
    })?;
    let bytes = post_bytes(inner, device, "/api/v1/sync/heads", body, summary).await?;
    let response = HeadsResponse::decode(&bytes, &limits).map_err(|e| NodeError::Sync {
        code: "bad_response",
        message: format!("the server's answer cannot be read ({e})"),
    })?;
    let lacking: HashSet<DocId> = response.lacking.iter().copied().collect();
    let keep: Vec<DocId> = ids.into_iter().filter(|id| !lacking.contains(id)).collect();
    inner
        .store
        .retain_sync_states(&PeerId::server(), &keep)
        .await?;
    let stopped: Vec<DocId> = inner.db.stopped_ids().await?;
    inner.db.unstop(&stopped).await?;
    let stale = response.stale.len();
    let resend: Vec<DocId> = response
        .lacking
        .into_iter()
        .chain(response.stale)
        .chain(stopped)
        .collect();
    inner.mark_for_sending(&resend).await?;
    tracing::info!(
        held = request.docs.len(),
        lacking = lacking.len(),
        stale,
        "reconciled with the server"
    );
    Ok(())
}

/// One pass of a run: request/response round trips until quiescent.
async fn pass(
    inner: &Inner,
    device: &Pairing,
    summary: &mut RunSummary,
) -> Result<Pass, NodeError> {
    let row = inner.db.sync_row().await?;
    if row.revoked {
        return Err(NodeError::Revoked);
    }
    let stopped: HashSet<DocId> = inner.db.stopped_ids().await?.into_iter().collect();
    let (dirty, generations) = inner.dirty_snapshot();
    let dirty: Vec<DocId> = dirty.into_iter().filter(|d| !stopped.contains(d)).collect();

    let mut docs = RunDocs::default();
    docs.load(inner, &dirty).await?;
    // A dirty mark without a stored document (a crash between the mark and the change,
    // or a document that no longer loads) has nothing to send.
    let (dirty, absent): (Vec<DocId>, Vec<DocId>) = dirty
        .into_iter()
        .partition(|id| docs.set.docs.contains_key(id));
    inner.clear_dirty(&absent, &generations).await?;
    let config = DeviceConfig::default();
    let limits = config.limits;
    let mut session = DeviceSession::new(
        config,
        row.remote_cursor,
        dirty
            .iter()
            .map(|id| (*id, docs.set.states.get(id).cloned())),
    );
    let mut settling = Settling::new(&dirty, session.cursor().to_vec());
    let mut sent: HashSet<DocId> = HashSet::new();
    let mut received: HashSet<DocId> = HashSet::new();
    let mut failed: HashSet<DocId> = HashSet::new();
    let mut transient = false;
    inner.emit(Event::SyncStarted);

    loop {
        let request = match session.next_request(&mut docs.set) {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(e) => {
                return Err(NodeError::Sync {
                    code: e.code(),
                    message: e.to_string(),
                });
            }
        };
        sent.extend(request.docs.iter().map(|d| d.doc));
        settling.exchanged(request.docs.iter().map(|d| d.doc));
        let response = match post(inner, device, &request, &limits, summary).await {
            Ok(response) => response,
            Err(e) => {
                session.fail();
                return Err(e);
            }
        };
        if response.reconcile {
            // Nothing of the request was applied. Start over from the beginning of the
            // feed, after reconciling; the dirty documents stay dirty.
            session.fail();
            inner.db.set_remote_cursor(&response.cursor).await?;
            return Ok(Pass::Reconcile);
        }
        let ids: Vec<DocId> = response
            .docs
            .iter()
            .map(|d| d.doc)
            .chain(response.errors.iter().map(|e| e.doc))
            .collect();
        docs.load(inner, &ids).await?;
        settling.exchanged(response.docs.iter().map(|d| d.doc));
        let outcome = session.handle_response(&mut docs.set, response);
        for error in &outcome.errors {
            failed.insert(error.doc);
            transient |= !error.code.stops();
        }
        received.extend(outcome.changed.iter().copied());
        // A document the server could not answer this time (internal error, retry) may
        // be a feed document: moving the cursor past it would skip it until it changes
        // again. Keep the old cursor; the next run asks again.
        persist(inner, &mut docs, &outcome, !transient).await?;
        if let Some(cursor) = settling.mid_run_cursor(&outcome, session.cursor()) {
            inner.db.set_remote_cursor(cursor).await?;
        }
        summary.docs_sent = sent.len();
        summary.docs_received = received.len();
        inner.emit(Event::SyncProgress {
            requests: summary.requests,
            docs_sent: summary.docs_sent,
            docs_received: summary.docs_received,
        });
    }

    // Quiescent: every dirty document that did not fail has nothing left to send.
    // Take out of the dirty set only those not edited since the run took them.
    let done: Vec<DocId> = dirty
        .iter()
        .filter(|id| !failed.contains(id))
        .copied()
        .collect();
    inner.clear_dirty(&done, &generations).await?;
    if transient {
        return Err(NodeError::Sync {
            code: "sync_incomplete",
            message: "the server could not take some documents this time".into(),
        });
    }
    Ok(Pass::Done)
}

/// When the feed cursor of an unfinished run may be persisted.
///
/// The protocol hands out the cursor ([`Outcome::cursor`]) only when a run is complete,
/// so a run cut after its first page of a first contact downloaded that page again
/// next time (measured: 410 KB of 530 KB again for 1,050 clients). The server's cursor
/// after response N covers every feed document up to it; persisting it is safe once
/// the device holds, stored, everything the server has of each such document. That
/// holds for every document of the feed page that arrived whole and applied (it is in
/// [`Outcome::synced`]), and for the device's own dirty documents whatever happened (they
/// stay dirty until a run completes, so the next run exchanges them anyway). What is
/// left is the documents this run exchanged that are not dirty and not synced yet (an
/// acknowledgement the server answered with more, a document answered later because
/// the response was full, one that failed): while any is left, or the response
/// reported an error, the cursor waits for the end of the run as before. Worst case
/// of persisting early: the server never got the acknowledgements, so the next time
/// such a document changes it is sent whole once more — bytes, never data.
struct Settling {
    dirty: HashSet<DocId>,
    unsettled: HashSet<DocId>,
    persisted: Vec<u8>,
}

impl Settling {
    fn new(dirty: &[DocId], persisted: Vec<u8>) -> Self {
        Self {
            dirty: dirty.iter().copied().collect(),
            unsettled: HashSet::new(),
            persisted,
        }
    }

    /// Documents in a request or a response of this run.
    fn exchanged(&mut self, ids: impl IntoIterator<Item = DocId>) {
        let dirty = &self.dirty;
        self.unsettled
            .extend(ids.into_iter().filter(|id| !dirty.contains(id)));
    }

    /// The cursor to persist now, after `outcome` was persisted; `latest` is the
    /// session's cursor.
    fn mid_run_cursor<'a>(&mut self, outcome: &Outcome, latest: &'a [u8]) -> Option<&'a [u8]> {
        for id in &outcome.synced {
            self.unsettled.remove(id);
        }
        if let Some(cursor) = &outcome.cursor {
            // Complete: `persist` wrote it.
            self.persisted.clone_from(cursor);
            return None;
        }
        if !outcome.errors.is_empty() || !self.unsettled.is_empty() || latest == self.persisted {
            return None;
        }
        self.persisted = latest.to_vec();
        Some(latest)
    }
}

/// The message a person reads for a refused document.
fn refusal_message(error: &DocError) -> String {
    let why = match error.code {
        ErrorCode::Forbidden => {
            "the server no longer takes this document from this device (the client was reassigned to another rep, or access was removed)"
        }
        ErrorCode::Rejected => "the server rejected the changes",
        ErrorCode::Invalid => "the document could not be read",
        ErrorCode::TooLarge => "the changes are too large to send",
        ErrorCode::NotFound => "the server does not know this document",
        _ => "the server refused it",
    };
    format!(
        "{why}: {}. Your edits are kept on this device; it is sent again when the app next starts, or as soon as the server gives it back",
        error.message
    )
}

/// Writes what one response did: changes and states in one transaction, then the
/// refusals, then the cursor.
async fn persist(
    inner: &Inner,
    docs: &mut RunDocs,
    outcome: &Outcome,
    keep_cursor: bool,
) -> Result<(), NodeError> {
    let mut batch = WriteBatch::new();
    let mut new_docs = Vec::new();
    for id in &outcome.changed {
        let Some(doc) = docs.set.docs.get(id) else {
            continue;
        };
        let before = docs.persisted_heads.get(id).cloned().unwrap_or_default();
        if before.is_empty() {
            new_docs.push(*id);
        }
        let changes: Vec<_> = doc.get_changes(&before);
        docs.persisted_heads.insert(*id, doc.get_heads());
        if !changes.is_empty() {
            batch = batch.with_changes(*id, changes);
        }
    }
    for (id, state) in &outcome.states {
        batch = batch.with_sync_state(PeerId::server(), *id, state.clone());
        docs.set.states.insert(*id, state.clone());
    }
    if !batch.changes.is_empty() || !batch.sync_states.is_empty() {
        inner.store.commit(batch).await?;
    }
    let now = now_ms();
    let refused: Vec<StoppedDoc> = outcome
        .errors
        .iter()
        .filter(|e| e.code.stops())
        .map(|e| StoppedDoc {
            doc_id: e.doc,
            kind: String::new(),
            code: e.code.as_str().to_owned(),
            message: refusal_message(e),
            at_ms: now,
        })
        .collect();
    inner.db.stop(&refused).await?;
    // The server sent these: it gives us access again.
    let back: Vec<DocId> = outcome
        .changed
        .iter()
        .chain(&outcome.synced)
        .copied()
        .collect();
    inner.db.unstop(&back).await?;
    let mut index = Vec::new();
    for id in &new_docs {
        if let Some(doc) = docs.set.docs.get(id) {
            match doc_scope(doc) {
                Ok(scope) => index.push((*id, scope.kind.tag(), scope.client_id)),
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "a document from the server has no readable scope")
                }
            }
        }
    }
    inner.db.index(&index).await?;
    if !outcome.changed.is_empty() {
        inner.forget_cached(&outcome.changed).await;
        inner.emit(Event::DocsChanged {
            doc_ids: outcome.changed.clone(),
        });
    }
    if let Some(cursor) = &outcome.cursor
        && keep_cursor
    {
        inner.db.set_remote_cursor(cursor).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> DocId {
        DocId::from_bytes([n; 16])
    }

    fn outcome(synced: &[DocId], errors: bool, cursor: Option<&[u8]>) -> Outcome {
        Outcome {
            synced: synced.to_vec(),
            errors: if errors {
                vec![DocError::new(id(9), ErrorCode::Invalid, "не читается")]
            } else {
                Vec::new()
            },
            cursor: cursor.map(<[u8]>::to_vec),
            more: cursor.is_none(),
            ..Outcome::default()
        }
    }

    #[test]
    fn a_mid_run_cursor_is_kept_only_when_nothing_exchanged_is_left_half_received() {
        let (dirty, ack, page) = (id(1), id(2), id(3));
        let mut s = Settling::new(&[dirty], b"c0".to_vec());
        // A first page arrived whole: its cursor may be kept.
        s.exchanged([page]);
        assert_eq!(
            s.mid_run_cursor(&outcome(&[page], false, None), b"c1"),
            Some(&b"c1"[..])
        );
        assert_eq!(
            s.mid_run_cursor(&outcome(&[], false, None), b"c1"),
            None,
            "unchanged"
        );
        // An acknowledgement the server answered with more: wait.
        s.exchanged([ack, dirty]);
        assert_eq!(s.mid_run_cursor(&outcome(&[], false, None), b"c2"), None);
        // It settles; the dirty document needs not (it stays dirty until the run ends).
        assert_eq!(
            s.mid_run_cursor(&outcome(&[ack], false, None), b"c3"),
            Some(&b"c3"[..])
        );
        // A response with an error: wait.
        assert_eq!(s.mid_run_cursor(&outcome(&[], true, None), b"c4"), None);
        // The complete run's cursor is written by `persist`, not here.
        assert_eq!(
            s.mid_run_cursor(&outcome(&[], false, Some(b"c5")), b"c5"),
            None
        );
        assert_eq!(s.persisted, b"c5");
    }
}

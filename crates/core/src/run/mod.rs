//! One sync run of the device: the protocol's [`DeviceSession`] driven over the steps of
//! a [`SyncRun`], every response persisted before the next request.
//!
//! Crash safety: after each response the new changes and sync states go to the store in
//! one write, then the feed cursor; a run killed at any step resumes from what was
//! persisted and sends again only what the server has not acknowledged (the server
//! deduplicates by change hash).
//!
//! The first run after the core opened its store, and a run the server answers with
//! `reconcile`, first reconcile (the protocol crate's *When storage goes back in time*).

mod persist;
mod steps;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rapport_api::{Event, RunSummary};
use rapport_domain::{DocId, view_id};
use rapport_protocol::{
    DeviceSession, HeadsRequest, HeadsResponse, Limits, SyncRequest, SyncResponse,
};

pub use self::steps::{Answer, NoAnswer, Post, Reply, Step, StoreAnswer, StoreCall, SyncRun};

use self::persist::{RunDocs, Settled, Settling, persist};
use self::steps::Io;
use crate::device::{DeviceCore, Shared};
use crate::error::{NodeError, server_error};
use crate::store::{DeviceStore, Pairing, RunRecord};

/// Most passes of one run: a reconciliation asked for by the server, then the run again.
const MAX_PASSES: usize = 3;

/// Documents whose heads one store read gathers while reconciling.
const HEADS_CHUNK: usize = 100;

impl<S: DeviceStore> DeviceCore<S> {
    /// A sync run to drive ([`SyncRun::step`] or [`SyncRun::drive`]). One at a time:
    /// hold [`Self::sync_lock`] while driving it.
    pub fn begin_run(&self) -> SyncRun {
        let shared = self.shared.clone();
        SyncRun::new(move |io| run(shared, io))
    }
}

/// Clears the core's "running" mark however the run ends (finished, failed, dropped).
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.mem().running = false;
    }
}

/// The whole run: the passes, then the record of how it ended.
async fn run(shared: Arc<Shared>, io: Io) -> Result<RunSummary, NodeError> {
    shared.mem().running = true;
    let _running = Running(shared.clone());
    let started = shared.now_ms();
    let result = passes(&shared, &io, started).await;
    let record = match &result {
        Ok(summary) => RunRecord::Done(summary.clone()),
        Err(e) => RunRecord::Failed {
            error: rapport_api::ApiError::new(e.reported_code(), e.to_string()),
            revoked: matches!(e, NodeError::Revoked),
        },
    };
    if let Err(e) = io
        .write(StoreCall::RecordRun(shared.now_ms(), record))
        .await
    {
        tracing::warn!(error = %e, "cannot record the sync run");
    }
    result
}

async fn passes(shared: &Shared, io: &Io, started: i64) -> Result<RunSummary, NodeError> {
    let cached = shared.mem().device.clone();
    let device = match cached {
        Some(device) => device,
        None => io.pairing().await?.ok_or(NodeError::NotPaired)?,
    };
    if io.sync_row().await?.revoked {
        return Err(NodeError::Revoked);
    }
    let mut summary = RunSummary::default();
    for _ in 0..MAX_PASSES {
        if shared.reconcile.swap(false, Ordering::SeqCst)
            && let Err(e) = reconcile(shared, io, &device, &mut summary).await
        {
            shared.reconcile.store(true, Ordering::SeqCst);
            return Err(e);
        }
        match pass(shared, io, &device, &mut summary).await? {
            Pass::Done => {
                summary.duration_ms = u64::try_from(shared.now_ms() - started).unwrap_or(0);
                return Ok(summary);
            }
            Pass::Reconcile => shared.reconcile.store(true, Ordering::SeqCst),
        }
    }
    Err(NodeError::Sync {
        code: "sync_reconcile_loop",
        message: "the server asked to reconcile again and again; data is kept, sync again later"
            .into(),
    })
}

/// How a pass of a run ended.
enum Pass {
    /// Quiescent.
    Done,
    /// The server does not know our cursor: reconcile, then run again.
    Reconcile,
}

/// POSTs one binary frame to `path`; the body of a successful answer. Network failures
/// are [`NodeError::Offline`]; a revoked device [`NodeError::Revoked`]; other refusals
/// [`NodeError::Server`].
async fn post_bytes(
    shared: &Shared,
    io: &Io,
    device: &Pairing,
    path: &str,
    body: Vec<u8>,
    summary: &mut RunSummary,
) -> Result<Vec<u8>, NodeError> {
    summary.requests += 1;
    summary.bytes_sent += body.len() as u64;
    let reply = io
        .post(Post {
            url: format!("{}{path}", device.server_url),
            token: device.token.clone(),
            body,
            instance: hex::encode(shared.opening),
        })
        .await?;
    let (status, bytes) = reply.map_err(|no_answer| match no_answer {
        NoAnswer::Unreachable(reason) => NodeError::Offline {
            url: device.server_url.clone(),
            reason,
        },
        NoAnswer::UntrustedCertificate(message) => {
            NodeError::invalid("untrusted_certificate", message)
        }
    })?;
    summary.bytes_received += bytes.len() as u64;
    if (200..300).contains(&status) {
        Ok(bytes)
    } else {
        Err(server_error(status, &bytes))
    }
}

/// One sync round trip.
async fn post_sync(
    shared: &Shared,
    io: &Io,
    device: &Pairing,
    request: &SyncRequest,
    limits: &Limits,
    summary: &mut RunSummary,
) -> Result<SyncResponse, NodeError> {
    let body = request.encode(limits).map_err(|e| NodeError::Sync {
        code: e.code(),
        message: e.to_string(),
    })?;
    let bytes = post_bytes(shared, io, device, "/api/v1/sync", body, summary).await?;
    SyncResponse::decode(&bytes, limits).map_err(|e| NodeError::Sync {
        code: "bad_response",
        message: format!("the server's answer cannot be read ({e})"),
    })
}

/// Reconciles with the server: sends the heads of every document this device holds;
/// forgets the sync state of each the server lacks changes of and marks it for sending
/// whole; marks for an exchange each whose record on the server was stale; and gives
/// every stopped document another try (its cause may be gone: the server was repaired,
/// access came back). A refusal that still holds stops it again.
async fn reconcile(
    shared: &Shared,
    io: &Io,
    device: &Pairing,
    summary: &mut RunSummary,
) -> Result<(), NodeError> {
    let ids = io.ids(StoreCall::ListDocs).await?;
    let mut request = HeadsRequest::default();
    // Loaded in slices: a device may hold thousands of documents.
    for chunk in ids.chunks(HEADS_CHUNK) {
        for (id, loaded) in io.load_many(chunk.to_vec()).await? {
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
    let limits = shared
        .config
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .limits;
    let body = request.encode(&limits).map_err(|e| NodeError::Sync {
        code: e.code(),
        message: e.to_string(),
    })?;
    let bytes = post_bytes(shared, io, device, "/api/v1/sync/heads", body, summary).await?;
    let response = HeadsResponse::decode(&bytes, &limits).map_err(|e| NodeError::Sync {
        code: "bad_response",
        message: format!("the server's answer cannot be read ({e})"),
    })?;
    let lacking: HashSet<DocId> = response.lacking.iter().copied().collect();
    let keep: Vec<DocId> = ids.into_iter().filter(|id| !lacking.contains(id)).collect();
    io.write(StoreCall::RetainSyncStates(keep)).await?;
    let stopped = io.stopped_ids().await?;
    let stale = response.stale.len();
    let resend: Vec<DocId> = response.lacking.into_iter().chain(response.stale).collect();
    retry(shared, io, resend, stopped).await?;
    tracing::info!(
        held = request.docs.len(),
        lacking = lacking.len(),
        stale,
        "reconciled with the server"
    );
    Ok(())
}

/// Marks `resend` and the `stopped` documents for sending, then gives the stopped ones
/// another try (out of the stopped set). A refusal that still holds stops them again.
async fn retry(
    shared: &Shared,
    io: &Io,
    mut resend: Vec<DocId>,
    stopped: Vec<DocId>,
) -> Result<(), NodeError> {
    resend.extend(stopped.iter().copied());
    // Marked before the refusals are dropped: a crash between leaves a document both
    // stopped and dirty (tried again at the next start), never neither.
    if !resend.is_empty() {
        io.write(StoreCall::MarkDirty(resend.clone(), shared.now_ms()))
            .await?;
        shared.marked(&resend);
    }
    if !stopped.is_empty() {
        io.write(StoreCall::Unstop(stopped)).await?;
    }
    Ok(())
}

/// Takes `docs` out of the dirty set, in the store and in memory, unless an edit came
/// in since the run took them (`generations`): those keep (or get back) their mark.
async fn clear_dirty(
    shared: &Shared,
    io: &Io,
    docs: &[DocId],
    generations: &std::collections::HashMap<DocId, u64>,
) -> Result<(), NodeError> {
    let clean = shared.unedited(docs, generations);
    if clean.is_empty() {
        return Ok(());
    }
    io.write(StoreCall::ClearDirty(clean.clone())).await?;
    remark_raced(shared, io, &clean, generations).await
}

/// After the store's marks of `clean` were removed: an edit that raced the removal gets
/// its mark back (it may have found the old mark and written none).
async fn remark_raced(
    shared: &Shared,
    io: &Io,
    clean: &[DocId],
    generations: &std::collections::HashMap<DocId, u64>,
) -> Result<(), NodeError> {
    let back = shared.cleared(clean, generations);
    if !back.is_empty() {
        io.write(StoreCall::MarkDirty(back, shared.now_ms()))
            .await?;
    }
    Ok(())
}

/// One pass of a run: request/response round trips until quiescent.
async fn pass(
    shared: &Shared,
    io: &Io,
    device: &Pairing,
    summary: &mut RunSummary,
) -> Result<Pass, NodeError> {
    let row = io.sync_row().await?;
    if row.revoked {
        return Err(NodeError::Revoked);
    }
    // Only runs write the stopped set, one at a time: read once, kept up to date.
    let mut stopped: HashSet<DocId> = io.stopped_ids().await?.into_iter().collect();
    let (dirty, generations) = shared.dirty_snapshot();
    let dirty: Vec<DocId> = dirty.into_iter().filter(|d| !stopped.contains(d)).collect();

    let mut docs = RunDocs::default();
    docs.load(io, &dirty).await?;
    // A dirty mark without a stored document (a crash between the mark and the change,
    // or a document that no longer loads) has nothing to send.
    let (dirty, absent): (Vec<DocId>, Vec<DocId>) = dirty
        .into_iter()
        .partition(|id| docs.set.docs.contains_key(id));
    clear_dirty(shared, io, &absent, &generations).await?;
    let config = *shared.config.lock().unwrap_or_else(|p| p.into_inner());
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
    let dirty_set: HashSet<DocId> = dirty.iter().copied().collect();
    // Dirty documents taken out of the dirty set during the pass.
    let mut cleared: HashSet<DocId> = HashSet::new();
    shared.host.emit(Event::SyncStarted);

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
        let response = match post_sync(shared, io, device, &request, &limits, summary).await {
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
            io.write(StoreCall::SetRemoteCursor(response.cursor))
                .await?;
            return Ok(Pass::Reconcile);
        }
        let ids: Vec<DocId> = response
            .docs
            .iter()
            .map(|d| d.doc)
            .chain(response.errors.iter().map(|e| e.doc))
            .collect();
        docs.load(io, &ids).await?;
        settling.exchanged(response.docs.iter().map(|d| d.doc));
        let outcome = session.handle_response(&mut docs.set, response);
        for error in &outcome.errors {
            failed.insert(error.doc);
            transient |= !error.code.stops();
        }
        received.extend(outcome.changed.iter().copied());
        // A dirty document the server now holds whole leaves the dirty set at once, not
        // at the end of the pass: a backlog larger than one run's round trips (after a
        // reconcile that marks every document) then shrinks run by run instead of being
        // sent again whole by each run that reaches the round-trip cap.
        let settled: Vec<DocId> = outcome
            .synced
            .iter()
            .filter(|id| dirty_set.contains(*id) && !failed.contains(*id))
            .filter(|id| cleared.insert(**id))
            .copied()
            .collect();
        let clean = shared.unedited(&settled, &generations);
        // A document the server could not answer this time (internal error, retry) may
        // be a feed document: moving the cursor past it would skip it until it changes
        // again. Keep the old cursor; the next run asks again.
        let cursor = settling
            .mid_run_cursor(&outcome, session.cursor())
            .map(<[u8]>::to_vec);
        let settled_now = Settled {
            cursor,
            clean: clean.clone(),
        };
        persist(
            shared,
            io,
            &mut docs,
            &outcome,
            !transient,
            &mut stopped,
            settled_now,
        )
        .await?;
        remark_raced(shared, io, &clean, &generations).await?;
        // A new programme view may give back what the server refused (a client given to
        // this rep again, whose visit the server would not send: nothing in it changed
        // for the device): the stopped documents get another try at the next run, as at
        // the next start.
        if !stopped.is_empty() && outcome.changed.contains(&view_id(device.programme_id)) {
            retry(shared, io, Vec::new(), stopped.drain().collect()).await?;
        }
        summary.docs_sent = sent.len();
        summary.docs_received = received.len();
        shared.host.emit(Event::SyncProgress {
            requests: summary.requests,
            docs_sent: summary.docs_sent,
            docs_received: summary.docs_received,
        });
    }

    // Quiescent: every dirty document that did not fail has nothing left to send.
    // Take out of the dirty set only those not edited since the run took them.
    let done: Vec<DocId> = dirty
        .iter()
        .filter(|id| !failed.contains(id) && !cleared.contains(id))
        .copied()
        .collect();
    clear_dirty(shared, io, &done, &generations).await?;
    if transient {
        return Err(NodeError::Sync {
            code: "sync_incomplete",
            message: "the server could not take some documents this time".into(),
        });
    }
    Ok(Pass::Done)
}

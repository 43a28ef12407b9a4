//! `POST /api/v1/sync` and `POST /api/v1/sync/heads` on the real store: the HTTP side
//! of the server's sync algorithm, which lives in [`engine`].
//!
//! Here: decode the frame; load the device's rights ([`rights`]); run the engine over
//! the store; then what follows a committed request on this server: the projector is
//! told of changed documents, the device's last sync and refused documents are
//! recorded ([`refusals`]), metrics and logs. The check of uploaded changes is in
//! [`check`].

mod check;
pub mod engine;
mod refusals;
mod rights;

use std::time::Instant;

use axum::http::StatusCode;
use rapport_protocol::{HeadsRequest, SyncRequest};
use rapport_store::PeerId;

use self::engine::{Engine, Instance};
use self::rights::DeviceRights;
use crate::db::DeviceRecord;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// How stale a device's "last seen" may get before a sync records it again.
const LAST_SEEN_PRECISION_MS: i64 = 60_000;

/// The engine over this server's store.
fn engine(state: &AppState) -> Engine<'_> {
    Engine::new(&*state.store, state.epoch, state.limits)
}

/// Handles one sync request body from `device`; the result is the response body.
/// `instance` is the opening of the device's store that sent it, if the device says.
pub async fn sync(
    state: &AppState,
    device: &DeviceRecord,
    instance: Option<&str>,
    body: &[u8],
) -> HttpResult<Vec<u8>> {
    let started = Instant::now();
    let request = decode(state, body)?;
    let rights = DeviceRights::load(
        &state.db,
        state.projector.checked_visits(),
        device,
        !request.docs.is_empty(),
    )
    .await?;
    let reply = engine(state)
        .sync(
            &rights,
            &PeerId::new(device.id.clone()),
            request,
            Instance {
                presented: instance,
                reconciled: device.sync_instance.as_deref(),
            },
        )
        .await?;
    if let Some(why) = reply.reconcile {
        tracing::warn!(device = %device.id, why, "the device's cursor is unknown here: it reconciles");
        metrics::counter!("rapport_sync_reconcile_asked_total").increment(1);
        return Ok(reply.body);
    }
    metrics::counter!("rapport_changes_committed_total").increment(reply.changes_new as u64);
    if reply.changed > 0 {
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
    refusals::write(state, device, &reply, now).await;
    metrics::counter!("rapport_sync_requests_total").increment(1);
    metrics::counter!("rapport_sync_doc_errors_total").increment(reply.errors as u64);
    metrics::histogram!("rapport_sync_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(device = %device.id, docs = reply.requested, changed = reply.changed, errors = reply.errors, bytes = reply.body.len(), "sync");
    Ok(reply.body)
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

/// `POST /api/v1/sync/heads`: a device lists the heads of every document it holds;
/// the answer is the documents this store lacks changes of (see [`Engine::heads`]).
/// The sync states now follow `instance`, the opening of the device's store that sent
/// it (if the device says).
pub async fn heads(
    state: &AppState,
    device: &DeviceRecord,
    instance: Option<&str>,
    body: &[u8],
) -> HttpResult<Vec<u8>> {
    let request = HeadsRequest::decode(body, &state.limits).map_err(|e| {
        HttpError::bad_request(
            e.code(),
            format!("the heads request could not be read: {e}; nothing was changed"),
        )
    })?;
    let reply = engine(state)
        .heads(&PeerId::new(device.id.clone()), &request)
        .await?;
    if let Some(instance) = instance
        && device.sync_instance.as_deref() != Some(instance)
    {
        state.db.set_sync_instance(&device.id, instance).await?;
    }
    metrics::counter!("rapport_sync_reconciles_total").increment(1);
    tracing::info!(
        device = %device.id,
        held = reply.held,
        lacking = reply.lacking,
        stale = reply.stale,
        forgotten = reply.forgotten,
        moved = reply.moved,
        "a device reconciled"
    );
    Ok(reply.body)
}

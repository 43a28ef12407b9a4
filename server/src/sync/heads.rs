//! A device's reconcile: it lists what it holds, and learns what this store lacks.

use std::collections::HashSet;

use rapport_protocol::{HeadsRequest, reconcile};
use rapport_store::{DocId, PeerId};

use crate::db::DeviceRecord;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

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

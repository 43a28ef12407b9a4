//! A device's reconcile: it lists what it holds, and learns what this store lacks.

use std::collections::HashSet;

use rapport_protocol::{HeadsRequest, Limits, reconcile};
use rapport_store::{DocId, DocStore, PeerId};

use super::reply::HeadsReply;
use crate::error::{HttpError, HttpResult};

/// The device `peer` lists the heads of every document it holds; the answer is the
/// documents this store lacks changes of, and every sync state of the device that may
/// no longer say the truth is forgotten first (see the protocol's *When storage goes
/// back in time*). Nothing is loaded: hashes are looked up.
pub(super) async fn reconcile_heads(
    store: &dyn DocStore,
    peer: &PeerId,
    request: &HeadsRequest,
    limits: &Limits,
) -> HttpResult<HeadsReply> {
    let docs: Vec<DocId> = request.docs.iter().map(|(d, _)| *d).collect();
    let stored = store.stored_changes(&reconcile::pairs(request)).await?;
    let states = store.sync_states(peer, &docs).await?;
    let answer = reconcile::answer(request, &stored, &states);
    let forgotten = store.retain_sync_states(peer, &answer.keep_states).await?;
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
        store.touch(&unlisted).await?;
    }
    let body = answer
        .response
        .encode(limits)
        .map_err(|e| HttpError::internal("encoding the heads response", e))?;
    Ok(HeadsReply {
        body,
        held: docs.len(),
        lacking: answer.response.lacking.len(),
        stale: answer.response.stale.len(),
        forgotten: forgotten.len(),
        moved: unlisted.len(),
    })
}

//! The documents refused to a device for good, as the lead's devices page lists them:
//! what one sync request adds to them and takes off.

use super::engine::SyncReply;
use crate::db::DeviceRecord;
use crate::state::AppState;

/// Writes what `reply` changes in the device's refused documents once the commit
/// succeeded: every refusal that stops a document on the device, and the documents the
/// server accepted this time (their earlier refusal is over). A request without
/// refusals, or from a device with none recorded (most of them), does not touch the
/// database. A
/// failure is logged, not the request's: the device retries a refused document at each
/// start.
pub(super) async fn write(state: &AppState, device: &DeviceRecord, reply: &SyncReply, now: i64) {
    if !reply.refused.is_empty() {
        let rows: Vec<_> = reply
            .refused
            .iter()
            .map(|(d, c, m)| (*d, c.as_str(), m.as_str()))
            .collect();
        if let Err(e) = state.db.record_refusals(&device.id, &rows, now).await {
            tracing::warn!(error = %e, "could not record the documents refused to the device");
        }
    }
    // The stamp read with the device says whether it has any refusal to clear (`None`:
    // not read, so ask the database).
    let may_have_refusals = device.rights.is_none_or(|r| r.has_refusals);
    if !reply.accepted.is_empty()
        && may_have_refusals
        && let Err(e) = state.db.clear_refusals(&device.id, &reply.accepted).await
    {
        tracing::warn!(error = %e, "could not clear the device's accepted documents");
    }
}

//! The documents refused to a device for good, as the lead's devices page lists them:
//! what one sync request adds to them and takes off.

use rapport_protocol::ServerOutcome;
use rapport_store::DocId;

use crate::db::DeviceRecord;
use crate::state::AppState;

/// What one request changes in the device's refused documents (the lead's devices
/// page): every refusal that stops a document on the device, and the documents the
/// server accepted this time (their earlier refusal is over).
pub(super) struct Refusals {
    refused: Vec<(DocId, &'static str, String)>,
    accepted: Vec<DocId>,
}

impl Refusals {
    /// What `outcome` refused for good, and what it accepted.
    pub(super) fn of(outcome: &ServerOutcome) -> Self {
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
    pub(super) async fn write(self, state: &AppState, device: &DeviceRecord, now: i64) {
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

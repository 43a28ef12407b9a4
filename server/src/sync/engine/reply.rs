//! What the engine hands back after a request: the response body, committed already,
//! and the facts the caller acts on afterwards.

use rapport_protocol::{ErrorCode, ServerOutcome};
use rapport_store::DocId;

/// The answer to one sync request, after its commit.
#[derive(Debug, Clone, Default)]
pub struct SyncReply {
    /// The `SyncResponse` frame to send; everything it acknowledges is committed.
    pub body: Vec<u8>,
    /// Why the device is asked to reconcile (its cursor is unknown to this store);
    /// nothing of the request was applied. `None` for an ordinary exchange.
    pub reconcile: Option<&'static str>,
    /// Documents the device sent.
    pub requested: usize,
    /// Documents whose changes new to this server were committed (the server's
    /// projections have work).
    pub changed: usize,
    /// Changes the commit carried (those the stored copies lacked when loaded).
    pub changes_sent: usize,
    /// Changes the store did not hold before the commit: `changes_sent` less what a
    /// concurrent request stored first.
    pub changes_new: usize,
    /// Per-document errors in the response.
    pub errors: usize,
    /// Documents refused for good (the device keeps them unsent until something
    /// changes): the code and the message it got.
    pub refused: Vec<(DocId, ErrorCode, String)>,
    /// Documents the device sent that were accepted this time (any earlier refusal of
    /// them is over).
    pub accepted: Vec<DocId>,
}

/// What `outcome` refused for good, and what it accepted.
pub(super) fn refusals(outcome: &ServerOutcome) -> (Vec<(DocId, ErrorCode, String)>, Vec<DocId>) {
    let refused: Vec<(DocId, ErrorCode, String)> = outcome
        .response
        .errors
        .iter()
        .filter(|e| e.code.stops())
        .map(|e| (e.doc, e.code, e.message.clone()))
        .collect();
    // A committed document may still be refused (the server's changes too large to
    // send): the refusal wins.
    let accepted = outcome
        .commits
        .iter()
        .map(|c| c.doc)
        .filter(|d| !refused.iter().any(|(r, _, _)| r == d))
        .collect();
    (refused, accepted)
}

/// The answer to one heads request (a device reconciling), after the store forgot the
/// device's sync states that may no longer say the truth.
#[derive(Debug, Clone, Default)]
pub struct HeadsReply {
    /// The `HeadsResponse` frame to send.
    pub body: Vec<u8>,
    /// Documents the device listed.
    pub held: usize,
    /// Documents this store lacks changes of.
    pub lacking: usize,
    /// Documents whose sync state did not match the device's heads.
    pub stale: usize,
    /// Sync states of the device forgotten.
    pub forgotten: usize,
    /// Documents moved to the head of the feed (forgotten and not listed).
    pub moved: usize,
}

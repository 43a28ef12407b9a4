//! What a run keeps between round trips (the documents it loaded, which of them are
//! settled) and what it persists after each response.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use rapport_api::{Event, StoppedDoc};
use rapport_domain::{DocId, doc_scope};
use rapport_protocol::{DocError, ErrorCode, MemDocSet, Outcome};
use rapport_store::{PeerId, WholeDoc, WriteBatch};

use super::steps::{Io, StoreCall};
use crate::device::{Shared, index_entry};
use crate::error::NodeError;
use crate::store::ResponseWrite;

/// The documents of one run: loaded from the store (committed state only, so nothing
/// a crash could take back is ever sent), plus what the server sent.
#[derive(Default)]
pub(super) struct RunDocs {
    /// Documents and persisted states, as the session reads them.
    pub(super) set: MemDocSet,
    /// Heads as last persisted, to find the changes a response added.
    persisted_heads: HashMap<DocId, Vec<ChangeHash>>,
}

impl RunDocs {
    /// Loads from the store the documents (and states) of `ids` not loaded yet.
    pub(super) async fn load(&mut self, io: &Io, ids: &[DocId]) -> Result<(), NodeError> {
        let missing: Vec<DocId> = ids
            .iter()
            .filter(|id| !self.set.docs.contains_key(id))
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for (id, loaded) in io.load_many(missing.clone()).await? {
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
        let states = io.sync_states(missing).await?;
        self.set.states.extend(states);
        Ok(())
    }
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
pub(super) struct Settling {
    dirty: HashSet<DocId>,
    unsettled: HashSet<DocId>,
    persisted: Vec<u8>,
}

impl Settling {
    pub(super) fn new(dirty: &[DocId], persisted: Vec<u8>) -> Self {
        Self {
            dirty: dirty.iter().copied().collect(),
            unsettled: HashSet::new(),
            persisted,
        }
    }

    /// Documents in a request or a response of this run.
    pub(super) fn exchanged(&mut self, ids: impl IntoIterator<Item = DocId>) {
        let dirty = &self.dirty;
        self.unsettled
            .extend(ids.into_iter().filter(|id| !dirty.contains(id)));
    }

    /// The cursor to persist now, after `outcome` was persisted; `latest` is the
    /// session's cursor.
    pub(super) fn mid_run_cursor<'a>(
        &mut self,
        outcome: &Outcome,
        latest: &'a [u8],
    ) -> Option<&'a [u8]> {
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

/// What one response settled besides its documents: the feed cursor the run may keep
/// before it ends, and the dirty documents it leaves clean.
pub(super) struct Settled {
    pub(super) cursor: Option<Vec<u8>>,
    pub(super) clean: Vec<DocId>,
}

/// Writes what one response did in one store call ([`StoreCall::WriteResponse`]):
/// changes and states, refusals given and taken back, the new documents' index entries,
/// the cursor (the complete one when `keep_cursor`, else `settled`'s) and the dirty
/// marks `settled` clears; then, durable, tells the host. `stopped` is the store's set
/// of stopped documents, kept up to date here: a document the server sent again is
/// taken out of it with a write only when it is in it.
pub(super) async fn persist(
    shared: &Shared,
    io: &Io,
    docs: &mut RunDocs,
    outcome: &Outcome,
    keep_cursor: bool,
    stopped: &mut HashSet<DocId>,
    settled: Settled,
) -> Result<(), NodeError> {
    let mut batch = WriteBatch::new();
    let mut new_docs = Vec::new();
    let mut wholes: HashMap<DocId, &Vec<u8>> = HashMap::new();
    if shared.keeps_wholes {
        wholes.extend(outcome.wholes.iter().map(|(id, bytes)| (*id, bytes)));
    }
    for id in &outcome.changed {
        let Some(doc) = docs.set.docs.get(id) else {
            continue;
        };
        let before = docs.persisted_heads.get(id).cloned().unwrap_or_default();
        if before.is_empty() {
            new_docs.push(*id);
        }
        // A document received whole, of which the device had nothing: stored as the
        // bytes it came in (as the server keeps it), without encoding its changes.
        let whole = wholes
            .get(id)
            .filter(|_| before.is_empty())
            .and_then(|bytes| {
                let hashes = doc.get_changes_meta(&[]).into_iter().map(|m| m.hash);
                WholeDoc::new(*id, (*bytes).clone(), hashes.collect())
            });
        docs.persisted_heads.insert(*id, doc.get_heads());
        if let Some(whole) = whole {
            batch = batch.with_whole(whole);
            continue;
        }
        let changes: Vec<_> = doc.get_changes(&before);
        if !changes.is_empty() {
            batch = batch.with_changes(*id, changes);
        }
    }
    for (id, state) in &outcome.states {
        batch = batch.with_sync_state(PeerId::server(), *id, state.clone());
        docs.set.states.insert(*id, state.clone());
    }
    let now = shared.now_ms();
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
    stopped.extend(refused.iter().map(|s| s.doc_id));
    // The server sent these: it gives us access again.
    let back: Vec<DocId> = outcome
        .changed
        .iter()
        .chain(&outcome.synced)
        .filter(|id| stopped.contains(id))
        .copied()
        .collect();
    for id in &back {
        stopped.remove(id);
    }
    let mut index = Vec::new();
    for id in &new_docs {
        if let Some(doc) = docs.set.docs.get(id) {
            match doc_scope(doc) {
                Ok(scope) => index.push(index_entry(*id, &scope)),
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "a document from the server has no readable scope")
                }
            }
        }
    }
    let cursor = match &outcome.cursor {
        Some(cursor) if keep_cursor => Some(cursor.clone()),
        _ => settled.cursor,
    };
    let write = ResponseWrite {
        batch,
        stop: refused,
        unstop: back,
        index,
        cursor,
        clear_dirty: settled.clean,
    };
    if !write.is_empty() {
        io.write(StoreCall::WriteResponse(write)).await?;
    }
    if !outcome.changed.is_empty() {
        shared.synced_changes(&outcome.changed);
        shared.host.emit(Event::DocsChanged {
            doc_ids: outcome.changed.clone(),
        });
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

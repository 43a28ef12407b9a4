//! Reconciling a device and the server after either went back in time (see the crate
//! documentation, *When storage goes back in time*): the server's answer to a
//! [`HeadsRequest`], from what its store holds, with no document loaded.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use automerge::sync::State;
use rapport_domain::DocId;

use crate::state::same_heads;
use crate::wire::{HeadsRequest, HeadsResponse};

/// What the server does for one [`HeadsRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerReconcile {
    /// The reply: the documents the server lacks changes of.
    pub response: HeadsResponse,
    /// The documents whose persisted sync state for this device still says the truth;
    /// forget every other state of the device (`retain_sync_states`), in the same
    /// request, before replying.
    pub keep_states: Vec<DocId>,
}

/// Every `(document, head)` pair of the request: what to look up in the store.
pub fn pairs(request: &HeadsRequest) -> Vec<(DocId, ChangeHash)> {
    request
        .docs
        .iter()
        .flat_map(|(doc, heads)| heads.iter().map(move |h| (*doc, *h)))
        .collect()
}

/// The server's answer, given which of [`pairs`] its store holds and its persisted
/// sync states for the device (of the requested documents).
///
/// A document is lacking when a head the device holds is not stored. A state is kept
/// only when the server has the document whole as the device does and the state's
/// shared heads are exactly the device's heads: any other state may claim changes
/// the device no longer holds (it went back) or heads the server no longer holds (the
/// server went back), and a wrong claim makes the feed skip what a side lacks, while a
/// forgotten state costs one full exchange of that document.
pub fn answer(
    request: &HeadsRequest,
    stored: &HashSet<(DocId, ChangeHash)>,
    states: &HashMap<DocId, Vec<u8>>,
) -> ServerReconcile {
    let mut out = ServerReconcile::default();
    for (doc, heads) in &request.docs {
        if heads.iter().any(|h| !stored.contains(&(*doc, *h))) {
            out.response.lacking.push(*doc);
            continue;
        }
        let matches = states
            .get(doc)
            .and_then(|bytes| State::decode(bytes).ok())
            .is_some_and(|state| same_heads(&state.shared_heads, heads));
        if matches {
            out.keep_states.push(*doc);
        } else {
            out.response.stale.push(*doc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, Automerge, ROOT};

    fn doc_with(text: &str) -> Automerge {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "ответ", text).expect("put");
        doc.commit();
        doc.document().clone()
    }

    /// A sync state whose shared heads are `heads` (what a finished exchange leaves).
    fn state_at(doc: &Automerge) -> Vec<u8> {
        let mut a = doc.clone();
        let mut b = Automerge::new();
        let (mut sa, mut sb) = (State::new(), State::new());
        for _ in 0..10 {
            let m1 = a.generate_sync_message(&mut sa);
            if let Some(m) = m1.clone() {
                b.receive_sync_message(&mut sb, m).expect("receive");
            }
            let m2 = b.generate_sync_message(&mut sb);
            if let Some(m) = m2.clone() {
                a.receive_sync_message(&mut sa, m).expect("receive");
            }
            if m1.is_none() && m2.is_none() {
                break;
            }
        }
        sb.encode()
    }

    #[test]
    fn lacking_documents_and_untrue_states_are_told_apart() {
        let same = doc_with("одинаково");
        let behind = doc_with("устройство отстало");
        let lost = doc_with("сервер потерял");
        let (same_id, behind_id, lost_id) = (DocId::random(), DocId::random(), DocId::random());
        let mut ahead = behind.clone();
        ahead
            .transact::<_, _, automerge::AutomergeError>(|tx| {
                tx.put(ROOT, "ответ", "сервер впереди")?;
                Ok(())
            })
            .expect("edit");
        let request = HeadsRequest {
            docs: vec![
                (same_id, same.get_heads()),
                (behind_id, behind.get_heads()),
                (lost_id, lost.get_heads()),
            ],
        };
        // The server holds `same` and `ahead` (so `behind` too), not `lost`.
        let mut stored: HashSet<(DocId, ChangeHash)> = HashSet::new();
        for c in same.get_changes(&[]) {
            stored.insert((same_id, c.hash()));
        }
        for c in ahead.get_changes(&[]) {
            stored.insert((behind_id, c.hash()));
        }
        let states = HashMap::from([
            (same_id, state_at(&same)),
            (behind_id, state_at(&ahead)),
            (lost_id, state_at(&lost)),
        ]);
        let wanted: Vec<(DocId, ChangeHash)> = pairs(&request);
        assert_eq!(wanted.len(), 3);
        let out = answer(&request, &stored, &states);
        assert_eq!(out.response.lacking, vec![lost_id]);
        assert_eq!(out.response.stale, vec![behind_id]);
        assert_eq!(
            out.keep_states,
            vec![same_id],
            "a state claiming more than the device lists is forgotten"
        );
    }
}

//! Sync-state helpers shared by the device and the server side.

use automerge::sync::{BloomFilter, Capability, Have, State};
use automerge::{Automerge, ChangeHash, ReadDoc};

/// Decode a persisted sync state, falling back to a fresh one when it is
/// missing, corrupt, or names changes the document does not hold.
///
/// Why the fallback: automerge trusts `shared_heads`; a state that claims
/// changes the local copy lacks (a lost write, a restored backup) would make
/// the peer skip sending them. A fresh state costs one full exchange, never data.
pub(crate) fn load_state(persisted: Option<&[u8]>, doc: Option<&Automerge>) -> State {
    let Some(bytes) = persisted else {
        return State::new();
    };
    match State::decode(bytes) {
        Ok(state) if holds_all(doc, &state.shared_heads) => state,
        _ => State::new(),
    }
}

/// Whether `doc` holds every change in `heads`.
pub(crate) fn holds_all(doc: Option<&Automerge>, heads: &[ChangeHash]) -> bool {
    match doc {
        Some(doc) => heads.iter().all(|h| doc.get_change_by_hash(h).is_some()),
        None => heads.is_empty(),
    }
}

/// Prepare `state` to push, in the first message, every change made since the
/// last known common point (`shared_heads`).
///
/// Plain automerge sends only heads and a Bloom filter first and changes one
/// round trip later. Shared heads are by definition held by both sides, so
/// acting as if the peer had said "my heads are the shared heads, I have
/// nothing beyond them" is safe: at worst the peer receives changes it already
/// has (automerge ignores duplicates, and the server stores only changes new
/// to it). It saves a whole round trip for every upload and download, which on
/// a stateless server is also one transaction less. Both ends run this crate,
/// so the peer's message-format capabilities are known.
pub(crate) fn preseed(state: &mut State) {
    let shared = state.shared_heads.clone();
    let nothing_shared = shared.is_empty();
    state.their_heads = Some(shared.clone());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: shared,
        bloom: BloomFilter::default(),
    }]);
    // Message v2 lets automerge replace the changes by the whole saved document when
    // they are over a third of its history: right for a peer that has nothing (empty
    // shared heads, one compressed document), wrong for an increment of a short
    // document (a visit a few changes long would be resent whole, ~4× the bytes of
    // its new change). So v2 only when nothing is shared; the peer's real capabilities
    // replace these with its first message.
    let v2_or_v1 = if nothing_shared {
        Capability::MessageV2
    } else {
        Capability::MessageV1
    };
    state.their_capabilities = Some(vec![v2_or_v1, Capability::SyncReset]);
}

/// Heads compared as sets (automerge keeps them sorted, but do not rely on it).
pub(crate) fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

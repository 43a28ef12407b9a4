//! What an in-memory device core holds, read back for the harness's devices
//! ([`crate::MemDevice`], [`crate::TestDevice`]): one document, every document with its
//! sync state as a protocol session reads them, and the dirty set and feed cursor.

use std::collections::BTreeSet;

use automerge::Automerge;
use rapport_core::{DeviceCore, DeviceStore, MemDeviceStore};
use rapport_domain::DocId;
use rapport_protocol::MemDocSet;

use crate::now_or_never;

/// The device's copy of `id`, if it holds one.
pub(crate) fn load(core: &DeviceCore<MemDeviceStore>, id: DocId) -> Option<Automerge> {
    now_or_never(core.load(id)).expect("a stored document loads")
}

/// Every stored document id.
pub(crate) fn ids(core: &DeviceCore<MemDeviceStore>) -> Vec<DocId> {
    now_or_never(core.store().list_docs()).expect("list the stored documents")
}

/// A copy of the device's documents and sync states (with the server).
pub(crate) fn doc_set(core: &DeviceCore<MemDeviceStore>) -> MemDocSet {
    let ids = ids(core);
    let mut set = MemDocSet::default();
    for id in &ids {
        if let Some(doc) = load(core, *id) {
            set.docs.insert(*id, doc);
        }
    }
    set.states = now_or_never(core.store().sync_states(&ids))
        .expect("the sync states")
        .into_iter()
        .collect();
    set
}

/// The documents marked dirty, and the persisted feed cursor.
pub(crate) fn dirty_and_cursor(core: &DeviceCore<MemDeviceStore>) -> (BTreeSet<DocId>, Vec<u8>) {
    let store = core.store();
    let dirty = now_or_never(store.dirty())
        .expect("the dirty set")
        .into_iter()
        .collect();
    let cursor = now_or_never(store.sync_row())
        .expect("the sync row")
        .remote_cursor;
    (dirty, cursor)
}

//! The device-store conformance suite (`rapport_core::conformance`) on IndexedDB, in
//! headless Chromium: each case on a fresh database; a reopen closes the connection and
//! opens the same database again; failing writes abort their transaction inside
//! IndexedDB after the writes were issued, so all or nothing is the database's own.
//!
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
//! cargo test -p rapport-web --target wasm32-unknown-unknown` (tests/run.sh does).
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;

use rapport_core::conformance::{self, Harness};
use rapport_web::IdbDeviceStore;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

thread_local! {
    static NEXT: Cell<u32> = const { Cell::new(0) };
}

/// A database name no earlier run or case used.
fn fresh_name() -> String {
    let n = NEXT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    format!("rapport-conformance-{}-{n}", js_sys::Date::now() as u64)
}

/// The store under test, its database's name, and the faults asked for.
struct Idb {
    name: String,
    store: IdbDeviceStore,
    dirty: bool,
    changes: bool,
}

impl Idb {
    async fn new() -> Self {
        let name = fresh_name();
        let store = IdbDeviceStore::open(&name)
            .await
            .expect("open a fresh store");
        Self {
            name,
            store,
            dirty: false,
            changes: false,
        }
    }

    fn apply_faults(&self) {
        self.store.set_write_faults(self.dirty, self.changes);
    }
}

#[async_trait::async_trait(?Send)]
impl Harness for Idb {
    type Store = IdbDeviceStore;

    fn store(&self) -> &IdbDeviceStore {
        &self.store
    }

    async fn reopen(&mut self) {
        self.store.close();
        self.store = IdbDeviceStore::open(&self.name)
            .await
            .expect("reopen the store");
        self.apply_faults();
    }

    async fn fail_dirty_writes(&mut self, fail: bool) {
        self.dirty = fail;
        self.apply_faults();
    }

    async fn fail_change_writes(&mut self, fail: bool) {
        self.changes = fail;
        self.apply_faults();
    }

    async fn close(&mut self) {
        self.store.close();
    }
}

#[wasm_bindgen_test]
async fn the_indexeddb_store_passes_the_conformance_suite() {
    conformance::run(Idb::new).await;
}

/// A sync response is one IndexedDB transaction: when it aborts at its end (here the
/// clearing of a dirty mark fails), its documents, refusals, index entries and cursor
/// are not written either. Written one after the other, the documents and the cursor
/// would be stored and only the mark left.
#[wasm_bindgen_test]
async fn a_response_is_one_transaction() {
    use automerge::transaction::Transactable;
    use rapport_api::StoppedDoc;
    use rapport_core::{DeviceStore, IndexEntry, ResponseWrite};
    use rapport_domain::DocId;
    use rapport_store::{PeerId, WriteBatch};

    let mut h = Idb::new().await;
    let visit = DocId::random();
    h.store.mark_dirty(&[visit], 1).await.expect("dirty");
    h.store.set_remote_cursor(b"c0").await.expect("cursor");
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "ответ", "Да, продлеваем договор")
        .expect("put");
    let changes: Vec<automerge::Change> = doc.get_changes(&[]);
    let write = ResponseWrite {
        batch: WriteBatch::new()
            .with_changes(visit, changes)
            .with_sync_state(PeerId::server(), visit, b"\xd1\x81".to_vec()),
        stop: vec![StoppedDoc {
            doc_id: DocId::random(),
            kind: String::new(),
            code: "forbidden".into(),
            message: "клиент передан другому".into(),
            at_ms: 2,
        }],
        unstop: vec![],
        index: vec![IndexEntry {
            doc: visit,
            kind: "visit".into(),
            client: None,
        }],
        cursor: Some(b"c1".to_vec()),
        clear_dirty: vec![visit],
    };
    h.fail_dirty_writes(true).await;
    let failed = h.store.write_response(write).await;
    assert!(failed.is_err(), "the clearing of the mark fails");
    h.fail_dirty_writes(false).await;
    h.reopen().await;
    let store = &h.store;
    assert_eq!(store.sync_row().await.expect("row").remote_cursor, b"c0");
    assert_eq!(store.dirty().await.expect("dirty"), vec![visit]);
    assert!(
        store.list_docs().await.expect("docs").is_empty(),
        "no document"
    );
    assert!(
        store
            .sync_states(&[visit])
            .await
            .expect("states")
            .is_empty()
    );
    assert!(store.stopped().await.expect("stopped").is_empty());
    assert!(store.indexed().await.expect("indexed").is_empty());
}

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

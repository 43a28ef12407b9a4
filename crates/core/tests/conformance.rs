//! The device-store conformance suite on [`MemDeviceStore`] (the native node runs it on
//! its encrypted SQLite store).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rapport_core::conformance::{Harness, run};
use rapport_core::{MemDeviceStore, WriteFaults};

/// Runs a future whose every await is ready at once (the in-memory store's are).
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an in-memory store's future waited"),
    }
}

struct Mem {
    store: MemDeviceStore,
    faults: WriteFaults,
}

#[async_trait::async_trait]
impl Harness for Mem {
    type Store = MemDeviceStore;

    fn store(&self) -> &MemDeviceStore {
        &self.store
    }

    async fn reopen(&mut self) {
        self.store = MemDeviceStore::from_snapshot(self.store.snapshot());
        self.store.set_faults(self.faults);
    }

    async fn fail_dirty_writes(&mut self, fail: bool) {
        self.faults.dirty = fail;
        self.store.set_faults(self.faults);
    }

    async fn fail_change_writes(&mut self, fail: bool) {
        self.faults.changes = fail;
        self.store.set_faults(self.faults);
    }

    async fn close(&mut self) {
        // Nothing to release: the store is memory.
    }
}

#[test]
fn the_in_memory_store_keeps_the_contract() {
    now(run(|| async {
        Mem {
            store: MemDeviceStore::new(),
            faults: WriteFaults::default(),
        }
    }));
}

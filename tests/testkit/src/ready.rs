//! Running the in-memory harness's futures, which never wait: no runtime needed.

use std::future::{Future, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rapport_api::RunSummary;
use rapport_core::{DeviceStore, NodeError, Post, Reply, SyncRun};

/// The output of a future that is ready at its first poll (everything the in-memory
/// store and server do). Panics if it waits: a harness future must never block.
pub fn now_or_never<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an in-memory harness future waited; it must never block"),
    }
}

/// Drives a device core's sync run to its end over an in-memory store, each request
/// answered at once by `post` (an in-memory server, a fault, a late answer).
pub fn drive_now<S: DeviceStore>(
    run: SyncRun,
    store: &S,
    mut post: impl FnMut(Post) -> Reply,
) -> Result<RunSummary, NodeError> {
    now_or_never(run.drive(store, |p| ready(post(p))))
}

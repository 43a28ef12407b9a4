//! Driving a future that never waits, without an async runtime.

use std::future::{Future, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rapport_api::RunSummary;
use rapport_core::{DeviceStore, NodeError, Post, Reply, SyncRun};

/// The output of `future`, polled once: for futures that complete without waiting,
/// such as every call of a `rapport_store::MemStore` and the server's sync engine
/// over it. Panics, saying so, when the future would wait: it needs a runtime.
pub fn now_or_never<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!(
            "now_or_never: the future waits for something (IO, a timer, a lock held elsewhere); run it on an async runtime instead"
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_future_gives_its_output() {
        assert_eq!(now_or_never(async { "готово" }), "готово");
    }

    #[test]
    #[should_panic(expected = "the future waits")]
    fn a_waiting_future_is_a_clear_panic() {
        now_or_never(std::future::pending::<()>());
    }
}

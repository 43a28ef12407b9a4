//! Running the in-memory harness's futures, which never wait: no runtime needed.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The output of a future that is ready at its first poll (everything the in-memory
/// store and server do). Panics if it waits: a harness future must never block.
pub fn now_or_never<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an in-memory harness future waited; it must never block"),
    }
}

//! Encrypted SQLite stores being closed, and the process's exit waiting for them.
//!
//! SQLCipher frees its keys, its private heap and its locks in an exit handler. Dropping
//! a connection pool leaves each connection to be closed a moment later by its worker
//! thread, and closing an encrypted connection frees its keys on that heap. A process
//! ending in that moment (a test binary right after its last test, an app dropping its
//! store as it quits) crashed in `sqlite3FreeCodecArg`.
//!
//! So every encrypted pool carries a [`PoolLife`], held by a collation registered on each
//! of its connections. SQLite frees a connection's collations after its pages and keys,
//! so the `PoolLife` is dropped only once the last connection is closed. When a store's
//! last handle goes, the pool is counted as closing until then; and a handler run at
//! exit, before SQLCipher's, waits (boundedly) for the count to reach zero.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Encrypted pools whose store is dropped while some of their connections may be open.
static CLOSING: Mutex<usize> = Mutex::new(0);
/// Signalled when [`CLOSING`] falls to zero.
static ALL_CLOSED: Condvar = Condvar::new();

/// How long the process's exit waits for closing stores: milliseconds in practice; the
/// bound is for a pool kept alive by something that will never drop it.
const EXIT_WAIT: Duration = Duration::from_secs(5);

fn closing() -> MutexGuard<'static, usize> {
    CLOSING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lives exactly as long as an encrypted pool's connections (see the module's note).
#[derive(Debug, Default)]
pub(crate) struct PoolLife {
    closing: AtomicBool,
}

impl PoolLife {
    /// The pool's store is gone: count it as closing until its connections are.
    pub(crate) fn close(&self) {
        if !self.closing.swap(true, Ordering::AcqRel) {
            *closing() += 1;
        }
    }
}

impl Drop for PoolLife {
    fn drop(&mut self) {
        if *self.closing.get_mut() {
            let mut count = closing();
            *count = count.saturating_sub(1);
            if *count == 0 {
                ALL_CLOSED.notify_all();
            }
        }
    }
}

/// Waits up to `bound` until every encrypted store dropped so far has closed its
/// database; says whether they all did. It blocks: call it off an async runtime (its
/// tasks may be what closes the last connections).
pub fn wait_for_closed_stores(bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    let mut count = closing();
    while *count > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        count = ALL_CLOSED
            .wait_timeout(count, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    true
}

extern "C" fn at_exit() {
    wait_for_closed_stores(EXIT_WAIT);
}

/// Makes the process's exit wait for closing stores. Called once, right after SQLite
/// (and SQLCipher, which registers its own exit handler then) first started: exit
/// handlers run last registered first, so this one runs before SQLCipher's.
#[allow(unsafe_code)]
pub(crate) fn wait_at_exit() {
    // SAFETY: `at_exit` is a plain function taking nothing, valid for the whole life of
    // the process, and it cannot unwind (a poisoned lock is taken as it is).
    unsafe {
        libc::atexit(at_exit);
    }
}

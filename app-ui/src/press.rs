//! A tap is never lost to the page moving under it.
//!
//! A tap takes time: the finger (or mouse button) goes down, comes up, and the browser
//! then works out what was tapped, where the finger is, on the page as it is at that
//! moment. Anything that moves the page meanwhile moves the target away: a list that
//! arrives above a button, a verdict that appears under a question, a message under a
//! field that was left (its `change` comes with the press on whatever was tapped
//! next). The tap then lands on something else — nothing, or worse, the button now
//! under the finger.
//!
//! So what changes the page does not happen during a tap: the answers of the device
//! and of the server are delivered once [`settled`] (`Ctx` awaits it for every reply),
//! and a field's own message waits with [`after_press`]. A tap lasts from the press to
//! its click, or to a cancel (a touch that became a scroll); at most
//! [`HOLD_AT_MOST_MS`], so a release the page never hears of cannot hold the page.

use std::cell::{Cell, RefCell};

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// The longest a tap holds the page's changes.
const HOLD_AT_MOST_MS: u64 = 1_000;

/// After the finger comes up, how long the click may take to follow. A mouse's click
/// comes with its release; a touch's comes once the browser has recognised the tap,
/// some tens of milliseconds later.
const CLICK_AFTER_RELEASE_MS: u64 = 300;

type Held = Box<dyn FnOnce()>;

/// The taps of the page and what waits for the one under way.
#[derive(Default)]
struct Taps {
    /// The number of the tap under way (0: none).
    under_way: u64,
    /// Taps seen so far.
    seen: u64,
    /// Changes waiting for the tap to end, in the order they came.
    held: Vec<Held>,
}

impl Taps {
    /// A press: a new tap is under way; its number.
    fn down(&mut self) -> u64 {
        self.seen += 1;
        self.under_way = self.seen;
        self.under_way
    }

    /// `change` now (given back) when no tap is under way, else held for its end.
    fn hold(&mut self, change: Held) -> Option<Held> {
        if self.under_way == 0 {
            return Some(change);
        }
        self.held.push(change);
        None
    }

    /// Tap `tap` is over: what it held, in order (nothing when another tap is under way
    /// by now: a late timer of an earlier one does not end it).
    fn end(&mut self, tap: u64) -> Vec<Held> {
        if tap == 0 || self.under_way != tap {
            return Vec::new();
        }
        self.under_way = 0;
        std::mem::take(&mut self.held)
    }
}

thread_local! {
    static TAPS: RefCell<Taps> = RefCell::new(Taps::default());
    /// The page's pointer listeners are in place.
    static LISTENING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `change` now, or when the tap under way is over.
pub fn after_press(change: impl FnOnce() + 'static) {
    listen();
    if let Some(now) = TAPS.with_borrow_mut(|t| t.hold(Box::new(change))) {
        now();
    }
}

/// Resolves once no tap is under way (at once when none is).
pub async fn settled() {
    if TAPS.with_borrow(|t| t.under_way == 0) {
        return;
    }
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    after_press(move || {
        let _ = done.send(());
    });
    let _ = wait.await;
}

/// Ends tap `tap` (if it is still the one under way) and runs what it held.
fn end(tap: u64) {
    // Taken out first: a held change may start a tap's worth of work of its own.
    for change in TAPS.with_borrow_mut(|t| t.end(tap)) {
        change();
    }
}

/// Ends the tap under way after `ms`, unless another started meanwhile.
fn end_later(ms: u64) {
    let tap = TAPS.with_borrow(|t| t.under_way);
    leptos::prelude::set_timeout(move || end(tap), std::time::Duration::from_millis(ms));
}

/// Follows taps on the whole page (once; the pages call it as they mount): capture
/// listeners on the window, so a handler that stops an event cannot hide it.
pub fn listen() {
    if LISTENING.replace(true) {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let on = |kind: &str, f: fn()| {
        let listener = Closure::<dyn Fn()>::new(f);
        let _ = window.add_event_listener_with_callback_and_bool(
            kind,
            listener.as_ref().unchecked_ref(),
            true,
        );
        // Listening for the page's whole life.
        listener.forget();
    };
    on("pointerdown", || {
        TAPS.with_borrow_mut(Taps::down);
        end_later(HOLD_AT_MOST_MS);
    });
    on("pointerup", || end_later(CLICK_AFTER_RELEASE_MS));
    // After the click's own handlers (a timer runs after the event is dispatched).
    on("click", || end_later(0));
    on("pointercancel", || end_later(0));
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    /// A change that notes `n` in `log` when it runs.
    fn note(log: &Rc<RefCell<Vec<u32>>>, n: u32) -> Held {
        let log = log.clone();
        Box::new(move || log.borrow_mut().push(n))
    }

    fn run(changes: Vec<Held>) {
        for change in changes {
            change();
        }
    }

    #[test]
    fn with_no_tap_under_way_a_change_runs_at_once() {
        let mut taps = Taps::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        run(taps.hold(note(&log, 1)).into_iter().collect());
        assert_eq!(*log.borrow(), [1]);
    }

    #[test]
    fn changes_during_a_tap_wait_for_its_end_and_keep_their_order() {
        let mut taps = Taps::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        let tap = taps.down();
        for n in 1..=3 {
            assert!(taps.hold(note(&log, n)).is_none(), "held");
        }
        assert!(log.borrow().is_empty(), "nothing moves under the finger");
        run(taps.end(tap));
        assert_eq!(*log.borrow(), [1, 2, 3]);
        // Over: the next change runs at once, and ending it again does nothing.
        assert!(taps.hold(note(&log, 4)).is_some());
        assert!(taps.end(tap).is_empty());
    }

    #[test]
    fn a_late_end_of_an_earlier_tap_does_not_end_the_next() {
        let mut taps = Taps::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        let first = taps.down();
        run(taps.end(first));
        let second = taps.down();
        assert!(taps.hold(note(&log, 1)).is_none());
        // The first tap's fallback timer fires while the second is under way.
        assert!(taps.end(first).is_empty());
        assert!(log.borrow().is_empty());
        run(taps.end(second));
        assert_eq!(*log.borrow(), [1]);
    }

    #[test]
    fn a_press_before_the_last_one_ended_takes_over_what_it_held() {
        // A second finger (or a press whose click never came) before the first tap's
        // end: what waits, waits for the newest tap, and is not lost.
        let mut taps = Taps::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        let first = taps.down();
        assert!(taps.hold(note(&log, 1)).is_none());
        let second = taps.down();
        assert!(taps.end(first).is_empty());
        run(taps.end(second));
        assert_eq!(*log.borrow(), [1]);
    }
}

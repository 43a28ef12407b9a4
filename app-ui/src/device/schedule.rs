//! When the device in the page syncs: the driver's decisions as pure functions of the
//! clock (unix ms), so they are tested without a browser. The native node's rules (at
//! start, after edits, every period, and after a failure with the core's exponential
//! backoff, jitter from the page's randomness, probing the server while it is
//! unreachable) but for one: a run waits for a pause in typing.
//!
//! Why the pause: in the page, a run shares the one thread the rep types on. Loading and
//! encoding documents for a run while the rep types delayed their keystrokes' saves
//! (the slowest keystrokes, measured in the web app's figures); the native node syncs
//! on threads of its own. So edits push the run to [`Settings::debounce`] after the last
//! one, and a rep who never pauses still syncs [`TYPING_MAX_WAIT_MS`] after the first
//! edit waiting.

// Natively only the tests use it (the driver is the browser's).
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::time::Duration;

use rapport_core::schedule::backoff;

/// Timing of automatic sync: the core's, the same as the native node's.
pub use rapport_core::schedule::SyncSettings as Settings;

/// Nothing to do until pairing kicks the driver: wait this long (a day).
const IDLE_MS: i64 = 24 * 3600 * 1000;

/// Longest an edit waits for a pause in typing before a run sends it anyway (ms).
pub const TYPING_MAX_WAIT_MS: i64 = 20_000;

/// Where the driver stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// When the next attempt is due (unix ms).
    pub next_ms: i64,
    /// No attempt before this (backing off from a failure), whatever edits say.
    pub not_before_ms: i64,
    /// Failures in a row.
    pub failures: u32,
    /// The last failure was "the server cannot be reached": probe before a run.
    pub offline: bool,
    /// When the oldest edit no run has taken yet came (unix ms), if any.
    pub edit_waiting_since: Option<i64>,
}

impl Timing {
    /// At start: sync at once.
    pub fn start(now_ms: i64) -> Self {
        Self {
            next_ms: now_ms,
            not_before_ms: now_ms,
            failures: 0,
            offline: false,
            edit_waiting_since: None,
        }
    }

    /// Whether an attempt is due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> bool {
        now_ms >= self.next_ms
    }

    /// What the status shows as the next attempt, `None` when none is planned.
    pub fn planned(&self) -> Option<i64> {
        (self.next_ms - self.not_before_ms.min(self.next_ms) < IDLE_MS).then_some(self.next_ms)
    }
}

/// How a sync run ended, as far as scheduling cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The run went through.
    Synced,
    /// Nothing to sync with (not paired, revoked): wait for pairing.
    Idle,
    /// It failed; `transient` ones are retried with backoff, `offline` ones probe first.
    Failed {
        /// Retrying soon may help (network, server error, busy).
        transient: bool,
        /// The server could not be reached.
        offline: bool,
    },
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An edit (or pairing) at `now_ms`: a run once typing pauses for the debounce (any run
/// planned earlier waits for it too), at most [`TYPING_MAX_WAIT_MS`] after the oldest
/// edit waiting; never while backing off from a failure.
pub fn on_edit(t: Timing, now_ms: i64, s: &Settings) -> Timing {
    let since = t.edit_waiting_since.unwrap_or(now_ms);
    let pause = now_ms.saturating_add(ms(s.debounce));
    let latest = since.saturating_add(TYPING_MAX_WAIT_MS);
    Timing {
        next_ms: pause.min(latest).max(t.not_before_ms),
        edit_waiting_since: Some(since),
        ..t
    }
}

/// The browser says the network is back: try (probe first if offline) at once.
pub fn on_online(t: Timing, now_ms: i64) -> Timing {
    Timing {
        next_ms: now_ms,
        not_before_ms: now_ms,
        ..t
    }
}

/// After a run at `now_ms` ended with `outcome`; `random` is any `u16` for the jitter.
pub fn after_run(t: Timing, outcome: Outcome, now_ms: i64, s: &Settings, random: u16) -> Timing {
    match outcome {
        Outcome::Synced => Timing {
            next_ms: now_ms.saturating_add(ms(s.period)),
            not_before_ms: now_ms,
            failures: 0,
            offline: false,
            edit_waiting_since: None,
        },
        Outcome::Idle => Timing {
            next_ms: now_ms.saturating_add(IDLE_MS),
            not_before_ms: now_ms,
            failures: 0,
            offline: false,
            edit_waiting_since: None,
        },
        Outcome::Failed { transient, offline } => {
            let failures = t.failures.saturating_add(1);
            let wait = if transient {
                backoff(failures, s.backoff_min, s.backoff_max, random)
            } else {
                // Refused for a reason retrying will not fix soon (bad token, ...): try
                // again at the regular pace, so a fix on the server is picked up.
                s.period
            };
            let at = now_ms.saturating_add(ms(wait));
            // The attempt at `at` takes the edits waiting now; typing then can only
            // put it off, until a pause.
            Timing {
                next_ms: at,
                not_before_ms: at,
                failures,
                offline,
                edit_waiting_since: None,
            }
        }
    }
}

/// The server did not answer the probe at `now_ms`: back off further, still offline.
pub fn after_failed_probe(t: Timing, now_ms: i64, s: &Settings, random: u16) -> Timing {
    let failures = t.failures.saturating_add(1);
    let at = now_ms.saturating_add(ms(backoff(failures, s.backoff_min, s.backoff_max, random)));
    Timing {
        next_ms: at,
        not_before_ms: at,
        failures,
        offline: true,
        ..t
    }
}

/// Storage is low when more than this share of the quota is used.
pub const STORAGE_LOW_SHARE: f64 = 0.8;

/// Whether `usage` bytes of `quota` call for a warning (an unknown quota never does).
pub fn storage_low(usage: u64, quota: u64) -> bool {
    quota > 0 && usage as f64 > quota as f64 * STORAGE_LOW_SHARE
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn it_syncs_at_start_then_every_period() {
        let s = Settings::default();
        let t = Timing::start(NOW);
        assert!(t.due(NOW));
        let t = after_run(t, Outcome::Synced, NOW, &s, 0);
        assert!(!t.due(NOW + 59_999));
        assert!(t.due(NOW + 60_000));
        assert_eq!(t.planned(), Some(NOW + 60_000));
    }

    #[test]
    fn a_run_waits_for_a_pause_in_typing_but_not_longer_than_the_cap() {
        let s = Settings::default();
        let t = after_run(Timing::start(NOW), Outcome::Synced, NOW, &s, 0);
        let t = on_edit(t, NOW + 10_000, &s);
        assert_eq!(t.next_ms, NOW + 12_000);
        // More typing puts the run off to the debounce after the last keystroke.
        let t = on_edit(t, NOW + 11_000, &s);
        assert_eq!(t.next_ms, NOW + 13_000);
        // A rep who never pauses: the run comes at the cap after the first edit.
        let mut t = t;
        for k in 0..100 {
            t = on_edit(t, NOW + 11_000 + k * 500, &s);
        }
        assert_eq!(t.next_ms, NOW + 10_000 + TYPING_MAX_WAIT_MS);
        // The run takes them; the next edit waits for its own pause.
        let t = after_run(t, Outcome::Synced, NOW + 30_000, &s, 0);
        assert_eq!(t.edit_waiting_since, None);
        let t = on_edit(t, NOW + 31_000, &s);
        assert_eq!(t.next_ms, NOW + 33_000);
    }

    #[test]
    fn typing_puts_off_a_run_planned_during_it_until_the_pause() {
        let s = Settings::default();
        // The period's run is due in half a second when the rep starts typing.
        let t = after_run(Timing::start(NOW), Outcome::Synced, NOW, &s, 0);
        let t = on_edit(t, NOW + 59_500, &s);
        assert_eq!(t.next_ms, NOW + 61_500);
    }

    #[test]
    fn edits_do_not_hurry_a_run_while_backing_off() {
        let s = Settings::default();
        let mut t = Timing::start(NOW);
        for _ in 0..5 {
            t = after_run(
                t,
                Outcome::Failed {
                    transient: true,
                    offline: false,
                },
                NOW,
                &s,
                u16::MAX / 2,
            );
        }
        assert_eq!(t.failures, 5);
        // 2 s · 2⁴ = 32 s, jitter 1.0.
        assert!((NOW + 31_000..=NOW + 33_000).contains(&t.next_ms), "{t:?}");
        let edited = on_edit(t, NOW + 1_000, &s);
        assert_eq!(edited.next_ms, t.next_ms, "the backoff holds");
    }

    #[test]
    fn offline_failures_probe_with_growing_waits_up_to_the_cap() {
        let s = Settings::default();
        let t = after_run(
            Timing::start(NOW),
            Outcome::Failed {
                transient: true,
                offline: true,
            },
            NOW,
            &s,
            0,
        );
        assert!(t.offline);
        let mut t = t;
        let mut last_wait = 0;
        for _ in 0..30 {
            t = after_failed_probe(t, NOW, &s, u16::MAX);
            let wait = t.next_ms - NOW;
            assert!(
                wait >= last_wait,
                "waits never shrink: {wait} < {last_wait}"
            );
            assert!(wait <= 150_000, "capped: {wait}");
            last_wait = wait;
        }
        assert!(t.offline);
        // The network is back: at once, and a good run ends the backoff.
        let t = on_online(t, NOW + 5);
        assert!(t.due(NOW + 5));
        let t = after_run(t, Outcome::Synced, NOW + 5, &s, 0);
        assert_eq!((t.failures, t.offline), (0, false));
    }

    #[test]
    fn a_refusal_retries_at_the_regular_pace_and_an_unpaired_device_waits_for_pairing() {
        let s = Settings::default();
        let t = after_run(
            Timing::start(NOW),
            Outcome::Failed {
                transient: false,
                offline: false,
            },
            NOW,
            &s,
            0,
        );
        assert_eq!(t.next_ms, NOW + 60_000);
        let idle = after_run(t, Outcome::Idle, NOW, &s, 0);
        assert_eq!(idle.planned(), None);
        // Pairing kicks it: a run after the debounce.
        let paired = on_edit(idle, NOW + 1, &s);
        assert_eq!(paired.next_ms, NOW + 2_001);
    }

    #[test]
    fn storage_is_low_above_four_fifths_of_a_known_quota() {
        assert!(!storage_low(80, 100));
        assert!(storage_low(81, 100));
        assert!(!storage_low(5, 0), "an unknown quota");
    }
}

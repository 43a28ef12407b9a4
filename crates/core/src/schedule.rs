//! When to try again: the waits of automatic sync, decided here and slept by the shell.

use std::time::Duration;

/// Timing of automatic sync, the same in every shell (the native node's tokio driver,
/// the web app's driver in the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSettings {
    /// Wait after an edit before syncing (more edits in the meantime join the same run).
    pub debounce: Duration,
    /// Sync this often when nothing else triggers it (picks up others' changes).
    pub period: Duration,
    /// First wait after a failure.
    pub backoff_min: Duration,
    /// Longest wait between attempts while the server cannot be reached.
    pub backoff_max: Duration,
    /// Longest wait for one sync request.
    pub request_timeout: Duration,
    /// Longest wait for a probe of the server.
    pub probe_timeout: Duration,
    /// How long an unused connection to the server is kept open (the device node's
    /// HTTP client): long enough for the requests of one run, far shorter than the pause
    /// between runs, so a server is not holding a connection, with its buffers, for every
    /// device of a programme.
    pub idle_connection: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(2),
            period: Duration::from_secs(60),
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(5),
            idle_connection: Duration::from_secs(15),
        }
    }
}

/// How long to wait before the next attempt after `failures` failures in a row:
/// exponential from `min` to `max`, with ±25 % jitter from `random` (any `u16`, drawn by
/// the caller), so a room of tablets coming back online together does not knock at once.
pub fn backoff(failures: u32, min: Duration, max: Duration, random: u16) -> Duration {
    let exp = min.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)));
    let base = exp.min(max);
    // 0.75 ..= 1.25
    let factor = 0.75 + f64::from(random) / f64::from(u16::MAX) * 0.5;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let min = Duration::from_secs(1);
        let max = Duration::from_secs(120);
        for failures in 1..40 {
            for random in [0, 1, 12_345, u16::MAX] {
                let d = backoff(failures, min, max, random);
                let base = (min * 2u32.pow((failures - 1).min(20))).min(max);
                assert!(
                    d >= base.mul_f64(0.74) && d <= base.mul_f64(1.26),
                    "{failures}: {d:?}"
                );
            }
        }
        assert_eq!(backoff(1, min, max, 0), min.mul_f64(0.75));
        assert!(backoff(30, min, max, u16::MAX) <= max.mul_f64(1.26));
    }
}

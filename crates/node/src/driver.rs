//! Automatic sync: at start, shortly after edits, periodically, and — after a failure —
//! when a probe finds the server again, with exponential backoff and jitter. Editing
//! never waits for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use rapport_core::NodeError;
use rapport_core::schedule;

use crate::{Inner, now_ms};

/// The wait before the next attempt after `failures` failures in a row (see
/// [`schedule::backoff`]), with jitter from the OS's randomness.
fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    schedule::backoff(failures, min, max, u16::from_le_bytes(r))
}

impl Inner {
    /// When the next attempt is planned, for the status.
    fn set_next_attempt(&self, after: Option<Duration>) {
        self.core.set_next_attempt(
            after.map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(0))),
        );
    }
}

/// Runs until `stop` turns true.
pub(crate) async fn drive(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let settings = inner.settings;
    let mut failures: u32 = 0;
    let mut offline = false;
    // Start: sync at once.
    let mut next = Instant::now();
    let mut not_before = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = inner.kick.notified() => {
                // An edit (or pairing): soon, but not while backing off from a failure.
                let soon = (Instant::now() + settings.debounce).max(not_before);
                next = next.min(soon);
                continue;
            }
            () = tokio::time::sleep_until(next) => {}
        }
        if *stop.borrow() {
            break;
        }
        if offline && !probe(&inner).await {
            failures += 1;
            let wait = backoff(failures, settings.backoff_min, settings.backoff_max);
            inner.set_next_attempt(Some(wait));
            not_before = Instant::now() + wait;
            next = not_before;
            continue;
        }
        let result = inner.sync_once().await;
        match result {
            Ok(_) => {
                tracing::debug!("sync done");
                failures = 0;
                offline = false;
                not_before = Instant::now();
                next = Instant::now() + settings.period;
                inner.set_next_attempt(Some(settings.period));
            }
            Err(NodeError::NotPaired | NodeError::Revoked | NodeError::ShutDown) => {
                // Nothing to do until pairing kicks us.
                next = Instant::now() + Duration::from_secs(24 * 3600);
                inner.set_next_attempt(None);
            }
            Err(e) => {
                failures += 1;
                offline = matches!(e, NodeError::Offline { .. });
                let wait = if e.is_transient() {
                    backoff(failures, settings.backoff_min, settings.backoff_max)
                } else {
                    // Refused for a reason retrying will not fix soon (bad token, ...):
                    // try again at the regular pace, so a fix on the server is picked up.
                    settings.period
                };
                tracing::info!(code = e.code(), error = %e, retry_in_ms = wait.as_millis() as u64, "sync failed");
                inner.set_next_attempt(Some(wait));
                not_before = Instant::now() + wait;
                next = not_before;
            }
        }
    }
}

/// A cheap check that the server answers (no documents, no database work).
async fn probe(inner: &Inner) -> bool {
    let Ok(Some(device)) = inner.core.device().await else {
        return false;
    };
    let url = format!("{}/healthz", device.server_url);
    match inner
        .http
        .get(&url)
        .timeout(inner.settings.probe_timeout)
        .send()
        .await
    {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
}

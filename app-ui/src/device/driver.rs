//! Automatic sync in the page: at start, shortly after edits, when the browser says the
//! network is back, every period, and after a failure with the core's backoff, probing
//! `/healthz` while the server cannot be reached. Browser timers only; the decisions
//! are [`super::schedule`]'s. Editing never waits for it.

use std::rc::Rc;

use rapport_core::NodeError;

use super::browser;
use super::http;
use super::schedule::{self, Outcome};
use super::shell::{InPage, now_ms};

/// Random jitter for the backoff, from the page's randomness.
fn random() -> u16 {
    let mut r = [0u8; 2];
    browser::fill_random(&mut r);
    u16::from_le_bytes(r)
}

/// Runs for the life of the page (the tab holds the device lock for as long).
pub(super) async fn drive(device: Rc<InPage>) {
    let driving = device.driving.clone();
    let settings = driving.settings;
    loop {
        let now = now_ms();
        let timing = *driving.timing.borrow();
        if !timing.due(now) {
            device.core.set_next_attempt(timing.planned());
            driving.waker.wait(timing.next_ms - now).await;
            continue;
        }
        if timing.offline {
            let server = device
                .core
                .device()
                .await
                .ok()
                .flatten()
                .map(|d| d.server_url);
            let answers = match server {
                Some(url) => http::probe(&url, settings.probe_timeout).await,
                None => false,
            };
            if !answers {
                let next = schedule::after_failed_probe(timing, now_ms(), &settings, random());
                *driving.timing.borrow_mut() = next;
                continue;
            }
        }
        *driving.running.borrow_mut() = true;
        *driving.edited_during_run.borrow_mut() = false;
        let result = device.sync_once().await;
        *driving.running.borrow_mut() = false;
        let outcome = match &result {
            Ok(_) => Outcome::Synced,
            Err(NodeError::NotPaired | NodeError::Revoked | NodeError::ShutDown) => Outcome::Idle,
            Err(e) => Outcome::Failed {
                transient: e.is_transient(),
                offline: matches!(e, NodeError::Offline { .. }),
            },
        };
        let now = now_ms();
        let before = *driving.timing.borrow();
        let mut next = schedule::after_run(before, outcome, now, &settings, random());
        if std::mem::take(&mut *driving.edited_during_run.borrow_mut()) {
            // Edits made during the run: they go in the next one, soon.
            next = schedule::on_edit(next, now, &settings);
        }
        *driving.timing.borrow_mut() = next;
    }
}

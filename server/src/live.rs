//! The lead's live status: a server-sent event stream per programme that says "the
//! status moved" as soon as a sync's changes are projected, so an open dashboard reloads
//! at once instead of on its next poll.
//!
//! What moves it: this process's projector ([`crate::projector::Projector::subscribe`])
//! after every pass that wrote projections, and, for projections written by other
//! server processes on the same database, the programme's projection version read
//! every [`OTHER_PROCESSES`]. An event is sent only when the version changed, and the
//! first event carries the version at connection time: a page that reconnects after a
//! gap reloads once and has missed nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use rapport_store::DocId;
use tokio::sync::watch;

use crate::state::AppState;

/// The event's name.
pub const STATUS_EVENT: &str = "status";

/// How often a stream reads the version for other processes' projections.
pub const OTHER_PROCESSES: Duration = Duration::from_secs(2);

/// A comment line this often keeps proxies and the browser from closing an idle
/// stream, and finds a closed one.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What one open stream holds between events.
struct Follow {
    state: AppState,
    programme: DocId,
    projected: watch::Receiver<u64>,
    /// The version last sent; `None` before the first event.
    sent: Option<i64>,
}

/// The stream of status events of `programme`, until the server stops or the version
/// cannot be read (the page then reconnects, polling meanwhile).
pub fn status_events(
    state: AppState,
    programme: DocId,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let follow = Follow {
        projected: state.projector.subscribe(),
        state,
        programme,
        sent: None,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok(event), f))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

impl Follow {
    /// The next event: at once the first time, then when the version moves.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.sent.is_some() {
                tokio::select! {
                    changed = self.projected.changed() => changed.ok()?,
                    () = tokio::time::sleep(OTHER_PROCESSES) => {}
                    () = self.state.stopping.cancelled() => return None,
                }
            }
            let version = match self.state.db.programme_version(self.programme).await {
                Ok(version) => version,
                Err(e) => {
                    tracing::warn!(programme = %self.programme, error = %e, "live status: the version cannot be read; the stream ends");
                    return None;
                }
            };
            if self.sent != Some(version) {
                self.sent = Some(version);
                return Some(
                    Event::default()
                        .event(STATUS_EVENT)
                        .data(format!("{{\"version\":{version}}}")),
                );
            }
        }
    }
}

//! The server's event streams the app follows for the lead's pages: each one read by a
//! task of its own, which passes every event to the UI as `rapport://lead-event` and
//! says when the stream ended. A page stops its stream when it leaves.

use std::collections::HashMap;
use std::sync::Mutex;

use rapport_api::{ApiError, ServerStreamEvent};
use rapport_node::ServerEvents;
use tauri::async_runtime::JoinHandle;
use tauri::{Emitter, Manager};

/// The Tauri event that carries [`ServerStreamEvent`]s (see app-ui/src/transport.rs).
pub(crate) const LEAD_EVENT: &str = "rapport://lead-event";

/// Streams open at once, at most. A page follows one; more means pages that never
/// stopped theirs, and each holds a connection to the server.
const MAX_STREAMS: usize = 8;

/// The streams being followed, by the page's stream id.
#[derive(Default)]
pub(crate) struct Streams(Mutex<Following>);

#[derive(Default)]
struct Following {
    /// Each stream's task, with the number it was started as (a task that ends removes
    /// its own entry only, not a newer one under the same id).
    tasks: HashMap<String, (u64, JoinHandle<()>)>,
    started: u64,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, Following> {
        // A panic while holding the lock leaves a map that is still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts passing the events of `events` to the UI as stream `id` (one already
    /// under that id is stopped).
    pub(crate) fn start(
        &self,
        app: &tauri::AppHandle,
        id: String,
        events: ServerEvents,
    ) -> Result<(), ApiError> {
        let mut following = self.lock();
        if let Some((_, old)) = following.tasks.remove(&id) {
            old.abort();
        }
        if following.tasks.len() >= MAX_STREAMS {
            return Err(ApiError::new(
                "too_many_streams",
                format!(
                    "the app already follows {MAX_STREAMS} event streams; close some of the lead's pages or restart the app"
                ),
            ));
        }
        following.started += 1;
        let number = following.started;
        let task = tauri::async_runtime::spawn(forward(app.clone(), id.clone(), number, events));
        following.tasks.insert(id, (number, task));
        Ok(())
    }

    /// Stops stream `id`; nothing if it has ended.
    pub(crate) fn stop(&self, id: &str) {
        if let Some((_, task)) = self.lock().tasks.remove(id) {
            task.abort();
        }
    }

    /// Stops every stream.
    pub(crate) fn stop_all(&self) {
        for (_, (_, task)) in self.lock().tasks.drain() {
            task.abort();
        }
    }

    /// Forgets stream `id` started as `number`, which has ended.
    fn ended(&self, id: &str, number: u64) {
        let mut following = self.lock();
        if following.tasks.get(id).is_some_and(|(n, _)| *n == number) {
            following.tasks.remove(id);
        }
    }
}

/// Passes each event of `events` to the UI, then the end.
async fn forward(app: tauri::AppHandle, stream_id: String, number: u64, mut events: ServerEvents) {
    let error = loop {
        match events.next().await {
            Some(Ok(name)) => {
                let event = ServerStreamEvent::Event {
                    stream_id: stream_id.clone(),
                    name,
                };
                if let Err(e) = app.emit(LEAD_EVENT, &event) {
                    tracing::warn!("a live event could not reach the page: {e}");
                }
            }
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    if let Some(e) = &error {
        tracing::info!(stream = %stream_id, "the server's event stream ended: {e}");
    }
    if let Some(streams) = app.try_state::<Streams>() {
        streams.ended(&stream_id, number);
    }
    let _ = app.emit(LEAD_EVENT, &ServerStreamEvent::End { stream_id, error });
}

//! The device's round trips from the page, with `fetch`: a sync run's binary frames
//! (bearer token, the `rapport-instance` header, as the native node sends them), the
//! pairing request, and the `/healthz` probe. Each is bounded by a timeout (an
//! `AbortController`). What the answers mean is the core's to decide.

use std::time::Duration;

use js_sys::Uint8Array;
use rapport_core::{NoAnswer, NodeError, PairFlow, Post, Reply};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::browser::js_text;

/// Why no answer came, in words the sync bar's technical detail can show.
#[derive(Debug)]
enum Failure {
    /// No connection (offline, refused, DNS, CORS: the browser does not say which).
    Network(String),
    /// No answer within the timeout.
    Timeout(Duration),
    /// The request could not be made at all.
    Build(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(reason) => write!(
                f,
                "no connection to the server (offline, or the server refused: {reason})"
            ),
            Self::Timeout(after) => {
                write!(f, "the server did not answer within {} s", after.as_secs())
            }
            Self::Build(reason) => write!(f, "the request could not be made: {reason}"),
        }
    }
}

/// A timer that runs its callback once unless dropped first (then it is cleared).
struct Deadline {
    window: web_sys::Window,
    handle: Option<i32>,
    _callback: Closure<dyn FnMut()>,
}

impl Deadline {
    fn arm(window: &web_sys::Window, after: Duration, then: impl FnOnce() + 'static) -> Self {
        let callback = Closure::<dyn FnMut()>::once(then);
        let ms = i32::try_from(after.as_millis()).unwrap_or(i32::MAX);
        let handle = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                ms,
            )
            .ok();
        Self {
            window: window.clone(),
            handle,
            _callback: callback,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.window.clear_timeout_with_handle(handle);
        }
    }
}

/// One request: `method` to `url` with `headers` and `body`; the status and the body.
async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), Failure> {
    let build = |e: JsValue| Failure::Build(js_text(&e));
    let window = web_sys::window().ok_or_else(|| Failure::Build("no window".into()))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let h = web_sys::Headers::new().map_err(build)?;
    for (name, value) in headers {
        h.set(name, value).map_err(build)?;
    }
    init.set_headers(&h);
    if let Some(body) = body {
        init.set_body(&Uint8Array::from(body));
    }
    let abort = web_sys::AbortController::new().map_err(build)?;
    init.set_signal(Some(&abort.signal()));
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(build)?;
    let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
    let _deadline = {
        let timed_out = timed_out.clone();
        Deadline::arm(&window, timeout, move || {
            timed_out.set(true);
            abort.abort();
        })
    };
    let fail = |e: JsValue| {
        if timed_out.get() {
            Failure::Timeout(timeout)
        } else {
            Failure::Network(js_text(&e))
        }
    };
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(fail)?
        .dyn_into()
        .map_err(build)?;
    let status = response.status();
    let buffer = JsFuture::from(response.array_buffer().map_err(build)?)
        .await
        .map_err(fail)?;
    Ok((status, Uint8Array::new(&buffer).to_vec()))
}

/// One round trip of the sync run.
pub(super) async fn post(post: Post, timeout: Duration) -> Reply {
    let bearer = format!("Bearer {}", post.token);
    send(
        "POST",
        &post.url,
        &[
            ("authorization", &bearer),
            ("content-type", "application/octet-stream"),
            (rapport_core::INSTANCE_HEADER, &post.instance),
        ],
        Some(&post.body),
        timeout,
    )
    .await
    .map_err(|f| NoAnswer::Unreachable(f.to_string()))
}

/// `POST /api/v1/devices/pair`: the status and the body.
pub(super) async fn post_pairing(
    flow: &PairFlow,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), NodeError> {
    let body = serde_json::to_vec(&flow.body()).map_err(|e| NodeError::Io {
        what: "the pairing request".into(),
        reason: e.to_string(),
    })?;
    send(
        "POST",
        &flow.url(),
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ],
        Some(&body),
        timeout,
    )
    .await
    .map_err(|f| NodeError::Offline {
        url: flow.server_url.clone(),
        reason: f.to_string(),
    })
}

/// A cheap check that the server at `server_url` answers (no documents, no database).
pub(super) async fn probe(server_url: &str, timeout: Duration) -> bool {
    let url = format!("{server_url}/healthz");
    matches!(
        send("GET", &url, &[], None, timeout).await,
        Ok((200..=299, _))
    )
}

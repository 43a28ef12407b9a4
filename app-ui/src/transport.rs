//! How pages reach data: one trait, two ways.
//!
//! - [`TauriTransport`]: inside the Rapport app. Rep requests go over Tauri IPC to the
//!   device node embedded in the app (works with no network at all); lead requests go
//!   through the app to the server, because a webview page may not call another origin.
//! - [`HttpTransport`]: in a browser, served by the server. Lead requests are plain
//!   `fetch` calls to the same origin; alone, it has no device, so rep requests say so.
//! - The device core in the page (`crate::device`): in a browser, the rep's requests
//!   go to a [`rapport_core::DeviceCore`] running in this page's wasm, and its sync runs
//!   are `fetch` calls; lead requests go through [`HttpTransport`].
//!
//! Pages call [`Transport::node`] and [`Transport::lead`] (or the typed helpers in
//! [`crate::state`]) and never ask which transport they have. Both transports follow
//! the server's event streams ([`Transport::follow`]): the browser with `fetch`, the
//! app through its HTTP client, which passes each event on as a Tauri event.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures::StreamExt;
use futures::channel::mpsc;
use js_sys::{JSON, Reflect, Uint8Array};
use rapport_api::lead::EventLines;
use rapport_api::{ApiError, Event, Request, Response, ServerStreamEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// A boxed future for single-threaded wasm.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Following a stream of the server's events, until it ends ([`follow_events`]).
pub type Following<'a> = Pin<Box<dyn Future<Output = Result<(), ApiError>> + 'a>>;

/// Where the UI runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Inside the Tauri app, with the device node.
    App,
    /// In a browser, served by the server.
    Browser,
}

/// One HTTP call to the server's API (`/api/v1/...`).
pub type LeadCall = rapport_api::ServerCall;

/// The server's answer to a [`LeadCall`] that reached it with a 2xx status.
pub type LeadReply = rapport_api::ServerReply;

/// What pages talk to.
pub trait Transport {
    /// Where the UI runs.
    fn kind(&self) -> TransportKind;
    /// A request to the rep's device node.
    fn node(&self, request: Request) -> LocalFuture<Result<Response, ApiError>>;
    /// A call to the server's API. Non-2xx answers come back as the server's error.
    fn lead(&self, call: LeadCall) -> LocalFuture<Result<LeadReply, ApiError>>;
    /// Calls `on_event` for every event of the device node (sync progress, changes).
    fn listen(&self, on_event: Rc<dyn Fn(Event)>);
    /// Follows a stream of server-sent events of the server's API (see
    /// [`follow_events`]); `None` where this transport cannot: the page polls instead.
    fn follow<'a>(
        &self,
        call: LeadCall,
        signal: &'a web_sys::AbortSignal,
        on_open: &'a dyn Fn(),
        on_event: &'a dyn Fn(String),
    ) -> Option<Following<'a>> {
        let _ = (call, signal, on_open, on_event);
        None
    }
    /// Calls `on_change` whenever the device in the page has something to say about
    /// itself (another tab runs it, the browser may clear its data, storage runs low).
    /// Only the in-page device does; the app's node and the lead's HTTP have nothing.
    fn watch_device(&self, on_change: Rc<dyn Fn(DeviceNotice)>) {
        let _ = on_change;
    }
}

/// What the device in the page says about itself, for the sync bar: each field is a
/// problem with something the rep can do about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceNotice {
    /// Another tab of this site runs the device; this one waits and takes over when
    /// that tab closes.
    pub other_tab: bool,
    /// The browser has not promised to keep this site's data (it may clear it after
    /// days unused unless the app is installed on the home screen).
    pub not_persisted: bool,
    /// Storage is nearly full: bytes used and the quota.
    pub storage_low: Option<(u64, u64)>,
    /// The device's store keeps its data only while this tab is open.
    pub memory_only: bool,
    /// The device could not start in this page, and why.
    pub failed: Option<ApiError>,
}

/// Whether the page runs inside the Tauri app.
pub fn in_app() -> bool {
    web_sys::window()
        .map(|w| Reflect::has(&w, &JsValue::from_str("__TAURI__")).unwrap_or(false))
        .unwrap_or(false)
}

fn js_error(context: &str, err: JsValue) -> ApiError {
    let text = err
        .as_string()
        .or_else(|| JSON::stringify(&err).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "unknown error".into());
    ApiError::new("ui_transport", format!("{context}: {text}"))
}

/// An error value thrown by the Tauri command or the server: our own `ApiError` when it
/// parses as one, otherwise the text as it is.
fn parse_error(context: &str, err: JsValue) -> ApiError {
    if let Some(text) = JSON::stringify(&err).ok().and_then(|s| s.as_string()) {
        if let Ok(api) = serde_json::from_str::<ApiError>(&text) {
            return api;
        }
        if let Ok(body) = serde_json::from_str::<rapport_api::lead::ErrorBody>(&text) {
            return body.error.into();
        }
    }
    js_error(context, err)
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, ApiError> {
    let text = serde_json::to_string(value)
        .map_err(|e| ApiError::new("ui_encode", format!("could not encode the request: {e}")))?;
    JSON::parse(&text).map_err(|e| js_error("could not encode the request", e))
}

fn from_js<T: DeserializeOwned>(value: &JsValue) -> Result<T, ApiError> {
    let text = JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "null".into());
    serde_json::from_str(&text).map_err(|e| {
        ApiError::new(
            "ui_decode",
            format!("the answer could not be read ({e}); the app and its UI may be of different versions"),
        )
    })
}

// --- Tauri ----------------------------------------------------------------------

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "core"], js_name = invoke)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "event"], js_name = listen)]
    async fn tauri_listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<JsValue, JsValue>;
}

/// The name of the Tauri event that carries the node's [`Event`]s.
pub const NODE_EVENT: &str = "rapport://node";

/// The name of the Tauri event that carries the [`ServerStreamEvent`]s of the streams
/// the app follows for the lead's pages (src-tauri/src/streams.rs).
const LEAD_EVENT: &str = "rapport://lead-event";

/// Calls the app's command `cmd` with `args` (an object of its named arguments) and
/// reads its answer; an error names `context` unless it is the command's own.
pub(crate) async fn invoke<T: DeserializeOwned>(
    cmd: &str,
    args: &impl Serialize,
    context: &str,
) -> Result<T, ApiError> {
    match tauri_invoke(cmd, to_js(args)?).await {
        Ok(value) => from_js(&value),
        Err(err) => Err(parse_error(context, err)),
    }
}

/// Inside the Tauri app.
pub struct TauriTransport;

#[derive(Serialize)]
struct NodeArgs<'a> {
    request: &'a Request,
}

#[derive(Serialize)]
struct LeadArgs<'a> {
    call: &'a LeadCall,
}

#[derive(Serialize)]
struct FollowArgs<'a> {
    call: &'a LeadCall,
    stream_id: &'a str,
}

#[derive(Serialize)]
struct StreamArgs<'a> {
    stream_id: &'a str,
}

impl Transport for TauriTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::App
    }

    fn node(&self, request: Request) -> LocalFuture<Result<Response, ApiError>> {
        Box::pin(async move {
            let args = to_js(&NodeArgs { request: &request })?;
            match tauri_invoke("node", args).await {
                Ok(value) => from_js(&value),
                Err(err) => Err(parse_error("the app did not answer", err)),
            }
        })
    }

    fn lead(&self, call: LeadCall) -> LocalFuture<Result<LeadReply, ApiError>> {
        Box::pin(async move {
            let args = to_js(&LeadArgs { call: &call })?;
            match tauri_invoke("lead", args).await {
                Ok(value) => from_js(&value),
                Err(err) => Err(parse_error("the server could not be reached", err)),
            }
        })
    }

    fn follow<'a>(
        &self,
        call: LeadCall,
        signal: &'a web_sys::AbortSignal,
        on_open: &'a dyn Fn(),
        on_event: &'a dyn Fn(String),
    ) -> Option<Following<'a>> {
        Some(Box::pin(follow_in_app(call, signal, on_open, on_event)))
    }

    fn listen(&self, on_event: Rc<dyn Fn(Event)>) {
        let handler = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
            // Tauri delivers `{event, id, payload}`; the payload is our Event.
            let payload =
                Reflect::get(&message, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
            if let Ok(event) = from_js::<Event>(&payload) {
                on_event(event);
            }
        });
        wasm_bindgen_futures::spawn_local(async move {
            // The listener lives as long as the page: leak the closure on purpose.
            let _ = tauri_listen(NODE_EVENT, &handler).await;
            handler.forget();
        });
    }
}

/// What the page hears about a stream the app follows for it.
enum Heard {
    /// An event, by name.
    Event(String),
    /// The stream ended (why, unless the server closed it).
    End(Option<ApiError>),
    /// The page aborted it.
    Aborted,
}

/// A stream the app follows for this page: the page's listeners, removed when this is
/// dropped, and the app's stream, stopped then if it still runs.
struct AppStream<'a> {
    id: String,
    /// Tauri's function that removes the event listener.
    unlisten: JsValue,
    _on_event: Closure<dyn FnMut(JsValue)>,
    on_abort: Closure<dyn FnMut()>,
    signal: &'a web_sys::AbortSignal,
    /// Whether the app has opened the stream and not said it ended.
    open: Cell<bool>,
}

impl Drop for AppStream<'_> {
    fn drop(&mut self) {
        if let Some(unlisten) = self.unlisten.dyn_ref::<js_sys::Function>() {
            let _ = unlisten.call0(&JsValue::NULL);
        }
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.on_abort.as_ref().unchecked_ref());
        if self.open.get() {
            // Left running, the app's stream would hold a connection to the server
            // until the page reloads.
            let id = std::mem::take(&mut self.id);
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) =
                    invoke::<()>("unfollow_events", &StreamArgs { stream_id: &id }, "the app").await
                {
                    leptos::logging::debug_warn!("the live stream could not be stopped: {e}");
                }
            });
        }
    }
}

/// A new id for a stream of this page (several pages or reconnects never share one).
fn new_stream_id() -> String {
    // Math.random's 52 bits and the time: unique enough among one window's streams.
    let random = (js_sys::Math::random() * 4_503_599_627_370_496.0) as u64;
    format!("{:x}-{random:x}", js_sys::Date::now() as u64)
}

/// [`follow_events`] in the app: the app opens the stream with its HTTP client (the
/// webview may not call another origin) and passes each event on as a Tauri event of
/// this stream's id; the page's `signal` stops it.
async fn follow_in_app(
    call: LeadCall,
    signal: &web_sys::AbortSignal,
    on_open: &dyn Fn(),
    on_event: &dyn Fn(String),
) -> Result<(), ApiError> {
    if signal.aborted() {
        return Ok(());
    }
    let id = new_stream_id();
    // Events may arrive before the app's answer that the stream is open: they wait in
    // the channel, in order, with the abort.
    let (heard, mut hearing) = mpsc::unbounded::<Heard>();
    let ours = id.clone();
    let to_page = heard.clone();
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
        // Tauri delivers `{event, id, payload}`; the payload is a ServerStreamEvent.
        let payload =
            Reflect::get(&message, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        let Ok(event) = from_js::<ServerStreamEvent>(&payload) else {
            return;
        };
        if event.stream_id() != ours {
            return;
        }
        let _ = to_page.unbounded_send(match event {
            ServerStreamEvent::Event { name, .. } => Heard::Event(name),
            ServerStreamEvent::End { error, .. } => Heard::End(error),
        });
    });
    let unlisten = tauri_listen(LEAD_EVENT, &on_message)
        .await
        .map_err(|e| js_error("the app's live events cannot be listened to", e))?;
    let on_abort = Closure::<dyn FnMut()>::new(move || {
        let _ = heard.unbounded_send(Heard::Aborted);
    });
    let stream = AppStream {
        id,
        unlisten,
        _on_event: on_message,
        on_abort,
        signal,
        open: Cell::new(false),
    };
    signal
        .add_event_listener_with_callback("abort", stream.on_abort.as_ref().unchecked_ref())
        .map_err(|e| js_error("the live stream cannot be stopped", e))?;
    invoke::<()>(
        "follow_events",
        &FollowArgs {
            call: &call,
            stream_id: &stream.id,
        },
        "the server could not be reached",
    )
    .await?;
    stream.open.set(true);
    if signal.aborted() {
        return Ok(());
    }
    on_open();
    // Bounded by the stream: it ends with the app's end event or the page's abort
    // (the channel stays open while `stream` holds its senders).
    while let Some(heard) = hearing.next().await {
        match heard {
            Heard::Event(name) => on_event(name),
            Heard::End(error) => {
                stream.open.set(false);
                return error.map_or(Ok(()), Err);
            }
            Heard::Aborted => return Ok(()),
        }
    }
    Ok(())
}

// --- Browser ----------------------------------------------------------------------

/// In a browser, against the server that served the page.
pub struct HttpTransport;

impl Transport for HttpTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Browser
    }

    fn node(&self, _request: Request) -> LocalFuture<Result<Response, ApiError>> {
        Box::pin(async {
            Err(ApiError::new(
                "needs_app",
                "the rep's pages keep data on the device: open them in the Rapport app",
            ))
        })
    }

    fn lead(&self, call: LeadCall) -> LocalFuture<Result<LeadReply, ApiError>> {
        Box::pin(fetch(call))
    }

    fn follow<'a>(
        &self,
        call: LeadCall,
        signal: &'a web_sys::AbortSignal,
        on_open: &'a dyn Fn(),
        on_event: &'a dyn Fn(String),
    ) -> Option<Following<'a>> {
        Some(Box::pin(follow_events(call, signal, on_open, on_event)))
    }

    fn listen(&self, _on_event: Rc<dyn Fn(Event)>) {}
}

/// The fetch request of `call`, asking for `accept`, abortable through `signal`.
fn request(
    call: &LeadCall,
    accept: &str,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<web_sys::Request, ApiError> {
    let init = web_sys::RequestInit::new();
    init.set_method(&call.method);
    let headers =
        web_sys::Headers::new().map_err(|e| js_error("could not build the request", e))?;
    headers
        .set("accept", accept)
        .map_err(|e| js_error("could not build the request", e))?;
    if let Some(token) = &call.token {
        headers
            .set("authorization", &format!("Bearer {token}"))
            .map_err(|e| js_error("could not build the request", e))?;
    }
    if let Some(content_type) = &call.content_type {
        headers
            .set("content-type", content_type)
            .map_err(|e| js_error("could not build the request", e))?;
        let body = Uint8Array::from(call.body.as_slice());
        init.set_body(&body);
    }
    init.set_headers(&headers);
    init.set_signal(signal);
    let url = format!("{}{}", call.server.trim_end_matches('/'), call.path);
    web_sys::Request::new_with_str_and_init(&url, &init)
        .map_err(|e| js_error("could not build the request", e))
}

/// Sends `request`; any HTTP status is an answer, only no answer is an error.
async fn send(request: &web_sys::Request) -> Result<web_sys::Response, ApiError> {
    let window = web_sys::window().ok_or_else(|| ApiError::new("ui_transport", "no window"))?;
    JsFuture::from(window.fetch_with_request(request))
        .await
        .map_err(|_| {
            ApiError::new(
                "network",
                "the server does not answer: check the connection and try again",
            )
        })?
        .dyn_into()
        .map_err(|e| js_error("unexpected answer", e))
}

/// The whole body of `response`.
async fn body_of(response: &web_sys::Response) -> Result<Vec<u8>, ApiError> {
    let buffer = JsFuture::from(
        response
            .array_buffer()
            .map_err(|e| js_error("could not read the answer", e))?,
    )
    .await
    .map_err(|e| js_error("could not read the answer", e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

async fn fetch(call: LeadCall) -> Result<LeadReply, ApiError> {
    let response = send(&request(&call, "application/json", None)?).await?;
    let content_type = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = body_of(&response).await?;
    if response.ok() {
        Ok(LeadReply { content_type, body })
    } else {
        Err(rapport_api::lead::server_error(response.status(), &body))
    }
}

/// Follows the server-sent events of `call` (a GET answered with `text/event-stream`):
/// `on_open` once the server has answered, `on_event` with each event's name as it
/// arrives. Resolves when the stream ends (the server stopped, a proxy closed it, the
/// page aborted it through `signal`) or could not start.
pub async fn follow_events(
    call: LeadCall,
    signal: &web_sys::AbortSignal,
    on_open: &dyn Fn(),
    on_event: &dyn Fn(String),
) -> Result<(), ApiError> {
    let response = send(&request(&call, "text/event-stream", Some(signal))?).await?;
    if !response.ok() {
        let body = body_of(&response).await?;
        return Err(rapport_api::lead::server_error(response.status(), &body));
    }
    let reader: web_sys::ReadableStreamDefaultReader = response
        .body()
        .ok_or_else(|| ApiError::new("ui_transport", "the event stream has no body"))?
        .get_reader()
        .unchecked_into();
    on_open();
    let mut events = EventLines::default();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|_| ApiError::new("network", "the event stream was cut"))?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(());
        }
        let Ok(bytes) = Reflect::get(&chunk, &JsValue::from_str("value"))
            .unwrap_or(JsValue::UNDEFINED)
            .dyn_into::<Uint8Array>()
        else {
            return Err(ApiError::new(
                "ui_transport",
                "the event stream sent no bytes",
            ));
        };
        for name in events.push(&bytes.to_vec()) {
            on_event(name);
        }
    }
}

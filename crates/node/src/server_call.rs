//! The lead's pages in the app: their calls to the server go through the node's HTTP
//! client, because a page in the app's webview may not call another origin. The same
//! holds for the server's event streams the pages follow ([`follow`]).

use std::collections::VecDeque;
use std::time::Duration;

use rapport_api::lead::EventLines;
use rapport_api::{ApiError, ServerCall, ServerReply};

/// Biggest answer passed on to the page (exports of a large programme fit well within).
const MAX_REPLY: usize = 64 * 1024 * 1024;
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// How long a followed stream may stay silent before it counts as cut. The server sends
/// a keep-alive comment every 15 s (server/src/live.rs): three missed in a row mean the
/// connection died without a word (a laptop slept, a proxy dropped it), and the page
/// falls back to polling and follows again instead of waiting forever.
const STREAM_IDLE: Duration = Duration::from_secs(45);

/// The request of `call`, checked (server address, API path, method), asking for
/// `accept`; and the server's base address, for error messages.
fn request(
    http: &reqwest::Client,
    call: ServerCall,
    accept: &str,
) -> Result<(reqwest::RequestBuilder, String), ApiError> {
    let base = call.server.trim().trim_end_matches('/').to_owned();
    let url = reqwest::Url::parse(&base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ApiError::new(
                "bad_server_address",
                format!("`{base}` is not a server address; write it as http://host:port"),
            )
        })?;
    if !call.path.starts_with("/api/v1/") || call.path.contains("..") {
        return Err(ApiError::new(
            "bad_path",
            format!(
                "`{}` is not a path of the server's API (/api/v1/...)",
                call.path
            ),
        ));
    }
    let method = call.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(ApiError::new(
            "bad_method",
            format!("`{}` is not one of {}", call.method, METHODS.join(", ")),
        ));
    }
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| ApiError::new("bad_method", e.to_string()))?;
    let target = format!("{}{}", url.as_str().trim_end_matches('/'), call.path);
    let mut request = http
        .request(method, &target)
        .header(reqwest::header::ACCEPT, accept);
    if let Some(token) = &call.token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = &call.content_type {
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(call.body);
    }
    Ok((request, base))
}

/// The error for a request that got no answer, or whose answer was cut.
fn offline(e: &reqwest::Error, base: &str) -> ApiError {
    match crate::http::certificate_problem(e, base) {
        Some(message) => ApiError::new("untrusted_certificate", message),
        None => ApiError::new(
            "network",
            format!("the server at {base} does not answer ({e}); check the connection"),
        ),
    }
}

/// Makes the call; a non-2xx answer becomes the server's own error.
pub(crate) async fn call(
    http: &reqwest::Client,
    call: ServerCall,
) -> Result<ServerReply, ApiError> {
    let (request, base) = request(http, call, "application/json")?;
    let response = request
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| offline(&e, &base))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.map_err(|e| offline(&e, &base))?;
    if body.len() > MAX_REPLY {
        return Err(ApiError::new(
            "reply_too_large",
            format!(
                "the server's answer is {} bytes; at most {MAX_REPLY} are passed on",
                body.len()
            ),
        ));
    }
    if status.is_success() {
        Ok(ServerReply {
            content_type,
            body: body.to_vec(),
        })
    } else {
        Err(rapport_api::lead::server_error(status.as_u16(), &body))
    }
}

/// Opens the server-sent event stream of `call` (a GET answered with
/// `text/event-stream`, such as a programme's live status): returns once the server
/// has answered 2xx; a non-2xx answer becomes the server's own error.
pub(crate) async fn follow(
    http: &reqwest::Client,
    call: ServerCall,
) -> Result<ServerEvents, ApiError> {
    if !call.method.eq_ignore_ascii_case("GET") {
        return Err(ApiError::new(
            "bad_method",
            format!(
                "`{}` cannot open an event stream; streams are followed with GET",
                call.method
            ),
        ));
    }
    let (request, base) = request(http, call, "text/event-stream")?;
    // No overall timeout: the stream is meant to stay open. Silence is bounded per read
    // instead (STREAM_IDLE), and the connection's start by the client's connect timeout.
    let response = tokio::time::timeout(STREAM_IDLE, request.send())
        .await
        .map_err(|_| {
            ApiError::new(
                "network",
                format!(
                    "the server at {base} did not answer within {} s; check the connection",
                    STREAM_IDLE.as_secs()
                ),
            )
        })?
        .map_err(|e| offline(&e, &base))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.bytes().await.map_err(|e| offline(&e, &base))?;
        return Err(rapport_api::lead::server_error(status.as_u16(), &body));
    }
    Ok(ServerEvents {
        response,
        base,
        lines: EventLines::default(),
        ready: VecDeque::new(),
        done: false,
    })
}

/// An open stream of the server's events, read with [`ServerEvents::next`]; dropping it
/// closes the connection.
pub struct ServerEvents {
    response: reqwest::Response,
    /// The server's address, for error messages.
    base: String,
    lines: EventLines,
    /// Names of events that arrived in one chunk, not handed out yet.
    ready: VecDeque<String>,
    /// Whether the stream has ended (`next` then returns `None`).
    done: bool,
}

impl ServerEvents {
    /// The next event's name as soon as it arrives; `None` once the server has closed
    /// the stream; an error when the connection was cut or stayed silent for
    /// 45 s (after which it returns `None`).
    pub async fn next(&mut self) -> Option<Result<String, ApiError>> {
        loop {
            if let Some(name) = self.ready.pop_front() {
                return Some(Ok(name));
            }
            if self.done {
                return None;
            }
            let chunk = tokio::time::timeout(STREAM_IDLE, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.ready.extend(self.lines.push(&bytes)),
                Ok(Ok(None)) => self.done = true,
                Ok(Err(e)) => {
                    self.done = true;
                    return Some(Err(offline(&e, &self.base)));
                }
                Err(_) => {
                    self.done = true;
                    return Some(Err(ApiError::new(
                        "network",
                        format!(
                            "the server at {} sent nothing for {} s (not even its keep-alive); the connection is taken as cut",
                            self.base,
                            STREAM_IDLE.as_secs()
                        ),
                    )));
                }
            }
        }
    }
}

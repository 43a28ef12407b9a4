//! The lead's pages in the app: their calls to the server go through the node's HTTP
//! client, because a page in the app's webview may not call another origin.

use std::time::Duration;

use rapport_api::{ApiError, ServerCall, ServerReply};

/// Biggest answer passed on to the page (exports of a large programme fit well within).
const MAX_REPLY: usize = 64 * 1024 * 1024;
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Makes the call; a non-2xx answer becomes the server's own error.
pub(crate) async fn call(
    http: &reqwest::Client,
    call: ServerCall,
) -> Result<ServerReply, ApiError> {
    let base = call.server.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(base)
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
        .timeout(Duration::from_secs(60))
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = &call.token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = &call.content_type {
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(call.body);
    }
    let offline = |e: reqwest::Error| match crate::http::certificate_problem(&e, base) {
        Some(message) => ApiError::new("untrusted_certificate", message),
        None => ApiError::new(
            "network",
            format!("the server at {base} does not answer ({e}); check the connection"),
        ),
    };
    let response = request.send().await.map_err(offline)?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.map_err(offline)?;
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

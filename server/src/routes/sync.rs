//! The sync endpoint.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::DeviceAuth;
use crate::error::{ErrorBody, HttpError, HttpResult};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync))
        .routes(routes!(heads))
}

/// The request body, or the error that says why it cannot be read.
fn body_or_error(state: &AppState, body: Result<Bytes, BytesRejection>) -> HttpResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the request is larger than {} bytes; sync fewer documents per request",
                    state.config.max_body_bytes
                ),
            )
        } else {
            HttpError::bad_request(
                "bad_body",
                format!("the request body could not be read: {e}"),
            )
        }
    })
}

/// The opening of the device's store a request comes from (the `rapport-instance`
/// header, optional): up to 64 ASCII letters and digits.
fn instance(headers: &HeaderMap) -> HttpResult<Option<String>> {
    let Some(value) = headers.get(rapport_protocol::INSTANCE_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(v) if !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(Some(v.to_owned()))
        }
        _ => Err(HttpError::bad_request(
            "bad_instance",
            format!(
                "the {} header must be 1 to 64 letters and digits (the device's store opening, in hex); nothing was stored",
                rapport_protocol::INSTANCE_HEADER
            ),
        )),
    }
}

/// One sync exchange: the device's messages for many documents and its feed cursor in;
/// the server's messages, per-document errors and the new cursor out. Binary frames of
/// `rapport-protocol` (`RPS` v1). A change is acknowledged only after it is committed.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync",
    security(("device_token" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "a SyncRequest frame"),
    responses(
        (status = 200, content_type = "application/octet-stream", description = "a SyncResponse frame", body = Vec<u8>),
        (status = 400, description = "malformed frame; nothing stored", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked device token", body = ErrorBody),
        (status = 403, description = "a lead's session token (sync needs a paired device)", body = ErrorBody),
        (status = 413, description = "body over the limit; nothing stored", body = ErrorBody),
        (status = 503, description = "database unavailable; retry", body = ErrorBody)))]
async fn sync(
    State(state): State<AppState>,
    auth: DeviceAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<impl IntoResponse> {
    let body = body_or_error(&state, body)?;
    let instance = instance(&headers)?;
    let response = crate::sync::sync(&state, &auth.device, instance.as_deref(), &body).await?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], response))
}

/// Reconciliation after storage went back in time: the heads of every document the
/// device holds in; the documents the server lacks changes of out (binary frames of
/// `rapport-protocol`, kinds 3 and 4). The server also forgets its sync states of the
/// device that no longer match what the device holds, so the feed re-sends them.
#[utoipa::path(post, path = "/api/v1/sync/heads", tag = "sync",
    security(("device_token" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "a HeadsRequest frame"),
    responses(
        (status = 200, content_type = "application/octet-stream", description = "a HeadsResponse frame", body = Vec<u8>),
        (status = 400, description = "malformed frame; nothing changed", body = ErrorBody),
        (status = 401, description = "no, unknown or revoked device token", body = ErrorBody),
        (status = 403, description = "a lead's session token (sync needs a paired device)", body = ErrorBody),
        (status = 413, description = "body over the limit; nothing changed", body = ErrorBody),
        (status = 503, description = "database unavailable; retry", body = ErrorBody)))]
async fn heads(
    State(state): State<AppState>,
    auth: DeviceAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<impl IntoResponse> {
    let body = body_or_error(&state, body)?;
    let instance = instance(&headers)?;
    let response = crate::sync::heads(&state, &auth.device, instance.as_deref(), &body).await?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], response))
}

//! Errors that reach a client: an HTTP status, a stable code and a message a person can
//! act on; and the parts of a request (a JSON body, query parameters, an id in the
//! path) read so that what is wrong with them comes back as such an error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
/// The error body, shared with the UI through `rapport_api`.
pub use rapport_api::lead::{ErrorBody, ErrorDetail};
use rapport_domain::DomainError;
use rapport_store::{DocId, StoreError};

/// An error on its way to the client.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct HttpError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

impl HttpError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: valid credentials without the right.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} was not found; check the id"),
        )
    }

    /// 422: well-formed but not acceptable.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500, logged; the client learns only that it may retry.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to process the request; try again later",
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, e.code(), e.to_string())
            }
            StoreError::BadCursor { .. } => Self::bad_request(e.code(), e.to_string()),
            ref other if other.is_retryable() => {
                tracing::warn!(error = %other, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    other.code(),
                    "the database is busy or unreachable; try again shortly",
                )
            }
            other => Self::internal("store error", other),
        }
    }
}

impl From<DomainError> for HttpError {
    fn from(e: DomainError) -> Self {
        match &e {
            DomainError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, e.code(), e.to_string())
            }
            // The request is fine; the visit is not in a state to take it.
            DomainError::NotCompleted | DomainError::AlreadyReviewed { .. } => {
                Self::new(StatusCode::CONFLICT, e.code(), e.to_string())
            }
            _ => Self::invalid(e.code(), e.to_string()),
        }
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is busy or unreachable; try again shortly",
                )
            }
            other => Self::internal("database error", other),
        }
    }
}

/// Turns error responses made outside the handlers (axum's rejections of a bad JSON
/// body, a wrong content type, a body over the limit, an unknown route or method) into
/// the JSON error body every client expects; they are plain text otherwise.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    // Rejection texts are short; anything longer is cut rather than buffered whole.
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match (text.is_empty(), status) {
        (_, StatusCode::PAYLOAD_TOO_LARGE) => {
            "the request body is larger than the server accepts; send less at once".to_owned()
        }
        (true, _) => format!(
            "{}; check the address, method and body",
            status.canonical_reason().unwrap_or("error")
        ),
        (false, _) => format!("{text}; check the request against /api/v1/openapi.json"),
    };
    HttpError::new(status, code, message).into_response()
}

/// Results of handlers.
pub type HttpResult<T> = Result<T, HttpError>;

impl From<axum::extract::rejection::JsonRejection> for HttpError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        let (status, code) = match &e {
            R::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_json_fields"),
            R::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            R::MissingJsonContentType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected_json"),
            _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            _ => (e.status(), "bad_body"),
        };
        Self::new(
            status,
            code,
            format!(
                "{}; send a JSON body as the API document describes",
                e.body_text()
            ),
        )
    }
}

/// A JSON request body whose rejections are [`HttpError`]s (a JSON error body with a
/// stable code instead of axum's plain text).
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(HttpError))]
pub struct JsonBody<T>(pub T);

impl From<axum::extract::rejection::QueryRejection> for HttpError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(
            "invalid_query",
            format!(
                "{}; check the query parameters against the API document",
                e.body_text()
            ),
        )
    }
}

/// Query parameters whose rejections are [`HttpError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct QueryParams<T>(pub T);

/// Parses a document id from a path, with a message that says what is wrong.
pub fn parse_id(raw: &str, what: &str) -> HttpResult<DocId> {
    raw.parse().map_err(|_| {
        HttpError::bad_request(
            "bad_id",
            format!("{raw:?} is not a valid {what} id (a UUID such as 0b5f…-…)"),
        )
    })
}

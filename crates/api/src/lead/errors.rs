//! Errors.

use serde::{Deserialize, Serialize};

/// The body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code (e.g. `invalid_credentials`).
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorDetail {}

impl From<ErrorDetail> for crate::ApiError {
    fn from(e: ErrorDetail) -> Self {
        crate::ApiError::new(e.code, e.message)
    }
}

/// The error of a server answer that is not 2xx: the server's own when the body is an
/// [`ErrorBody`], otherwise one that names the status (a proxy's page, an empty body).
pub fn server_error(status: u16, body: &[u8]) -> crate::ApiError {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error.into())
        .unwrap_or_else(|_| {
            crate::ApiError::new(
                "http_status",
                format!("the server answered with status {status}"),
            )
        })
}

//! The device's HTTP round trips for sync: one binary frame posted with the device's
//! token, the server's JSON errors read as [`NodeError`]s, and the backoff between
//! attempts.

use std::time::Duration;

use rapport_api::RunSummary;
use rapport_protocol::{Limits, SyncRequest, SyncResponse};

use crate::Inner;
use crate::error::NodeError;
use crate::local::Pairing;

/// One round trip. Network failures are [`NodeError::Offline`]; a revoked device
/// [`NodeError::Revoked`]; other refusals [`NodeError::Server`].
pub(crate) async fn post(
    inner: &Inner,
    device: &Pairing,
    request: &SyncRequest,
    limits: &Limits,
    summary: &mut RunSummary,
) -> Result<SyncResponse, NodeError> {
    let body = request.encode(limits).map_err(|e| NodeError::Sync {
        code: e.code(),
        message: e.to_string(),
    })?;
    let bytes = post_bytes(inner, device, "/api/v1/sync", body, summary).await?;
    SyncResponse::decode(&bytes, limits).map_err(|e| NodeError::Sync {
        code: "bad_response",
        message: format!("the server's answer cannot be read ({e})"),
    })
}

/// POSTs one binary frame to `path`; the body of a successful answer.
pub(crate) async fn post_bytes(
    inner: &Inner,
    device: &Pairing,
    path: &str,
    body: Vec<u8>,
    summary: &mut RunSummary,
) -> Result<Vec<u8>, NodeError> {
    summary.requests += 1;
    summary.bytes_sent += body.len() as u64;
    let url = format!("{}{path}", device.server_url);
    let offline = |e: reqwest::Error| NodeError::Offline {
        url: device.server_url.clone(),
        reason: e.to_string(),
    };
    let response = inner
        .http
        .post(&url)
        .bearer_auth(&device.token)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .timeout(inner.settings.request_timeout)
        .body(body)
        .send()
        .await
        .map_err(offline)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(offline)?;
    summary.bytes_received += bytes.len() as u64;
    if status.is_success() {
        return Ok(bytes.to_vec());
    }
    Err(server_error(status.as_u16(), &bytes))
}

/// The server's JSON error as a [`NodeError`].
pub(crate) fn server_error(status: u16, body: &[u8]) -> NodeError {
    #[derive(serde::Deserialize)]
    struct Detail {
        code: String,
        message: String,
    }
    // The server answers `{"error": {"code", "message"}}`; a bare `{"code", "message"}`
    // (a proxy, an older server) is read too. Reading only the bare shape once turned
    // every refusal into `http_<status>` and a revoked device into a generic error.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        Wrapped { error: Detail },
        Bare(Detail),
    }
    let parsed: Option<Detail> = serde_json::from_slice::<Body>(body).ok().map(|b| match b {
        Body::Wrapped { error } => error,
        Body::Bare(detail) => detail,
    });
    match parsed {
        Some(b) if b.code == "device_revoked" => NodeError::Revoked,
        Some(b) => NodeError::Server {
            status,
            code: b.code,
            message: b.message,
        },
        None => NodeError::Server {
            status,
            code: format!("http_{status}"),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}

/// How long to wait before the next attempt after `failures` failures in a row:
/// exponential from `min` to `max`, with ±25 % jitter so a room of tablets coming
/// back online together does not knock at once.
pub(crate) fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let exp = min.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)));
    let base = exp.min(max);
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    // 0.75 ..= 1.25
    let factor = 0.75 + f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) * 0.5;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let min = Duration::from_secs(1);
        let max = Duration::from_secs(120);
        for failures in 1..40 {
            let d = backoff(failures, min, max);
            let base = (min * 2u32.pow((failures - 1).min(20))).min(max);
            assert!(
                d >= base.mul_f64(0.74) && d <= base.mul_f64(1.26),
                "{failures}: {d:?}"
            );
        }
        assert!(backoff(30, min, max) <= max.mul_f64(1.26));
    }

    #[test]
    fn the_servers_errors_become_clear_node_errors() {
        let revoked = server_error(
            401,
            r#"{"error":{"code":"device_revoked","message":"устройство отозвано"}}"#.as_bytes(),
        );
        assert_eq!(revoked.code(), "device_revoked");
        let bare = server_error(401, br#"{"code":"device_revoked","message":"revoked"}"#);
        assert_eq!(bare.code(), "device_revoked");
        let refused = server_error(
            401,
            r#"{"error":{"code":"invalid_pairing_code","message":"код не найден"}}"#.as_bytes(),
        );
        assert!(refused.to_string().contains("код не найден"), "{refused}");
        assert_eq!(
            rapport_api::ApiError::from(refused).code,
            "invalid_pairing_code",
            "a client sees the server's own code"
        );
        let other = server_error(413, b"<html>too big</html>");
        assert_eq!(other.code(), "server_error");
        assert!(other.to_string().contains("too big"), "{other}");
    }
}

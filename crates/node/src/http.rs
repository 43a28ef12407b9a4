//! The device's HTTP round trips: the sync run's binary frames posted with the device's
//! token, and the pairing request. What the answers mean is the core's to decide.
//! Also the client itself: certificates are always verified, against the system's
//! authorities and the company's own CA when one is given, and a certificate the device
//! does not trust is reported as that, with what to do, not as a network failure.

use std::path::Path;
use std::time::Duration;

use rapport_core::{NoAnswer, NodeError, PairFlow, Post, Reply};

use crate::SyncSettings;

/// The HTTP client of a node: verifies certificates against the system's authorities
/// and, when `ca_cert` names a PEM file, the CA certificate(s) in it too; closes a
/// connection unused for `idle` ([`SyncSettings::idle_connection`]).
pub(crate) fn client(ca_cert: Option<&Path>, idle: Duration) -> Result<reqwest::Client, NodeError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(idle)
        .user_agent(concat!("rapport-device/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_cert {
        builder = builder.tls_certs_merge(ca_certificates(path)?);
    }
    builder.build().map_err(|e| NodeError::Io {
        what: "the HTTP client".into(),
        reason: e.to_string(),
    })
}

/// The CA certificates of a PEM file, or what is wrong with it.
fn ca_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, NodeError> {
    let bytes = std::fs::read(path).map_err(|e| NodeError::Io {
        what: format!("the CA certificate file {}", path.display()),
        reason: format!("{e}; check the path given with --ca-cert or RAPPORT_CA_CERT"),
    })?;
    let bad = |why: String| {
        NodeError::invalid(
            "bad_ca_certificate",
            format!(
                "the CA certificate file {} {why}: give the company CA's certificate as PEM text (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        )
    };
    let certs = reqwest::Certificate::from_pem_bundle(&bytes)
        .map_err(|e| bad(format!("cannot be read as PEM ({e})")))?;
    if certs.is_empty() {
        return Err(bad("holds no certificate".to_owned()));
    }
    Ok(certs)
}

/// What to tell the rep or lead when the server's certificate was refused; `None` when
/// `e` is no certificate problem.
pub(crate) fn certificate_problem(e: &reqwest::Error, server: &str) -> Option<String> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(problem) = tls_error(e)? else {
        return None;
    };
    Some(match problem {
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "the server's certificate is not made out for the address {server} ({problem}): use the server's name as written in its certificate"
        ),
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
            format!(
                "the server's certificate at {server} is out of its validity dates ({problem}): renew the server's certificate, or set this device's clock right"
            )
        }
        _ => format!(
            "the server's certificate at {server} is not trusted by this device ({problem}); if the server uses a certificate of the company's own certificate authority, give that CA's certificate (a PEM file) with --ca-cert or RAPPORT_CA_CERT, or put it as ca.pem in the device's data folder"
        ),
    })
}

/// The rustls error somewhere in `e`'s chain of causes (an I/O error carries it inside,
/// where `source()` does not look).
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // A chain is a handful of links; the bound only guards against a cycle.
    for _ in 0..32 {
        let err = next?;
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

/// Why a request got no answer: the certificate problem if it was one (what to do), or
/// the network's words.
fn failure(e: &reqwest::Error, server: &str) -> NoAnswer {
    match certificate_problem(e, server) {
        Some(message) => NoAnswer::UntrustedCertificate(message),
        None => NoAnswer::Unreachable(e.to_string()),
    }
}

/// One round trip of the sync run: the status and the body, or why no answer came.
pub(crate) async fn post(http: &reqwest::Client, settings: &SyncSettings, post: Post) -> Reply {
    let response = http
        .post(&post.url)
        .bearer_auth(&post.token)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(rapport_core::INSTANCE_HEADER, &post.instance)
        .timeout(settings.request_timeout)
        .body(post.body)
        .send()
        .await
        .map_err(|e| failure(&e, &post.url))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, bytes.to_vec()))
}

/// `POST /api/v1/devices/pair`: the status and the body.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    settings: &SyncSettings,
    flow: &PairFlow,
) -> Result<(u16, Vec<u8>), NodeError> {
    let offline = |e: reqwest::Error| match certificate_problem(&e, &flow.server_url) {
        // Retrying will not help: the rep must be told what to do.
        Some(message) => NodeError::invalid("untrusted_certificate", message),
        None => NodeError::Offline {
            url: flow.server_url.clone(),
            reason: e.to_string(),
        },
    };
    let response = http
        .post(flow.url())
        .json(&flow.body())
        .timeout(settings.request_timeout)
        .send()
        .await
        .map_err(offline)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(offline)?;
    Ok((status, body.to_vec()))
}

//! Pairing this device with a programme on a server, and what the device knows of
//! its pairing.

use rapport_api::{DeviceInfo, PairRequest};
use rapport_domain::DocId;

use crate::error::NodeError;
use crate::http::server_error;
use crate::local::Pairing;
use crate::{Inner, now_ms};

/// The server's base URL: http(s), no trailing slash, no path.
fn normalise_url(url: &str) -> Result<String, NodeError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(NodeError::invalid(
            "bad_server_url",
            format!(
                "{url:?} is not a server address: write it as https://host or http://host:port"
            ),
        )),
    }
}

/// 16 random bytes as hex: a new Automerge actor for this device.
fn fresh_actor() -> Result<String, NodeError> {
    let mut actor = [0u8; 16];
    getrandom::fill(&mut actor).map_err(|e| NodeError::Io {
        what: "random actor".into(),
        reason: e.to_string(),
    })?;
    Ok(hex::encode(actor))
}

/// Whether the server refused the actor as registered to another device.
fn actor_taken(status: u16, body: &[u8]) -> bool {
    matches!(server_error(status, body), NodeError::Server { code, .. } if code == "actor_taken")
}

/// `POST /api/v1/devices/pair`; the status and the body.
async fn pair_request(
    inner: &Inner,
    server_url: &str,
    code: &str,
    actor: &str,
    label: &str,
) -> Result<(u16, Vec<u8>), NodeError> {
    let offline = |e: reqwest::Error| NodeError::Offline {
        url: server_url.to_owned(),
        reason: e.to_string(),
    };
    let response = inner
        .http
        .post(format!("{server_url}/api/v1/devices/pair"))
        .json(&serde_json::json!({"code": code, "actor": actor, "label": label.trim()}))
        .timeout(inner.settings.request_timeout)
        .send()
        .await
        .map_err(offline)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(offline)?;
    Ok((status, body.to_vec()))
}

pub(crate) async fn pair(inner: &Inner, p: PairRequest) -> Result<DeviceInfo, NodeError> {
    let previous = inner.device().await?;
    if let Some(existing) = &previous
        && !inner.db.sync_row().await?.revoked
    {
        return Err(NodeError::AlreadyPaired {
            server_url: existing.server_url.clone(),
            device_id: existing.device_id.clone(),
        });
    }
    let server_url = normalise_url(&p.server_url)?;
    let code = p.code.trim();
    if code.is_empty() {
        return Err(NodeError::invalid(
            "missing_code",
            "type the pairing code the programme lead gave you",
        ));
    }
    // A revoked device comes back under its own actor, so the edits it made since
    // (only on this device) upload under the actor they carry. The server allows that
    // only for the same programme and rep; otherwise it is a new device with a new actor.
    let mut actor = match &previous {
        Some(d) => d.actor.clone(),
        None => fresh_actor()?,
    };
    let (mut status, mut body) = pair_request(inner, &server_url, code, &actor, &p.label).await?;
    if previous.is_some() && actor_taken(status, &body) {
        actor = fresh_actor()?;
        (status, body) = pair_request(inner, &server_url, code, &actor, &p.label).await?;
    }
    if status != 200 {
        return Err(server_error(status, &body));
    }
    #[derive(serde::Deserialize)]
    struct Paired {
        device_id: String,
        token: String,
        programme_id: DocId,
        rep_id: Option<String>,
        label: String,
    }
    let paired: Paired = serde_json::from_slice(&body).map_err(|e| NodeError::Server {
        status,
        code: "bad_pair_response".into(),
        message: format!("the server's pairing answer cannot be read: {e}"),
    })?;
    let row = Pairing {
        server_url,
        device_id: paired.device_id,
        token: paired.token,
        programme_id: paired.programme_id,
        rep_id: paired.rep_id,
        label: paired.label,
        actor,
    };
    inner.db.set_device(&row, now_ms()).await?;
    {
        // Documents open for editing carry the old actor (if any): reload them. Under
        // the cache lock, so no edit loads a document with the old actor meanwhile.
        let mut cache = inner.cache.lock().await;
        cache.clear();
        let mut mem = inner.mem();
        mem.view = None;
        mem.device = Some(row);
    }
    inner.kick.notify_one();
    device_info(inner).await
}

pub(crate) async fn device(inner: &Inner) -> Result<Pairing, NodeError> {
    inner.device().await?.ok_or(NodeError::NotPaired)
}

pub(crate) async fn device_info(inner: &Inner) -> Result<DeviceInfo, NodeError> {
    let d = device(inner).await?;
    let view = inner.view().await.ok().flatten();
    Ok(DeviceInfo {
        rep_name: d.rep_id.as_ref().and_then(|r| {
            view.as_ref()
                .and_then(|v| v.reps.get(r))
                .map(|c| c.name.clone())
        }),
        programme_name: view.as_ref().map(|v| v.name.clone()),
        server_url: d.server_url,
        device_id: d.device_id,
        programme_id: d.programme_id,
        rep_id: d.rep_id,
        label: d.label,
        actor: d.actor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_checked_and_normalised() {
        assert_eq!(
            normalise_url(" http://127.0.0.1:8080/ ").expect("ok"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_url("https://rapport.пример.рф").expect("ok"),
            "https://rapport.пример.рф"
        );
        for bad in ["", "127.0.0.1:8080", "ftp://x", "http://", "http://a b"] {
            let err = normalise_url(bad).expect_err(bad);
            assert_eq!(err.code(), "bad_server_url");
        }
    }
}

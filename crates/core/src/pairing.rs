//! Pairing this device with a programme on a server, sans IO: [`PairFlow`] says what to
//! POST and reads what came back; the shell posts. And what the device knows of its
//! pairing ([`DeviceCore::device_info`]).

use rapport_api::{DeviceInfo, PairRequest};
use rapport_domain::DocId;

use crate::device::DeviceCore;
use crate::error::{NodeError, server_error};
use crate::store::{DeviceStore, Pairing};

/// The server's base URL: http(s), no trailing slash, no path.
pub fn normalise_url(url: &str) -> Result<String, NodeError> {
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

/// One pairing under way: the request to POST (JSON to `url`), and what its answer
/// means. Made by [`DeviceCore::begin_pairing`].
#[derive(Debug, Clone)]
pub struct PairFlow {
    /// The server's base URL, normalised.
    pub server_url: String,
    code: String,
    label: String,
    actor: String,
    /// A revoked device pairs again under its own actor first.
    repairing: bool,
}

/// What to do after an answer to a [`PairFlow`] request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairNext {
    /// POST [`PairFlow::body`] again (the server refused the old actor: a new one was
    /// drawn).
    Again,
    /// Paired: record it with [`DeviceCore::set_pairing`].
    Paired(Pairing),
}

impl PairFlow {
    /// Where to POST.
    pub fn url(&self) -> String {
        format!("{}/api/v1/devices/pair", self.server_url)
    }

    /// The JSON body to POST.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code, "actor": self.actor, "label": self.label.trim()})
    }

    /// Reads the server's answer (`status`, `body`); `fresh_actor` gives a new actor
    /// (16 random bytes) when the old one is refused.
    pub fn answer(
        &mut self,
        status: u16,
        body: &[u8],
        fresh_actor: impl FnOnce() -> [u8; 16],
    ) -> Result<PairNext, NodeError> {
        if status != 200 {
            let error = server_error(status, body);
            let taken = matches!(&error, NodeError::Server { code, .. } if code == "actor_taken");
            if self.repairing && taken {
                // A revoked device comes back under its own actor only for the same
                // programme and rep; otherwise it is a new device with a new actor.
                self.repairing = false;
                self.actor = hex::encode(fresh_actor());
                return Ok(PairNext::Again);
            }
            return Err(error);
        }
        #[derive(serde::Deserialize)]
        struct Paired {
            device_id: String,
            token: String,
            programme_id: DocId,
            rep_id: Option<String>,
            label: String,
        }
        let paired: Paired = serde_json::from_slice(body).map_err(|e| NodeError::Server {
            status,
            code: "bad_pair_response".into(),
            message: format!("the server's pairing answer cannot be read: {e}"),
        })?;
        Ok(PairNext::Paired(Pairing {
            server_url: self.server_url.clone(),
            device_id: paired.device_id,
            token: paired.token,
            programme_id: paired.programme_id,
            rep_id: paired.rep_id,
            label: paired.label,
            actor: self.actor.clone(),
        }))
    }
}

impl<S: DeviceStore> DeviceCore<S> {
    /// Starts pairing: refused when the device is paired and not revoked; a revoked
    /// device comes back under its own actor, so the edits it made since (only on this
    /// device) upload under the actor they carry.
    pub async fn begin_pairing(&self, p: &PairRequest) -> Result<PairFlow, NodeError> {
        let previous = self.device().await?;
        if let Some(existing) = &previous
            && !self.store.sync_row().await?.revoked
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
        let actor = match &previous {
            Some(d) => d.actor.clone(),
            None => {
                let mut bytes = [0u8; 16];
                self.host().fill_random(&mut bytes);
                hex::encode(bytes)
            }
        };
        Ok(PairFlow {
            server_url,
            code: code.to_owned(),
            label: p.label.clone(),
            actor,
            repairing: previous.is_some(),
        })
    }

    /// What the device knows of its pairing, with the programme's and the rep's names
    /// once the programme view has arrived.
    pub async fn device_info(&self) -> Result<DeviceInfo, NodeError> {
        let d = self.paired().await?;
        let view = self.view().await.ok().flatten();
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

//! The device's HTTP round trips: the sync run's binary frames posted with the device's
//! token, and the pairing request. What the answers mean is the core's to decide.

use rapport_core::{NodeError, PairFlow, Post, Reply};

use crate::SyncSettings;

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
        .map_err(|e| e.to_string())?;
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
    let offline = |e: reqwest::Error| NodeError::Offline {
        url: flow.server_url.clone(),
        reason: e.to_string(),
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

//! The HTTP side of a [`crate::TestDevice`]: the device core's sync run posted to the
//! server under test with reqwest, what the answers said on the way (per-document
//! errors, the heads the server holds, a refusal), and raw posts of hand-made frames.

use std::sync::{Mutex, MutexGuard};

use automerge::ChangeHash;
use rapport_api::RunSummary;
use rapport_core::{NodeError, Post, Reply};
use rapport_domain::DocId;
use rapport_protocol::{DocError, ErrorCode, Limits, SyncResponse};
use serde_json::Value;

/// Why a sync run (or a raw sync request) failed.
#[derive(Debug)]
pub enum SyncFail {
    /// No answer (connection refused or cut: a killed server).
    Transport(String),
    /// An HTTP error status with its body.
    Status(u16, Value),
    /// The run failed otherwise (a reply it could not read, too many round trips, a
    /// device it knows is revoked): the core's error says why.
    Run(NodeError),
}

/// What one sync run did.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    /// Requests sent (heads requests of a reconciliation included).
    pub requests: u32,
    /// Request bytes.
    pub bytes_up: usize,
    /// Response bytes.
    pub bytes_down: usize,
    /// Per-document errors the server reported in this run (not those it asked to
    /// retry: the document stays dirty and goes again next run).
    pub errors: Vec<DocError>,
    /// Reconciliations (heads requests answered): the core reconciles in the first run
    /// after its store was opened again, and when the server asks.
    pub reconciles: u32,
}

impl RunReport {
    /// Adds `other`'s counts and errors to these.
    pub(crate) fn add(&mut self, other: &RunReport) {
        self.requests += other.requests;
        self.bytes_up += other.bytes_up;
        self.bytes_down += other.bytes_down;
        self.errors.extend(other.errors.iter().cloned());
        self.reconciles += other.reconciles;
    }
}

/// POSTs a binary frame to `url` with the device's token: the status and the body, or
/// why no answer came.
pub(crate) async fn post_frame(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    instance: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = http.post(url);
    if let Some(instance) = instance {
        request = request.header(rapport_core::INSTANCE_HEADER, instance);
    }
    let response = request
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, bytes.to_vec()))
}

/// An error body as JSON (`Value::Null` when it is not JSON).
pub(crate) fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// What the transport saw during one run.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Counts and per-document errors.
    pub(crate) report: RunReport,
    /// For each document the server answered, the heads it holds: it answers only
    /// after its commit, so every change in their history is stored there.
    pub(crate) server_heads: Vec<(DocId, Vec<ChangeHash>)>,
    /// The last HTTP refusal: its status and JSON body.
    pub(crate) refused: Option<(u16, Value)>,
}

/// The transport of one sync run: the core's posts go to `url` (which a test may point
/// at another server process) with `token`, and what comes back is read on the way.
pub(crate) struct Transport<'a> {
    http: &'a reqwest::Client,
    /// The base URL the device was paired with (the core's posts start with it).
    paired_url: &'a str,
    url: &'a str,
    token: &'a str,
    seen: Mutex<Seen>,
}

impl<'a> Transport<'a> {
    /// A transport posting to `url` what the core addresses to `paired_url`.
    pub(crate) fn new(
        http: &'a reqwest::Client,
        paired_url: &'a str,
        url: &'a str,
        token: &'a str,
    ) -> Self {
        Self {
            http,
            paired_url,
            url,
            token,
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One round trip of the run.
    pub(crate) async fn post(&self, post: Post) -> Reply {
        let path = post
            .url
            .strip_prefix(self.paired_url)
            .unwrap_or_else(|| panic!("the core posts to {} under {}", post.url, self.paired_url));
        let heads = path.ends_with("/heads");
        let url = format!("{}{path}", self.url);
        let sent = post.body.len();
        let reply = post_frame(self.http, &url, self.token, Some(&post.instance), post.body).await;
        let mut seen = self.seen();
        seen.report.requests += 1;
        seen.report.bytes_up += sent;
        let Ok((status, body)) = &reply else {
            return reply;
        };
        seen.report.bytes_down += body.len();
        if !(200..300).contains(status) {
            seen.refused = Some((*status, json_of(body)));
        } else if heads {
            seen.report.reconciles += 1;
        } else if let Ok(response) = SyncResponse::decode(body, &Limits::DEFAULT) {
            // An unreadable answer fails the run in the core, which says why.
            seen.report.errors.extend(
                response
                    .errors
                    .into_iter()
                    .filter(|e| e.code != ErrorCode::Retry),
            );
            for m in response.docs {
                if let Ok(message) = automerge::sync::Message::decode(&m.message) {
                    seen.server_heads.push((m.doc, message.heads));
                }
            }
        }
        reply
    }

    /// What was seen.
    pub(crate) fn finish(self) -> Seen {
        self.seen.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the end of a run means to a test: its report, or why it failed. A run that
/// ended with per-document errors to try again (`sync_incomplete`) finished: the errors
/// are in the report, as every other per-document error.
pub(crate) fn outcome(
    result: Result<RunSummary, NodeError>,
    seen: Seen,
) -> Result<RunReport, SyncFail> {
    match result {
        Ok(_)
        | Err(NodeError::Sync {
            code: "sync_incomplete",
            ..
        }) => Ok(seen.report),
        Err(NodeError::Offline { reason, .. }) => Err(SyncFail::Transport(reason)),
        Err(e @ (NodeError::Server { .. } | NodeError::Revoked)) => match seen.refused {
            Some((status, body)) => Err(SyncFail::Status(status, body)),
            None => Err(SyncFail::Run(e)),
        },
        Err(e) => Err(SyncFail::Run(e)),
    }
}

//! What the node's test suites share: fast sync timings, a programme with one rep and
//! one client, a node in its own folder with typed calls, bounded polling.
#![allow(dead_code)] // each suite uses its own subset

use std::path::Path;
use std::time::{Duration, Instant};

use rapport_api::{
    ConflictView, DeviceInfo, HistoryView, PairRequest, Request, Response, Saved, StartVisit,
    SyncStatus, VisitDetail, VisitEdit,
};
use rapport_domain::{DocId, QuestionKind, Template};
use rapport_node::{KeyStorage, Node, NodeOptions, SyncSettings};
use rapport_testkit::{TestLead, TestServer};
use serde_json::Value;

/// The data folder's name inside each device's temporary folder (Cyrillic on purpose).
pub const DATA: &str = "данные устройства";
/// The client every suite visits.
pub const COMPANY: &str = "ООО «Ромашка»";

/// Node options for tests: key in a file, fast automatic sync when on.
pub fn options(dir: &Path, auto_sync: bool) -> NodeOptions {
    let mut o = NodeOptions::new(dir);
    o.key_storage = KeyStorage::File;
    o.auto_sync = auto_sync;
    o.sync = SyncSettings {
        debounce: Duration::from_millis(50),
        period: Duration::from_secs(1),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        probe_timeout: Duration::from_secs(1),
        idle_connection: Duration::from_secs(15),
    };
    o
}

/// A node in its own data folder.
pub struct Device {
    /// The node.
    pub node: Node,
    /// Its temporary folder (the data folder is `DATA` inside).
    pub dir: tempfile::TempDir,
}

impl Device {
    /// A fresh node (manual sync unless `auto_sync`).
    pub async fn new(auto_sync: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let node = Node::open(options(&dir.path().join(DATA), auto_sync))
            .await
            .expect("the node opens in a fresh folder");
        Self { node, dir }
    }

    /// A fresh node paired with `code` under `label`.
    pub async fn paired(
        ts: &TestServer,
        code: String,
        label: &str,
        auto_sync: bool,
    ) -> (Self, DeviceInfo) {
        let device = Self::new(auto_sync).await;
        let info = match device
            .call(Request::Pair(PairRequest {
                server_url: ts.url().to_owned(),
                code,
                label: label.to_owned(),
            }))
            .await
        {
            Response::Device(info) => info,
            other => panic!("pairing answered {other:?}"),
        };
        assert_eq!(info.label, label);
        (device, info)
    }

    pub async fn call(&self, request: Request) -> Response {
        let what = format!("{request:?}");
        self.node
            .handle(request)
            .await
            .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }

    /// One sync run; panics when it ends with an error.
    pub async fn sync(&self) -> SyncStatus {
        let status = self.sync_any().await;
        assert!(status.last_error.is_none(), "sync failed: {status:?}");
        status
    }

    /// One sync run, whatever its outcome.
    pub async fn sync_any(&self) -> SyncStatus {
        match self.call(Request::SyncNow).await {
            Response::Sync(s) => s,
            other => panic!("SyncNow answered {other:?}"),
        }
    }

    pub async fn status(&self) -> SyncStatus {
        match self.call(Request::SyncStatus).await {
            Response::Sync(s) => s,
            other => panic!("SyncStatus answered {other:?}"),
        }
    }

    pub async fn start(&self, client_id: DocId) -> VisitDetail {
        start_visit(&self.node, client_id).await
    }

    pub async fn open(&self, visit_id: DocId) -> VisitDetail {
        match self.call(Request::OpenVisit { visit_id }).await {
            Response::Visit(v) => *v,
            other => panic!("OpenVisit answered {other:?}"),
        }
    }

    pub async fn edit(&self, visit_id: DocId, edit: VisitEdit) -> Saved {
        match self.call(Request::EditVisit { visit_id, edit }).await {
            Response::Saved(s) => s,
            other => panic!("EditVisit answered {other:?}"),
        }
    }

    pub async fn text(&self, visit_id: DocId, question_id: &str, value: &str) -> Saved {
        self.edit(
            visit_id,
            VisitEdit::Text {
                question_id: question_id.to_owned(),
                value: value.to_owned(),
            },
        )
        .await
    }

    pub async fn conflicts(&self, visit_id: DocId, question_id: &str) -> Vec<ConflictView> {
        match self
            .call(Request::AnswerConflicts {
                visit_id,
                question_id: question_id.to_owned(),
            })
            .await
        {
            Response::Conflicts(c) => c,
            other => panic!("AnswerConflicts answered {other:?}"),
        }
    }

    pub async fn history(&self, visit_id: DocId, question_id: &str) -> Vec<HistoryView> {
        match self
            .call(Request::AnswerHistory {
                visit_id,
                question_id: question_id.to_owned(),
            })
            .await
        {
            Response::History(h) => h,
            other => panic!("AnswerHistory answered {other:?}"),
        }
    }
}

/// A lead, a programme with the rep «Иван Иванов» (ivanov) and one client of his.
pub async fn world(ts: &TestServer) -> (TestLead, DocId, DocId) {
    ts.ivanov_with_client(COMPANY).await
}

/// The id of the first active question of `kind`.
pub fn question(template: &Template, kind: &QuestionKind) -> String {
    template
        .active()
        .into_iter()
        .find(|q| &q.kind == kind)
        .unwrap_or_else(|| panic!("the questionnaire has a {kind:?} question"))
        .id
        .clone()
}

/// Polls `check` every 50 ms until it gives `Some`, for at most `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    for _ in 0..10_000 {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Pairs `node` with `code` and syncs once (the programme view and the clients arrive).
pub async fn pair_and_sync(node: &Node, ts: &TestServer, code: String, label: &str) -> DeviceInfo {
    let Response::Device(info) = node
        .handle(Request::Pair(PairRequest {
            server_url: ts.url().to_owned(),
            code,
            label: label.to_owned(),
        }))
        .await
        .expect("pairing")
    else {
        panic!("pairing answered something else")
    };
    sync_node(node).await;
    info
}

/// One sync run of `node`; panics when it ends with an error.
pub async fn sync_node(node: &Node) -> SyncStatus {
    let Response::Sync(status) = node.handle(Request::SyncNow).await.expect("sync") else {
        panic!("SyncNow answered something else")
    };
    assert!(status.last_error.is_none(), "{status:?}");
    status
}

/// Starts a visit of `client_id` dated 2026-11-27. On PostgreSQL the server's feed
/// holds back documents while other transactions (parallel tests) are open, so the
/// client (and, on an older server, the questionnaire) may arrive a sync or two after
/// pairing: sync until both are there (bounded).
pub async fn start_visit(node: &Node, client_id: DocId) -> VisitDetail {
    for _ in 0..100 {
        match node
            .handle(Request::StartVisit(StartVisit {
                client_id,
                date: "2026-11-27".into(),
            }))
            .await
        {
            Ok(Response::Visit(v)) => return *v,
            Ok(other) => panic!("StartVisit answered {other:?}"),
            Err(e) if e.code == "no_template" || e.code == "not_found" => {
                let _ = node.handle(Request::SyncNow).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("start visit: {e:?}"),
        }
    }
    panic!("the programme's questionnaire never arrived on the device");
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The JSON on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// Asserts success and returns the JSON.
    pub fn ok(&self) -> Value {
        assert_eq!(self.code, 0, "the command failed: {self:?}");
        self.json()
    }

    /// Asserts exit 1 with a JSON error and returns the error object.
    pub fn error(&self) -> Value {
        assert_eq!(self.code, 1, "expected exit 1 with an error: {self:?}");
        let json = self.json();
        let error = json["error"].clone();
        assert!(error["code"].is_string(), "no error code: {json}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.len() > 10),
            "an error says what to do: {json}"
        );
        error
    }

    /// The error code of a JSON error on stdout.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

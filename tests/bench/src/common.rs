//! What every part uses: timing helpers, a device node opened for measuring, and a
//! programme filled in one commit through the server's own write path.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use automerge::Automerge;
use rapport_api::{PairRequest, Request, Response, StartVisit, SyncStatus, VisitDetail};
use rapport_domain::DocId;
use rapport_node::{DB_FILE, KeyStorage, Node, NodeOptions, keys, read_device_docs};
use rapport_store::SqliteStore;
use rapport_testkit::{TestLead, TestServer};

/// The `p`-quantile (0..=1) of `v`, nearest rank; 0 for no values.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Node options for measuring: the key in a file, and sync only when the bench asks
/// (a background run would skew every timing).
pub fn options(dir: &Path) -> NodeOptions {
    let mut o = NodeOptions::new(dir);
    o.key_storage = KeyStorage::File;
    o.auto_sync = false;
    o.sync.request_timeout = Duration::from_secs(120);
    o
}

/// One request to the node; panics with the request's start on an error.
pub async fn call(node: &Node, request: Request) -> Response {
    let what = format!("{request:?}");
    node.handle(request)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", &what[..what.len().min(120)]))
}

/// One `SyncNow`, which must succeed.
pub async fn sync_now(node: &Node) -> SyncStatus {
    let Response::Sync(status) = call(node, Request::SyncNow).await else {
        panic!("SyncNow answers a status")
    };
    assert!(status.last_error.is_none(), "sync failed: {status:?}");
    status
}

/// Starts a visit of `client` dated in the programme's spring.
pub async fn start_visit(node: &Node, client: DocId) -> VisitDetail {
    let Response::Visit(detail) = call(
        node,
        Request::StartVisit(StartVisit {
            client_id: client,
            date: "2026-03-10".into(),
        }),
    )
    .await
    else {
        panic!("StartVisit answers a visit")
    };
    *detail
}

/// A node in `dir` paired with a new pairing code of `rep`, not synced yet.
pub async fn pair_node(
    ts: &TestServer,
    lead: &TestLead,
    programme: DocId,
    rep: &str,
    dir: &Path,
) -> Node {
    let code = ts.pairing_code(lead, programme, Some(rep)).await;
    open_paired(dir, ts.url(), &code).await
}

/// A node opened in `dir` and paired with `server_url` by `code`, not synced yet.
pub async fn open_paired(dir: &Path, server_url: &str, code: &str) -> Node {
    let node = Node::open(options(dir)).await.expect("node opens");
    call(
        &node,
        Request::Pair(PairRequest {
            server_url: server_url.to_owned(),
            code: code.to_owned(),
            label: "Планшет представителя".into(),
        }),
    )
    .await;
    node
}

/// A node paired as `rep` and synced once: the server sends a fresh device its
/// programme's view (the questionnaire) in its first run.
pub async fn paired_node(
    ts: &TestServer,
    lead: &TestLead,
    programme: DocId,
    rep: &str,
    dir: &Path,
) -> Node {
    let node = pair_node(ts, lead, programme, rep, dir).await;
    sync_now(&node).await;
    node
}

/// The device's store, opened beside the running node (WAL allows the second reader).
pub async fn device_store(dir: &Path) -> SqliteStore {
    let key = keys::load_or_create(dir, KeyStorage::File, true).expect("the device key");
    SqliteStore::open_encrypted(dir.join(DB_FILE), &key.bytes)
        .await
        .expect("the device store opens")
}

/// The device's copies of `ids` (each must be there).
pub async fn device_docs(dir: &Path, ids: &[DocId]) -> HashMap<DocId, Automerge> {
    let docs = read_device_docs(dir, KeyStorage::File, Some(ids))
        .await
        .expect("the device's documents load");
    assert_eq!(docs.len(), ids.len(), "every document is on the device");
    docs
}

/// Reps `rep-0`… of a programme, each with `per_rep` clients of their own (made in
/// one commit of the programme). Returns each rep's id and clients.
pub async fn fill_programme(
    ts: &TestServer,
    lead: &TestLead,
    programme: DocId,
    reps: usize,
    per_rep: usize,
) -> Vec<(String, Vec<DocId>)> {
    let ids: Vec<String> = (0..reps).map(|r| format!("rep-{r}")).collect();
    let clients = ts
        .add_clients_of(lead, programme, &ids, per_rep, |rep, i| {
            format!("ООО «Ромашка-{i}» ({rep})")
        })
        .await;
    ids.into_iter().zip(clients).collect()
}

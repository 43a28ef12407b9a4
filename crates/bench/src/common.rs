//! What every part uses: timing helpers, a device node opened for measuring, and a
//! programme filled in one commit through the server's own write path.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use automerge::Automerge;
use rapport_api::{PairRequest, Request, Response, StartVisit, SyncStatus, VisitDetail};
use rapport_domain::client::new_client;
use rapport_domain::programme::{Membership, add_clients, apply_suggestion, put_rep};
use rapport_domain::{Capacity, DocId, Reason, Segment, Strength, SuggestedAssignment, Suggestion};
use rapport_node::{DB_FILE, KeyStorage, Node, NodeOptions, keys};
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
    let node = Node::open(options(dir)).await.expect("node opens");
    call(
        &node,
        Request::Pair(PairRequest {
            server_url: ts.url().to_owned(),
            code,
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

/// Reps `rep-0`… of a programme, each with `per_rep` clients of their own: the client
/// documents in batches and the programme in one commit (assigning client by client
/// re-reads the programme each time). Returns each rep's id and clients.
pub async fn fill_programme(
    ts: &TestServer,
    lead: &TestLead,
    programme: DocId,
    reps: usize,
    per_rep: usize,
) -> Vec<(String, Vec<DocId>)> {
    use rapport_server::auth::edit_actor;
    use rapport_server::edit::{create_docs, edit_doc};
    let now = rapport_server::now_ms();
    let world: Vec<(String, Vec<DocId>)> = (0..reps)
        .map(|r| {
            (
                format!("rep-{r}"),
                (0..per_rep).map(|_| DocId::random()).collect(),
            )
        })
        .collect();
    let mut docs: Vec<(DocId, Automerge)> = Vec::new();
    for (rep, clients) in &world {
        for (i, id) in clients.iter().enumerate() {
            let doc = new_client(
                edit_actor(&lead.row.actor),
                *id,
                &format!("ООО «Ромашка-{i}» ({rep})"),
                Segment::Corporate,
                Some(rep),
                now,
            )
            .expect("client document");
            docs.push((*id, doc));
        }
    }
    while !docs.is_empty() {
        let rest = docs.split_off(docs.len().saturating_sub(1000));
        create_docs(ts.state(), rest).await.expect("clients stored");
    }
    edit_doc(
        ts.state(),
        &lead.row.actor,
        programme,
        "the programme",
        |doc| {
            for (r, (rep, _)) in world.iter().enumerate() {
                put_rep(
                    doc,
                    rep,
                    &format!("Представитель №{r}"),
                    "",
                    Capacity::Dedicated,
                    true,
                    now,
                )?;
            }
            let members: Vec<Membership> = world
                .iter()
                .flat_map(|(rep, clients)| {
                    clients.iter().map(move |id| Membership {
                        client_id: *id,
                        original_rep: Some(rep.clone()),
                        strength: Strength::Excellent,
                        monopolised: false,
                    })
                })
                .collect();
            add_clients(doc, &members, now)?;
            let suggestion = Suggestion {
                assignments: world
                    .iter()
                    .flat_map(|(rep, clients)| {
                        clients.iter().map(move |id| SuggestedAssignment {
                            client_id: id.to_string(),
                            rep_id: rep.clone(),
                            reason: Reason::LeadDecision {
                                note: "решение руководителя".into(),
                            },
                        })
                    })
                    .collect(),
                loads: BTreeMap::new(),
            };
            apply_suggestion(doc, &suggestion, &lead.row.id, now)
        },
    )
    .await
    .expect("clients added and assigned");
    world
}

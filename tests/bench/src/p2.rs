//! P2, reconnect cost: a rep's device holding 500 documents (250 clients' visits, the
//! programme view and what else the rep reads) syncs with nothing changed, with 3
//! visits changed on the device, and with 3 visits changed by the lead: requests and
//! bytes each way, against the target and against the per-document automerge sync
//! protocol (what automerge-repo does: each document's sync messages each way from
//! the persisted sync states, run to quiescence in memory on the same documents).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use automerge::Automerge;
use automerge::sync::{State, SyncDoc};
use rapport_api::{Request, Response, VisitEdit};
use rapport_domain::DocId;
use rapport_domain::visit::set_text_answer;
use rapport_node::Node;
use rapport_store::{DocStore, PeerId};
use rapport_testkit::{Backend, TestServer};

use crate::Scale;
use crate::common::{
    call, device_docs, device_store, fill_programme, ms, paired_node, start_visit, sync_now,
};
use crate::report::Report;

/// Visits changed before the second and third reconnect.
const CHANGED: usize = 3;

/// One reconnect: what our protocol moved, and what the per-document protocol would.
struct Reconnect {
    name: &'static str,
    wall_ms: f64,
    requests: u32,
    sent: u64,
    received: u64,
    /// Raw bytes of the changes new to the receiving side (0 when nothing changed).
    change_bytes: usize,
    anchor_messages: usize,
    anchor_bytes: usize,
}

/// Bytes and messages of automerge's sync protocol for one document between the device
/// and the server, each side starting from the device's persisted sync state, run in
/// memory until neither side has anything to say.
fn per_doc_sync(device: &Automerge, server: &Automerge, state: Option<&[u8]>) -> (usize, usize) {
    let decode = || {
        state
            .and_then(|s| State::decode(s).ok())
            .unwrap_or_default()
    };
    let (mut a, mut b) = (device.clone(), server.clone());
    let (mut sa, mut sb) = (decode(), decode());
    let (mut messages, mut bytes) = (0, 0);
    // One message from `from` to `to`, if `from` has something to say; its size.
    let step = |from: &mut Automerge, fs: &mut State, to: &mut Automerge, ts: &mut State| {
        let m = from.generate_sync_message(fs)?.encode();
        let len = m.len();
        let m = automerge::sync::Message::decode(&m).expect("message");
        to.receive_sync_message(ts, m).expect("the peer receives");
        Some(len)
    };
    for _ in 0..16 {
        let sent: Vec<usize> = [
            step(&mut a, &mut sa, &mut b, &mut sb),
            step(&mut b, &mut sb, &mut a, &mut sa),
        ]
        .into_iter()
        .flatten()
        .collect();
        if sent.is_empty() {
            break;
        }
        messages += sent.len();
        bytes += sent.iter().sum::<usize>();
    }
    assert_eq!(
        a.get_heads().len(),
        b.get_heads().len(),
        "the anchor converges"
    );
    (messages, bytes)
}

/// The per-document protocol over every document of the device, as things stand now.
async fn anchor(ts: &TestServer, dir: &Path) -> (usize, usize) {
    let store = device_store(dir).await;
    let ids = store.list_docs().await.expect("device docs");
    let states: HashMap<DocId, Vec<u8>> = store
        .sync_states(&PeerId::server(), &ids)
        .await
        .expect("states");
    let mut total = (0, 0);
    for (id, loaded) in store.load_many(&ids).await.expect("load") {
        let device = loaded.expect("loads").expect("stored");
        let server = ts.load_doc(id).await.unwrap_or_default();
        let (m, b) = per_doc_sync(&device, &server, states.get(&id).map(Vec::as_slice));
        total.0 += m;
        total.1 += b;
    }
    store.pool().close().await;
    total
}

async fn reconnect_once(
    name: &'static str,
    change_bytes: usize,
    ts: &TestServer,
    node: &Node,
    dir: &Path,
) -> Reconnect {
    let (anchor_messages, anchor_bytes) = anchor(ts, dir).await;
    let started = Instant::now();
    let status = sync_now(node).await;
    let wall_ms = ms(started.elapsed());
    let run = status.last_run.expect("a run summary");
    Reconnect {
        name,
        wall_ms,
        requests: run.requests,
        sent: run.bytes_sent,
        received: run.bytes_received,
        change_bytes,
        anchor_messages,
        anchor_bytes,
    }
}

/// The device types `value` as the visit's plans.
async fn edit_plans(node: &Node, visit_id: DocId, value: String) {
    call(
        node,
        Request::EditVisit {
            visit_id,
            edit: VisitEdit::Text {
                question_id: "carnegie.plans".into(),
                value,
            },
        },
    )
    .await;
}

/// Raw bytes of the changes in `after` that `before` lacks.
fn new_change_bytes(before: &Automerge, after: &Automerge) -> usize {
    after
        .get_changes(&before.get_heads())
        .iter()
        .map(|c| c.raw_bytes().len())
        .sum()
}

/// Runs P2 and adds it to `report`.
pub async fn run(report: &mut Report, scale: Scale) {
    let clients = if scale.quick { 40 } else { 250 };
    let (backend, store_name) = if std::env::var(rapport_testkit::PG_ENV).is_ok() {
        (Backend::Postgres, "PostgreSQL")
    } else {
        (Backend::Sqlite, "SQLite")
    };
    let mut ts = TestServer::start(backend).await.expect("the server starts");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let world = fill_programme(&ts, &lead, programme, 1, clients).await;
    let (rep, clients) = &world[0];
    let dir = tempfile::tempdir().expect("dir");
    let node = paired_node(&ts, &lead, programme, rep, dir.path()).await;
    let mut visits = Vec::with_capacity(clients.len());
    for client in clients {
        visits.push(start_visit(&node, *client).await.visit.id);
    }
    let status = sync_now(&node).await;
    assert_eq!(status.pending_docs, 0, "every visit uploaded: {status:?}");
    // A second run settles anything the first left to acknowledge.
    sync_now(&node).await;
    let docs = device_store(dir.path())
        .await
        .list_docs()
        .await
        .expect("docs")
        .len();

    let mut runs = vec![reconnect_once("nothing changed", 0, &ts, &node, dir.path()).await];

    let changed: Vec<DocId> = visits.iter().take(CHANGED).copied().collect();
    let before = device_docs(dir.path(), &changed).await;
    for (i, visit) in changed.iter().enumerate() {
        edit_plans(&node, *visit, format!("Открыть филиал в Казани №{i} 🏢")).await;
    }
    let after = device_docs(dir.path(), &changed).await;
    let bytes: usize = changed
        .iter()
        .map(|id| new_change_bytes(&before[id], &after[id]))
        .sum();
    runs.push(
        reconnect_once(
            "3 visits changed on the device",
            bytes,
            &ts,
            &node,
            dir.path(),
        )
        .await,
    );
    let on_server = ts.visit_doc(visits[0]).await;
    assert_eq!(
        on_server.answers.get("carnegie.plans"),
        Some(&rapport_domain::AnswerValue::Text(
            "Открыть филиал в Казани №0 🏢".into()
        )),
        "the server has the device's edit"
    );

    let template = rapport_domain::default_template();
    let by_lead: Vec<DocId> = visits.iter().rev().take(CHANGED).copied().collect();
    let mut bytes = 0;
    for (i, visit) in by_lead.iter().enumerate() {
        let before = ts.load_doc(*visit).await.expect("on the server");
        rapport_server::edit::edit_doc(ts.state(), &lead.row.actor, *visit, "the visit", |doc| {
            set_text_answer(
                doc,
                &template,
                "carnegie.challenges",
                &format!("Заметка руководителя №{i}: проверить качество связи"),
                rapport_server::now_ms(),
            )
        })
        .await
        .expect("the lead edits a visit");
        let after = ts.load_doc(*visit).await.expect("on the server");
        bytes += new_change_bytes(&before, &after);
    }
    runs.push(
        reconnect_once(
            "3 visits changed by the lead",
            bytes,
            &ts,
            &node,
            dir.path(),
        )
        .await,
    );
    let Response::Visit(back) = call(
        &node,
        Request::OpenVisit {
            visit_id: by_lead[0],
        },
    )
    .await
    else {
        panic!("OpenVisit answers a visit")
    };
    assert_eq!(
        back.visit.answers.get("carnegie.challenges"),
        Some(&rapport_domain::AnswerValue::Text(
            "Заметка руководителя №0: проверить качество связи".into()
        )),
        "the device has the lead's edit"
    );
    let repairs = restore_repairs(&mut ts, &node, &visits).await;
    node.shutdown().await;

    report.part(
        "P2 — reconnect cost",
        &format!(
            "One `SyncNow` of a rep's device holding {docs} documents, server on {store_name}. Bytes are the \
             sync request and response bodies (the HTTP headers add ~250 bytes each way). Target: nothing \
             changed — 1 request and < 1 KB each way; 3 changed — ≤ 2 round trips and, each way, ≤ 1.5 × the \
             new changes' raw bytes + 200 B per changed document. Anchor: automerge's sync protocol per \
             document from the same persisted states (what automerge-repo sends), to quiescence."
        ),
    );
    report.table(&[
        "case",
        "requests",
        "bytes sent",
        "bytes received",
        "new changes (bytes)",
        "limit each way (bytes)",
        "target",
        "per-document protocol: messages",
        "per-document protocol: bytes",
        "SyncNow (ms)",
    ]);
    for (i, r) in runs.iter().enumerate() {
        let key = ["unchanged", "device_changed", "lead_changed"][i.min(2)];
        let (limit, met) = if r.change_bytes == 0 {
            (
                1024.0,
                r.requests == 1 && r.sent < 1024 && r.received < 1024,
            )
        } else {
            let limit = 1.5 * r.change_bytes as f64 + 200.0 * CHANGED as f64;
            (
                limit,
                r.requests <= 2 && r.sent as f64 <= limit && r.received as f64 <= limit,
            )
        };
        let verdict = report.target(&format!("p2_{key}"), met);
        report.row(&[
            r.name.into(),
            r.requests.to_string(),
            r.sent.to_string(),
            r.received.to_string(),
            r.change_bytes.to_string(),
            format!("{limit:.0}"),
            verdict,
            r.anchor_messages.to_string(),
            r.anchor_bytes.to_string(),
            format!("{:.1}", r.wall_ms),
        ]);
        report.figure(&format!("p2_{key}_requests"), r.requests);
        report.figure(&format!("p2_{key}_bytes_sent"), r.sent);
        report.figure(&format!("p2_{key}_bytes_received"), r.received);
        report.figure(&format!("p2_{key}_change_bytes"), r.change_bytes);
        report.figure(&format!("p2_{key}_anchor_messages"), r.anchor_messages);
        report.figure(&format!("p2_{key}_anchor_bytes"), r.anchor_bytes);
        report.figure(&format!("p2_{key}_ms"), format!("{:.1}", r.wall_ms));
    }
    report.figure("p2_docs_on_device", docs);

    report.part(
        "P2b — repair after a server restore",
        &format!(
            "The server is restored from a backup (`rapport-server restore`, a new epoch); the same \
             device holding {docs} documents syncs once: it learns of the restore, sends the heads of \
             everything it holds, uploads what the restored server lacks and reads the feed again from \
             the start. Paid once per restore; the reconnects above do not change."
        ),
    );
    report.table(&[
        "case",
        "requests",
        "bytes sent",
        "bytes received",
        "SyncNow (ms)",
    ]);
    for (key, r) in ["restored_nothing_lost", "restored_3_lost"]
        .iter()
        .zip(&repairs)
    {
        report.row(&[
            r.name.into(),
            r.requests.to_string(),
            r.sent.to_string(),
            r.received.to_string(),
            format!("{:.1}", r.wall_ms),
        ]);
        report.figure(&format!("p2_{key}_requests"), r.requests);
        report.figure(&format!("p2_{key}_bytes_sent"), r.sent);
        report.figure(&format!("p2_{key}_bytes_received"), r.received);
        report.figure(&format!("p2_{key}_ms"), format!("{:.1}", r.wall_ms));
    }
}

/// One `SyncNow` after the server went back to `backup` (stopped, restored, started on
/// the same address).
async fn after_restore(
    name: &'static str,
    ts: &mut TestServer,
    node: &Node,
    backup: &Path,
) -> Reconnect {
    ts.stop().await;
    rapport_server::backup::restore(&ts.config, backup, true)
        .await
        .expect("the restore");
    ts.restart_on_same_port().await;
    let started = Instant::now();
    let status = sync_now(node).await;
    let wall_ms = ms(started.elapsed());
    assert!(status.stopped.is_empty(), "nothing stopped: {status:?}");
    let run = status.last_run.expect("a run summary");
    Reconnect {
        name,
        wall_ms,
        requests: run.requests,
        sent: run.bytes_sent,
        received: run.bytes_received,
        change_bytes: 0,
        anchor_messages: 0,
        anchor_bytes: 0,
    }
}

/// The repair's cost when the restored server lacks nothing, and when it lacks the
/// last edits of `CHANGED` visits (the device puts them back).
async fn restore_repairs(ts: &mut TestServer, node: &Node, visits: &[DocId]) -> Vec<Reconnect> {
    let dir = tempfile::tempdir().expect("dir");
    let first = dir.path().join("копия-1.bak");
    rapport_server::backup::backup(&ts.config, &first)
        .await
        .expect("backup");
    let mut runs = vec![after_restore("restored, nothing lost", ts, node, &first).await];

    let second = dir.path().join("копия-2.bak");
    rapport_server::backup::backup(&ts.config, &second)
        .await
        .expect("backup");
    let lost: Vec<DocId> = visits.iter().skip(CHANGED).take(CHANGED).copied().collect();
    for (i, visit) in lost.iter().enumerate() {
        edit_plans(node, *visit, format!("Правка после копии №{i}")).await;
    }
    sync_now(node).await;
    runs.push(after_restore("restored, 3 visits' last edits lost", ts, node, &second).await);
    let back = ts.visit_doc(lost[0]).await;
    assert_eq!(
        back.answers.get("carnegie.plans"),
        Some(&rapport_domain::AnswerValue::Text(
            "Правка после копии №0".into()
        )),
        "the device put back what the restore lost"
    );
    runs
}

//! The device node's figures, each against an anchor measured in the same run:
//! - `edit`: edit-to-durable latency of `EditVisit` (a Cyrillic text answer typed one
//!   character per edit, and a yes/no answer), p50/p99 over 1,000 edits, against one
//!   bare durable INSERT of 200 bytes into a SQLCipher database opened with the same
//!   settings (WAL, `synchronous=FULL`) on the same disk;
//! - `open`: `OpenVisit` of a completely filled visit whose text answers were typed in
//!   ~2,000 single-character edits, cold (a freshly opened node per open) and warm,
//!   against `automerge::Automerge::load` of the same document's saved bytes;
//! - `reconnect`: one `SyncNow` of a rep's device holding 501 documents (250 clients,
//!   250 visits, the programme view) with nothing changed, with 3 visits changed on the
//!   device, and with 3 visits changed by the lead; requests and bytes against the
//!   per-document automerge sync protocol (what automerge-repo does: each document's
//!   sync messages each way from the persisted sync states, run to quiescence in
//!   memory on the same documents).
//!
//! `cargo bench -p rapport-node --bench node [-- edit|open|reconnect]` (release; set
//! `RAPPORT_TEST_DATABASE_URL` to also run `reconnect` against PostgreSQL). Prints a
//! table, writes it to `$CARGO_TARGET_DIR/bench-node.md` (or `$RAPPORT_BENCH_OUT`), and
//! prints every figure as a `name=value` line.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use automerge::Automerge;
use automerge::sync::{State, SyncDoc};
use rapport_api::{
    PairRequest, QualityAnswer, Request, Response, StartVisit, SyncStatus, VisitDetail, VisitEdit,
};
use rapport_domain::visit::{ContactInput, ReferralInput, set_text_answer};
use rapport_domain::{DocId, QuestionKind, ScalarAnswer, Template};
use rapport_node::{DB_FILE, KeyStorage, Node, NodeOptions, keys};
use rapport_store::{DocStore, PeerId, SqliteStore};
use rapport_testkit::{Backend, TestLead, TestServer};

/// Edits timed per kind (text, scalar).
const EDITS: usize = 1_000;
/// Opens timed per kind (cold, warm, anchor).
const OPENS: usize = 200;
/// Keystrokes that fill the text answers of the filled visit.
const KEYSTROKES: usize = 2_000;
/// Clients of the rep in the reconnect figure (each with one visit).
const CLIENTS: usize = 250;
/// Visits changed before the second and third reconnect.
const CHANGED: usize = 3;

/// What the rep types: Russian with an emoji, so text indexes are exercised.
const TYPED: &str = "Гордимся командой инженеров и тем, что клиенты остаются с нами годами 🚀 ";

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn options(dir: &Path) -> NodeOptions {
    let mut o = NodeOptions::new(dir);
    o.key_storage = KeyStorage::File;
    // Sync only when the bench asks: a background run would skew every timing.
    o.auto_sync = false;
    o.sync.request_timeout = Duration::from_secs(120);
    o
}

async fn call(node: &Node, request: Request) -> Response {
    let what = format!("{request:?}");
    node.handle(request)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", &what[..what.len().min(120)]))
}

async fn sync_now(node: &Node) -> SyncStatus {
    let Response::Sync(status) = call(node, Request::SyncNow).await else {
        panic!("SyncNow answers a status")
    };
    assert!(status.last_error.is_none(), "sync failed: {status:?}");
    status
}

async fn start_visit(node: &Node, client: DocId) -> VisitDetail {
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

/// A node in `dir` paired with `rep`'s pairing code and synced once.
async fn paired_node(
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
            label: "Планшет Иванова".into(),
        }),
    )
    .await;
    sync_now(&node).await;
    node
}

/// The device's store, opened beside the running node (WAL allows the second reader).
async fn device_store(dir: &Path) -> SqliteStore {
    let key = keys::load_or_create(dir, KeyStorage::File, true).expect("the device key");
    SqliteStore::open_encrypted(dir.join(DB_FILE), &key.bytes)
        .await
        .expect("the device store opens")
}

/// A server with the lead, a programme, the rep "ivanov" and `clients` clients of his,
/// made in one batch through the server's commit path.
async fn world(
    backend: Backend,
    clients: usize,
) -> Option<(TestServer, TestLead, DocId, Vec<DocId>)> {
    use rapport_domain::Segment;
    use rapport_domain::client::new_client;
    use rapport_domain::programme::{add_client, override_assignment};
    use rapport_server::auth::edit_actor;
    use rapport_server::edit::{create_docs, edit_doc};

    let ts = TestServer::start(backend).await?;
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let now = rapport_server::now_ms();
    let ids: Vec<DocId> = (0..clients).map(|_| DocId::random()).collect();
    let docs = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let doc = new_client(
                edit_actor(&lead.row.actor),
                *id,
                &format!("ООО «Ромашка-{i}»"),
                Segment::Corporate,
                Some("ivanov"),
                now,
            )
            .expect("client doc");
            (*id, doc)
        })
        .collect();
    create_docs(ts.state(), docs).await.expect("clients stored");
    edit_doc(
        ts.state(),
        &lead.row.actor,
        programme,
        "the programme",
        |doc| {
            for id in &ids {
                add_client(doc, *id, now)?;
                override_assignment(
                    doc,
                    *id,
                    "ivanov",
                    rapport_domain::Reason::LeadDecision {
                        note: "решение руководителя".into(),
                    },
                    &lead.row.id,
                    now,
                )?;
            }
            Ok(())
        },
    )
    .await
    .expect("clients added and assigned");
    Some((ts, lead, programme, ids))
}

/// The first `n` characters of what the rep types (cycled).
fn typed(n: usize) -> String {
    TYPED.chars().cycle().take(n).collect()
}

fn questions(template: &Template, kind: impl Fn(&QuestionKind) -> bool) -> Vec<String> {
    template
        .active()
        .into_iter()
        .filter(|q| kind(&q.kind))
        .map(|q| q.id.clone())
        .collect()
}

/// Times one edit through the node's API.
async fn timed_edit(node: &Node, visit: DocId, edit: VisitEdit) -> f64 {
    let request = Request::EditVisit {
        visit_id: visit,
        edit,
    };
    let started = Instant::now();
    let answer = node.handle(request).await;
    let took = ms(started.elapsed());
    assert!(
        matches!(answer, Ok(Response::Saved(_))),
        "edit saved: {answer:?}"
    );
    took
}

/// A database on the same disk with the node's settings (SQLCipher, WAL,
/// `synchronous=FULL`), for the floor of edit-to-durable latency: one bare commit.
struct BareCommits {
    store: SqliteStore,
    row: Vec<u8>,
    times: Vec<f64>,
}

impl BareCommits {
    async fn open(dir: &Path) -> Self {
        let store = SqliteStore::open_encrypted(dir.join("anchor.db"), &[7u8; 32])
            .await
            .expect("anchor database");
        sqlx::query("CREATE TABLE bench (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
            .execute(store.pool())
            .await
            .expect("bench table");
        Self {
            store,
            row: vec![0xA5u8; 200],
            times: Vec::with_capacity(2 * EDITS),
        }
    }

    /// One INSERT of 200 bytes in its own transaction, timed.
    async fn commit(&mut self) {
        let started = Instant::now();
        sqlx::query("INSERT INTO bench (data) VALUES (?)")
            .bind(self.row.as_slice())
            .execute(self.store.pool())
            .await
            .expect("insert");
        self.times.push(ms(started.elapsed()));
    }
}

/// Figures of the edit part.
struct Edits {
    text: Vec<f64>,
    scalar: Vec<f64>,
    anchor: Vec<f64>,
}

/// Figures of the open part.
struct Opens {
    cold: Vec<f64>,
    warm: Vec<f64>,
    anchor: Vec<f64>,
    changes: usize,
    saved_bytes: usize,
}

/// Edits on one visit, then a second visit filled completely and opened again and again.
async fn edits_and_opens(wants_edit: bool, wants_open: bool) -> (Option<Edits>, Option<Opens>) {
    let (ts, lead, programme, clients) = world(Backend::Sqlite, 2).await.expect("sqlite");
    let dir = tempfile::tempdir().expect("dir");
    let node = paired_node(&ts, &lead, programme, "ivanov", dir.path()).await;
    let mut edits = None;
    if wants_edit {
        let detail = start_visit(&node, clients[0]).await;
        let visit = detail.visit.id;
        let text_q = "carnegie.proud_of".to_owned();
        let yes_no = questions(&detail.template, |k| *k == QuestionKind::YesNo);
        let yes_no = yes_no.first().expect("a yes/no question").clone();
        // Interleaved with the edits, so both see the same load from other processes on
        // the machine.
        let anchor_dir = tempfile::tempdir_in(dir.path()).expect("anchor dir");
        let mut bare = BareCommits::open(anchor_dir.path()).await;
        let mut text = Vec::with_capacity(EDITS);
        let mut value = String::new();
        for c in TYPED.chars().cycle().take(EDITS) {
            value.push(c);
            text.push(
                timed_edit(
                    &node,
                    visit,
                    VisitEdit::Text {
                        question_id: text_q.clone(),
                        value: value.clone(),
                    },
                )
                .await,
            );
            bare.commit().await;
        }
        let mut scalar = Vec::with_capacity(EDITS);
        for i in 0..EDITS {
            scalar.push(
                timed_edit(
                    &node,
                    visit,
                    VisitEdit::Scalar {
                        question_id: yes_no.clone(),
                        value: ScalarAnswer::YesNo(i % 2 == 0),
                    },
                )
                .await,
            );
            bare.commit().await;
        }
        let Response::Visit(back) = call(&node, Request::OpenVisit { visit_id: visit }).await
        else {
            panic!("OpenVisit answers a visit")
        };
        assert_eq!(
            back.visit.answers.get(&text_q),
            Some(&rapport_domain::AnswerValue::Text(value)),
            "every keystroke kept"
        );
        bare.store.pool().close().await;
        edits = Some(Edits {
            text,
            scalar,
            anchor: bare.times,
        });
    }
    if !wants_open {
        node.shutdown().await;
        return (edits, None);
    }
    let visit = fill_completely(&node, clients[1]).await;
    node.shutdown().await;

    // Anchor: the same document's saved bytes, loaded by automerge alone.
    let store = device_store(dir.path()).await;
    let doc = store.load(visit).await.expect("load").expect("the visit");
    let changes = doc.get_changes(&[]).len();
    let saved = doc.save();
    store.pool().close().await;
    let mut anchor = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let started = Instant::now();
        let loaded = Automerge::load(&saved).expect("loads");
        anchor.push(ms(started.elapsed()));
        assert_eq!(loaded.get_heads(), doc.get_heads());
    }

    let open = |node: Node| async move {
        let started = Instant::now();
        let answer = node.handle(Request::OpenVisit { visit_id: visit }).await;
        let took = ms(started.elapsed());
        let Ok(Response::Visit(detail)) = answer else {
            panic!("OpenVisit answers a visit: {answer:?}")
        };
        assert!(detail.missing.is_empty(), "{:?}", detail.missing);
        (node, took)
    };
    // Cold: a node just opened (new pool, nothing of the visit in memory).
    let mut cold = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let node = Node::open(options(dir.path())).await.expect("reopen");
        let (node, took) = open(node).await;
        cold.push(took);
        node.shutdown().await;
    }
    // Warm: the same node, opened before.
    let mut node = Node::open(options(dir.path())).await.expect("reopen");
    (node, _) = open(node).await;
    let mut warm = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let took;
        (node, took) = open(node).await;
        warm.push(took);
    }
    node.shutdown().await;
    (
        edits,
        Some(Opens {
            cold,
            warm,
            anchor,
            changes,
            saved_bytes: saved.len(),
        }),
    )
}

/// A visit with every question answered, 5 contacts and 3 referrals, its text answers
/// typed one character per edit (~[`KEYSTROKES`] in all), then completed.
async fn fill_completely(node: &Node, client: DocId) -> DocId {
    let detail = start_visit(node, client).await;
    let visit = detail.visit.id;
    let template = detail.template;
    let texts = questions(&template, |k| *k == QuestionKind::Text);
    let per_text = KEYSTROKES / texts.len().max(1);
    for q in &texts {
        let mut value = String::new();
        for c in typed(per_text).chars() {
            value.push(c);
            edit(
                node,
                visit,
                VisitEdit::Text {
                    question_id: q.clone(),
                    value: value.clone(),
                },
            )
            .await;
        }
    }
    for i in 0..5 {
        edit(
            node,
            visit,
            VisitEdit::Contact {
                id: None,
                contact: ContactInput {
                    updates_contact_id: None,
                    name: format!("Пётр Петров-{i}"),
                    role: "Директор по развитию".into(),
                    phone: format!("+7 900 000-00-0{i}"),
                    email: format!("petr{i}@example.ru"),
                },
            },
        )
        .await;
    }
    for i in 0..3 {
        edit(
            node,
            visit,
            VisitEdit::Referral {
                id: None,
                referral: ReferralInput {
                    name: format!("Мария Иванова-{i}"),
                    company: format!("ООО «Лютик-{i}»"),
                    contact: format!("maria{i}@example.ru"),
                    note: "Интересуется резервным каналом".into(),
                },
            },
        )
        .await;
    }
    for q in template.active() {
        let value = match &q.kind {
            QuestionKind::YesNo => ScalarAnswer::YesNo(true),
            QuestionKind::Number => ScalarAnswer::Number(42.0),
            QuestionKind::Date => ScalarAnswer::Date("2026-04-01".into()),
            QuestionKind::Choice { options } => {
                ScalarAnswer::Choice(options.first().map(|o| o.id.clone()).unwrap_or_default())
            }
            QuestionKind::QualityCheck { .. } => {
                edit(
                    node,
                    visit,
                    VisitEdit::Quality {
                        question_id: q.id.clone(),
                        answer: QualityAnswer {
                            target: 100.0,
                            actual: 100.0,
                            outage_last_month: false,
                            note: "Скорость в норме".into(),
                        },
                    },
                )
                .await;
                continue;
            }
            QuestionKind::Text | QuestionKind::Contacts | QuestionKind::Referrals => continue,
        };
        edit(
            node,
            visit,
            VisitEdit::Scalar {
                question_id: q.id.clone(),
                value,
            },
        )
        .await;
    }
    let Response::Visit(done) = call(node, Request::CompleteVisit { visit_id: visit }).await else {
        panic!("CompleteVisit answers a visit")
    };
    assert_eq!(done.visit.contact_updates.len(), 5, "five contacts");
    assert_eq!(done.visit.referrals.len(), 3, "three referrals");
    visit
}

async fn edit(node: &Node, visit: DocId, edit: VisitEdit) {
    call(
        node,
        Request::EditVisit {
            visit_id: visit,
            edit,
        },
    )
    .await;
}

/// One reconnect: what our protocol moved, and what the per-document protocol would.
struct Reconnect {
    name: &'static str,
    wall_ms: f64,
    run_ms: u64,
    requests: u32,
    bytes: u64,
    anchor_messages: usize,
    anchor_bytes: usize,
    anchor_first_round_bytes: usize,
}

/// Bytes and messages of automerge's sync protocol for one document between the device
/// and the server, each side starting from the device's persisted sync state, run in
/// memory until neither side has anything to say. Also the first round's bytes (one
/// message each way).
fn per_doc_sync(
    device: &Automerge,
    server: &Automerge,
    state: Option<&[u8]>,
) -> (usize, usize, usize) {
    let decode = || {
        state
            .and_then(|s| State::decode(s).ok())
            .unwrap_or_default()
    };
    let (mut a, mut b) = (device.clone(), server.clone());
    let (mut sa, mut sb) = (decode(), decode());
    let (mut messages, mut bytes, mut first) = (0, 0, 0);
    // One message from `from` to `to`, if `from` has something to say; its size.
    let step = |from: &mut Automerge, fs: &mut State, to: &mut Automerge, ts: &mut State| {
        let m = from.generate_sync_message(fs)?.encode();
        let len = m.len();
        let m = automerge::sync::Message::decode(&m).expect("message");
        to.receive_sync_message(ts, m).expect("the peer receives");
        Some(len)
    };
    for round in 0..16 {
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
        if round == 0 {
            first += sent.iter().sum::<usize>();
        }
    }
    assert_eq!(
        a.get_heads().len(),
        b.get_heads().len(),
        "the anchor exchange converges"
    );
    (messages, bytes, first)
}

/// The per-document protocol over every document of the device, as things stand now.
async fn anchor(ts: &TestServer, dir: &Path) -> (usize, usize, usize) {
    let store = device_store(dir).await;
    let ids = store.list_docs().await.expect("device docs");
    let states: HashMap<DocId, Vec<u8>> = store
        .sync_states(&PeerId::server(), &ids)
        .await
        .expect("states");
    let mut total = (0, 0, 0);
    for (id, loaded) in store.load_many(&ids).await.expect("load") {
        let device = loaded.expect("loads").expect("stored");
        let server = ts.load_doc(id).await.unwrap_or_default();
        let (m, b, f) = per_doc_sync(&device, &server, states.get(&id).map(Vec::as_slice));
        total.0 += m;
        total.1 += b;
        total.2 += f;
    }
    store.pool().close().await;
    total
}

async fn reconnect_once(name: &'static str, ts: &TestServer, node: &Node, dir: &Path) -> Reconnect {
    let (anchor_messages, anchor_bytes, anchor_first_round_bytes) = anchor(ts, dir).await;
    let started = Instant::now();
    let status = sync_now(node).await;
    let wall_ms = ms(started.elapsed());
    let run = status.last_run.expect("a run summary");
    Reconnect {
        name,
        wall_ms,
        run_ms: run.duration_ms,
        requests: run.requests,
        bytes: run.bytes_sent + run.bytes_received,
        anchor_messages,
        anchor_bytes,
        anchor_first_round_bytes,
    }
}

/// A device with 250 clients and 250 visits (plus the view), all synced; then the three
/// reconnects.
async fn reconnects(backend: Backend) -> Option<(usize, Vec<Reconnect>)> {
    let setup = Instant::now();
    let (ts, lead, programme, clients) = world(backend, CLIENTS).await?;
    let dir = tempfile::tempdir().expect("dir");
    let node = paired_node(&ts, &lead, programme, "ivanov", dir.path()).await;
    let mut visits = Vec::with_capacity(CLIENTS);
    for client in &clients {
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
    eprintln!(
        "reconnect: {docs} documents on the device after {:?}",
        setup.elapsed()
    );

    let mut out = Vec::new();
    out.push(reconnect_once("nothing changed", &ts, &node, dir.path()).await);

    for (i, visit) in visits.iter().take(CHANGED).enumerate() {
        edit(
            &node,
            *visit,
            VisitEdit::Text {
                question_id: "carnegie.plans".into(),
                value: format!("Открыть филиал в Казани №{i} 🏢"),
            },
        )
        .await;
    }
    out.push(reconnect_once("3 visits changed on the device", &ts, &node, dir.path()).await);
    let on_server = ts.visit_doc(visits[0]).await;
    assert_eq!(
        on_server.answers.get("carnegie.plans"),
        Some(&rapport_domain::AnswerValue::Text(
            "Открыть филиал в Казани №0 🏢".into()
        )),
        "the server has the device's edit"
    );

    let template = rapport_domain::default_template();
    for (i, visit) in visits.iter().rev().take(CHANGED).enumerate() {
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
    }
    out.push(reconnect_once("3 visits changed by the lead", &ts, &node, dir.path()).await);
    let last = *visits.last().expect("visits");
    let Response::Visit(back) = call(&node, Request::OpenVisit { visit_id: last }).await else {
        panic!("OpenVisit answers a visit")
    };
    assert_eq!(
        back.visit.answers.get("carnegie.challenges"),
        Some(&rapport_domain::AnswerValue::Text(
            "Заметка руководителя №0: проверить качество связи".into()
        )),
        "the device has the lead's edit"
    );
    node.shutdown().await;
    Some((docs, out))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let wants = rapport_testkit::bench_parts();
    let mut table = String::new();
    let mut lines = Vec::new();
    let _ = writeln!(table, "# rapport-node figures\n");

    let started = Instant::now();
    let (edits, opens) = if wants("edit") || wants("open") {
        edits_and_opens(wants("edit"), wants("open")).await
    } else {
        (None, None)
    };
    if let Some(e) = edits {
        let _ = writeln!(
            table,
            "Edit to durable ({EDITS} edits each; anchor: {} bare durable 200-byte INSERTs interleaved with the edits, same disk, SQLCipher + WAL + synchronous=FULL)\n\n\
             | what | p50 (ms) | p99 (ms) | p50 ratio | p99 ratio |\n\
             | --- | ---: | ---: | ---: | ---: |",
            e.anchor.len()
        );
        let (a50, a99) = (percentile(&e.anchor, 0.5), percentile(&e.anchor, 0.99));
        for (name, key, v) in [
            (
                "EditVisit text (Cyrillic, +1 char per edit)",
                "text",
                &e.text,
            ),
            ("EditVisit scalar (yes/no)", "scalar", &e.scalar),
            ("anchor: bare durable INSERT", "anchor", &e.anchor),
        ] {
            let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
            let _ = writeln!(
                table,
                "| {name} | {p50:.2} | {p99:.2} | {:.2} | {:.2} |",
                p50 / a50,
                p99 / a99
            );
            lines.push(format!("edit_{key}_p50_ms={p50:.3}"));
            lines.push(format!("edit_{key}_p99_ms={p99:.3}"));
            if key != "anchor" {
                lines.push(format!("edit_{key}_p50_ratio={:.2}", p50 / a50));
                lines.push(format!("edit_{key}_p99_ratio={:.2}", p99 / a99));
            }
        }
        let _ = writeln!(table);
    }
    if let Some(o) = opens {
        let a = percentile(&o.anchor, 0.5);
        let _ = writeln!(
            table,
            "Open a filled visit (median of {OPENS}; {} changes, {} bytes saved; anchor: `Automerge::load` of those bytes)\n\n\
             | what | median (ms) | ratio |\n\
             | --- | ---: | ---: |",
            o.changes, o.saved_bytes
        );
        for (name, key, v) in [
            ("OpenVisit, cold (node just opened)", "cold", &o.cold),
            ("OpenVisit, warm", "warm", &o.warm),
            ("anchor: Automerge::load", "anchor", &o.anchor),
        ] {
            let m = percentile(v, 0.5);
            let _ = writeln!(table, "| {name} | {m:.2} | {:.1} |", m / a);
            lines.push(format!("open_{key}_median_ms={m:.3}"));
            if key != "anchor" {
                lines.push(format!("open_{key}_ratio={:.2}", m / a));
            }
        }
        lines.push(format!("open_doc_changes={}", o.changes));
        lines.push(format!("open_doc_saved_bytes={}", o.saved_bytes));
        let _ = writeln!(table);
    }
    eprintln!("edit and open done after {:?}", started.elapsed());

    if wants("reconnect") {
        for (store, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
            let Some((docs, runs)) = reconnects(backend).await else {
                eprintln!("{store}: skipped (set RAPPORT_TEST_DATABASE_URL for PostgreSQL)");
                continue;
            };
            let _ = writeln!(
                table,
                "Reconnect, one SyncNow, {docs} documents on the device, server on {store} (anchor: automerge sync per document, each way from the persisted states, to quiescence)\n\n\
                 | case | requests | bytes (sent + received) | anchor messages | anchor bytes | requests / messages | bytes ratio | SyncNow (ms) | run (ms) |\n\
                 | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for (i, r) in runs.iter().enumerate() {
                let _ = writeln!(
                    table,
                    "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.1} | {} |",
                    r.name,
                    r.requests,
                    r.bytes,
                    r.anchor_messages,
                    r.anchor_bytes,
                    f64::from(r.requests) / r.anchor_messages.max(1) as f64,
                    r.bytes as f64 / r.anchor_bytes.max(1) as f64,
                    r.wall_ms,
                    r.run_ms
                );
                let key = ["unchanged", "device_changed", "lead_changed"][i.min(2)];
                lines.push(format!("reconnect_{key}_requests_{store}={}", r.requests));
                lines.push(format!("reconnect_{key}_bytes_{store}={}", r.bytes));
                lines.push(format!(
                    "reconnect_{key}_anchor_messages_{store}={}",
                    r.anchor_messages
                ));
                lines.push(format!(
                    "reconnect_{key}_anchor_bytes_{store}={}",
                    r.anchor_bytes
                ));
                lines.push(format!(
                    "reconnect_{key}_anchor_first_round_bytes_{store}={}",
                    r.anchor_first_round_bytes
                ));
                lines.push(format!(
                    "reconnect_{key}_bytes_ratio_{store}={:.3}",
                    r.bytes as f64 / r.anchor_bytes.max(1) as f64
                ));
                lines.push(format!("reconnect_{key}_ms_{store}={:.1}", r.wall_ms));
            }
            let _ = writeln!(table);
        }
    }
    print!("{table}");
    for line in &lines {
        println!("{line}");
    }
    eprintln!("all done after {:?}", started.elapsed());
    let out = std::env::var("RAPPORT_BENCH_OUT").unwrap_or_else(|_| {
        // Cargo runs a bench in the package folder: the workspace's target is two up.
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into());
        format!("{target}/bench-node.md")
    });
    match std::fs::write(&out, &table) {
        Ok(()) => eprintln!("written to {out}"),
        Err(e) => eprintln!("could not write {out}: {e}"),
    }
}

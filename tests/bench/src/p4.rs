//! P4, the device: edit-to-durable latency of `EditVisit` (a Cyrillic text answer typed
//! one character per edit, and a yes/no answer), p50/p99, against one bare durable
//! INSERT of 200 bytes into a SQLCipher database opened with the same settings (WAL,
//! `synchronous=FULL`) on the same disk, interleaved; and `OpenVisit` of a completely
//! filled visit whose text answers were typed in ~2,000 single-character edits, cold (a
//! freshly opened node per open) and warm, against `automerge::Automerge::load` of the
//! same document's saved bytes.

use std::path::Path;
use std::time::Instant;

use automerge::Automerge;
use rapport_api::{QualityAnswer, Request, Response, VisitEdit};
use rapport_domain::visit::{ContactInput, ReferralInput};
use rapport_domain::{DocId, QuestionKind, ScalarAnswer};
use rapport_node::Node;
use rapport_store::{DocStore, SqliteStore};
use rapport_testkit::{Backend, TestServer};

use crate::Scale;
use crate::common::{
    call, device_store, fill_programme, ms, options, paired_node, percentile, start_visit,
};
use crate::report::Report;

/// Keystrokes that fill the text answers of the filled visit.
const KEYSTROKES: usize = 2_000;

/// What the rep types: Russian with an emoji, so text indexes are exercised.
const TYPED: &str = "Гордимся командой инженеров и тем, что клиенты остаются с нами годами 🚀 ";

/// The first `n` characters of what the rep types (cycled).
fn typed(n: usize) -> String {
    TYPED.chars().cycle().take(n).collect()
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
            times: Vec::new(),
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
async fn edits_and_opens(edits_n: usize, opens_n: usize) -> (Edits, Opens) {
    let ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let world = fill_programme(&ts, &lead, programme, 1, 2).await;
    let (rep, clients) = &world[0];
    let dir = tempfile::tempdir().expect("dir");
    let node = paired_node(&ts, &lead, programme, rep, dir.path()).await;
    let edits = {
        let detail = start_visit(&node, clients[0]).await;
        let visit = detail.visit.id;
        let text_q = "carnegie.proud_of".to_owned();
        let yes_no = detail.template.active_ids(|k| *k == QuestionKind::YesNo);
        let yes_no = yes_no.first().expect("a yes/no question").clone();
        // Interleaved with the edits, so both see the same load from other processes on
        // the machine.
        let anchor_dir = tempfile::tempdir_in(dir.path()).expect("anchor dir");
        let mut bare = BareCommits::open(anchor_dir.path()).await;
        let mut text = Vec::with_capacity(edits_n);
        let mut value = String::new();
        for c in TYPED.chars().cycle().take(edits_n) {
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
        let mut scalar = Vec::with_capacity(edits_n);
        for i in 0..edits_n {
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
        Edits {
            text,
            scalar,
            anchor: bare.times,
        }
    };
    let visit = fill_completely(&node, clients[1]).await;
    node.shutdown().await;

    // Anchor: the same document's saved bytes, loaded by automerge alone.
    let store = device_store(dir.path()).await;
    let doc = store.load(visit).await.expect("load").expect("the visit");
    let changes = doc.get_changes(&[]).len();
    let saved = doc.save();
    store.pool().close().await;
    let mut anchor = Vec::with_capacity(opens_n);
    for _ in 0..opens_n {
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
    let mut cold = Vec::with_capacity(opens_n);
    for _ in 0..opens_n {
        let node = Node::open(options(dir.path())).await.expect("reopen");
        let (node, took) = open(node).await;
        cold.push(took);
        node.shutdown().await;
    }
    // Warm: the same node, opened before.
    let mut node = Node::open(options(dir.path())).await.expect("reopen");
    (node, _) = open(node).await;
    let mut warm = Vec::with_capacity(opens_n);
    for _ in 0..opens_n {
        let took;
        (node, took) = open(node).await;
        warm.push(took);
    }
    node.shutdown().await;
    (
        edits,
        Opens {
            cold,
            warm,
            anchor,
            changes,
            saved_bytes: saved.len(),
        },
    )
}

/// A visit with every question answered, 5 contacts and 3 referrals, its text answers
/// typed one character per edit (~[`KEYSTROKES`] in all), then completed.
async fn fill_completely(node: &Node, client: DocId) -> DocId {
    let detail = start_visit(node, client).await;
    let visit = detail.visit.id;
    let template = detail.template;
    let texts = template.active_ids(|k| *k == QuestionKind::Text);
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
                            at_most: false,
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

/// Runs P4 and adds it to `report`.
pub async fn run(report: &mut Report, scale: Scale) {
    let (edits_n, opens_n) = if scale.quick { (100, 20) } else { (1_000, 200) };
    let (e, o) = edits_and_opens(edits_n, opens_n).await;
    report.part(
        "P4 — the device",
        &format!(
            "Edit to durable: `EditVisit` answered only after its commit, {edits_n} edits of each kind; anchor: \
             one bare durable 200-byte INSERT after each edit, in a database on the same disk with the node's \
             settings (SQLCipher, WAL, synchronous=FULL). Open: `OpenVisit` of a completely filled visit whose \
             text answers were typed one character per edit ({} changes, {} bytes saved), median of {opens_n}; \
             cold = a node just opened; anchor: `Automerge::load` of the same bytes.",
            o.changes, o.saved_bytes
        ),
    );
    report.table(&[
        "what",
        "p50 (ms)",
        "p99 (ms)",
        "target",
        "anchor p50 / p99 (ms)",
        "ratio p50 / p99",
    ]);
    let (a50, a99) = (percentile(&e.anchor, 0.5), percentile(&e.anchor, 0.99));
    for (name, key, v) in [
        ("edit to durable: text (Cyrillic, +1 char)", "text", &e.text),
        ("edit to durable: yes/no", "scalar", &e.scalar),
    ] {
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        let verdict = report.target(&format!("p4_edit_{key}_p99"), p99 < 10.0);
        report.row(&[
            name.into(),
            format!("{p50:.2}"),
            format!("{p99:.2}"),
            format!("p99 < 10 ms: {verdict}"),
            format!("{a50:.2} / {a99:.2}"),
            format!("{:.2} / {:.2}", p50 / a50, p99 / a99),
        ]);
        report.figure(&format!("p4_edit_{key}_p50_ms"), format!("{p50:.3}"));
        report.figure(&format!("p4_edit_{key}_p99_ms"), format!("{p99:.3}"));
        report.figure(
            &format!("p4_edit_{key}_p99_ratio_vs_insert"),
            format!("{:.2}", p99 / a99),
        );
    }
    let anchor = percentile(&o.anchor, 0.5);
    for (name, key, v) in [
        ("open a filled visit, cold", "cold", &o.cold),
        ("open a filled visit, warm", "warm", &o.warm),
    ] {
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        let verdict = report.target(&format!("p4_open_{key}"), p50 < 20.0);
        report.row(&[
            name.into(),
            format!("{p50:.2}"),
            format!("{p99:.2}"),
            format!("< 20 ms: {verdict}"),
            format!("{anchor:.2} (median)"),
            format!("{:.1}", p50 / anchor),
        ]);
        report.figure(&format!("p4_open_{key}_median_ms"), format!("{p50:.3}"));
        report.figure(&format!("p4_open_{key}_p99_ms"), format!("{p99:.3}"));
        report.figure(
            &format!("p4_open_{key}_ratio_vs_load"),
            format!("{:.2}", p50 / anchor),
        );
    }
    report.figure("p4_open_doc_changes", o.changes);
    report.figure("p4_open_doc_saved_bytes", o.saved_bytes);
}

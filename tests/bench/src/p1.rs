//! P1, the anchor workload: visit documents with ~4 KB of answers each, 20 edits each,
//! made on a device (P1a), uploaded to the server on PostgreSQL (P1b) and fetched by a
//! fresh device (P1c); the same workload in the same run with the JavaScript
//! automerge-repo against its sync server on loopback (`js/p1.mjs`), and the floor of
//! P1b and P1c: the same exchanges in memory, the server's own sync engine over the
//! in-memory store (`MemServer`); and the load-and-commit floor, what no design that
//! checks every document can beat: each document loaded once from its saved bytes and
//! all their changes committed in one transaction to a fresh PostgreSQL store.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rapport_api::{Request, Response, VisitEdit};
use rapport_domain::{DocId, QuestionKind};
use rapport_store::DocStore;
use rapport_testkit::{Backend, Fault, MemDevice, MemServer, TestServer, sorted_heads};
use serde::{Deserialize, Serialize};

use crate::Scale;
use crate::common::{
    call, device_docs, device_store, fill_programme, ms, pair_node, paired_node, sync_now,
};
use crate::report::Report;

/// Edits per document.
const EDITS: usize = 20;
/// The date every visit of the workload carries.
const DATE: &str = "2026-03-10";
/// What a rep writes, cycled to fill an answer (Russian, two bytes a letter).
const PROSE: &str = "Клиент доволен скоростью канала и работой поддержки, просит резервную линию \
     в новый офис на Лиговском, бюджет согласуют в следующем квартале; ";

/// One edit of the workload: a text answer set to a whole new value.
#[derive(Serialize, Deserialize, Clone)]
struct Edit {
    question: String,
    text: String,
}

/// One document of the workload, as the JavaScript side reads it.
#[derive(Serialize)]
struct WorkDoc {
    id: String,
    client_id: String,
    date: &'static str,
    edits: Vec<Edit>,
}

/// What `js/p1.mjs` prints.
#[derive(Deserialize)]
struct JsFigures {
    p1a_ms: f64,
    p1b_ms: f64,
    p1c_ms: f64,
    #[serde(default)]
    versions: serde_json::Value,
}

/// The answer of edit `k` of document `d`: ~185 letters (~370 bytes as JSON), so the
/// 11 text questions of the questionnaire hold ~4 KB once every edit is made.
fn text(d: usize, k: usize) -> String {
    let head = format!("Визит №{d}, правка {k}: ");
    let body: String = PROSE.chars().cycle().skip(k * 7).take(170).collect();
    head + &body
}

/// The edits of document `d`: the text questions in turn, a second round overwriting
/// the first ones.
fn edits(d: usize, questions: &[String]) -> Vec<Edit> {
    (0..EDITS)
        .map(|k| Edit {
            question: questions[k % questions.len()].clone(),
            text: text(d, k),
        })
        .collect()
}

/// The load-and-commit floor of moving `made` to a store: each document loaded once from
/// its saved bytes (what checking it needs) and all their changes committed in one
/// transaction to a fresh PostgreSQL store (what making it durable needs). `None`
/// without PostgreSQL.
async fn load_and_commit_floor(
    made: &std::collections::HashMap<DocId, automerge::Automerge>,
) -> Option<f64> {
    let fresh = TestServer::start(Backend::Postgres).await?;
    let saved: Vec<(DocId, Vec<u8>)> = made.iter().map(|(id, d)| (*id, d.save())).collect();
    let started = Instant::now();
    let mut batch = rapport_store::WriteBatch::new();
    for (id, bytes) in &saved {
        let doc = automerge::Automerge::load(bytes).expect("a saved document loads");
        batch = batch.with_changes(*id, doc.get_changes(&[]));
    }
    fresh
        .state()
        .store
        .commit(batch)
        .await
        .expect("one batched commit");
    Some(ms(started.elapsed()))
}

/// Runs the JavaScript side on the workload file; its figures.
async fn run_js(workload: &Path) -> Result<JsFigures, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js/p1.mjs");
    if !script
        .with_file_name("node_modules/@automerge/automerge-repo")
        .exists()
    {
        return Err(format!(
            "the JavaScript packages are not installed: run `npm ci` in {} (tools/bench.sh does)",
            script
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
    }
    let child = tokio::process::Command::new("node")
        .arg(&script)
        .arg(workload)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `node` (Node.js 20 is needed): {e}"))?;
    let out = tokio::time::timeout(Duration::from_secs(900), child.wait_with_output())
        .await
        .map_err(|_| "the JavaScript side ran over 15 minutes".to_owned())?
        .map_err(|e| format!("the JavaScript side: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the JavaScript side failed ({}): {stdout}",
            out.status
        ));
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(last)
        .map_err(|e| format!("the JavaScript side printed no figures ({e}): {stdout}"))
}

/// Runs P1 and adds it to `report`.
pub async fn run(report: &mut Report, scale: Scale) {
    const TITLE: &str = "P1 — the anchor workload";
    let docs = if scale.quick { 20 } else { 200 };
    let Some(ts) = TestServer::start(Backend::Postgres).await else {
        report.skipped(
            TITLE,
            "RAPPORT_TEST_DATABASE_URL is not set (tools/bench.sh sets it)",
        );
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let world = fill_programme(&ts, &lead, programme, 1, docs).await;
    let (rep, clients) = &world[0];
    let writer_dir = tempfile::tempdir().expect("dir");
    let node = paired_node(&ts, &lead, programme, rep, writer_dir.path()).await;

    // P1a: every visit started and edited on the device, each edit durable.
    let mut questions: Vec<String> = Vec::new();
    let mut work = Vec::with_capacity(docs);
    let started = Instant::now();
    for (d, client) in clients.iter().enumerate() {
        let Response::Visit(detail) = call(
            &node,
            Request::StartVisit(rapport_api::StartVisit {
                client_id: *client,
                date: DATE.into(),
            }),
        )
        .await
        else {
            panic!("StartVisit answers a visit")
        };
        if questions.is_empty() {
            questions = detail.template.active_ids(|k| *k == QuestionKind::Text);
        }
        let visit = detail.visit.id;
        let edits = edits(d, &questions);
        for e in &edits {
            call(
                &node,
                Request::EditVisit {
                    visit_id: visit,
                    edit: VisitEdit::Text {
                        question_id: e.question.clone(),
                        value: e.text.clone(),
                    },
                },
            )
            .await;
        }
        work.push(WorkDoc {
            id: visit.to_string(),
            client_id: client.to_string(),
            date: DATE,
            edits,
        });
    }
    let p1a = ms(started.elapsed());
    let visits: Vec<DocId> = work
        .iter()
        .map(|w| w.id.parse().expect("a visit id"))
        .collect();
    let made = device_docs(writer_dir.path(), &visits).await;
    let answers_json = {
        let Response::Visit(detail) = call(
            &node,
            Request::OpenVisit {
                visit_id: visits[0],
            },
        )
        .await
        else {
            panic!("OpenVisit answers a visit")
        };
        serde_json::to_vec(&detail.visit.answers)
            .expect("answers")
            .len()
    };

    // P1b: one SyncNow; it returns once the server answered, i.e. after its commit.
    let started = Instant::now();
    let status = sync_now(&node).await;
    let p1b = ms(started.elapsed());
    assert_eq!(status.pending_docs, 0, "every visit uploaded: {status:?}");
    let upload_run = status.last_run.expect("a run summary");
    for (id, doc) in &made {
        let stored = ts.load_doc(*id).await.expect("the server has the visit");
        assert_eq!(
            sorted_heads(&stored),
            sorted_heads(doc),
            "the server holds the device's last edit of {id}"
        );
    }
    node.shutdown().await;

    // P1c: a second device of the same rep, paired, then its first sync timed until
    // every visit is there.
    let reader_dir = tempfile::tempdir().expect("dir");
    let reader = pair_node(&ts, &lead, programme, rep, reader_dir.path()).await;
    let reader_store = device_store(reader_dir.path()).await;
    let started = Instant::now();
    let mut download_runs = 0;
    loop {
        download_runs += 1;
        sync_now(&reader).await;
        let have = reader_store.list_docs().await.expect("device docs");
        if visits.iter().all(|v| have.contains(v)) {
            break;
        }
        assert!(
            download_runs < 50,
            "the fresh device still lacks visits after 50 runs"
        );
    }
    let p1c = ms(started.elapsed());
    reader_store.pool().close().await;
    reader.shutdown().await;
    let fetched = device_docs(reader_dir.path(), &visits).await;
    for (id, doc) in &made {
        assert_eq!(
            sorted_heads(&fetched[id]),
            sorted_heads(doc),
            "the fresh device has every edit of {id}"
        );
    }

    // The floors: the same documents through the protocol's sessions and the server's
    // sync engine, in memory.
    let mut mem = MemServer::default();
    let mut writer = MemDevice::new(1);
    for (id, doc) in &made {
        writer.insert(*id, doc.clone());
    }
    let started = Instant::now();
    let up = writer
        .sync(&mut mem, |_| Fault::None)
        .expect("in-memory upload");
    let floor_b = ms(started.elapsed());
    assert_eq!(
        mem.doc_ids().len(),
        made.len(),
        "the memory server has every visit"
    );
    let mut fresh = MemDevice::new(2);
    let started = Instant::now();
    let down = fresh
        .sync(&mut mem, |_| Fault::None)
        .expect("in-memory download");
    let floor_c = ms(started.elapsed());
    assert!(
        made.keys().all(|id| fresh.doc(id).is_some()),
        "the fresh in-memory device has every visit"
    );

    let load_commit = load_and_commit_floor(&made).await;

    // The JavaScript automerge-repo, on the same workload.
    let wdir = tempfile::tempdir().expect("dir");
    let workload = wdir.path().join("workload.json");
    std::fs::write(
        &workload,
        serde_json::to_vec(&serde_json::json!({ "docs": work })).expect("workload"),
    )
    .expect("workload written");
    let js = run_js(&workload).await;

    report.part(
        TITLE,
        &format!(
            "{docs} visit documents, {EDITS} edits each (every edit sets one text answer to ~370 bytes of Russian; \
             the answers of one visit are {answers_json} bytes as JSON). Rapport: the device node (SQLCipher, each \
             edit durable before it is answered) and the server in this process on PostgreSQL; the upload ends \
             when the server has answered, i.e. committed every document; the download is a second device of the \
             same rep, paired, until every visit is on it. JavaScript: `tests/bench/js/p1.mjs`, the writer repo in \
             memory, `@automerge/automerge-repo-sync-server` as a separate Node.js process on loopback; the upload \
             ends when the server's acknowledged heads of every document equal the writer's; the download is a \
             fresh repo until every document is ready with those heads. Floor: the same exchanges through \
             `rapport-protocol` and the server's sync engine over the in-memory store (no network, no \
             database). Load + commit floor: each document loaded once from its saved bytes and all their \
             changes committed in one transaction to a fresh PostgreSQL store, what no design that checks \
             every document can beat (the same for both directions: the server loads what it sends too)."
        ),
    );
    report.table(&[
        "phase",
        "Rapport (ms)",
        "automerge-repo (ms)",
        "Rapport faster by",
        "target",
        "in-memory floor (ms)",
        "Rapport / floor",
        "target",
        "load + commit floor (ms)",
        "Rapport / it",
        "target",
    ]);
    report.figure("p1_docs", docs);
    report.figure("p1_edits_per_doc", EDITS);
    report.figure("p1_answers_json_bytes", answers_json);
    report.figure("p1b_requests", upload_run.requests);
    report.figure("p1b_bytes_sent", upload_run.bytes_sent);
    report.figure("p1c_runs", download_runs);
    report.figure("p1b_floor_requests", up.requests);
    report.figure("p1c_floor_requests", down.requests);
    // One row per phase: Rapport, the JS side (when it ran) with its target, the floor
    // with its target.
    let mut phase = |key: &str,
                     name: &str,
                     ours: f64,
                     theirs: Option<f64>,
                     goal: Option<f64>,
                     floor: Option<f64>,
                     load_commit: Option<f64>| {
        let vs_js = match (theirs, goal) {
            (Some(t), Some(goal)) => {
                let ratio = t / ours;
                report.figure(&format!("{key}_automerge_repo_ms"), format!("{t:.1}"));
                report.figure(
                    &format!("{key}_ratio_vs_automerge_repo"),
                    format!("{ratio:.1}"),
                );
                let verdict = report.target(&format!("{key}_vs_automerge_repo"), ratio >= goal);
                [
                    format!("{t:.0}"),
                    format!("{ratio:.1}×"),
                    format!("≥ {goal}×: {verdict}"),
                ]
            }
            (Some(t), None) => {
                report.figure(&format!("{key}_automerge_repo_ms"), format!("{t:.1}"));
                report.figure(
                    &format!("{key}_ratio_vs_automerge_repo"),
                    format!("{:.2}", t / ours),
                );
                [
                    format!("{t:.0}"),
                    format!("{:.2}×", t / ours),
                    "none (Rapport: every edit durable; JS: in memory)".into(),
                ]
            }
            (None, _) => ["—".into(), "—".into(), "not measured".into()],
        };
        let vs_floor = match floor {
            Some(f) => {
                let ratio = ours / f.max(0.001);
                report.figure(&format!("{key}_floor_ms"), format!("{f:.1}"));
                report.figure(&format!("{key}_ratio_vs_floor"), format!("{ratio:.2}"));
                let verdict = report.target(&format!("{key}_floor"), ratio <= 3.0);
                [
                    format!("{f:.1}"),
                    format!("{ratio:.2}"),
                    format!("≤ 3: {verdict}"),
                ]
            }
            None => [String::new(), String::new(), String::new()],
        };
        let vs_load_commit = match load_commit {
            Some(f) => {
                let ratio = ours / f.max(0.001);
                report.figure(&format!("{key}_load_commit_floor_ms"), format!("{f:.1}"));
                report.figure(
                    &format!("{key}_ratio_vs_load_commit_floor"),
                    format!("{ratio:.2}"),
                );
                let verdict = report.target(&format!("{key}_load_commit_floor"), ratio <= 1.5);
                [
                    format!("{f:.1}"),
                    format!("{ratio:.2}"),
                    format!("≤ 1.5: {verdict}"),
                ]
            }
            None => [String::new(), String::new(), String::new()],
        };
        report.figure(&format!("{key}_rapport_ms"), format!("{ours:.1}"));
        let mut cells = vec![name.to_owned(), format!("{ours:.1}")];
        cells.extend(vs_js);
        cells.extend(vs_floor);
        cells.extend(vs_load_commit);
        report.row(&cells);
    };
    let (js_a, js_b, js_c) = match &js {
        Ok(j) => (Some(j.p1a_ms), Some(j.p1b_ms), Some(j.p1c_ms)),
        Err(_) => (None, None, None),
    };
    phase(
        "p1a",
        "P1a local: create and edit",
        p1a,
        js_a,
        None,
        None,
        None,
    );
    phase(
        "p1b",
        "P1b upload to acknowledged",
        p1b,
        js_b,
        // The target; the goal beyond it is 20×.
        Some(10.0),
        Some(floor_b),
        load_commit,
    );
    phase(
        "p1c",
        "P1c download to a fresh device",
        p1c,
        js_c,
        Some(8.0),
        Some(floor_c),
        load_commit,
    );
    let runs = format!(
        "Rapport's upload: {} request(s), {} bytes sent; download: {download_runs} sync run(s).",
        upload_run.requests, upload_run.bytes_sent
    );
    match js {
        Ok(js) => report.note(&format!(
            "Versions of the JavaScript side: `{}`. {runs}",
            js.versions
        )),
        Err(why) => {
            eprintln!("P1: {why}");
            let _ = report.target("p1_automerge_repo_ran", false);
            report.note(&format!("The JavaScript side did not run: {why}. {runs}"));
        }
    }
}

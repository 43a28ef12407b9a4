//! kill -9 during a stream of edits: whatever the node reported saved survives.
//!
//! The test prepares a paired, synced device with a started visit, then many times
//! re-executes this test binary as a child (`crash_child`) that opens the node on the
//! same data folder and edits without pause, printing `saved <n>` after each edit that
//! `handle` answered Ok. The parent kills the child with SIGKILL after a random delay,
//! opens the node itself and checks that every reported edit is there. The child is
//! this binary so that it runs the very node library under test with no extra target.
//!
//! `RAPPORT_CRASH_ITERATIONS` (default [`DEFAULT_ITERATIONS`], the CI run: ~25 s) sets the
//! number of kills; `RAPPORT_CRASH_SEED` replays the delays of an earlier run (the seed
//! is printed). The long run, the minimum of 100 kills:
//! `RAPPORT_CRASH_ITERATIONS=100 cargo test -p rapport-node --test crash -- --nocapture`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rapport_api::{AnswerValue, ReferralInput, Request, Response, VisitEdit};
use rapport_domain::{DocId, Visit};
use rapport_node::Node;
use rapport_testkit::{Backend, TestServer};

mod common;
use common::*;

/// Kills unless `RAPPORT_CRASH_ITERATIONS` says otherwise. Measured: ~0.6 s per kill on
/// a loaded 2-core machine, so 100 kills (the long run) take about a minute; CI runs 40.
const DEFAULT_ITERATIONS: u64 = 40;
/// Env var that turns `crash_child` on, holding the data folder.
const CHILD_DIR: &str = "RAPPORT_CRASH_CHILD_DIR";
const CHILD_VISIT: &str = "RAPPORT_CRASH_CHILD_VISIT";
const CHILD_QUESTION: &str = "RAPPORT_CRASH_CHILD_QUESTION";
const CHILD_FIRST: &str = "RAPPORT_CRASH_CHILD_FIRST";
/// The text question gets a new value every this many edits.
const TEXT_EVERY: u64 = 4;
/// The child stops by itself after this long (the parent kills it far sooner).
const CHILD_MAX: Duration = Duration::from_secs(20);
/// Longest the parent waits for anything the child does.
const WAIT_MAX: Duration = Duration::from_secs(20);

fn referral_name(n: u64) -> String {
    format!("Реферал {n}")
}

/// The text answer written by edit `n`: Cyrillic and an emoji, ending in `n`.
fn text_value(n: u64) -> String {
    format!("Планы клиента 🚀 — правка {n}")
}

/// The edit number at the end of a text answer written by [`text_value`].
fn text_number(value: &str) -> Option<u64> {
    value
        .strip_prefix("Планы клиента 🚀 — правка ")?
        .parse()
        .ok()
}

/// splitmix64: the delays of a run, reproducible from the printed seed.
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + z % (hi - lo + 1)
    }
}

fn seed() -> u64 {
    if let Some(seed) = std::env::var("RAPPORT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random seed");
    u64::from_le_bytes(bytes)
}

/// The child routine: runs only when re-executed by the crash test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the crash test; it runs only when that test starts it"]
async fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let visit_id: DocId = var(CHILD_VISIT).parse().expect("visit id");
    let question = var(CHILD_QUESTION);
    let first: u64 = var(CHILD_FIRST).parse().expect("first edit number");
    let node = Node::open(options(Path::new(&dir), false))
        .await
        .expect("the child opens the node");
    // Written straight to the process's stdout (not the test harness's capture) and
    // flushed per line: the parent counts only lines that reached the pipe.
    let mut out = std::io::stdout();
    // The leading newline ends the harness's "test crash_child ... " line.
    writeln!(out, "\nready")
        .and_then(|()| out.flush())
        .expect("stdout");
    let started = Instant::now();
    let mut n = first;
    while started.elapsed() < CHILD_MAX && n < first + 1_000_000 {
        let is_text = n.is_multiple_of(TEXT_EVERY);
        let edit = if is_text {
            VisitEdit::Text {
                question_id: question.clone(),
                value: text_value(n),
            }
        } else {
            VisitEdit::Referral {
                id: None,
                referral: ReferralInput {
                    name: referral_name(n),
                    company: "ООО «Лютик»".into(),
                    contact: "+7 900 000-00-00".into(),
                    note: "знакомый директора 🤝".into(),
                },
            }
        };
        let kind = if is_text { "text" } else { "saved" };
        node.handle(Request::EditVisit { visit_id, edit })
            .await
            .expect("the edit is saved");
        writeln!(out, "{kind} {n}")
            .and_then(|()| out.flush())
            .expect("stdout");
        n += 1;
    }
    node.shutdown().await;
}

/// What one child reported before it was killed.
#[derive(Debug, Default)]
struct Report {
    ready: bool,
    referrals: Vec<u64>,
    texts: Vec<u64>,
}

/// Reads the child's complete lines (a line cut by the kill has no newline and is
/// not counted).
fn read_report(stdout: impl Read) -> Report {
    let mut report = Report::default();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    // Bounded: a child that lives at most CHILD_MAX cannot print more than this.
    for _ in 0..10_000_000 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if !line.ends_with('\n') => break,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line == "ready" {
            report.ready = true;
        } else if let Some(n) = line.strip_prefix("saved ") {
            report.referrals.push(n.parse().expect("edit number"));
        } else if let Some(n) = line.strip_prefix("text ") {
            report.texts.push(n.parse().expect("edit number"));
        }
    }
    report
}

fn spawn_child(dir: &Path, visit: DocId, question: &str, first: u64) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    Command::new(exe)
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_VISIT, visit.to_string())
        .env(CHILD_QUESTION, question)
        .env(CHILD_FIRST, first.to_string())
        .env("RAPPORT_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts")
}

/// The visit as the node reads it after a crash.
async fn reopen_and_read(dir: &Path, visit_id: DocId) -> Visit {
    let node = Node::open(options(dir, false))
        .await
        .expect("the node opens after kill -9 (no corruption)");
    let response = node
        .handle(Request::OpenVisit { visit_id })
        .await
        .expect("the visit reads after kill -9");
    let Response::Visit(detail) = response else {
        panic!("not a visit: {response:?}")
    };
    let Response::Sync(status) = node.handle(Request::SyncStatus).await.expect("status") else {
        panic!("not a status")
    };
    assert_eq!(
        status.pending_docs, 1,
        "the edited visit waits for sync: {status:?}"
    );
    node.shutdown().await;
    detail.visit
}

/// The numbers of the referrals the visit holds (each once).
fn referral_numbers(visit: &Visit) -> BTreeSet<u64> {
    let mut numbers = BTreeSet::new();
    for r in visit.referrals.values() {
        let n = r
            .name
            .strip_prefix("Реферал ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a referral nobody wrote: {:?}", r.name));
        assert!(numbers.insert(n), "referral {n} is there twice");
    }
    numbers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_edits_loses_no_edit_reported_saved() {
    let iterations: u64 = std::env::var("RAPPORT_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let seed = seed();
    println!("crash test: {iterations} kills, RAPPORT_CRASH_SEED={seed}");
    let mut delays = Delays(seed);
    let test_started = Instant::now();

    // Once: a server, a rep with a client, the rep's device paired and synced, a visit.
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let home = tempfile::tempdir().expect("dir");
    let dir: PathBuf = home.path().join("устройство");
    let node = Node::open(options(&dir, false)).await.expect("open");
    pair_and_sync(&node, &ts, code, "Планшет Иванова").await;
    let detail = start_visit(&node, client).await;
    let visit_id = detail.visit.id;
    let question = question(&detail.template, &rapport_domain::QuestionKind::Text);
    node.shutdown().await;

    let mut next: u64 = 1;
    let mut reported_referrals: BTreeSet<u64> = BTreeSet::new();
    let mut last_text: Option<u64> = None;
    let mut reported_total: u64 = 0;
    let mut killed_before_ready = 0;
    for iteration in 0..iterations {
        let delay = Duration::from_millis(delays.next_ms(20, 400));
        let mut child = spawn_child(&dir, visit_id, &question, next);
        let stdout = child.stdout.take().expect("child stdout");
        let mut stderr = child.stderr.take().expect("child stderr");
        let reader = std::thread::spawn(move || read_report(stdout));
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        tokio::time::sleep(delay).await;
        let early_exit = child.try_wait().expect("child state");
        child.kill().expect("SIGKILL");
        let waited = Instant::now();
        let exit = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("the child ends");
        assert!(waited.elapsed() < WAIT_MAX, "the child did not die");
        let report = reader.join().expect("reader");
        let stderr_text = errors.join().expect("stderr reader");
        assert!(
            early_exit.is_none(),
            "iteration {iteration}: the child ended before the kill ({exit:?}): {stderr_text}"
        );
        if !report.ready {
            killed_before_ready += 1;
        }

        let visit = reopen_and_read(&dir, visit_id).await;
        let present = referral_numbers(&visit);
        let missing: Vec<&u64> = report
            .referrals
            .iter()
            .filter(|n| !present.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "iteration {iteration} (seed {seed}, {delay:?}): referrals reported saved are gone: {missing:?}"
        );
        reported_referrals.extend(report.referrals.iter().copied());
        last_text = report.texts.iter().copied().max().or(last_text);
        if let Some(reported) = last_text {
            let Some(AnswerValue::Text(value)) = visit.answers.get(&question) else {
                panic!("iteration {iteration}: the text answer is gone")
            };
            let kept =
                text_number(value).unwrap_or_else(|| panic!("a text nobody wrote: {value:?}"));
            assert!(
                kept >= reported,
                "iteration {iteration} (seed {seed}): text edit {reported} was reported saved, the answer is from edit {kept}"
            );
        }
        // Edits are sequential: one after an edit that was lost cannot be on disk.
        let expected: BTreeSet<u64> = (1..)
            .filter(|n: &u64| !n.is_multiple_of(TEXT_EVERY))
            .take(present.len())
            .collect();
        assert_eq!(
            present, expected,
            "iteration {iteration}: the saved edits have a hole"
        );
        reported_total += (report.referrals.len() + report.texts.len()) as u64;
        // Numbers stay unique: the next child goes on after what is on disk.
        let on_disk_max = present
            .iter()
            .copied()
            .chain(visit.answers.get(&question).and_then(|a| match a {
                AnswerValue::Text(v) => text_number(v),
                _ => None,
            }))
            .max()
            .unwrap_or(0);
        next = next.max(on_disk_max + 1);
    }
    // Every kill was checked above (a loss fails the test there), so none was lost.
    println!(
        "crash test: {iterations} kills, {reported_total} edits reported saved \
         ({} referrals, the rest text), 0 lost ({killed_before_ready} kills before the node \
         was open), {:?}",
        reported_referrals.len(),
        test_started.elapsed()
    );
    assert!(
        reported_total > iterations.max(100),
        "only {reported_total} edits were reported saved: the kills came too early to test anything"
    );

    // Everything reaches the server.
    let node = Node::open(options(&dir, false)).await.expect("open");
    let Response::Sync(status) = node.handle(Request::SyncNow).await.expect("sync") else {
        panic!("not a status")
    };
    assert!(status.last_error.is_none(), "{status:?}");
    assert_eq!(status.pending_docs, 0, "{status:?}");
    node.shutdown().await;
    let on_server = ts.visit_doc(visit_id).await;
    let on_server_numbers = referral_numbers(&on_server);
    let not_sent: Vec<&u64> = reported_referrals
        .iter()
        .filter(|n| !on_server_numbers.contains(n))
        .collect();
    assert!(
        not_sent.is_empty(),
        "the server lacks referrals: {not_sent:?}"
    );
}

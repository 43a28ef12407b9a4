//! P3, load: many simulated devices (the real node library, each with its own
//! encrypted database, as tokio tasks in this process), each holding 20 documents (the
//! programme view and 19 visits of its rep), all reconnecting with edits at the same
//! moment against one server on PostgreSQL.
//!
//! The programmes are made through a server in this process; then it stops, and the
//! real `rapport-server` binary (built beside this program) serves the same database
//! on the same address for the devices, so the server's CPU per reconnect is measured
//! by itself: its process and PostgreSQL's, apart from the devices'.
//!
//! Each device is a rep of its own, so that every device holds exactly its 20
//! documents; reps are spread over programmes of 20 reps (one lead edit per pairing
//! of a large programme would make the setup, not the measured part, slow).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_api::{Request, VisitEdit};
use rapport_domain::DocId;
use rapport_node::Node;
use rapport_testkit::{Backend, TestServer};
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;

use crate::Scale;
use crate::common::{call, fill_programme, ms, paired_node, percentile, start_visit, sync_now};
use crate::report::Report;

/// Reps (and devices) per programme.
const REPS_PER_PROGRAMME: usize = 20;
/// Visits per device (with the programme view: 20 documents).
const VISITS: usize = 19;
/// Devices set up at once.
const SETUP_PARALLEL: usize = 16;

/// CPU time (user + system, ms) of the processes whose command line contains
/// `needle`, or of this process for `None`: Linux's /proc, in USER_HZ (100 per second,
/// fixed by the kernel's ABI). 0 where /proc is missing.
fn cpu_ms(needle: Option<&str>) -> f64 {
    let ticks = |pid: &str| -> u64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0;
        };
        // Fields after the command (which may hold spaces) in parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // utime and stime are fields 14 and 15 of the line: 12 and 13 after ')'.
        get(11) + get(12)
    };
    let total: u64 = match needle {
        None => ticks("self"),
        Some(needle) => std::fs::read_dir("/proc")
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
                    .filter(|pid| {
                        std::fs::read(format!("/proc/{pid}/cmdline"))
                            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
                    })
                    .map(|pid| ticks(&pid))
                    .sum()
            })
            .unwrap_or(0),
    };
    total as f64 * 10.0
}

/// CPU time (user + system, ms) of the process `pid` so far; 0 when it is gone.
fn cpu_ms_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (get(11) + get(12)) as f64 * 10.0
}

/// The `rapport-server` binary beside this program (same target folder and profile):
/// `tools/bench.sh` builds it, as does `cargo test --workspace`.
fn server_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Integration tests run this program from `deps/`'s parent or from `deps/` itself.
    [dir.join("rapport-server"), dir.join("../rapport-server")]
        .into_iter()
        .find(|p| p.is_file())
}

/// The real server binary serving `ts`'s database and data folder on `ts`'s address
/// (where the devices were paired), stopped when dropped.
struct ServerProcess(Child);

impl ServerProcess {
    /// Starts it once the in-process server has stopped and answers `/healthz` (the
    /// port may be held for a moment by a client's connection: retried, bounded).
    async fn start(binary: &std::path::Path, ts: &TestServer) -> Self {
        let url = ts
            .config
            .database_url
            .as_ref()
            .expect("P3 runs on PostgreSQL")
            .expose()
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut child = Command::new(binary)
                .args(["serve", "--bind"])
                .arg(ts.addr().to_string())
                .arg("--data-dir")
                .arg(&ts.config.data_dir)
                .env("DATABASE_URL", &url)
                .env("RAPPORT_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the server binary starts");
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let healthy = ts
                    .http
                    .get(format!("{}/healthz", ts.url()))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if healthy {
                    return Self(child);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "the server binary did not serve {} within 30 s",
                ts.addr()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A device ready for the reconnect: its node, data folder and visits.
struct Device {
    node: Node,
    _dir: tempfile::TempDir,
    visits: Vec<DocId>,
}

/// What one device's reconnect gave.
struct Outcome {
    ms: f64,
    requests: u32,
    error: Option<String>,
}

/// Runs P3 and adds it to `report`.
pub async fn run(report: &mut Report, scale: Scale) {
    const TITLE: &str = "P3 — load";
    let devices: usize = std::env::var("RAPPORT_P3_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if scale.quick { 40 } else { 1_000 });
    let Some(ts) = TestServer::start(Backend::Postgres).await else {
        report.skipped(
            TITLE,
            "RAPPORT_TEST_DATABASE_URL is not set (tools/bench.sh sets it)",
        );
        return;
    };
    let mut ts = Arc::new(ts);
    let lead = Arc::new(ts.lead().await);
    let setup = Instant::now();
    let mut reps = Vec::new();
    for _ in 0..devices.div_ceil(REPS_PER_PROGRAMME) {
        let programme = ts.programme(&lead).await;
        for (rep, clients) in
            fill_programme(&ts, &lead, programme, REPS_PER_PROGRAMME, VISITS).await
        {
            reps.push((programme, rep, clients));
        }
    }
    reps.truncate(devices);
    eprintln!(
        "P3: {} programmes ready after {:?}",
        devices.div_ceil(REPS_PER_PROGRAMME),
        setup.elapsed()
    );

    // The server by itself: the in-process one, which made the programmes, stops (its
    // background tasks too); the binary serves the same database on the same address
    // from now on, so the devices pair with it and its resident documents are those a
    // server running for a while holds.
    let process = match server_binary() {
        Some(binary) => {
            Arc::get_mut(&mut ts)
                .expect("the setup's tasks are done")
                .stop()
                .await;
            Some(ServerProcess::start(&binary, &ts).await)
        }
        None => {
            eprintln!(
                "P3: no rapport-server binary beside this program (cargo build --release -p rapport-server): the server runs in this process"
            );
            None
        }
    };

    // Each device pairs, starts its visits with a first answer, and uploads them.
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let mut tasks = JoinSet::new();
    for (programme, rep, clients) in reps {
        let (ts, lead, gate) = (ts.clone(), lead.clone(), gate.clone());
        tasks.spawn(async move {
            let _slot = gate.acquire().await.expect("the gate stays open");
            let dir = tempfile::tempdir().expect("dir");
            let node = paired_node(&ts, &lead, programme, &rep, dir.path()).await;
            let mut visits = Vec::with_capacity(VISITS);
            for client in &clients {
                let visit = start_visit(&node, *client).await.visit.id;
                call(
                    &node,
                    Request::EditVisit {
                        visit_id: visit,
                        edit: VisitEdit::Text {
                            question_id: "carnegie.proud_of".into(),
                            value: format!("Гордятся командой ({rep})"),
                        },
                    },
                )
                .await;
                visits.push(visit);
            }
            let status = sync_now(&node).await;
            assert_eq!(status.pending_docs, 0, "{rep}: every visit uploaded");
            Device {
                node,
                _dir: dir,
                visits,
            }
        });
    }
    let mut ready = Vec::with_capacity(devices);
    while let Some(device) = tasks.join_next().await {
        ready.push(device.expect("a device is set up"));
    }
    // Before going offline every device was in sync with the server (the app syncs
    // every minute): one more run each, so no cursor is left behind the setup of the
    // devices paired after it.
    let mut settled = JoinSet::new();
    for d in ready {
        let gate = gate.clone();
        settled.spawn(async move {
            let _slot = gate.acquire().await.expect("the gate stays open");
            sync_now(&d.node).await;
            d
        });
    }
    let mut ready = Vec::with_capacity(devices);
    while let Some(device) = settled.join_next().await {
        ready.push(device.expect("a device settles"));
    }
    let setup_s = setup.elapsed().as_secs_f64();
    eprintln!("P3: {} devices set up in {setup_s:.0} s", ready.len());

    // Offline edits on every device (1–3 visits each), then all reconnect at once.
    for (i, d) in ready.iter().enumerate() {
        for (k, visit) in d.visits.iter().take(1 + i % 3).enumerate() {
            call(
                &d.node,
                Request::EditVisit {
                    visit_id: *visit,
                    edit: VisitEdit::Text {
                        question_id: "carnegie.plans".into(),
                        value: format!("План №{k}: открыть филиал в Казани 🏢"),
                    },
                },
            )
            .await;
        }
    }
    let server_pid = process.as_ref().map(ServerProcess::pid);
    let server_cpu_at = || server_pid.map_or(0.0, cpu_ms_of);
    let (own_cpu, pg_cpu, server_cpu) = (cpu_ms(None), cpu_ms(Some("postgres")), server_cpu_at());
    let committed_at = commit_counters(&ts).await;
    let barrier = Arc::new(Barrier::new(ready.len()));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for d in ready {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let t = Instant::now();
            let answer = d.node.handle(Request::SyncNow).await;
            let took = ms(t.elapsed());
            let outcome = match answer {
                Ok(rapport_api::Response::Sync(s)) => Outcome {
                    ms: took,
                    requests: s.last_run.as_ref().map_or(0, |r| r.requests),
                    error: s
                        .last_error
                        .map(|e| format!("{}: {}", e.code, e.message))
                        .or_else(|| {
                            (s.pending_docs > 0)
                                .then(|| format!("{} documents still pending", s.pending_docs))
                        }),
                },
                Ok(other) => Outcome {
                    ms: took,
                    requests: 0,
                    error: Some(format!("unexpected answer {other:?}")),
                },
                Err(e) => Outcome {
                    ms: took,
                    requests: 0,
                    error: Some(format!("{e:?}")),
                },
            };
            (d, outcome)
        });
    }
    let mut outcomes = Vec::new();
    let mut done = Vec::new();
    let deadline = Duration::from_secs(600);
    while let Some(joined) = tokio::time::timeout(deadline, tasks.join_next())
        .await
        .expect("the reconnect finished within 10 minutes")
    {
        let (d, o) = joined.expect("a device task");
        outcomes.push(o);
        done.push(d);
    }
    let total = ms(started.elapsed());
    let own_cpu = (cpu_ms(None) - own_cpu) / devices as f64;
    let pg_cpu = (cpu_ms(Some("postgres")) - pg_cpu) / devices as f64;
    let server_cpu = (server_cpu_at() - server_cpu) / devices as f64;
    let (batches, transactions) = {
        let (b, t) = commit_counters(&ts).await;
        (b - committed_at.0, t - committed_at.1)
    };
    let per_transaction = if transactions > 0.0 {
        batches / transactions
    } else {
        0.0
    };
    drop(process);
    for d in done {
        d.node.shutdown().await;
    }
    let errors: Vec<&String> = outcomes.iter().filter_map(|o| o.error.as_ref()).collect();
    for e in errors.iter().take(5) {
        eprintln!("P3 error: {e}");
    }
    let times: Vec<f64> = outcomes.iter().map(|o| o.ms).collect();
    let requests: u32 = outcomes.iter().map(|o| o.requests).sum();
    let one_request = outcomes.iter().filter(|o| o.requests == 1).count();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));

    let where_server = if server_pid.is_some() {
        format!(
            "the `rapport-server` binary in its own process; CPU per reconnect: {server_cpu:.2} ms in the server \
             process and {pg_cpu:.2} ms in PostgreSQL ({:.2} ms together), {own_cpu:.2} ms in the devices' process",
            server_cpu + pg_cpu
        )
    } else {
        format!(
            "the server in the devices' process (no server binary was found); CPU per reconnect: {own_cpu:.2} ms \
             in that process (devices and server) and {pg_cpu:.2} ms in PostgreSQL"
        )
    };
    report.part(
        TITLE,
        &format!(
            "{devices} devices (rapport-node, each with its own SQLCipher database, tokio tasks in one process), \
             each holding 20 documents (the programme view and 19 visits), each with 1–3 visits edited offline, \
             all calling `SyncNow` at the same instant against one server on PostgreSQL: {where_server}. All \
             share 2 cores. Latency is each device's whole reconnect as the device sees it (request, server \
             commit, response, local persistence); {one_request} of {devices} reconnects were one request; \
             group commit stored {batches:.0} commits in {transactions:.0} transactions \
             ({per_transaction:.1} a transaction). \
             With 2 cores, {devices} reconnects at once cannot all end sooner than {:.0} ms.",
            (own_cpu + pg_cpu + server_cpu) * devices as f64 / 2.0
        ),
    );
    report.table(&[
        "devices",
        "errors",
        "target",
        "requests",
        "p50 (ms)",
        "p99 (ms)",
        "target p99 < 1 s",
        "server CPU per reconnect, server + PostgreSQL (ms)",
        "target ≤ 1.5 ms",
        "all done (ms)",
        "setup (s)",
    ]);
    let errors_ok = report.target("p3_errors", errors.is_empty());
    let p99_ok = report.target("p3_p99", p99 < 1000.0);
    let server_total = server_cpu + pg_cpu;
    let cpu_ok = if server_pid.is_some() {
        report.target("p3_server_cpu", server_total <= 1.5)
    } else {
        "not measured".to_owned()
    };
    report.row(&[
        devices.to_string(),
        errors.len().to_string(),
        errors_ok,
        requests.to_string(),
        format!("{p50:.0}"),
        format!("{p99:.0}"),
        p99_ok,
        format!("{server_total:.2}"),
        cpu_ok,
        format!("{total:.0}"),
        format!("{setup_s:.0}"),
    ]);
    report.figure("p3_devices", devices);
    report.figure("p3_errors", errors.len());
    report.figure("p3_requests", requests);
    report.figure("p3_p50_ms", format!("{p50:.1}"));
    report.figure("p3_p99_ms", format!("{p99:.1}"));
    report.figure("p3_total_ms", format!("{total:.0}"));
    report.figure("p3_cpu_ms_per_reconnect_process", format!("{own_cpu:.2}"));
    report.figure("p3_cpu_ms_per_reconnect_server", format!("{server_cpu:.2}"));
    report.figure("p3_cpu_ms_per_reconnect_postgres", format!("{pg_cpu:.2}"));
    report.figure(
        "p3_commits_per_transaction",
        format!("{per_transaction:.1}"),
    );
}

/// The server's group-commit counters from its `/metrics`: commits (batches) and the
/// transactions they took; zeros when it does not answer.
async fn commit_counters(ts: &TestServer) -> (f64, f64) {
    let text = match ts.http.get(format!("{}/metrics", ts.url())).send().await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    (
        value("rapport_store_commit_batches_total"),
        value("rapport_store_commit_transactions_total"),
    )
}

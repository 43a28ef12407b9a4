//! P3, load, and P3b, steady load: many real device nodes (`rapport-node`, each with its
//! own encrypted database) against one server on PostgreSQL. P3: each holds 20
//! documents (the programme view and 19 visits of its rep) and all reconnect with edits
//! at the same moment. P3b: 5,000 devices each sync once a minute with an edit, for
//! five minutes.
//!
//! The programmes are made through a server in this process; then it stops, and the
//! real `rapport-server` binary (built beside this program) serves the same database
//! on the same address. The devices run in a process of their own, the device fleet
//! (`fleet.rs`, this program started again), so the server's CPU (its process and
//! PostgreSQL's), the devices' and this program's are read apart.
//!
//! Each device is a rep of its own, so that every device holds exactly its documents;
//! reps are spread over programmes of 20 reps (one lead edit per pairing of a large
//! programme would make the setup, not the measured part, slow).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rapport_testkit::{Backend, TestServer};

use crate::Scale;
use crate::common::{fill_programme, percentile};
use crate::fleet::{self, DevicePlan, Fleet, Outcomes};
use crate::report::Report;

/// Reps (and devices) per programme.
const REPS_PER_PROGRAMME: usize = 20;
/// P3's visits per device (with the programme view: 20 documents).
const VISITS: usize = 19;
/// P3b's visits per device: one is edited at each sync, in turn.
const STEADY_VISITS: usize = 3;
/// Devices set up at once.
const SETUP_PARALLEL: usize = 16;

/// CPU time (user + system, ms) of the process `pid` so far: Linux's /proc, in USER_HZ
/// (100 per second, fixed by the kernel's ABI). 0 when it is gone or /proc is missing.
fn cpu_ms_of(pid: impl std::fmt::Display) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) in parentheses.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after ')'.
    (get(11) + get(12)) as f64 * 10.0
}

/// CPU time (ms) so far of every process whose command line contains `needle`.
fn cpu_ms_matching(needle: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .map(cpu_ms_of)
        .sum()
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

/// The stage of P3 and P3b: the server on PostgreSQL (the binary when it was built,
/// else in this process), and the fleet with every device set up.
struct Stage {
    ts: TestServer,
    process: Option<ServerProcess>,
    fleet: Fleet,
    setup_s: f64,
}

/// Vacuums and analyses the database the setup filled, so that PostgreSQL's
/// autovacuum does not do it during the measured part: P3 counts every `postgres`
/// process, and in one run an autovacuum worker started by the setup's writes took
/// 220 ms (0.2 ms a reconnect) while the devices reconnected. What the measured
/// part's own writes set off is still counted.
async fn settle_postgres(ts: &TestServer) {
    let pool = ts.raw_pool().await;
    let started = Instant::now();
    if let Err(e) = sqlx::query("VACUUM (ANALYZE)").execute(&pool).await {
        eprintln!("could not vacuum the setup's database: {e}");
    }
    pool.close().await;
    eprintln!("vacuumed after the setup in {:?}", started.elapsed());
}

/// CPU time so far (ms) of the server's process, PostgreSQL's and the fleet's.
#[derive(Clone, Copy)]
struct Cpu {
    server: f64,
    postgres: f64,
    fleet: f64,
}

impl Stage {
    /// Programmes of [`REPS_PER_PROGRAMME`] reps with `visits` clients each, the server
    /// binary started on them, and `devices` devices of the fleet set up (each a rep of
    /// its own). `None` without PostgreSQL.
    async fn set_up(devices: usize, visits: usize) -> Option<Self> {
        let mut ts = TestServer::start(Backend::Postgres).await?;
        let lead = ts.lead().await;
        let setup = Instant::now();
        let mut reps = Vec::new();
        for _ in 0..devices.div_ceil(REPS_PER_PROGRAMME) {
            let programme = ts.programme(&lead).await;
            for (rep, clients) in
                fill_programme(&ts, &lead, programme, REPS_PER_PROGRAMME, visits).await
            {
                reps.push((programme, rep, clients));
            }
        }
        reps.truncate(devices);
        eprintln!(
            "{} programmes ready after {:?}",
            devices.div_ceil(REPS_PER_PROGRAMME),
            setup.elapsed()
        );
        // The server by itself: the in-process one, which made the programmes, stops
        // (its background tasks too); the binary serves the same database on the same
        // address from now on, so the devices pair with it and its resident documents
        // are those a server running for a while holds.
        let process = match server_binary() {
            Some(binary) => {
                ts.stop().await;
                Some(ServerProcess::start(&binary, &ts).await)
            }
            None => {
                eprintln!(
                    "no rapport-server binary beside this program (cargo build --release -p rapport-server): \
                     the server runs in this process"
                );
                None
            }
        };
        let mut plans = Vec::with_capacity(reps.len());
        for (programme, rep, clients) in reps {
            let code = ts.pairing_code(&lead, programme, Some(&rep)).await;
            plans.push(DevicePlan {
                server_url: ts.url().to_owned(),
                code,
                rep,
                clients,
            });
        }
        let fleet = Fleet::set_up(plans, SETUP_PARALLEL).await;
        settle_postgres(&ts).await;
        let setup_s = setup.elapsed().as_secs_f64();
        eprintln!("{devices} devices set up in {setup_s:.0} s");
        Some(Self {
            ts,
            process,
            fleet,
            setup_s,
        })
    }

    /// The server's process id: the binary's, or this program's when it runs here.
    fn server_pid(&self) -> u32 {
        self.process
            .as_ref()
            .map_or_else(std::process::id, ServerProcess::pid)
    }

    fn cpu(&self) -> Cpu {
        Cpu {
            server: cpu_ms_of(self.server_pid()),
            postgres: cpu_ms_matching("postgres"),
            fleet: self.fleet.pids().into_iter().map(cpu_ms_of).sum(),
        }
    }

    /// Where the server ran, for the report.
    fn server_is(&self) -> &'static str {
        if self.process.is_some() {
            "the `rapport-server` binary in its own process"
        } else {
            "the server in the benchmark's process (no server binary was found)"
        }
    }

    /// Stops the fleet and the server; what every part reports of `outcomes` (the first
    /// errors are printed, marked with `part`).
    async fn end(self, part: &str, outcomes: &Outcomes) -> Summary {
        let summary = Summary {
            server_is: self.server_is(),
            setup_s: self.setup_s,
            errors: outcomes.errors.len(),
            p50: percentile(&outcomes.times_ms, 0.5),
            p99: percentile(&outcomes.times_ms, 0.99),
        };
        self.fleet.quit().await;
        drop(self.process);
        for e in outcomes.errors.iter().take(5) {
            eprintln!("{part} error: {e}");
        }
        summary
    }
}

/// What P3 and P3b report alike.
struct Summary {
    server_is: &'static str,
    setup_s: f64,
    errors: usize,
    p50: f64,
    p99: f64,
}

impl Cpu {
    /// CPU per `n` (ms) since `before`.
    fn per(self, before: Cpu, n: usize) -> Cpu {
        let n = n.max(1) as f64;
        Cpu {
            server: (self.server - before.server) / n,
            postgres: (self.postgres - before.postgres) / n,
            fleet: (self.fleet - before.fleet) / n,
        }
    }
}

/// A number from the environment variable `name`, if set and a number.
fn from_env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

/// Runs P3 and adds it to `report`.
pub async fn run(report: &mut Report, scale: Scale) {
    const TITLE: &str = "P3 — load";
    let devices: usize =
        from_env("RAPPORT_P3_DEVICES").unwrap_or(if scale.quick { 40 } else { 1_000 });
    let Some(mut stage) = Stage::set_up(devices, VISITS).await else {
        report.skipped(
            TITLE,
            "RAPPORT_TEST_DATABASE_URL is not set (tools/bench.sh sets it)",
        );
        return;
    };
    // Offline edits on every device (1–3 visits each), then all reconnect at once.
    stage
        .fleet
        .all(|_| fleet::Command::EditOffline, Duration::from_secs(600))
        .await;
    let before = stage.cpu();
    let counted_at = counters(&stage.ts).await;
    let started = Instant::now();
    let outcomes = stage
        .fleet
        .all(|_| fleet::Command::Reconnect, Duration::from_secs(900))
        .await;
    let total = started.elapsed().as_secs_f64() * 1000.0;
    let cpu = stage.cpu().per(before, devices);
    let [batches, transactions, misses, followed, adopted] = {
        let now = counters(&stage.ts).await;
        std::array::from_fn(|i| now[i] - counted_at[i])
    };
    let per_transaction = if transactions > 0.0 {
        batches / transactions
    } else {
        0.0
    };
    let Summary {
        server_is,
        setup_s,
        errors,
        p50,
        p99,
    } = stage.end("P3", &outcomes).await;
    let server_total = cpu.server + cpu.postgres;
    report.part(
        TITLE,
        &format!(
            "{devices} devices (rapport-node, each with its own SQLCipher database, tokio tasks in the device \
             fleet's processes of up to {} devices each), each holding 20 documents (the programme view and \
             19 visits), each with 1–3 visits edited offline, all calling `SyncNow` at the same instant against one server on \
             PostgreSQL: {server_is}. CPU per reconnect: {:.2} ms in the server process and {:.2} ms in \
             PostgreSQL ({server_total:.2} ms together), {:.2} ms in the devices' processes. All share 2 cores. \
             Latency is each device's whole reconnect as the device sees it (request, server commit, \
             response, local persistence); {} of {devices} reconnects were one request; group commit \
             stored {batches:.0} commits in {transactions:.0} transactions ({per_transaction:.1} a \
             transaction). Resident documents: {misses:.0} loaded from the store, {followed:.0} \
             brought along by commits, of which {adopted:.0} took the checked copy. With 2 cores, {devices} reconnects at once cannot all end sooner than {:.0} ms.",
            fleet::PER_PROCESS,
            cpu.server,
            cpu.postgres,
            cpu.fleet,
            outcomes.one_request,
            (cpu.server + cpu.postgres + cpu.fleet) * devices as f64 / 2.0
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
    let errors_ok = report.target(
        "p3_errors",
        errors == 0 && outcomes.times_ms.len() == devices,
    );
    let p99_ok = report.target("p3_p99", p99 < 1000.0);
    let cpu_ok = report.target("p3_server_cpu", server_total <= 1.5);
    report.row(&[
        devices.to_string(),
        errors.to_string(),
        errors_ok,
        outcomes.requests.to_string(),
        format!("{p50:.0}"),
        format!("{p99:.0}"),
        p99_ok,
        format!("{server_total:.2}"),
        cpu_ok,
        format!("{total:.0}"),
        format!("{setup_s:.0}"),
    ]);
    report.figure("p3_devices", devices);
    report.figure("p3_errors", errors);
    report.figure("p3_requests", outcomes.requests);
    report.figure("p3_p50_ms", format!("{p50:.1}"));
    report.figure("p3_p99_ms", format!("{p99:.1}"));
    report.figure("p3_total_ms", format!("{total:.0}"));
    report.figure(
        "p3_cpu_ms_per_reconnect_process",
        format!("{:.2}", cpu.fleet),
    );
    report.figure(
        "p3_cpu_ms_per_reconnect_server",
        format!("{:.2}", cpu.server),
    );
    report.figure(
        "p3_cpu_ms_per_reconnect_postgres",
        format!("{:.2}", cpu.postgres),
    );
    report.figure(
        "p3_commits_per_transaction",
        format!("{per_transaction:.1}"),
    );
    report.figure("p3_resident_misses", misses);
    report.figure("p3_resident_followed", followed);
    report.figure("p3_resident_adopted", adopted);
}

/// Runs P3b and adds it to `report`.
pub async fn run_steady(report: &mut Report, scale: Scale) {
    const TITLE: &str = "P3b — steady load";
    let devices: usize =
        from_env("RAPPORT_P3B_DEVICES").unwrap_or(if scale.quick { 40 } else { 5_000 });
    let seconds: Option<u64> = from_env("RAPPORT_P3B_SECONDS");
    let (period, duration) = if scale.quick {
        (
            Duration::from_secs(2),
            Duration::from_secs(seconds.unwrap_or(6)),
        )
    } else {
        (
            Duration::from_secs(60),
            Duration::from_secs(seconds.unwrap_or(300)),
        )
    };
    let Some(mut stage) = Stage::set_up(devices, STEADY_VISITS).await else {
        report.skipped(
            TITLE,
            "RAPPORT_TEST_DATABASE_URL is not set (tools/bench.sh sets it)",
        );
        return;
    };
    let before = stage.cpu();
    let started = Instant::now();
    let command = |first| fleet::Command::Steady {
        period_ms: period.as_millis() as u64,
        duration_ms: duration.as_millis() as u64,
        first,
        of: devices,
    };
    let outcomes = stage
        .fleet
        .all(command, duration + Duration::from_secs(900))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let syncs = outcomes.times_ms.len();
    let cpu = stage.cpu().per(before, syncs);
    let peak_mb = memory_mb_of(stage.server_pid(), "VmHWM:");
    let end_mb = memory_mb_of(stage.server_pid(), "VmRSS:");
    let Summary {
        server_is,
        setup_s,
        errors,
        p50,
        p99,
    } = stage.end("P3b", &outcomes).await;
    let planned = devices * duration.as_millis().div_ceil(period.as_millis()) as usize;
    let server_total = cpu.server + cpu.postgres;
    report.part(
        TITLE,
        &format!(
            "{devices} devices (rapport-node, each with its own SQLCipher database, in the device fleet's \
             processes of up to {} devices each), each holding the programme view and {STEADY_VISITS} \
             visits, each syncing once every {:.0} s with an edit (one visit's answer typed, then `SyncNow`; \
             first syncs spread over the first period) for {:.0} s, against {server_is} on PostgreSQL: {syncs} syncs in \
             {elapsed:.0} s ({:.1} a second), {} begun more than 1 s late. CPU per sync: {:.2} ms in the \
             server process, {:.2} ms in PostgreSQL, {:.2} ms in the devices' processes. Latency is each \
             `SyncNow` as the device sees it. The server's resident memory: {peak_mb:.0} MB at its peak \
             (its whole life, setup included), {end_mb:.0} MB at the end.",
            fleet::PER_PROCESS,
            period.as_secs_f64(),
            duration.as_secs_f64(),
            syncs as f64 / elapsed.max(0.001),
            outcomes.late,
            cpu.server,
            cpu.postgres,
            cpu.fleet,
        ),
    );
    report.table(&[
        "devices",
        "syncs",
        "errors",
        "target",
        "p50 (ms)",
        "p99 (ms)",
        "target p99 < 100 ms",
        "server CPU per sync, server + PostgreSQL (ms)",
        "server peak resident memory (MB)",
        "target < 512 MB",
        "setup (s)",
    ]);
    let errors_ok = report.target("p3b_errors", errors == 0 && syncs == planned);
    let p99_ok = report.target("p3b_p99", p99 < 100.0);
    let memory_ok = report.target("p3b_server_memory", peak_mb > 0.0 && peak_mb < 512.0);
    report.row(&[
        devices.to_string(),
        format!("{syncs} of {planned}"),
        errors.to_string(),
        errors_ok,
        format!("{p50:.0}"),
        format!("{p99:.0}"),
        p99_ok,
        format!("{server_total:.2}"),
        format!("{peak_mb:.0}"),
        memory_ok,
        format!("{setup_s:.0}"),
    ]);
    report.figure("p3b_devices", devices);
    report.figure("p3b_syncs", syncs);
    report.figure("p3b_errors", errors);
    report.figure("p3b_late", outcomes.late);
    report.figure("p3b_p50_ms", format!("{p50:.1}"));
    report.figure("p3b_p99_ms", format!("{p99:.1}"));
    report.figure("p3b_cpu_ms_per_sync_server", format!("{:.2}", cpu.server));
    report.figure(
        "p3b_cpu_ms_per_sync_postgres",
        format!("{:.2}", cpu.postgres),
    );
    report.figure("p3b_cpu_ms_per_sync_devices", format!("{:.2}", cpu.fleet));
    report.figure("p3b_server_peak_mb", format!("{peak_mb:.0}"));
    report.figure("p3b_server_end_mb", format!("{end_mb:.0}"));
}

/// A memory figure of `/proc/<pid>/status` (`field` with its colon, e.g. `VmHWM:`), in
/// MB; 0 where it cannot be read.
fn memory_mb_of(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let kb = line.strip_prefix(field)?.trim().strip_suffix("kB")?;
                kb.trim().parse::<f64>().ok()
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The server's counters named in [`COUNTERS`], read from its `/metrics`: zeros when it
/// does not answer.
async fn counters(ts: &TestServer) -> [f64; COUNTERS.len()] {
    let text = match ts.http.get(format!("{}/metrics", ts.url())).send().await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    COUNTERS.map(|name| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    })
}

/// The counters P3 reports: group commit's commits (batches) and the transactions they
/// took, and what the resident documents did.
const COUNTERS: [&str; 5] = [
    "rapport_store_commit_batches_total",
    "rapport_store_commit_transactions_total",
    "rapport_resident_misses_total",
    "rapport_resident_followed_total",
    "rapport_resident_adopted_total",
];

//! The device fleet: P3's and P3b's devices in processes of their own, so the
//! benchmark's CPU readings of the server (its process and PostgreSQL) hold no device
//! work, and the devices' CPU is read apart, from these processes.
//!
//! `rapport-bench fleet` is started by the benchmark (never by hand), once per
//! [`PER_PROCESS`] devices; it reads one [`Command`] per line on standard input and
//! answers each with one [`Reply`] line on standard output, both JSON. Its devices are
//! real device nodes (`rapport-node`), open all along as in the app, each with its own
//! SQLCipher database in a folder of the fleet's temporary directory. A node holds up to
//! four database connections, each with a thread and its memory maps: a process of a
//! thousand nodes stays well inside Linux's default limits (65,530 maps a process),
//! five thousand in one would not.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_api::{Request, Response, VisitEdit};
use rapport_domain::DocId;
use rapport_node::Node;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;

use crate::common::{call, ms, open_paired, start_visit, sync_now};

/// One device to set up: where it pairs, with which code, and the clients it visits.
#[derive(Serialize, Deserialize)]
pub struct DevicePlan {
    pub server_url: String,
    pub code: String,
    pub rep: String,
    pub clients: Vec<DocId>,
}

/// What the benchmark asks of the fleet.
#[derive(Serialize, Deserialize)]
pub enum Command {
    /// Pair every device, start a visit of each of its clients with a first answer,
    /// upload them, and sync once more.
    Setup {
        devices: Vec<DevicePlan>,
        parallel: usize,
    },
    /// One sync of every device, `parallel` at a time: sent once every fleet is set up,
    /// so that no device's cursor is left behind the setup of devices paired after it
    /// (before going offline every device was in sync: the app syncs every minute).
    Settle { parallel: usize },
    /// Offline edits on every device: 1–3 visits each.
    EditOffline,
    /// Every device calls `SyncNow` at the same instant.
    Reconnect,
    /// Every device, once per `period_ms` for `duration_ms`: edits one visit and
    /// syncs. The first syncs of all fleets' devices are spread evenly over the first
    /// period: this fleet's device `i` is number `first + i` of `of`.
    Steady {
        period_ms: u64,
        duration_ms: u64,
        first: usize,
        of: usize,
    },
    /// Shut every node down and exit.
    Quit,
}

/// The fleet's answer to one command.
#[derive(Serialize, Deserialize, Debug)]
pub enum Reply {
    Ready { devices: usize },
    Done(Outcomes),
    Failed(String),
}

/// What a reconnect or a steady run gave, as the devices saw it.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Outcomes {
    /// Each `SyncNow`'s whole time (ms): request, server commit, answer, local storage.
    pub times_ms: Vec<f64>,
    /// Requests those syncs made in all.
    pub requests: u32,
    /// Syncs that took exactly one request.
    pub one_request: usize,
    /// What failed, one line each.
    pub errors: Vec<String>,
    /// Steady runs: syncs that began more than a second after their planned time
    /// (the fleet fell behind: the load asked for was not delivered).
    pub late: usize,
}

/// A device of the fleet: its node and visits.
struct Device {
    node: Node,
    visits: Vec<DocId>,
}

/// The fleet's side: runs commands from standard input until `Quit` or its end.
pub async fn serve() -> ExitCode {
    let root = match tempfile::Builder::new().prefix("rapport-fleet-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fleet: no temporary folder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    let mut devices: Vec<Device> = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let command: Command = match serde_json::from_str(&line) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fleet: a command it cannot read ({e}): {line:.80}");
                return ExitCode::FAILURE;
            }
        };
        let reply = match command {
            Command::Quit => break,
            Command::Setup {
                devices: plans,
                parallel,
            } => match setup(root.path(), plans, parallel).await {
                Ok(set) => {
                    devices = set;
                    Reply::Ready {
                        devices: devices.len(),
                    }
                }
                Err(e) => Reply::Failed(e),
            },
            Command::Settle { parallel } => {
                let (back, outcomes) = settle(std::mem::take(&mut devices), parallel).await;
                devices = back;
                Reply::Done(outcomes)
            }
            Command::EditOffline => {
                edit_offline(&devices).await;
                Reply::Done(Outcomes::default())
            }
            Command::Reconnect => {
                let (back, outcomes) = reconnect(std::mem::take(&mut devices)).await;
                devices = back;
                Reply::Done(outcomes)
            }
            Command::Steady {
                period_ms,
                duration_ms,
                first,
                of,
            } => {
                let period = Duration::from_millis(period_ms.max(1));
                let duration = Duration::from_millis(duration_ms);
                let taken = std::mem::take(&mut devices);
                let (back, outcomes) = steady(taken, period, duration, (first, of)).await;
                devices = back;
                Reply::Done(outcomes)
            }
        };
        let mut text = serde_json::to_string(&reply).expect("a reply is JSON");
        text.push('\n');
        if out.write_all(text.as_bytes()).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
    for d in &devices {
        d.node.shutdown().await;
    }
    drop(devices);
    rapport_store::wait_for_closed_stores(Duration::from_secs(5));
    ExitCode::SUCCESS
}

/// Sets the devices up, `parallel` at a time; the first failure is the answer.
async fn setup(
    root: &Path,
    plans: Vec<DevicePlan>,
    parallel: usize,
) -> Result<Vec<Device>, String> {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (i, plan) in plans.into_iter().enumerate() {
        let gate = gate.clone();
        let dir = root.join(format!("устройство-{i}"));
        tasks.spawn(async move {
            let _slot = gate.acquire().await.expect("the gate stays open");
            std::fs::create_dir_all(&dir).expect("the device's folder");
            let node = open_paired(&dir, &plan.server_url, &plan.code).await;
            sync_now(&node).await;
            let mut visits = Vec::with_capacity(plan.clients.len());
            for client in &plan.clients {
                let visit = start_visit(&node, *client).await.visit.id;
                edit(
                    &node,
                    visit,
                    "carnegie.proud_of",
                    format!("Гордятся командой ({})", plan.rep),
                )
                .await;
                visits.push(visit);
            }
            let status = sync_now(&node).await;
            assert_eq!(status.pending_docs, 0, "{}: every visit uploaded", plan.rep);
            (i, Device { node, visits })
        });
    }
    let mut set = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        set.push(joined.map_err(|e| format!("a device's setup failed: {e}"))?);
    }
    set.sort_by_key(|(i, _)| *i);
    Ok(set.into_iter().map(|(_, d)| d).collect())
}

/// One sync of every device, `parallel` at a time.
async fn settle(devices: Vec<Device>, parallel: usize) -> (Vec<Device>, Outcomes) {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (i, d) in devices.into_iter().enumerate() {
        let gate = gate.clone();
        tasks.spawn(async move {
            let _slot = gate.acquire().await.expect("the gate stays open");
            let mut outcomes = Outcomes::default();
            outcomes.add(timed_sync(&d.node).await);
            (i, d, outcomes)
        });
    }
    collect(tasks, Duration::from_secs(3600)).await
}

/// One text answer to a visit.
async fn edit(node: &Node, visit: DocId, question: &str, value: String) {
    call(
        node,
        Request::EditVisit {
            visit_id: visit,
            edit: VisitEdit::Text {
                question_id: question.into(),
                value,
            },
        },
    )
    .await;
}

/// Offline edits on every device: 1–3 visits each.
async fn edit_offline(devices: &[Device]) {
    for (i, d) in devices.iter().enumerate() {
        for (k, visit) in d.visits.iter().take(1 + i % 3).enumerate() {
            edit(
                &d.node,
                *visit,
                "carnegie.plans",
                format!("План №{k}: открыть филиал в Казани 🏢"),
            )
            .await;
        }
    }
}

/// What one `SyncNow` gave: its time, requests, and error if any.
async fn timed_sync(node: &Node) -> (f64, u32, Option<String>) {
    let t = Instant::now();
    let answer = node.handle(Request::SyncNow).await;
    let took = ms(t.elapsed());
    match answer {
        Ok(Response::Sync(s)) => (
            took,
            s.last_run.as_ref().map_or(0, |r| r.requests),
            s.last_error
                .map(|e| format!("{}: {}", e.code, e.message))
                .or_else(|| {
                    (s.pending_docs > 0)
                        .then(|| format!("{} documents still pending", s.pending_docs))
                }),
        ),
        Ok(other) => (took, 0, Some(format!("unexpected answer {other:?}"))),
        Err(e) => (took, 0, Some(format!("{e:?}"))),
    }
}

impl Outcomes {
    fn add(&mut self, (ms, requests, error): (f64, u32, Option<String>)) {
        self.times_ms.push(ms);
        self.requests += requests;
        self.one_request += usize::from(requests == 1);
        self.errors.extend(error);
    }

    fn merge(&mut self, other: Outcomes) {
        self.times_ms.extend(other.times_ms);
        self.requests += other.requests;
        self.one_request += other.one_request;
        self.errors.extend(other.errors);
        self.late += other.late;
    }
}

/// Every device syncs at the same instant.
async fn reconnect(devices: Vec<Device>) -> (Vec<Device>, Outcomes) {
    let barrier = Arc::new(Barrier::new(devices.len()));
    let mut tasks = JoinSet::new();
    for (i, d) in devices.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let mut outcomes = Outcomes::default();
            outcomes.add(timed_sync(&d.node).await);
            (i, d, outcomes)
        });
    }
    collect(tasks, Duration::from_secs(600)).await
}

/// Every device syncs once a period with an edit; device `i` first at
/// `period × (first + i) / of`.
async fn steady(
    devices: Vec<Device>,
    period: Duration,
    duration: Duration,
    (first, of): (usize, usize),
) -> (Vec<Device>, Outcomes) {
    let of = of.max(1) as u32;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + duration;
    let mut tasks = JoinSet::new();
    for (i, d) in devices.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut outcomes = Outcomes::default();
            let mut at = start + period * ((first + i) as u32) / of;
            let mut round = 0usize;
            while at < end {
                tokio::time::sleep_until(at).await;
                outcomes.late += usize::from(at.elapsed() > Duration::from_secs(1));
                let visit = d.visits[round % d.visits.len()];
                let text = format!("Обход №{round}: новый склад в Тюмени");
                edit(&d.node, visit, "carnegie.plans", text).await;
                outcomes.add(timed_sync(&d.node).await);
                round += 1;
                at += period;
            }
            (i, d, outcomes)
        });
    }
    collect(tasks, duration + Duration::from_secs(600)).await
}

/// Joins the devices' tasks (bounded by `bound`): the devices in their order and
/// everything they measured.
async fn collect(
    mut tasks: JoinSet<(usize, Device, Outcomes)>,
    bound: Duration,
) -> (Vec<Device>, Outcomes) {
    let deadline = tokio::time::Instant::now() + bound;
    let mut back = Vec::new();
    let mut outcomes = Outcomes::default();
    while let Some(joined) = tokio::time::timeout_at(deadline, tasks.join_next())
        .await
        .expect("the devices finished within their bound")
    {
        let (i, d, got) = joined.expect("a device task");
        outcomes.merge(got);
        back.push((i, d));
    }
    back.sort_by_key(|(i, _)| *i);
    (back.into_iter().map(|(_, d)| d).collect(), outcomes)
}

/// Devices a fleet process holds at most.
pub const PER_PROCESS: usize = 1_000;

/// The benchmark's side: the fleet processes, killed when dropped.
pub struct Fleet {
    processes: Vec<FleetProcess>,
    /// How many devices each process holds, in order.
    sizes: Vec<usize>,
}

impl Fleet {
    /// Starts one fleet process per [`PER_PROCESS`] devices of `plans` and sets every
    /// device up (`parallel` at a time in all), then syncs each once more.
    pub async fn set_up(plans: Vec<DevicePlan>, parallel: usize) -> Self {
        let n = plans.len();
        let count = n.div_ceil(PER_PROCESS).max(1);
        let per = n.div_ceil(count).max(1);
        let parallel = parallel.div_ceil(count);
        let mut processes = Vec::with_capacity(count);
        let mut sizes = Vec::with_capacity(count);
        let mut plans = plans.into_iter();
        for _ in 0..count {
            let share: Vec<DevicePlan> = plans.by_ref().take(per).collect();
            sizes.push(share.len());
            let mut process = FleetProcess::start();
            let command = Command::Setup {
                devices: share,
                parallel,
            };
            process
                .send(&command)
                .await
                .expect("the fleet reads its commands");
            processes.push(process);
        }
        let mut fleet = Self { processes, sizes };
        let bound = Duration::from_secs(3600);
        for (process, size) in fleet.processes.iter_mut().zip(&fleet.sizes) {
            match process.reply(bound).await {
                Reply::Ready { devices } => assert_eq!(devices, *size, "every device set up"),
                other => panic!("the fleet's setup: {other:?}"),
            }
        }
        let settled = fleet.all(|_| Command::Settle { parallel }, bound).await;
        assert!(settled.errors.is_empty(), "settling: {:?}", settled.errors);
        fleet
    }

    /// The fleet processes' ids (for their CPU time).
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(FleetProcess::pid).collect()
    }

    /// Sends every process its command (`command(first)`, `first` being the index of
    /// its first device in the whole fleet) at once, and merges their outcomes (each
    /// awaited at most `bound`).
    pub async fn all(&mut self, command: impl Fn(usize) -> Command, bound: Duration) -> Outcomes {
        let mut first = 0;
        for (process, size) in self.processes.iter_mut().zip(&self.sizes) {
            process
                .send(&command(first))
                .await
                .expect("the fleet reads its commands");
            first += size;
        }
        let mut all = Outcomes::default();
        for process in &mut self.processes {
            match process.reply(bound).await {
                Reply::Done(o) => all.merge(o),
                other => panic!("the fleet answered {other:?}"),
            }
        }
        all
    }

    /// Asks every process to end, and waits for them (bounded).
    pub async fn quit(self) {
        for mut process in self.processes {
            let _ = process.send(&Command::Quit).await;
            let _ = tokio::time::timeout(Duration::from_secs(30), process.child.wait()).await;
        }
    }
}

/// One fleet process: this program started again as `rapport-bench fleet`.
struct FleetProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl FleetProcess {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("this program's path");
        let mut child = tokio::process::Command::new(exe)
            .arg("fleet")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the fleet starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn send(&mut self, command: &Command) -> std::io::Result<()> {
        let mut text = serde_json::to_string(command).expect("a command is JSON");
        text.push('\n');
        self.stdin.write_all(text.as_bytes()).await?;
        self.stdin.flush().await
    }

    /// The next reply, awaited at most `bound`.
    async fn reply(&mut self, bound: Duration) -> Reply {
        let line = tokio::time::timeout(bound, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("the fleet answered within {bound:?}"))
            .expect("the fleet's output")
            .expect("the fleet answered (it ended instead: see its errors above)");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the fleet's reply ({e}): {line:.200}"))
    }
}

//! A TCP proxy that breaks connections the way a bad mobile network does.
//!
//! It sits on `127.0.0.1:0` in front of a real server. For every accepted connection a
//! seeded random generator picks a fate ([`FaultKind`]): pass it through, drop it (at
//! once, or after reading part of the request), truncate the server's answer after
//! a random number of bytes (the server has usually committed by then), hold each
//! direction for 0.2–3 s before forwarding, or reset the connection (RST) in the middle
//! of the request body. It works below HTTP, so the device's own HTTP client sees real
//! cut sockets, short reads and resets, not well-formed error answers.
//!
//! A connection idle between exchanges for [`IDLE`] is closed (a NAT's idle timeout), so
//! every sync run meets fresh connections. The share of faulted connections follows the configured rate closely (a quota keeps
//! the running count within one connection of `rate × connections`), so a short run
//! still faults at least that share. The i-th connection's fate depends only on the seed
//! and `i`: `RAPPORT_FAULT_SEED` replays a run's schedule (which device opens the i-th
//! connection depends on scheduling, so a replay is close, not exact).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The variable that replays a schedule (the seed every run prints).
pub const SEED_ENV: &str = "RAPPORT_FAULT_SEED";
/// The variable with the share of connections to fault (0.2–0.9; default [`DEFAULT_RATE`]).
pub const RATE_ENV: &str = "RAPPORT_FAULT_RATE";
/// Share of connections faulted unless [`RATE_ENV`] says otherwise.
pub const DEFAULT_RATE: f64 = 0.3;
/// Shortest and longest hold of a delayed direction (ms): under a device's request
/// timeout even when both directions are held.
pub const DELAY_MS: (u64, u64) = (200, 3_000);

/// The longest a faulting handler waits for the next bytes of a request or an answer:
/// a peer that stalls ends the connection instead of leaking a task.
const READ_WAIT: Duration = Duration::from_secs(15);
/// Most bytes of a request or answer head buffered while looking for its end.
const HEAD_MAX: usize = 64 * 1024;
/// A relayed connection with no exchange under way for this long is closed, as a
/// mobile network's NAT drops an idle mapping (compressed from minutes): a device's
/// next sync run then opens a new connection and meets a new fate, instead of reusing
/// one healthy keep-alive connection for the whole test.
pub const IDLE: Duration = Duration::from_millis(300);

/// What the proxy does to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Forwarded untouched both ways.
    Pass,
    /// Closed as soon as it is accepted.
    DropAtOnce,
    /// Part of the request is read, nothing is forwarded, then the connection closes.
    DropAfterPart,
    /// The request is forwarded whole; the answer is cut after a random number of bytes
    /// (fewer than the answer has), then the connection closes.
    Truncate,
    /// Each direction is held 0.2–3 s before its first bytes are forwarded.
    Delay,
    /// The request head and part of its body reach the server, then both sides get a
    /// TCP reset.
    Reset,
}

impl FaultKind {
    /// Every fault (every kind but [`FaultKind::Pass`]).
    pub const FAULTS: [FaultKind; 5] = [
        FaultKind::DropAtOnce,
        FaultKind::DropAfterPart,
        FaultKind::Truncate,
        FaultKind::Delay,
        FaultKind::Reset,
    ];
}

/// How a proxy faults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultConfig {
    /// The schedule's seed.
    pub seed: u64,
    /// Share of connections to fault, 0.0–1.0.
    pub rate: f64,
}

impl FaultConfig {
    /// From [`SEED_ENV`] (a fresh random seed when unset) and [`RATE_ENV`] (default
    /// [`DEFAULT_RATE`]). Panics on a rate outside 0.2–0.9 or an unreadable value: a
    /// test that silently ran with fewer faults than asked would prove nothing.
    pub fn from_env() -> Self {
        let seed = match std::env::var(SEED_ENV) {
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{SEED_ENV}={s:?} is not a u64 seed")),
            Err(_) => rand::rng().random(),
        };
        let rate = match std::env::var(RATE_ENV) {
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{RATE_ENV}={s:?} is not a number like 0.3")),
            Err(_) => DEFAULT_RATE,
        };
        assert!(
            (0.2..=0.9).contains(&rate),
            "{RATE_ENV}={rate}: use 0.2–0.9 (at least a fifth of the connections are faulted; \
             above 0.9 almost nothing gets through)"
        );
        Self { seed, rate }
    }
}

/// Counts per fault kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections per kind picked for them.
    pub planned: BTreeMap<FaultKind, u64>,
    /// Connections per kind whose fault really happened (an answer shorter than the
    /// cut point, or a connection that closed before the cut, does not count).
    pub applied: BTreeMap<FaultKind, u64>,
}

impl FaultStats {
    /// Connections whose fault really happened.
    pub fn faulted(&self) -> u64 {
        self.applied
            .iter()
            .filter(|(k, _)| **k != FaultKind::Pass)
            .map(|(_, n)| n)
            .sum()
    }

    /// [`Self::faulted`] over [`Self::connections`] (0 without connections).
    pub fn share(&self) -> f64 {
        if self.connections == 0 {
            0.0
        } else {
            self.faulted() as f64 / self.connections as f64
        }
    }
}

impl fmt::Display for FaultStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections, {} faulted ({:.0} %):",
            self.connections,
            self.faulted(),
            self.share() * 100.0
        )?;
        write!(
            f,
            " Pass {}",
            self.planned.get(&FaultKind::Pass).copied().unwrap_or(0)
        )?;
        for kind in FaultKind::FAULTS {
            write!(
                f,
                " {kind:?} {}/{}",
                self.applied.get(&kind).copied().unwrap_or(0),
                self.planned.get(&kind).copied().unwrap_or(0)
            )?;
        }
        write!(f, " (faults: applied/picked)")
    }
}

/// One connection's fate and the random numbers its handler needs.
#[derive(Clone, Copy, Debug)]
struct Plan {
    kind: FaultKind,
    /// [`FaultKind::DropAfterPart`]: bytes read before closing.
    part: usize,
    /// [`FaultKind::Truncate`] / [`FaultKind::Reset`]: where to cut, as a share of the
    /// answer (or request body).
    cut: f64,
    /// [`FaultKind::Delay`]: holds of the request and of the answer.
    up: Duration,
    down: Duration,
}

struct Shared {
    upstream: SocketAddr,
    config: FaultConfig,
    stats: Mutex<FaultStats>,
    /// Connections faulted by plan so far (the quota counts these).
    planned_faults: Mutex<u64>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, FaultStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fate of connection number `index` (0-based).
    fn plan(&self, index: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(
            self.config
                .seed
                .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let wanted = rng.random_bool(self.config.rate.clamp(0.0, 1.0));
        let part = rng.random_range(1..=256);
        let cut = rng.random_range(0.0..1.0);
        let up = Duration::from_millis(rng.random_range(DELAY_MS.0..=DELAY_MS.1));
        let down = Duration::from_millis(rng.random_range(DELAY_MS.0..=DELAY_MS.1));
        let which = rng.random_range(0..FaultKind::FAULTS.len());
        let faulty = {
            let mut planned = self
                .planned_faults
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // Keep the running count within one of rate × connections: a short run then
            // faults the asked share, not just in expectation.
            let target = self.config.rate * (index + 1) as f64;
            let faulty = if (*planned as f64) < target - 1.0 {
                true
            } else if (*planned as f64) > target {
                // One more would overshoot by over one.
                false
            } else {
                wanted
            };
            *planned += u64::from(faulty);
            faulty
        };
        Plan {
            kind: if faulty {
                FaultKind::FAULTS[which]
            } else {
                FaultKind::Pass
            },
            part,
            cut,
            up,
            down,
        }
    }
}

/// The running proxy; stops (with every connection it holds) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`, faulting every connection by its plan.
    pub async fn start(upstream: SocketAddr, config: FaultConfig) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            config,
            stats: Mutex::new(FaultStats::default()),
            planned_faults: Mutex::new(0),
        });
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            // Dropping the set (when the proxy is dropped and this task aborted) aborts
            // every connection still open.
            let mut connections = JoinSet::new();
            let mut index: u64 = 0;
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let plan = accept_shared.plan(index);
                index += 1;
                {
                    let mut stats = accept_shared.stats();
                    stats.connections += 1;
                    *stats.planned.entry(plan.kind).or_default() += 1;
                }
                let shared = accept_shared.clone();
                connections.spawn(async move {
                    let _ = client.set_nodelay(true);
                    let upstream = shared.upstream;
                    handle(client, upstream, plan, || {
                        *shared.stats().applied.entry(plan.kind).or_default() += 1;
                    })
                    .await;
                });
                // Reap finished connections so the set does not grow with the run.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The proxy's base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counts so far.
    pub fn stats(&self) -> FaultStats {
        self.shared.stats().clone()
    }

    /// The configuration (seed and rate).
    pub fn config(&self) -> FaultConfig {
        self.shared.config
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs one connection to its end; calls `applied` when its fault happens.
async fn handle(mut client: TcpStream, upstream: SocketAddr, plan: Plan, applied: impl Fn()) {
    match plan.kind {
        FaultKind::DropAtOnce => applied(),
        FaultKind::DropAfterPart => {
            let mut buf = vec![0u8; plan.part];
            let _ = tokio::time::timeout(READ_WAIT, client.read(&mut buf)).await;
            applied();
        }
        FaultKind::Pass => {
            if let Ok(server) = TcpStream::connect(upstream).await {
                relay(client, server, Duration::ZERO, Duration::ZERO, || {}).await;
            }
        }
        FaultKind::Delay => {
            if let Ok(server) = TcpStream::connect(upstream).await {
                relay(client, server, plan.up, plan.down, applied).await;
            }
        }
        FaultKind::Truncate => {
            if truncate(client, upstream, plan.cut).await {
                applied();
            }
        }
        FaultKind::Reset => {
            if reset(client, upstream, plan.cut).await {
                applied();
            }
        }
    }
}

/// Where a relayed connection stands, for closing it when idle.
struct Link {
    /// An exchange is under way: a request was seen and its answer not yet delivered.
    busy: bool,
    /// The last delivery of an answer's bytes.
    last: Instant,
}

/// Relays both ways, holding the first bytes of the request for `up` and of the answer
/// for `down` (`held` is called when a hold starts). Closes the connection once no
/// exchange was under way for [`IDLE`].
async fn relay(
    client: TcpStream,
    server: TcpStream,
    up: Duration,
    down: Duration,
    held: impl Fn(),
) {
    let _ = server.set_nodelay(true);
    let link = Mutex::new(Link {
        busy: false,
        last: Instant::now(),
    });
    // Counted once per connection, though both directions are held.
    let held_once = AtomicBool::new(false);
    let held = || {
        if !held_once.swap(true, Ordering::SeqCst) {
            held();
        }
    };
    let set = |busy: bool| {
        let mut l = link.lock().unwrap_or_else(|p| p.into_inner());
        l.busy = busy;
        l.last = Instant::now();
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let requests = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut hold = up;
        while let Ok(n @ 1..) = cr.read(&mut buf).await {
            set(true);
            if !hold.is_zero() {
                held();
                tokio::time::sleep(std::mem::take(&mut hold)).await;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let answers = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut hold = down;
        while let Ok(n @ 1..) = sr.read(&mut buf).await {
            if !hold.is_zero() {
                held();
                tokio::time::sleep(std::mem::take(&mut hold)).await;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            set(false);
        }
        let _ = cw.shutdown().await;
    };
    let idle = async {
        loop {
            tokio::time::sleep(IDLE / 4).await;
            let l = link.lock().unwrap_or_else(|p| p.into_inner());
            if !l.busy && l.last.elapsed() >= IDLE {
                return;
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(requests, answers) } => {}
        () = idle => {}
    }
}

/// Forwards the request whole and the answer up to a cut point below its length.
async fn truncate(client: TcpStream, upstream: SocketAddr, cut: f64) -> bool {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return false;
    };
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    let applied = async {
        let (head, total) = read_head(&mut sr).await?;
        // Strictly fewer bytes than the answer has: the device never gets all of it.
        let cut = ((cut * total as f64) as usize).min(total.saturating_sub(1));
        let mut sent = head.len().min(cut);
        cw.write_all(&head[..sent]).await.ok()?;
        let mut buf = vec![0u8; 16 * 1024];
        while sent < cut {
            let n = tokio::time::timeout(READ_WAIT, sr.read(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            let n = n.min(cut - sent);
            cw.write_all(&buf[..n]).await.ok()?;
            sent += n;
        }
        Some(())
    }
    .await
    .is_some();
    up.abort();
    let _ = cw.shutdown().await;
    applied
}

/// Forwards the request head and part of its body, then resets both connections.
async fn reset(mut client: TcpStream, upstream: SocketAddr, cut: f64) -> bool {
    let Some((head, total)) = read_head(&mut client).await else {
        return false;
    };
    let head_len = head_len(&head).unwrap_or(head.len());
    let cut = if total > head_len {
        // Inside the body (at least one body byte missing).
        head_len + ((cut * (total - head_len) as f64) as usize).min(total - head_len - 1)
    } else {
        // No body: inside the head.
        (cut * head_len as f64) as usize
    };
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return false;
    };
    let mut sent = head.len().min(cut);
    if server.write_all(&head[..sent]).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 16 * 1024];
    while sent < cut {
        let Ok(Ok(n @ 1..)) = tokio::time::timeout(READ_WAIT, client.read(&mut buf)).await else {
            break;
        };
        let n = n.min(cut - sent);
        if server.write_all(&buf[..n]).await.is_err() {
            break;
        }
        sent += n;
    }
    let _ = server.flush().await;
    // SO_LINGER 0: closing sends RST instead of FIN, as a dropped radio link or a
    // middlebox does.
    let _ = server.set_zero_linger();
    let _ = client.set_zero_linger();
    true
}

/// Reads an HTTP message head (request or answer); the bytes read so far and the
/// message's total length (head plus `Content-Length`; what was read when the head
/// has no length). `None` when the peer closes or stalls before a whole head.
async fn read_head(from: &mut (impl AsyncRead + Unpin)) -> Option<(Vec<u8>, usize)> {
    let mut head = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::time::timeout(READ_WAIT, from.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_len(&head) {
            let total = end + content_length(&head[..end]).unwrap_or(head.len() - end);
            return Some((head, total));
        }
        if head.len() > HEAD_MAX {
            return None;
        }
    }
}

/// Length of the head (through the blank line), once it is complete.
fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// The `Content-Length` of a message head.
fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_measured_with_its_body() {
        let msg =
            "POST /api/v1/sync HTTP/1.1\r\nhost: x\r\nContent-Length: 12\r\n\r\nтело 🚀".as_bytes();
        let end = head_len(msg).expect("complete head");
        assert_eq!(&msg[end..], "тело 🚀".as_bytes());
        assert_eq!(msg.len() - end, 13);
        assert_eq!(
            content_length(&msg[..end]),
            Some(12),
            "the header, not the body, is read"
        );
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nhost: x\r\n"), None);
    }

    #[test]
    fn the_faulted_share_stays_within_one_connection_of_the_rate() {
        for rate in [0.2, 0.3, 0.5] {
            let shared = Shared {
                upstream: "127.0.0.1:9".parse().expect("address"),
                config: FaultConfig { seed: 7, rate },
                stats: Mutex::new(FaultStats::default()),
                planned_faults: Mutex::new(0),
            };
            let mut faulted = 0u64;
            let mut kinds = BTreeMap::new();
            for i in 0..200u64 {
                let plan = shared.plan(i);
                faulted += u64::from(plan.kind != FaultKind::Pass);
                *kinds.entry(plan.kind).or_insert(0u64) += 1;
                let target = rate * (i + 1) as f64;
                assert!(
                    (faulted as f64 - target).abs() <= 1.0 + 1e-9,
                    "rate {rate}: {faulted} faults after {} connections",
                    i + 1
                );
            }
            assert!(
                FaultKind::FAULTS.iter().all(|k| kinds.contains_key(k)),
                "every kind is picked: {kinds:?}"
            );
        }
    }
}

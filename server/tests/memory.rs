//! What a server keeps in memory stays bounded when nothing asks for it back:
//! - an open connection keeps little: a tablet keeps its connection open between
//!   syncs, so a server with thousands of tablets holds thousands of idle connections,
//!   and what each keeps after a large request must not be what that request needed;
//! - the request-time histograms are drained whether or not anybody reads `/metrics`.
//!
//! Counted with a counting allocator over the whole process, so the tests take turns
//! (`ONE_AT_A_TIME`).

// The counting allocator is the only unsafe code here: it forwards to the system's.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use rapport_testkit::{Backend, RepWorld, TestServer};

/// Bytes allocated less bytes freed, over every thread.
static LIVE: AtomicI64 = AtomicI64::new(0);

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter
// is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The count is the whole process's: one test measures at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Connections held open at once.
const CONNECTIONS: usize = 32;
/// The body each sends: larger than any buffer a connection should keep.
const BODY: usize = 256 * 1024;

/// Reads one HTTP/1.1 response with a `content-length` from `stream`, without
/// allocating; returns its status.
fn read_response(stream: &mut TcpStream) -> u16 {
    let mut buf = [0u8; 16 * 1024];
    let mut filled = 0;
    let head_end = loop {
        let n = stream
            .read(&mut buf[filled..])
            .expect("the response arrives");
        assert!(
            n > 0,
            "the server closed the connection instead of answering"
        );
        filled += n;
        if let Some(at) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        assert!(filled < buf.len(), "a response head of over 16 KB");
    };
    let head = std::str::from_utf8(&buf[..head_end]).expect("an ASCII head");
    let status: u16 = head[9..12].parse().expect("a status");
    let length: usize = head
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("a content-length");
    let mut left = (head_end + length).saturating_sub(filled);
    while left > 0 {
        let n = stream.read(&mut buf).expect("the body arrives");
        assert!(n > 0, "the body was cut short");
        left = left.saturating_sub(n);
    }
    status
}

/// Opens a connection and sends `head` then `body` on it; returns the open connection
/// and the response's status.
fn send(addr: SocketAddr, head: &[u8], body: &[u8]) -> (TcpStream, u16) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    stream.write_all(head).expect("sends the head");
    stream.write_all(body).expect("sends the body");
    let status = read_response(&mut stream);
    (stream, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_keeps_little_after_a_large_request() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(ts) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let RepWorld { tablet, .. } = ts.rep_with_client("ООО «Ромашка»").await;
    let addr = ts.addr();
    // A body the server reads whole and refuses: not a sync frame.
    let body: Vec<u8> = "это не кадр синхронизации · "
        .bytes()
        .cycle()
        .take(BODY)
        .collect();
    let head = format!(
        "POST /api/v1/sync HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/octet-stream\r\ncontent-length: {BODY}\r\n\r\n",
        tablet.token
    );
    let health = format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let per_connection = tokio::task::spawn_blocking(move || {
        // Once first, closed: what the first request sets up for good is not counted.
        let (first, status) = send(addr, head.as_bytes(), &body);
        assert_eq!(status, 400, "the garbage body is refused");
        drop(first);
        std::thread::sleep(Duration::from_millis(300));
        let mut open = Vec::with_capacity(CONNECTIONS);
        let before = LIVE.load(Ordering::SeqCst);
        for _ in 0..CONNECTIONS {
            let (stream, status) = send(addr, head.as_bytes(), &body);
            assert_eq!(status, 400, "the garbage body is refused");
            open.push(stream);
        }
        // The server's side of the last response is done once the client has it; a
        // moment lets its connection task return to waiting.
        std::thread::sleep(Duration::from_millis(300));
        let after = LIVE.load(Ordering::SeqCst);
        // Every connection is still open (kept alive), so what was counted is idle
        // connections, not closed ones.
        for stream in &mut open {
            stream.write_all(health.as_bytes()).expect("still open");
            assert_eq!(read_response(stream), 200, "the connection was kept alive");
        }
        (after - before) / CONNECTIONS as i64
    })
    .await
    .expect("the client thread");
    eprintln!(
        "an idle connection after a {} KB request keeps {} KB",
        BODY / 1024,
        per_connection / 1024
    );
    assert!(
        per_connection < 40 * 1024,
        "an idle connection keeps {per_connection} B after one {BODY} B request"
    );
}

/// What drained request times leave at most, whatever their number: the summary the
/// exporter keeps of a histogram rolls over a minute in three buckets of 20 s, each a
/// sketch of at most 32,768 bins of 8 bytes (256 KiB; 512 KiB with its vector's
/// growth). What one drain adds goes to the bucket of its time: the values recorded
/// here land in one bucket, or in two or three when the drains straddle a bucket's
/// end, which a loaded machine makes likely (150–220 KB left idle, 250–440 KB beside
/// three busy loops). A bound of one byte a value, 400 KB for 400,000 values, failed
/// then. Undrained, this test's values take 8 bytes each, 8 MB: five times the bound.
const SUMMARIES_AT_MOST: i64 = 3 * 512 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_are_drained_when_nobody_reads_the_metrics() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Starting a server installs the process's recorder.
    let Some(ts) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    const VALUES: usize = 1_000_000;
    let before = LIVE.load(Ordering::SeqCst);
    let times = metrics::histogram!("rapport_sync_seconds");
    for i in 0..VALUES {
        times.record(0.001 * (i % 100) as f64);
    }
    // A recorder keeps 8 bytes a value until its histograms are drained (which the
    // server's upkeep may do while they are recorded). Nobody reads /metrics, but the
    // server is in use (a drained block is freed once the threads recording have
    // moved on): within a few upkeep periods what is left is the summaries, whose size
    // does not grow with the values.
    let addr = ts.addr();
    let health = format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    let kept = loop {
        let kept = LIVE.load(Ordering::SeqCst) - before;
        if kept < SUMMARIES_AT_MOST || Instant::now() > deadline {
            break kept;
        }
        let health = health.clone();
        let status = tokio::task::spawn_blocking(move || send(addr, health.as_bytes(), &[]).1)
            .await
            .expect("the client thread");
        assert_eq!(status, 200, "/healthz");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        kept < SUMMARIES_AT_MOST,
        "{VALUES} request times still take {kept} B, with nobody reading /metrics"
    );
    // They were not lost: the next read of /metrics counts them.
    let text = reqwest::get(format!("{}/metrics", ts.url()))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("/metrics answers");
    let text = text.text().await.expect("the metrics' text");
    let count: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("rapport_sync_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count of sync times in:\n{text}"));
    assert!(count >= VALUES as f64, "{count} sync times counted");
}

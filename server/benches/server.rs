//! The server's figures: time to a serving demo on a fresh data folder, and one sync
//! request uploading 200 visit documents, on SQLite and on PostgreSQL, each against
//! the same exchange in memory (rapport-protocol's `MemServer`: no network, no
//! database) measured in the same run.
//!
//! `cargo bench -p rapport-server --bench server` (set `RAPPORT_TEST_DATABASE_URL` for
//! PostgreSQL). Prints a table, writes it to `target/bench-server.md` (or
//! `$RAPPORT_BENCH_OUT`), and prints every figure as a `name=value` line.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{Backend, TestServer, fresh_config};
use rapport_protocol::{MemServer, SyncResponse};
use rapport_server::{AppState, Server};

const ROUNDS: usize = 5;
const VISITS: usize = 200;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Fresh data folder → demo seeded → `/healthz` answers.
async fn demo_start(backend: Backend) -> Option<f64> {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let (config, _dir, _pg) = fresh_config(backend).await?;
        let started = Instant::now();
        let state = AppState::open(config).await.expect("open");
        rapport_server::demo::seed_if_empty(&state)
            .await
            .expect("seed")
            .expect("seeded on an empty store");
        let server = Server::start_with(state).await.expect("start");
        let health = reqwest::get(format!("{}/healthz", server.url()))
            .await
            .expect("healthz");
        assert!(health.status().is_success());
        times.push(ms(started.elapsed()));
        server.shutdown().await.expect("shutdown");
    }
    Some(median(times))
}

/// Per round: a device makes 200 visits (every required answer given, in Russian) and
/// sends them in one request; timed from sending to the acknowledgement, i.e. after
/// the commit. The same request body is then replayed into a `MemServer` holding the
/// same documents: the floor of the exchange without network and database.
async fn upload(backend: Backend) -> Option<(f64, f64, usize, usize)> {
    let ts = TestServer::start(backend).await?;
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(
            ts.add_client(&lead, programme, &format!("ООО «Ромашка-{i}»"), "ivanov")
                .await,
        );
    }
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet
        .sync_until_has(&[rapport_domain::view_id(programme)])
        .await;
    let (mut real, mut floor) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for round in 0..ROUNDS {
        let visits: Vec<_> = (0..VISITS)
            .map(|i| tablet.new_visit(clients[i % clients.len()]))
            .collect();
        for v in &visits {
            tablet.complete(*v);
        }
        let body = tablet.request_body();
        bytes = body.len();
        let mut mem = MemServer::default();
        let started = Instant::now();
        let reply = tablet.post(body.clone()).await.expect("sync");
        real.push(ms(started.elapsed()));
        let response =
            SyncResponse::decode(&reply, &rapport_protocol::Limits::DEFAULT).expect("response");
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert!(
            response.docs.len() >= VISITS,
            "round {round}: every visit answered"
        );
        let started = Instant::now();
        mem.handle(1, &body).expect("in memory");
        floor.push(ms(started.elapsed()));
        // Let the device finish the exchange so the next round starts clean.
        tablet.sync().await;
    }
    Some((median(real), median(floor), bytes, VISITS))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        let Some(start) = demo_start(backend).await else {
            eprintln!("{name}: skipped (set RAPPORT_TEST_DATABASE_URL for PostgreSQL)");
            continue;
        };
        let (real, floor, bytes, docs) = upload(backend).await.expect("backend available");
        rows.push(format!(
            "| {name} | {start:.0} | {docs} | {bytes} | {real:.1} | {floor:.1} | {:.1} |",
            real / floor
        ));
        lines.push(format!("demo_start_ms_{name}={start:.1}"));
        lines.push(format!("sync_200_docs_ms_{name}={real:.1}"));
        lines.push(format!("sync_200_docs_in_memory_ms_{name}={floor:.1}"));
        lines.push(format!(
            "sync_200_docs_ratio_vs_memory_{name}={:.2}",
            real / floor
        ));
        lines.push(format!("sync_200_docs_request_bytes_{name}={bytes}"));
    }
    let mut table = String::new();
    let _ = writeln!(
        table,
        "# rapport-server figures (median of {ROUNDS} rounds)\n\n\
         | store | demo start (ms) | docs in one request | request bytes | sync, HTTP + commit (ms) | same exchange in memory (ms) | ratio |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in &rows {
        let _ = writeln!(table, "{row}");
    }
    print!("{table}");
    for line in &lines {
        println!("{line}");
    }
    let out = std::env::var("RAPPORT_BENCH_OUT").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/bench-server.md")
    });
    match std::fs::write(&out, &table) {
        Ok(()) => eprintln!("written to {out}"),
        Err(e) => eprintln!("could not write {out}: {e}"),
    }
}

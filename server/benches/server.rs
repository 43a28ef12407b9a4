//! The server's figures, on SQLite and on PostgreSQL:
//! - `sync`: time to a serving demo on a fresh data folder, and one sync request
//!   uploading 200 visit documents, against the same exchange in memory
//!   (rapport-protocol's `MemServer`: no network, no database) in the same run;
//! - `status`: a programme of `RAPPORT_BENCH_CLIENTS` clients (10,000) with one
//!   completed visit each and 100 reps: the status response p50/p95 and a full CSV
//!   export of the visits, over HTTP.
//!
//! `cargo bench -p rapport-server --bench server [-- sync|status]` (set
//! `RAPPORT_TEST_DATABASE_URL` for PostgreSQL). Prints a table, writes it to
//! `target/bench-server.md` (or `$RAPPORT_BENCH_OUT`), and prints every figure as a
//! `name=value` line.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rapport_protocol::{MemServer, SyncResponse};
use rapport_server::{AppState, Server};
use rapport_testkit::{Backend, TestServer, fill_and_complete, fresh_config};

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

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// A large programme made through the domain and the lead's commit path (documents in
/// batches), then the status and the visits export requested over HTTP.
async fn large_programme(backend: Backend, clients: usize) -> Option<Status> {
    use rapport_domain::programme::{
        Membership, add_clients, apply_suggestion, put_rep, read_programme,
    };
    use rapport_domain::visit::new_visit;
    use rapport_domain::{Capacity, DocId, Segment, Strength, VisitInit, suggest_assignments};
    use rapport_server::auth::edit_actor;
    use rapport_server::edit::{create_docs, edit_doc};

    let ts = TestServer::start(backend).await?;
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let state = ts.state();
    let actor = lead.row.actor.clone();
    let now = rapport_server::now_ms();
    let setup = Instant::now();
    let ids: Vec<DocId> = (0..clients).map(|_| DocId::random()).collect();
    for chunk in ids.chunks(1000) {
        let docs = chunk
            .iter()
            .map(|id| {
                let doc = rapport_domain::client::new_client(
                    edit_actor(&actor),
                    *id,
                    &format!("ООО «Клиент {}»", id.as_uuid().simple()),
                    Segment::Corporate,
                    None,
                    now,
                )
                .expect("client");
                (*id, doc)
            })
            .collect();
        create_docs(state, docs).await.expect("clients stored");
    }
    edit_doc(state, &actor, programme, "the programme", |doc| {
        for r in 0..100 {
            put_rep(
                doc,
                &format!("rep-{r}"),
                &format!("Представитель {r}"),
                "",
                Capacity::Dedicated,
                true,
                now,
            )?;
        }
        let members: Vec<Membership> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Membership {
                client_id: *id,
                original_rep: Some(format!("rep-{}", i % 100)),
                strength: Strength::Excellent,
                monopolised: false,
            })
            .collect();
        add_clients(doc, &members, now)?;
        let p = read_programme(doc)?;
        let suggestion = suggest_assignments(&p.rep_capacities(), &p.clients_for_assignment())
            .expect("suggestion");
        apply_suggestion(doc, &suggestion, "lead", now)
    })
    .await
    .expect("programme filled");
    eprintln!(
        "status: clients and programme ready after {:?}",
        setup.elapsed()
    );
    let template = rapport_domain::default_template();
    for (n, chunk) in ids.chunks(500).enumerate() {
        let docs = chunk
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let id = DocId::random();
                let mut doc = new_visit(
                    edit_actor(&actor),
                    &VisitInit {
                        id,
                        programme_id: programme,
                        client_id: *client,
                        date: "2026-03-10".into(),
                        rep_id: format!("rep-{}", (n * 500 + i) % 100),
                    },
                    &template,
                    now,
                )
                .expect("visit");
                fill_and_complete(&mut doc, &template).expect("filled");
                (id, doc)
            })
            .collect();
        create_docs(state, docs).await.expect("visits stored");
    }
    state.projector.catch_up().await.expect("projected");
    eprintln!(
        "status: {clients} clients and visits set up in {:?}",
        setup.elapsed()
    );

    // Computed from the projections (what the first request after any change pays).
    let mut computed = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let status = rapport_server::results::compute_status(state, programme)
            .await
            .expect("status");
        computed.push(ms(started.elapsed()));
        assert_eq!(status.clients_total as usize, clients);
    }
    // Served over HTTP while nothing changes (computed once per projection version).
    let path = format!("/api/v1/programmes/{programme}/status");
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = ts
            .call(reqwest::Method::GET, &path, Some(&lead.token), None)
            .await;
        times.push(ms(started.elapsed()));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["clients_total"], clients, "every client counted");
    }
    let export = format!(
        "{}/api/v1/programmes/{programme}/exports/visits.csv",
        ts.url()
    );
    let mut exports = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let csv = ts
            .http
            .get(&export)
            .bearer_auth(&lead.token)
            .send()
            .await
            .expect("export")
            .bytes()
            .await
            .expect("csv");
        exports.push(ms(started.elapsed()));
        assert!(csv.len() > clients * 100, "a row per visit");
    }
    // The lead adds one client to the large programme (duplicate check included).
    let mut adds = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let (code, body) = ts
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/programmes/{programme}/clients"),
                Some(&lead.token),
                Some(serde_json::json!({"company": format!("ООО «Новый клиент {i}»"), "segment": "corporate"})),
            )
            .await;
        adds.push(ms(started.elapsed()));
        assert_eq!(code, 201, "{body}");
    }
    Some(Status {
        add_client: median(adds),
        computed_p50: percentile(computed.clone(), 0.5),
        computed_p95: percentile(computed, 0.95),
        served_p95: percentile(times, 0.95),
        export: median(exports),
    })
}

/// Figures of the large programme.
struct Status {
    add_client: f64,
    computed_p50: f64,
    computed_p95: f64,
    served_p95: f64,
    export: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let wants = rapport_testkit::bench_parts();
    let clients: usize = std::env::var("RAPPORT_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut rows = Vec::new();
    let mut status_rows = Vec::new();
    let mut lines = Vec::new();
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        if wants("status") {
            match large_programme(backend, clients).await {
                Some(s) => {
                    status_rows.push(format!(
                        "| {name} | {clients} | {:.1} | {:.1} | {} | {:.1} | {:.0} | {} | {:.0} |",
                        s.computed_p50,
                        s.computed_p95,
                        if s.computed_p95 < 100.0 {
                            "met"
                        } else {
                            "**missed**"
                        },
                        s.served_p95,
                        s.export,
                        if s.export < 2000.0 {
                            "met"
                        } else {
                            "**missed**"
                        },
                        s.add_client,
                    ));
                    lines.push(format!(
                        "status_computed_p50_ms_{name}={:.1}",
                        s.computed_p50
                    ));
                    lines.push(format!(
                        "status_computed_p95_ms_{name}={:.1}",
                        s.computed_p95
                    ));
                    lines.push(format!("status_served_p95_ms_{name}={:.1}", s.served_p95));
                    lines.push(format!("export_visits_csv_ms_{name}={:.1}", s.export));
                    lines.push(format!("add_one_client_ms_{name}={:.1}", s.add_client));
                }
                None => eprintln!("{name}: skipped (set RAPPORT_TEST_DATABASE_URL for PostgreSQL)"),
            }
        }
        if !wants("sync") {
            continue;
        }
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
    if !status_rows.is_empty() {
        let _ = writeln!(
            table,
            "\n| store | clients (one visit each), 100 reps | status computed p50 (ms) | computed p95 (ms) | target p95 < 100 ms | status served p95, unchanged (ms) | visits CSV export (ms) | target < 2 s | lead adds one client (ms) |\n\
             | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |"
        );
        for row in &status_rows {
            let _ = writeln!(table, "{row}");
        }
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

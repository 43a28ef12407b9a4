//! P5, the lead: a programme of 10,000 clients, 100 reps and 10,000 completed visits,
//! made through the domain and the lead's commit path; the programme status over HTTP
//! (computed from the projections, and served again with nothing changed), a full CSV
//! export of the visits, and the lead adding one client to that programme.

use std::time::Instant;

use rapport_testkit::{Backend, TestServer, fill_and_complete};

use crate::Scale;
use crate::common::{ms, percentile};
use crate::report::Report;

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
    let mut visits = Vec::with_capacity(clients);
    for (n, chunk) in ids.chunks(500).enumerate() {
        let docs: Vec<(DocId, automerge::Automerge)> = chunk
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
        visits.extend(docs.iter().map(|(id, _)| *id));
        create_docs(state, docs).await.expect("visits stored");
    }
    state.projector.catch_up().await.expect("projected");
    eprintln!(
        "status: {clients} clients and visits set up in {:?}",
        setup.elapsed()
    );

    // The first status in a process reads every visit's summary.
    let started = Instant::now();
    let status = rapport_server::results::compute_status(state, programme)
        .await
        .expect("status");
    let first = ms(started.elapsed());
    assert_eq!(status.clients_total as usize, clients);
    // After a rep's edit to one visit (a follow-up added, projected): what the first
    // request after any change pays, one visit's summary read again.
    let mut computed = Vec::new();
    for i in 0..CHANGES {
        let visit = visits[i * 397 % visits.len()];
        let task = format!("Перезвонить клиенту, изменение №{i}");
        edit_doc(state, &actor, visit, "the visit", |doc| {
            rapport_domain::visit::add_follow_up(doc, None, &task, "Иван", Some("2026-04-01"), now)
        })
        .await
        .expect("visit edited");
        state.projector.catch_up().await.expect("projected");
        let started = Instant::now();
        let status = rapport_server::results::compute_status(state, programme)
            .await
            .expect("status");
        computed.push(ms(started.elapsed()));
        assert!(
            status.open_follow_ups.iter().any(|f| f.description == task),
            "the status has the change"
        );
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
    for i in 0..ADDS {
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
        first,
        add_client: percentile(&adds, 0.5),
        add_client_max: percentile(&adds, 1.0),
        computed_p50: percentile(&computed, 0.5),
        computed_p95: percentile(&computed, 0.95),
        served_p95: percentile(&times, 0.95),
        export: percentile(&exports, 0.5),
    })
}

/// Clients the lead adds one by one to the large programme.
const ADDS: usize = 10;

/// Changes to one visit, each followed by the status.
const CHANGES: usize = 20;

/// Figures of the large programme.
struct Status {
    first: f64,
    add_client: f64,
    add_client_max: f64,
    computed_p50: f64,
    computed_p95: f64,
    served_p95: f64,
    export: f64,
}

/// Runs P5 and adds it to `report`.
pub async fn run(report: &mut Report, scale: Scale) {
    let clients = if scale.quick { 500 } else { 10_000 };
    report.part(
        "P5 — the lead",
        &format!(
            "A programme of {clients} clients, 100 reps and {clients} completed visits. Status: \
             `GET /programmes/{{id}}/status` computed after a rep's edit to one visit (what the first request after \
             any change pays; {CHANGES} changes), the first one in a process (every visit's summary read), and \
             served again with nothing changed; export: \
             `GET …/exports/visits.csv`, the whole file (median of 3); the lead adds one client \
             (`POST /programmes/{{id}}/clients`, duplicate check included; median and slowest of {ADDS}, one after another)."
        ),
    );
    report.table(&[
        "store",
        "status computed p50 / p95 (ms)",
        "target p95 < 100 ms",
        "first status in a process (ms)",
        "status served unchanged p95 (ms)",
        "visits CSV export (ms)",
        "target < 2 s",
        "lead adds one client p50 / max (ms)",
        "target p50 < 100 ms",
    ]);
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        let Some(s) = large_programme(backend, clients).await else {
            report.row(&[
                name.into(),
                "skipped: RAPPORT_TEST_DATABASE_URL is not set".into(),
            ]);
            continue;
        };
        let status_ok = report.target(&format!("p5_status_p95_{name}"), s.computed_p95 < 100.0);
        let export_ok = report.target(&format!("p5_export_{name}"), s.export < 2000.0);
        let add_ok = report.target(&format!("p5_add_one_client_{name}"), s.add_client < 100.0);
        report.row(&[
            name.into(),
            format!("{:.1} / {:.1}", s.computed_p50, s.computed_p95),
            status_ok,
            format!("{:.1}", s.first),
            format!("{:.1}", s.served_p95),
            format!("{:.0}", s.export),
            export_ok,
            format!("{:.0} / {:.0}", s.add_client, s.add_client_max),
            add_ok,
        ]);
        report.figure(
            &format!("p5_status_p50_ms_{name}"),
            format!("{:.1}", s.computed_p50),
        );
        report.figure(
            &format!("p5_status_p95_ms_{name}"),
            format!("{:.1}", s.computed_p95),
        );
        report.figure(
            &format!("p5_status_first_ms_{name}"),
            format!("{:.1}", s.first),
        );
        report.figure(
            &format!("p5_status_served_p95_ms_{name}"),
            format!("{:.1}", s.served_p95),
        );
        report.figure(
            &format!("p5_export_csv_ms_{name}"),
            format!("{:.0}", s.export),
        );
        report.figure(
            &format!("p5_add_one_client_ms_{name}"),
            format!("{:.0}", s.add_client),
        );
        report.figure(
            &format!("p5_add_one_client_max_ms_{name}"),
            format!("{:.0}", s.add_client_max),
        );
    }
    report.figure("p5_clients", clients);
}

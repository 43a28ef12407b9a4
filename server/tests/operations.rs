//! Operations: graceful shutdown lets an upload in flight finish and commit; metrics
//! count syncs; the health check names the store.

use std::time::Duration;

use rapport_domain::view_id;
use rapport_domain::visit::{AnswerValue, set_text_answer};
use rapport_store::{DocStore, SqliteStore};
use rapport_testkit::{Backend, RepWorld, TestServer, decode_response, eventually, sorted_heads};
use sqlx::{Connection, Executor, SqliteConnection};

/// Shutdown while a sync request is inside its commit: the request still completes
/// with 200 and everything it acknowledged is stored. The commit is held inside by a
/// second writer keeping SQLite's write lock, so the request is surely in flight when
/// shutdown starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_an_upload_in_flight() {
    let mut ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let RepWorld {
        client, mut tablet, ..
    } = ts.rep_with_client("ООО «Полярная звезда»").await;
    let visits: Vec<_> = (0..20).map(|_| tablet.new_visit(client)).collect();
    let body = tablet.request_body();

    // Another writer takes the write lock: the server's commit waits for it.
    let db_path = ts.config.sqlite_path();
    let mut blocker = SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .expect("second connection");
    blocker
        .execute("BEGIN IMMEDIATE")
        .await
        .expect("write lock");

    let upload = tokio::spawn({
        let request = ts
            .http
            .post(format!("{}/api/v1/sync", ts.url()))
            .bearer_auth(&tablet.token)
            .header("content-type", "application/octet-stream")
            .body(body);
        async move {
            let resp = request.send().await?;
            assert_eq!(resp.status(), 200, "the upload in flight is answered");
            resp.bytes().await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!upload.is_finished(), "the upload waits inside its commit");

    let server = ts.server.take().expect("running");
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for the request in flight"
    );
    blocker.execute("ROLLBACK").await.expect("release the lock");

    let reply = tokio::time::timeout(Duration::from_secs(20), upload)
        .await
        .expect("the upload ends")
        .expect("task")
        .expect("the upload in flight is answered, not cut");
    let response = decode_response(&reply);
    assert!(!response.docs.is_empty(), "every visit is acknowledged");
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    tokio::time::timeout(Duration::from_secs(20), shutdown)
        .await
        .expect("shutdown ends")
        .expect("task")
        .expect("graceful shutdown");

    let store = SqliteStore::open(&db_path).await.expect("store opens");
    for v in &visits {
        assert!(
            store.load(*v).await.expect("load").is_some(),
            "the acknowledged visit {v} is stored"
        );
    }
}

/// The server's `/metrics` text.
async fn metrics_text(ts: &TestServer) -> String {
    ts.http
        .get(format!("{}/metrics", ts.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// A counter of the server's `/metrics`.
async fn metric(ts: &TestServer, name: &str) -> f64 {
    let metrics = metrics_text(ts).await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_syncs_and_health_names_the_store() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let RepWorld {
        lead,
        programme,
        client,
        mut tablet,
    } = ts.rep_with_client("ООО «Северное сияние»").await;
    let visit = tablet.new_visit(client);
    tablet.sync().await;
    // An edit of a visit the server holds resident: the copy the sync checked takes
    // the resident copy's place, and it is the stored content.
    let plans = "Открыть филиал в Казани, ёмкость канала ×2";
    tablet
        .edit(visit, |doc, t| {
            set_text_answer(doc, t, "carnegie.plans", plans, rapport_server::now_ms())
        })
        .expect("answer");
    tablet.sync().await;
    let served = ts.visit_doc(visit).await;
    assert_eq!(
        served.answers.get("carnegie.plans"),
        Some(&AnswerValue::Text(plans.to_owned()))
    );

    // The lead's device list says when the tablet last synced.
    let (code, devices) = ts
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/programmes/{programme}/devices"),
            Some(&lead.token),
            None,
        )
        .await;
    assert_eq!(code, 200, "{devices}");
    let row = devices
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"] == tablet.device_id.as_str()))
        .unwrap_or_else(|| panic!("the tablet in {devices}"));
    let seen = row["last_seen_ms"].as_i64().expect("last seen recorded");
    assert!(rapport_server::now_ms() - seen < 60_000, "{row}");

    let metrics = metrics_text(&ts).await;
    let adopted = metric(&ts, "rapport_resident_adopted_total").await;
    assert!(adopted >= 1.0, "the sync's copy was adopted: {metrics}");
    // The lead's projection of the visit, new and edited, was made from the visit the
    // sync's check read, and holds the edit.
    ts.settle_projections().await;
    let projected: f64 = metric(&ts, "rapport_projected_from_check_total").await;
    assert!(
        projected >= 2.0,
        "projected from the check's reads: {projected}"
    );
    let meta = ts
        .state()
        .db
        .meta(visit)
        .await
        .expect("read")
        .expect("projected");
    let body: serde_json::Value =
        serde_json::from_str(&meta.body).expect("the projection's body is JSON");
    assert_eq!(body["answers"]["carnegie.plans"]["value"], plans, "{body}");
    for name in [
        "rapport_sync_requests_total",
        "rapport_changes_committed_total",
        "rapport_http_requests_total{method=\"POST\",route=\"/api/v1/sync\",status=\"200\"}",
        "rapport_store_commit_batches_total",
        "rapport_store_commit_transactions_total",
        "rapport_resident_hits_total",
        "rapport_resident_docs",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    let health: serde_json::Value = ts
        .http
        .get(format!("{}/healthz", ts.url()))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "sqlite");
}

/// A visit edited a hundred times is folded into a snapshot; syncing goes on as before
/// and a fresh device receives the same document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_folds_busy_documents_and_sync_goes_on() {
    use rapport_domain::visit::set_text_answer;
    let ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let RepWorld {
        lead,
        programme,
        client,
        mut tablet,
        ..
    } = ts.rep_with_client("ООО «Белые ночи»").await;
    let visit = tablet.new_visit(client);
    // Its first upload is stored as the saved document it came as, folded already: the
    // typing below reaches the server as changes to fold.
    assert!(tablet.sync().await.errors.is_empty());
    let mut text = String::new();
    for word in "Клиент планирует открыть три новых филиала в Сибири и на Урале"
        .split(' ')
        .cycle()
        .take(100)
    {
        text.push_str(word);
        text.push(' ');
        tablet
            .edit(visit, |doc, t| {
                set_text_answer(doc, t, "carnegie.plans", &text, rapport_server::now_ms())
            })
            .expect("typing");
    }
    assert!(tablet.sync().await.errors.is_empty());
    let store = &ts.state().store;
    let before = store.load(visit).await.expect("load").expect("stored");

    let pass = rapport_server::compactor::compact_once(&**store, 50)
        .await
        .expect("compaction");
    assert!(pass.documents >= 1 && pass.changes >= 100, "{pass:?}");
    assert!(
        store
            .compaction_candidates(50, 10)
            .await
            .expect("candidates")
            .is_empty(),
        "nothing left to fold"
    );
    let after = store.load(visit).await.expect("load").expect("stored");
    assert_eq!(after.get_heads(), before.get_heads(), "the same document");

    // More typing syncs as before; a fresh device gets the whole visit.
    tablet
        .edit(visit, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.plans",
                "Итог: три филиала 🏢",
                rapport_server::now_ms(),
            )
        })
        .expect("edit");
    assert!(tablet.sync().await.errors.is_empty());
    let mut laptop = ts.device(&lead, programme, Some("ivanov")).await;
    laptop.sync_until_has(&[visit]).await;
    assert_eq!(
        sorted_heads(&laptop.doc(&visit).expect("visit")),
        sorted_heads(&tablet.doc(&visit).expect("visit"))
    );
}

/// A failing quality check shows in the status with its client's company name (read
/// for the failing clients only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_quality_check_names_its_company_in_the_status() {
    use rapport_domain::QualityAnswer;
    use rapport_domain::visit::record_quality_check;
    let ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let slow = ts
        .add_client(&lead, programme, "ООО «Медленный интернет»", "ivanov")
        .await;
    let fine = ts
        .add_client(&lead, programme, "ООО «Всё в порядке»", "ivanov")
        .await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet
        .sync_until_has(&[view_id(programme), slow, fine])
        .await;
    for (client, actual) in [(slow, 40.0), (fine, 100.0)] {
        let visit = tablet.new_visit(client);
        tablet
            .edit(visit, |doc, t| {
                record_quality_check(
                    doc,
                    t,
                    "quality.speed",
                    &QualityAnswer {
                        target: 100.0,
                        actual,
                        outage_last_month: false,
                        note: "замер на месте".into(),
                        at_most: false,
                    },
                    rapport_server::now_ms(),
                )
            })
            .expect("quality check");
    }
    assert!(tablet.sync().await.errors.is_empty());
    let path = format!("/api/v1/programmes/{programme}/status");
    let failures = eventually("the failing check in the status", || async {
        let (code, body) = ts
            .call(reqwest::Method::GET, &path, Some(&lead.token), None)
            .await;
        assert_eq!(code, 200, "{body}");
        body["quality_failures"]
            .as_array()
            .filter(|f| !f.is_empty())
            .cloned()
    })
    .await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["company"], "ООО «Медленный интернет»");
    assert_eq!(failures[0]["client_id"], slow.to_string());
}

/// `db_connections` bounds what the server opens: eight tablets syncing at once, each
/// with a visit of its own, are served by at most two connections per pool (the
/// documents' and the server tables'), and all their answers reach the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_opens_no_more_connections_than_configured() {
    const TABLETS: usize = 8;
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.db_connections = 2).await else {
        return;
    };
    let (lead, programme, client) = ts.ivanov_with_client("ООО «Восемь планшетов»").await;
    let mut tablets = Vec::with_capacity(TABLETS);
    for _ in 0..TABLETS {
        let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
        tablet.sync_until_has(&[view_id(programme), client]).await;
        tablets.push(tablet);
    }
    let mut visits = Vec::with_capacity(TABLETS);
    for (i, tablet) in tablets.iter_mut().enumerate() {
        let visit = tablet.new_visit(client);
        let plans = format!("Планшет №{i}: продлить договор");
        tablet
            .edit(visit, |doc, t| {
                set_text_answer(doc, t, "carnegie.plans", &plans, rapport_server::now_ms())
            })
            .expect("answer");
        visits.push((visit, plans));
    }
    // One connection of the test's own, the one the count leaves out.
    let url = ts
        .config
        .database_url
        .as_ref()
        .expect("PostgreSQL")
        .expose();
    let mut raw = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to the server's database");
    let count = "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let syncs: Vec<_> = tablets
        .into_iter()
        .map(|mut tablet| {
            tokio::spawn(async move {
                let report = tablet.try_sync().await;
                (tablet, report)
            })
        })
        .collect();
    // Counted while the syncs run (a minute at most), and once more when they are done.
    let mut most = 0i64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !syncs.iter().all(|s| s.is_finished()) && std::time::Instant::now() < deadline {
        let now: i64 = sqlx::query_scalar(count)
            .fetch_one(&mut raw)
            .await
            .expect("count the server's connections");
        most = most.max(now);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for sync in syncs {
        let (_, report) = tokio::time::timeout(Duration::from_secs(60), sync)
            .await
            .expect("the sync ends within a minute")
            .expect("the sync's task");
        let report = report.expect("the sync succeeds");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }
    let after: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut raw)
        .await
        .expect("count the server's connections");
    most = most.max(after);
    assert!(
        (1..=4).contains(&most),
        "at most 2 connections per pool, 4 in all: {most} were open"
    );
    for (visit, plans) in visits {
        let served = ts.visit_doc(visit).await;
        assert_eq!(
            served.answers.get("carnegie.plans"),
            Some(&AnswerValue::Text(plans)),
            "every tablet's edit reached the server"
        );
    }
}

/// PostgreSQL ends the server's connections while they sit idle (a restart, a
/// failover, an administrator): the pools check a connection before handing it out
/// and replace a dead one, so the next health check and the next sync work without
/// an error. (Checking only connections idle for a while would save a round trip per
/// statement; under P3 it took 1 to 3 of about 15 sends per reconnect off the
/// server and no CPU that the runs' spread could show, so the check stays.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_ended_by_postgresql_while_idle_are_replaced() {
    let Some(ts) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    let RepWorld {
        client, mut tablet, ..
    } = ts.rep_with_client("ООО «Северное сияние»").await;
    let visit = tablet.new_visit(client);
    tablet.sync().await;
    let raw = ts.raw_pool().await;
    let ended: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&raw)
    .await
    .expect("end the server's connections");
    assert!(ended.len() >= 2, "both pools had connections: {ended:?}");
    assert!(ended.iter().all(|(_, e)| *e), "each was ended: {ended:?}");
    let pids: Vec<String> = ended.iter().map(|(pid, _)| pid.to_string()).collect();
    // Until they are gone: an ending connection may still answer a check.
    let gone = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid IN ({})",
        pids.join(", ")
    );
    let mut left = i64::MAX;
    for _ in 0..100 {
        left = sqlx::query_scalar(sqlx::AssertSqlSafe(gone.clone()))
            .fetch_one(&raw)
            .await
            .expect("count the ended connections");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "the ended connections are gone");
    raw.close().await;

    let (status, body) = ts.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(
        status, 200,
        "the health check after the connections ended: {body}"
    );
    let plans = "Связь с базой восстановлена";
    tablet
        .edit(visit, |doc, t| {
            set_text_answer(doc, t, "carnegie.plans", plans, rapport_server::now_ms())
        })
        .expect("answer");
    tablet
        .try_sync()
        .await
        .expect("the sync after the connections ended");
    let served = ts.visit_doc(visit).await;
    assert_eq!(
        served.answers.get("carnegie.plans"),
        Some(&AnswerValue::Text(plans.to_owned())),
        "the edit reached the server"
    );
}

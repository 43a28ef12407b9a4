//! Operations: graceful shutdown lets an upload in flight finish and commit; metrics
//! count syncs; the health check names the store.

mod common;

use std::time::Duration;

use common::{Backend, TestServer, decode_response};
use rapport_domain::view_id;
use rapport_store::{DocStore, SqliteStore};
use sqlx::{Connection, Executor, SqliteConnection};

/// Shutdown while a sync request is inside its commit: the request still completes
/// with 200 and everything it acknowledged is stored. The commit is held inside by a
/// second writer keeping SQLite's write lock, so the request is surely in flight when
/// shutdown starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_an_upload_in_flight() {
    let mut ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let client = ts
        .add_client(&lead, programme, "ООО «Полярная звезда»", "ivanov")
        .await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet.sync_until_has(&[view_id(programme), client]).await;
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
            .post(format!("{}/api/v1/sync", ts.url))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_syncs_and_health_names_the_store() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let client = ts
        .add_client(&lead, programme, "ООО «Северное сияние»", "ivanov")
        .await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet.sync_until_has(&[client]).await;
    tablet.new_visit(client);
    tablet.sync().await;

    let metrics = ts
        .http
        .get(format!("{}/metrics", ts.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "rapport_sync_requests_total",
        "rapport_changes_committed_total",
        "rapport_http_requests_total{method=\"POST\",route=\"/api/v1/sync\",status=\"200\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    let health: serde_json::Value = ts
        .http
        .get(format!("{}/healthz", ts.url))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "sqlite");
}

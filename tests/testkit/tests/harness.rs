//! The harness's own promises that the suites lean on: a restarted server answers at
//! the same URL with the data synced before, and a revoked device is refused.

use std::time::Duration;

use rapport_domain::{AnswerValue, VisitState};
use rapport_testkit::{Backend, SyncFail, TestServer, error_code, sorted_heads};
use rstest::rstest;

/// `GET /healthz` at `url`: the status, or None when nothing answers.
async fn health(url: &str) -> Option<u16> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    let resp = http.get(format!("{url}/healthz")).send().await.ok()?;
    Some(resp.status().as_u16())
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_same_port_serves_the_old_url_with_the_old_data(#[case] backend: Backend) {
    let Some(mut ts) = TestServer::start(backend).await else {
        return;
    };
    let mut w = ts.rep_with_client("ООО «Ромашка» 🌼").await;
    let visit = w.tablet.new_visit(w.client);
    w.tablet.sync().await;
    let synced = sorted_heads(&w.tablet.doc(&visit).expect("the tablet's visit"));
    // The device counts as acknowledged what the server's answers say it holds.
    let of_visit: Vec<_> = w
        .tablet
        .made
        .iter()
        .filter(|(d, _)| *d == visit)
        .copied()
        .collect();
    assert_eq!(of_visit.len(), 2, "the visit made and answered");
    assert!(
        of_visit.iter().all(|c| w.tablet.acked.contains(c)),
        "a synced visit's changes are acknowledged"
    );
    let url = ts.url().to_owned();
    assert_eq!(health(&url).await, Some(200), "the URL works before");

    ts.stop().await;
    assert_eq!(health(&url).await, None, "nothing answers while stopped");
    // The rep keeps working offline; the sync fails like a device's would.
    w.tablet.complete(visit);
    match w.tablet.try_sync().await {
        Err(SyncFail::Transport(_)) => {}
        other => panic!("a sync to a stopped server must fail in transport, got {other:?}"),
    }
    let completion = *w.tablet.made.last().expect("the completion");
    assert!(
        !w.tablet.acked.contains(&completion),
        "nothing acknowledges an edit no server received"
    );

    ts.restart_on_same_port().await;
    assert_eq!(ts.url(), url, "the URL stays the same");
    assert_eq!(health(&url).await, Some(200), "the URL works after");
    let stored = ts
        .load_doc(visit)
        .await
        .expect("the visit survived the restart");
    assert_eq!(
        sorted_heads(&stored),
        synced,
        "what was synced before is stored"
    );
    assert_eq!(
        ts.visit_doc(visit).await.answers.get("carnegie.proud_of"),
        Some(&AnswerValue::Text(
            "Гордимся командой и клиентами 🚀".to_owned()
        )),
        "the Cyrillic answer synced before the restart"
    );

    // The tablet, still configured with the old URL, delivers its offline work.
    let run = w.tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let after = ts.visit_doc(visit).await;
    assert_eq!(
        after.state,
        VisitState::Completed,
        "the offline completion arrived"
    );
    assert!(w.tablet.acked.contains(&completion));
    assert_eq!(
        sorted_heads(&ts.load_doc(visit).await.expect("stored")),
        sorted_heads(&w.tablet.doc(&visit).expect("the tablet's visit"))
    );
    // The lead's session lives in the database too: it works after the restart.
    let (status, body) = ts
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/programmes/{}/devices", w.programme),
            Some(&w.lead.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let mut w = ts.rep_with_client("АО «Василёк»").await;
    let mut other = ts.device(&w.lead, w.programme, Some("ivanov")).await;
    ts.revoke_device(&w.lead, w.programme, &w.tablet.device_id)
        .await;
    match w.tablet.try_sync().await {
        Err(SyncFail::Status(401, body)) => assert_eq!(error_code(&body), "device_revoked"),
        other => panic!("a revoked device must get 401 device_revoked, got {other:?}"),
    }
    let run = other.sync().await;
    assert!(run.errors.is_empty(), "the rep's other device still syncs");
}

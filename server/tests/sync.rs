//! Sync over HTTP on the real store: bulk upload, idempotent retries, fan-out to a
//! second device, two server processes on one PostgreSQL, and projections.

use std::time::Instant;

use rapport_domain::view_id;
use rapport_store::FeedCursor;
use rapport_testkit::{
    Backend, POLL, TestLead, TestServer, decode_response, eventually, sorted_heads,
};
use rstest::rstest;

/// A programme with rep "ivanov" and `clients` clients assigned to him.
async fn setup(
    ts: &TestServer,
    clients: usize,
) -> (TestLead, rapport_domain::DocId, Vec<rapport_domain::DocId>) {
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let mut ids = Vec::new();
    for i in 0..clients {
        ids.push(
            ts.add_client(&lead, programme, &format!("ООО «Ромашка-{i}»"), "ivanov")
                .await,
        );
    }
    (lead, programme, ids)
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_visits_arrive_in_one_exchange_with_the_same_heads(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let (lead, programme, clients) = setup(&ts, 10).await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    let wanted: Vec<_> = clients
        .iter()
        .copied()
        .chain([view_id(programme)])
        .collect();
    let first = tablet.sync_until_has(&wanted).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(
        tablet.doc(&view_id(programme)).is_some(),
        "the rep's device receives the programme view"
    );
    assert!(
        tablet.doc(&programme).is_none(),
        "and not the programme document (the lead's assessments)"
    );
    for c in &clients {
        assert!(
            tablet.doc(c).is_some(),
            "the rep's device receives its client {c}"
        );
    }

    let visits: Vec<_> = (0..200)
        .map(|i| tablet.new_visit(clients[i % clients.len()]))
        .collect();
    let started = Instant::now();
    let run = tablet.sync().await;
    eprintln!(
        "200 visits: {} requests, {} B up, {} B down, {:?}",
        run.requests,
        run.bytes_up,
        run.bytes_down,
        started.elapsed()
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(
        run.requests <= 2,
        "one exchange (+ an acknowledgement), got {}",
        run.requests
    );
    assert!(tablet.dirty.is_empty(), "everything is acknowledged");

    let stored = ts
        .state()
        .store
        .load_many(&visits)
        .await
        .expect("load_many");
    assert_eq!(stored.len(), 200);
    for (id, doc) in stored {
        let doc = doc
            .expect("loads")
            .unwrap_or_else(|| panic!("visit {id} is stored"));
        assert_eq!(
            sorted_heads(&doc),
            sorted_heads(&tablet.doc(&id).expect("device copy")),
            "the server's copy of {id} equals the device's"
        );
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_stores_nothing_new(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let (lead, programme, clients) = setup(&ts, 2).await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet.sync_until_has(&[view_id(programme)]).await;
    let visits: Vec<_> = (0..5).map(|i| tablet.new_visit(clients[i % 2])).collect();
    let body = tablet.request_body();

    let first = decode_response(&tablet.post(body.clone()).await.expect("first 200"));
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let mut counts = Vec::new();
    for v in &visits {
        let n = ts.stored_changes(*v).await;
        assert_eq!(n, 2, "create + Cyrillic answer of {v} are stored");
        counts.push(n);
    }
    let store = &ts.state().store;
    let after_first = store
        .feed(&FeedCursor::start(), 10_000)
        .await
        .expect("feed")
        .cursor;

    // The same bytes again: a proxy's retry, or a response lost on the way back.
    let second = decode_response(&tablet.post(body).await.expect("second 200"));
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    for (v, n) in visits.iter().zip(&counts) {
        assert_eq!(
            ts.stored_changes(*v).await,
            *n,
            "no change of {v} is stored twice"
        );
    }
    let page = store.feed(&after_first, 10_000).await.expect("feed");
    assert!(
        page.docs.is_empty(),
        "the retry committed nothing: {:?}",
        page.docs
    );
    // The device still converges normally afterwards.
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(tablet.dirty.is_empty());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_of_the_rep_receives_everything(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let (lead, programme, clients) = setup(&ts, 3).await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet.sync_until_has(&[view_id(programme)]).await;
    let visits: Vec<_> = (0..6).map(|i| tablet.new_visit(clients[i % 3])).collect();
    tablet.complete(visits[0]);
    tablet.sync().await;

    let mut phone = ts.device(&lead, programme, Some("ivanov")).await;
    let wanted: Vec<_> = visits
        .iter()
        .chain(&clients)
        .copied()
        .chain([view_id(programme)])
        .collect();
    let run = phone.sync_until_has(&wanted).await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    // The view changed when the phone paired (its device is registered there): it
    // reaches the phone (on PostgreSQL the feed may show it a moment later), with the
    // phone in the device register; the rest is compared with the first device's.
    let view = view_id(programme);
    for attempt in 0.. {
        let server_view = ts
            .state()
            .store
            .load(view)
            .await
            .expect("load")
            .expect("view");
        let phone_view = phone.doc(&view).expect("view on the phone");
        if sorted_heads(&phone_view) == sorted_heads(&server_view) {
            let register = rapport_domain::read_view(&phone_view)
                .expect("view")
                .devices;
            assert_eq!(register.len(), 3, "lead, tablet and phone: {register:?}");
            break;
        }
        assert!(attempt < 100, "the phone never got the server's view");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(phone.sync().await.errors.is_empty());
    }
    for id in visits.iter().chain(&clients) {
        let mine = phone
            .doc(id)
            .unwrap_or_else(|| panic!("the second device has {id}"));
        let theirs = tablet.doc(id).expect("first device copy");
        assert_eq!(sorted_heads(&mine), sorted_heads(&theirs), "{id} converged");
    }
    let text = rapport_domain::visit::read_visit(&phone.doc(&visits[1]).expect("visit"))
        .expect("readable visit");
    let answer = format!("{:?}", text.answers.get("carnegie.proud_of"));
    assert!(
        answer.contains("Гордимся командой и клиентами 🚀"),
        "{answer}"
    );
    // A reconnect with nothing new costs one small request.
    let idle = phone.sync().await;
    assert_eq!(idle.requests, 1);
    assert!(idle.bytes_up < 100 && idle.bytes_down < 100, "{idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_alternating_between_two_server_processes_converges() {
    let Some(ts) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    let other = ts.another().await;
    let (lead, programme, clients) = setup(&ts, 2).await;
    let mut roaming = ts.device(&lead, programme, Some("ivanov")).await;
    let mut watcher = ts.device(&lead, programme, Some("ivanov")).await;
    let urls = [ts.url().to_owned(), other.url()];
    let mut visits = Vec::new();
    for round in 0..6 {
        roaming.url = urls[round % 2].clone();
        let v = roaming.new_visit(clients[round % 2]);
        visits.push(v);
        if let Some(prev) = visits.first().copied() {
            roaming
                .edit(prev, |doc, t| {
                    rapport_domain::visit::set_text_answer(
                        doc,
                        t,
                        "carnegie.plans",
                        &format!("План, раунд {round} 📈"),
                        rapport_server::now_ms(),
                    )
                })
                .expect("edit");
        }
        let run = roaming.sync().await;
        assert!(run.errors.is_empty(), "round {round}: {:?}", run.errors);
        // The watcher reads from the other process each time.
        watcher.url = urls[(round + 1) % 2].clone();
        let run = watcher.sync().await;
        assert!(run.errors.is_empty(), "round {round}: {:?}", run.errors);
    }
    // The PostgreSQL feed may show the last commits a moment later: bounded retries.
    let started = Instant::now();
    for attempt in 0..100 {
        let converged = visits.iter().all(|id| {
            watcher.doc(id).map(|d| sorted_heads(&d)) == roaming.doc(id).map(|d| sorted_heads(&d))
        });
        if converged {
            break;
        }
        assert!(
            attempt < 99 && started.elapsed() < POLL,
            "the watcher never converged with the roaming device"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        watcher.sync().await;
    }
    other.shutdown().await.expect("second process stops");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_completed_visit_soon_after_sync(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let (lead, programme, clients) = setup(&ts, 2).await;
    let mut tablet = ts.device(&lead, programme, Some("ivanov")).await;
    tablet.sync_until_has(&[view_id(programme)]).await;
    // Asked before the visits exist: the status computed now must not be served later.
    let path = format!("/api/v1/programmes/{programme}/status");
    let (code, before) = ts
        .call(reqwest::Method::GET, &path, Some(&lead.token), None)
        .await;
    assert_eq!(code, 200, "{before}");
    assert_eq!(before["visits"]["completed"], 0, "{before}");
    let done = tablet.new_visit(clients[0]);
    tablet.new_visit(clients[1]);
    tablet.complete(done);
    let run = tablet.sync().await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let status = eventually("the completed visit in the status", || async {
        let (code, body) = ts
            .call(reqwest::Method::GET, &path, Some(&lead.token), None)
            .await;
        assert_eq!(code, 200, "{body}");
        (body["visits"]["completed"] == 1 && body["visits"]["draft"] == 1).then_some(body)
    })
    .await;
    let ivanov = status["reps"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["rep_id"] == "ivanov"))
        .unwrap_or_else(|| panic!("ivanov in {status}"));
    assert_eq!(ivanov["name"], "Иван Иванов");
    assert_eq!(ivanov["completed_visits"], 1, "{status}");
    assert_eq!(ivanov["assigned_clients"], 2, "{status}");
}

//! The review round over HTTP and sync, against the real server in-process: the lead
//! opens a completed visit, returns it with comments (Cyrillic), the rep's tablet gets
//! them, reworks and completes again, the lead accepts; the status counts and the
//! exports carry the state; every refusal says why and stores nothing; and a rep's
//! device cannot write a review. SQLite always, PostgreSQL when configured.

use rapport_domain::visit::{complete_visit, read_visit, review_visit, set_text_answer};
use rapport_domain::{DocId, ReviewInput, ReviewState, Verdict};
use rapport_protocol::ErrorCode;
use rapport_testkit::{Backend, TestDevice, TestServer, eventually};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_returned_with_comments_is_reworked_and_accepted(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let mut w = ts.rep_with_client("ООО «Ромашка»").await;
    let token = w.lead.token.clone();
    let p = w.programme;
    let visit = w.tablet.new_visit(w.client);
    w.tablet.sync().await;
    let path = |rest: &str| format!("/api/v1/programmes/{p}/visits/{visit}{rest}");
    let call = |method: Method, path: String, body: Option<Value>| {
        let token = token.clone();
        let ts = &ts;
        async move { ts.call(method, &path, Some(&token), body).await }
    };

    // The lead reads visits from the projections, which follow the sync's commit.
    eventually("the visit projected", || {
        let call = &call;
        async move {
            let (_, status) =
                call(Method::GET, format!("/api/v1/programmes/{p}/status"), None).await;
            (status["visits"]["draft"] == 1).then_some(())
        }
    })
    .await;

    // A draft cannot be reviewed.
    let (status, body) = call(
        Method::POST,
        path("/review"),
        Some(json!({"verdict": "accepted"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("visit_not_completed")),
        "{body}"
    );

    w.tablet.complete(visit);
    w.tablet.sync().await;
    let (status, body) = call(Method::GET, path(""), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["review"], "awaiting_review");
    assert_eq!(body["company"], "ООО «Ромашка»");
    assert_eq!(body["rep_name"], "Иван Иванов");

    // Refusals: each says what to fix, and nothing is stored.
    let before = ts.stored_changes(visit).await;
    for (input, code, http) in [
        (json!({"verdict": "returned"}), "empty_required_field", 422),
        (
            json!({"verdict": "returned", "comment": "  "}),
            "empty_required_field",
            422,
        ),
        (
            json!({"verdict": "returned", "answer_comments": {"нет.вопроса": "Что это?"}}),
            "unknown_question",
            422,
        ),
        (json!({"verdict": "может быть"}), "", 422),
        (
            json!({"comment": "Без решения"}),
            "empty_required_field",
            422,
        ),
    ] {
        let (status, body) = call(Method::POST, path("/review"), Some(input.clone())).await;
        assert_eq!(status, http, "{input}: {body}");
        if !code.is_empty() {
            assert_eq!(body["error"]["code"], code, "{input}: {body}");
        }
        assert!(
            !body["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{body}"
        );
    }
    let elsewhere = format!(
        "/api/v1/programmes/{}/visits/{visit}/review",
        DocId::random()
    );
    let (status, _) = call(
        Method::POST,
        elsewhere,
        Some(json!({"verdict": "accepted"})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        ts.stored_changes(visit).await,
        before,
        "nothing stored by a refusal"
    );

    // Returned with a comment on the visit and one on an answer.
    let (status, body) = call(
        Method::POST,
        path("/review"),
        Some(json!({
            "verdict": "returned",
            "comment": "Уточните планы клиента на осень",
            "answer_comments": {"carnegie.plans": "Какие сроки и объёмы? 📈"}
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["review"], "returned");
    let (status, body) = call(
        Method::POST,
        path("/review"),
        Some(json!({"verdict": "accepted"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_reviewed")),
        "{body}"
    );
    let (_, status_body) = call(Method::GET, format!("/api/v1/programmes/{p}/status"), None).await;
    assert_eq!(status_body["visits"]["returned"], 1, "{status_body}");
    assert_eq!(status_body["visits"]["awaiting_review"], 0, "{status_body}");
    let (_, clients) = call(Method::GET, format!("/api/v1/programmes/{p}/clients"), None).await;
    assert_eq!(clients[0]["last_visit_review"], "returned", "{clients}");
    assert_eq!(clients[0]["last_visit_id"], visit.to_string(), "{clients}");

    // The tablet receives the return; the rep reworks the answer and completes again.
    w.tablet.sync_until_has(&[visit]).await;
    for _ in 0..20 {
        let returned = w
            .tablet
            .doc(&visit)
            .and_then(|d| read_visit(&d).ok())
            .is_some_and(|v| v.review_state() == ReviewState::Returned);
        if returned {
            break;
        }
        w.tablet.sync().await;
    }
    let on_tablet = read_visit(&w.tablet.doc(&visit).expect("the visit")).expect("reads");
    let open = on_tablet
        .open_return()
        .expect("the tablet shows the return");
    assert_eq!(open.comment, "Уточните планы клиента на осень");
    assert_eq!(
        open.answer_comments["carnegie.plans"],
        "Какие сроки и объёмы? 📈"
    );
    w.tablet
        .edit(visit, |doc, t| {
            set_text_answer(
                doc,
                t,
                "carnegie.plans",
                "Рост на 20 % к октябрю",
                rapport_server::now_ms(),
            )
        })
        .expect("rework");
    w.tablet
        .edit(visit, |doc, t| {
            complete_visit(doc, t, rapport_server::now_ms() + 1)
        })
        .expect("completed again");
    w.tablet.sync().await;
    let (_, body) = call(Method::GET, path(""), None).await;
    assert_eq!(body["review"], "awaiting_review", "{body}");

    let (status, body) = call(
        Method::POST,
        path("/review"),
        Some(json!({"verdict": "accepted", "comment": "Отлично 👍"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["review"], "accepted");
    let rounds = body["visit"]["reviews"].as_object().expect("rounds");
    assert_eq!(rounds.len(), 2, "both rounds in the history: {body}");
    let (_, status_body) = call(Method::GET, format!("/api/v1/programmes/{p}/status"), None).await;
    assert_eq!(status_body["visits"]["accepted"], 1, "{status_body}");

    // The visits export carries the state and the comment.
    let resp = ts
        .http
        .get(format!(
            "{}/api/v1/programmes/{p}/exports/visits.csv",
            ts.url()
        ))
        .bearer_auth(&w.lead.token)
        .send()
        .await
        .expect("export");
    let text = String::from_utf8(resp.bytes().await.expect("bytes").to_vec()).expect("UTF-8");
    assert!(text.contains("Проверка"), "{text}");
    assert!(
        text.contains("принят") && text.contains("Отлично 👍"),
        "{text}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reps_device_cannot_write_a_review(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let mut w = ts.rep_with_client("ООО «Ромашка»").await;
    let visit = w.tablet.new_visit(w.client);
    w.tablet.complete(visit);
    w.tablet.sync().await;
    let before = ts.stored_changes(visit).await;

    // The rep's device writes an acceptance into the visit's reviews itself.
    forge_an_acceptance_and_sync(&mut w.tablet, visit).await;
    assert_eq!(ts.stored_changes(visit).await, before, "nothing stored");
    let stored = read_visit(&ts.load_doc(visit).await.expect("stored")).expect("reads");
    assert!(stored.reviews.is_empty());
    assert_eq!(stored.review_state(), ReviewState::AwaitingReview);
}

/// The same forgery in a visit the server has never seen: the device sends it whole, and
/// the check finds the review among its changes all the same; nothing of it is stored.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reps_device_cannot_write_a_review_into_a_visit_it_sends_first(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let mut w = ts.rep_with_client("ООО «Ромашка»").await;
    let visit = w.tablet.new_visit(w.client);
    w.tablet.complete(visit);
    forge_an_acceptance_and_sync(&mut w.tablet, visit).await;
    assert!(ts.load_doc(visit).await.is_none(), "nothing stored");
}

/// The rep's tablet writes an acceptance into the visit's reviews itself and syncs: the
/// server refuses the visit as a review only the programme's leads may write.
async fn forge_an_acceptance_and_sync(tablet: &mut TestDevice, visit: DocId) {
    tablet
        .edit(visit, |doc, t| {
            review_visit(
                doc,
                t,
                "подделка",
                &ReviewInput {
                    verdict: Some(Verdict::Accepted),
                    ..ReviewInput::default()
                },
                "Иван Иванов",
                rapport_server::now_ms(),
            )
        })
        .expect("the forged review is local");
    let run = tablet.sync().await;
    let refused: Vec<_> = run.errors.iter().filter(|e| e.doc == visit).collect();
    assert_eq!(refused.len(), 1, "{:?}", run.errors);
    assert_eq!(refused[0].code, ErrorCode::Forbidden);
    assert!(
        refused[0].message.contains("lead"),
        "{}",
        refused[0].message
    );
}

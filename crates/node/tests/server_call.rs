//! The lead's pages in the app reach the server through the node (`Node::call_server`):
//! real calls against the real server, and every bad call refused with what to fix
//! before anything goes on the network.

mod common;

use common::Device;
use rapport_api::ServerCall;
use rapport_testkit::{Backend, PASSWORD, TestServer};
use rstest::rstest;

fn call(server: &str, method: &str, path: &str, body: Option<serde_json::Value>) -> ServerCall {
    ServerCall {
        server: server.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        token: None,
        content_type: body.as_ref().map(|_| "application/json".to_owned()),
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_signs_in_and_reads_through_the_app(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let device = Device::new(false).await;

    // Sign-in with a Cyrillic password; the session works for the next call.
    let reply = device
        .node
        .call_server(call(
            ts.url(),
            "POST",
            "/api/v1/auth/sign-in",
            Some(serde_json::json!({"email": lead.row.email, "password": PASSWORD})),
        ))
        .await
        .expect("sign-in through the node");
    assert!(reply.content_type.starts_with("application/json"));
    let session: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    let token = session["token"].as_str().expect("a token").to_owned();
    let mut list = call(ts.url(), "get", "/api/v1/programmes", None);
    list.token = Some(token);
    let reply = device.node.call_server(list).await.expect("programmes");
    let programmes: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert!(
        programmes.to_string().contains(&programme.to_string()),
        "{programmes}"
    );

    // The server's own errors come back as they are.
    let wrong = device
        .node
        .call_server(call(
            ts.url(),
            "POST",
            "/api/v1/auth/sign-in",
            Some(serde_json::json!({"email": lead.row.email, "password": "не тот пароль"})),
        ))
        .await
        .expect_err("a wrong password is refused");
    assert_eq!(wrong.code, "invalid_credentials", "{wrong:?}");
    let unsigned = device
        .node
        .call_server(call(ts.url(), "GET", "/api/v1/programmes", None))
        .await
        .expect_err("no token");
    assert_eq!(unsigned.code, "missing_token");
}

#[rstest]
#[case::not_an_address("сервер", "GET", "/api/v1/programmes", "bad_server_address")]
#[case::no_scheme("127.0.0.1:8080", "GET", "/api/v1/programmes", "bad_server_address")]
#[case::other_scheme("file:///etc", "GET", "/api/v1/programmes", "bad_server_address")]
#[case::outside_the_api("http://127.0.0.1:9", "GET", "/metrics", "bad_path")]
#[case::climbing_out("http://127.0.0.1:9", "GET", "/api/v1/../../metrics", "bad_path")]
#[case::odd_method("http://127.0.0.1:9", "TRACE", "/api/v1/programmes", "bad_method")]
#[case::nobody_there("http://127.0.0.1:9", "GET", "/api/v1/programmes", "network")]
#[tokio::test]
async fn bad_calls_say_what_to_fix(
    #[case] server: &str,
    #[case] method: &str,
    #[case] path: &str,
    #[case] code: &str,
) {
    let device = Device::new(false).await;
    let err = device
        .node
        .call_server(call(server, method, path, None))
        .await
        .expect_err("refused");
    assert_eq!(err.code, code, "{err:?}");
    assert!(!err.message.is_empty());
}

/// The next event of `events`, which must come within `limit`.
async fn next_event(
    events: &mut rapport_node::ServerEvents,
    limit: std::time::Duration,
    what: &str,
) -> String {
    match tokio::time::timeout(limit, events.next()).await {
        Ok(Some(Ok(name))) => name,
        Ok(other) => panic!("{what}: the stream ended instead: {other:?}"),
        Err(_) => panic!("{what}: no event within {limit:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_follows_the_live_status_through_the_node() {
    let Some(mut ts) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    let mut world = ts.rep_with_client("ООО «Ромашка»").await;
    let device = Device::new(false).await;
    let path = format!("/api/v1/programmes/{}/events", world.programme);

    // Without the lead's session the server's own refusal comes back, and only GET
    // opens a stream.
    let unsigned = device
        .node
        .follow_server(call(ts.url(), "GET", &path, None))
        .await
        .err()
        .expect("no token");
    assert_eq!(unsigned.code, "missing_token", "{unsigned:?}");
    let mut post = call(ts.url(), "POST", &path, None);
    post.token = Some(world.lead.token.clone());
    let refused = device.node.follow_server(post).await.err().expect("POST");
    assert_eq!(refused.code, "bad_method", "{refused:?}");

    // Following: the first event says where the status is; a tablet's sync moves it,
    // and the stream says so at once.
    let mut follow = call(ts.url(), "get", &path, None);
    follow.token = Some(world.lead.token.clone());
    let mut events = device.node.follow_server(follow).await.expect("open");
    let limit = std::time::Duration::from_secs(10);
    assert_eq!(next_event(&mut events, limit, "first").await, "status");
    world.tablet.new_visit(world.client);
    world.tablet.sync().await;
    assert_eq!(
        next_event(&mut events, limit, "after a sync").await,
        "status"
    );

    // The server stops: the stream ends, and says nothing more.
    ts.stop().await;
    let end = tokio::time::timeout(limit, events.next())
        .await
        .expect("the stream ends when the server goes");
    assert!(
        end.as_ref().is_none_or(|r| r.is_err()),
        "no event after the server went: {end:?}"
    );
    assert!(events.next().await.is_none(), "nothing after the end");
}

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

//! JSON calls to the server under test over HTTP: the requests the lead and the
//! devices make, signing in, and the error body's code.

use serde_json::{Value, json};

/// Signs in over HTTP and returns the token.
pub async fn sign_in(http: &reqwest::Client, url: &str, email: &str, password: &str) -> String {
    let (status, body) = call(
        http,
        url,
        reqwest::Method::POST,
        "/api/v1/auth/sign-in",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "sign-in: {body}");
    body["token"].as_str().expect("token").to_owned()
}

/// One JSON call; the body is `Value::Null` when it is not JSON.
pub async fn call(
    http: &reqwest::Client,
    url: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("{url}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("HTTP request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("response body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Asserts `body` is the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error body: {body}"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error says what to do: {body}");
    code
}

//! Bad input never breaks the server: malformed and oversized sync bodies, documents
//! that break the schema (refused alone, the rest of the request is stored), bad JSON
//! to the lead's endpoints, a request head over the read buffer. Each case is followed
//! by a healthy `/healthz`.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use rapport_domain::DocId;
use rapport_protocol::ErrorCode;
use rapport_testkit::{Backend, RepWorld, SyncFail, TestServer, error_code, sorted_heads};
use reqwest::Method;
use rstest::rstest;

async fn assert_healthy(ts: &TestServer) {
    let (status, body) = ts.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200, "healthz after bad input: {body}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sync_bodies_get_400_with_a_code(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let RepWorld {
        client, mut tablet, ..
    } = ts.rep_with_client("ООО «Ромашка»").await;
    let visit = tablet.new_visit(client);
    let valid = tablet.request_body();
    assert!(valid.len() > 20);

    let mut wrong_magic = valid.clone();
    wrong_magic[..3].copy_from_slice(b"XYZ");
    let mut wrong_version = valid.clone();
    wrong_version[3] = 99;
    let mut trailing = valid.clone();
    trailing.extend_from_slice("лишнее".as_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        (
            "garbage",
            "это не кадр синхронизации 🙃".as_bytes().to_vec(),
        ),
        ("truncated frame", valid[..valid.len() / 2].to_vec()),
        ("truncated header", valid[..4].to_vec()),
        ("wrong magic", wrong_magic),
        ("wrong version", wrong_version),
        ("trailing bytes", trailing),
        (
            "huge varint",
            b"RPS\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f".to_vec(),
        ),
    ];
    for (what, body) in cases {
        match tablet.post(body).await {
            Err(SyncFail::Status(400, body)) => {
                let code = error_code(&body).to_owned();
                assert!(!code.is_empty(), "{what}");
            }
            other => panic!("{what}: expected 400 with a JSON error, got {other:?}"),
        }
        assert_healthy(&ts).await;
    }
    assert!(
        ts.state().store.load(visit).await.expect("load").is_none(),
        "nothing stored"
    );
    // The valid body still works afterwards.
    tablet
        .post(valid)
        .await
        .expect("the valid frame is accepted");
    assert!(ts.state().store.load(visit).await.expect("load").is_some());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413(#[case] backend: Backend) {
    let Some(ts) = TestServer::start_with(backend, |c| c.max_body_bytes = 4096).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let tablet = ts.device(&lead, programme, None).await;
    let mut big = b"RPS\x01\x01".to_vec();
    big.resize(10_000, 0x42);
    match tablet.post(big).await {
        Err(SyncFail::Status(413, body)) => {
            assert_eq!(error_code(&body), "body_too_large");
        }
        other => panic!("expected 413, got {other:?}"),
    }
    assert_healthy(&ts).await;
    // JSON endpoints share the limit.
    let (status, body) = ts
        .call(
            Method::POST,
            "/api/v1/programmes",
            Some(&lead.token),
            Some(serde_json::json!({"name": "Я".repeat(5000), "start": "2026-03-01", "end": "2026-06-30"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (413, "body_too_large"));
    assert_healthy(&ts).await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_breaking_the_schema_is_rejected_alone(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let RepWorld {
        client, mut tablet, ..
    } = ts.rep_with_client("ООО «Ромашка»").await;

    // A visit whose answers and state were deleted (missing fields).
    let missing = tablet.new_visit(client);
    tablet
        .edit(missing, |doc, _| {
            let mut tx = doc.transaction();
            tx.delete(ROOT, "answers").expect("raw delete");
            tx.delete(ROOT, "state").expect("raw delete");
            tx.commit();
            Ok(())
        })
        .expect("raw edit");
    // A visit with an answer of the wrong shape written with raw automerge.
    let wrong_kind = tablet.new_visit(client);
    tablet
        .edit(wrong_kind, |doc, _| {
            let mut tx = doc.transaction();
            let answers = tx.get(ROOT, "answers").expect("get").expect("answers").1;
            let odd = tx
                .put_object(&answers, "cooperation.satisfaction", ObjType::List)
                .expect("raw put");
            tx.insert(&odd, 0, "очень довольны").expect("raw insert");
            tx.commit();
            Ok(())
        })
        .expect("raw edit");
    // A document that claims another type than its scope needs.
    let bare = DocId::random();
    let mut doc = automerge::Automerge::new().with_actor(tablet.actor.clone());
    let mut tx = doc.transaction();
    tx.put(ROOT, "type", "visit").expect("put");
    tx.put(ROOT, "schema", 1_i64).expect("put");
    tx.commit();
    tablet.insert(bare, doc);
    // And a valid one in the same request.
    let good = tablet.new_visit(client);

    let run = tablet.sync().await;
    let code_of = |id: DocId| run.errors.iter().find(|e| e.doc == id).map(|e| e.code);
    assert_eq!(
        code_of(missing),
        Some(ErrorCode::Rejected),
        "{:?}",
        run.errors
    );
    assert_eq!(
        code_of(wrong_kind),
        Some(ErrorCode::Rejected),
        "{:?}",
        run.errors
    );
    assert!(
        matches!(
            code_of(bare),
            Some(ErrorCode::Rejected | ErrorCode::Forbidden)
        ),
        "{:?}",
        run.errors
    );
    assert_eq!(code_of(good), None, "{:?}", run.errors);
    for e in &run.errors {
        assert!(
            e.message.contains("nothing was stored") || e.code == ErrorCode::Forbidden,
            "{e:?}"
        );
    }
    let store = &ts.state().store;
    for id in [missing, wrong_kind, bare] {
        assert!(
            store.load(id).await.expect("load").is_none(),
            "nothing of {id} is stored"
        );
    }
    let stored = store
        .load(good)
        .await
        .expect("load")
        .expect("the valid visit is stored");
    assert_eq!(
        sorted_heads(&stored),
        sorted_heads(&tablet.doc(&good).expect("device copy"))
    );
    assert_healthy(&ts).await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_to_lead_endpoints_gets_a_json_error(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    let bodies: Vec<(&str, &str, &str)> = vec![
        ("not JSON", "/api/v1/programmes", "это не JSON"),
        ("truncated JSON", "/api/v1/programmes", "{\"name\": \"VIP"),
        (
            "wrong type",
            "/api/v1/programmes",
            "{\"name\": 5, \"start\": [], \"end\": null}",
        ),
        (
            "missing fields",
            "/api/v1/programmes",
            "{\"name\": \"Программа\"}",
        ),
        (
            "bad date",
            "/api/v1/programmes",
            "{\"name\": \"Программа\", \"start\": \"31.12.2026\", \"end\": \"2027-01-01\"}",
        ),
        ("bad sign-in", "/api/v1/auth/sign-in", "{\"email\": 1}"),
        (
            "bad pair",
            "/api/v1/devices/pair",
            "{\"code\": \"ABCD\", \"actor\": \"не-hex\"}",
        ),
    ];
    let pairing = format!("/api/v1/programmes/{programme}/pairing-codes");
    let mut all = bodies;
    all.push((
        "bad expiry",
        &pairing,
        "{\"rep_id\": null, \"expires_in_minutes\": 0}",
    ));
    all.push(("unknown rep", &pairing, "{\"rep_id\": \"нет-такого\"}"));
    for (what, path, body) in all {
        let resp = ts
            .http
            .post(format!("{}{path}", ts.url()))
            .bearer_auth(&lead.token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("HTTP");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert!((400..500).contains(&status), "{what}: {status} {text}");
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what}: the error body is not JSON: {status} {text:?}"));
        error_code(&json);
        assert_healthy(&ts).await;
    }
    // An unknown route and a wrong method answer in the same JSON shape.
    let (status, body) = ts
        .call(Method::GET, "/api/v1/нет-такого", Some(&lead.token), None)
        .await;
    assert_eq!((status, error_code(&body)), (404, "no_such_route"));
    let (status, body) = ts
        .call(
            Method::DELETE,
            "/api/v1/programmes",
            Some(&lead.token),
            None,
        )
        .await;
    assert_eq!((status, error_code(&body)), (405, "method_not_allowed"));
    // A bad id in a path.
    let (status, body) = ts
        .call(
            Method::GET,
            "/api/v1/programmes/не-uuid",
            Some(&lead.token),
            None,
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "bad_id"));
    // Without a JSON content type.
    let resp = ts
        .http
        .post(format!("{}/api/v1/programmes", ts.url()))
        .bearer_auth(&lead.token)
        .body("{}")
        .send()
        .await
        .expect("HTTP");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert!((400..500).contains(&status), "{status} {text}");
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text:?}"));
    error_code(&json);
    assert_healthy(&ts).await;
}

/// The reconcile endpoint refuses what is not a heads request with a code and changes
/// nothing: the device's sync states on the server stay (a later sync of a document it
/// already acknowledged sends nothing again), and a valid request still works.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heads_requests_get_400_with_a_code_and_change_nothing(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let RepWorld {
        client, mut tablet, ..
    } = ts.rep_with_client("ООО «Ромашка»").await;
    let visit = tablet.new_visit(client);
    tablet.sync().await;
    let peer = rapport_store::PeerId::new(tablet.device_id.clone());
    let states_before = ts
        .state()
        .store
        .sync_states(&peer, &[visit])
        .await
        .expect("states");
    assert_eq!(states_before.len(), 1);
    let sync_body = tablet.request_body();
    let token = tablet.token.clone();
    let post = |body: Vec<u8>| {
        let ts = &ts;
        let token = token.clone();
        async move {
            let resp = ts
                .http
                .post(format!("{}/api/v1/sync/heads", ts.url()))
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, resp.bytes().await.expect("body").to_vec())
        }
    };
    let mut too_many_heads = b"RPS\x01\x03\x01".to_vec();
    too_many_heads.extend_from_slice(visit.as_bytes());
    too_many_heads.extend_from_slice(&[0xff, 0x7f]);
    for (what, body, code) in [
        ("empty", Vec::new(), "frame_bad_magic"),
        (
            "garbage",
            "это не список голов 🙃".as_bytes().to_vec(),
            "frame_bad_magic",
        ),
        ("a sync request", sync_body, "frame_wrong_kind"),
        ("too many heads", too_many_heads, "frame_too_many_heads"),
        ("truncated", b"RPS\x01\x03\x05".to_vec(), "frame_truncated"),
    ] {
        let (status, body) = post(body).await;
        assert_eq!(status, 400, "{what}");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(error_code(&json), code, "{what}: {json}");
        assert_healthy(&ts).await;
    }
    assert_eq!(
        ts.state()
            .store
            .sync_states(&peer, &[visit])
            .await
            .expect("states"),
        states_before,
        "nothing forgotten"
    );
    let doc = ts
        .state()
        .store
        .load(visit)
        .await
        .expect("load")
        .expect("visit");
    let request = rapport_protocol::HeadsRequest {
        docs: vec![(visit, doc.get_heads())],
    };
    let (status, body) = post(request.encode(&Default::default()).expect("encode")).await;
    assert_eq!(status, 200);
    let answer = rapport_protocol::HeadsResponse::decode(&body, &Default::default())
        .expect("a heads response");
    assert!(answer.lacking.is_empty(), "{answer:?}");
}

/// A `rapport-instance` header that is not the opening of a device's store (letters and
/// digits, at most 64) is refused with a code before anything is read or stored, on both
/// sync endpoints; the same request with a valid one goes through.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_instance_header_gets_400_with_a_code(#[case] backend: Backend) {
    let Some(ts) = TestServer::start(backend).await else {
        return;
    };
    let RepWorld {
        client, mut tablet, ..
    } = ts.rep_with_client("ООО «Ромашка»").await;
    let visit = tablet.new_visit(client);
    let sync_body = tablet.request_body();
    let heads_body = rapport_protocol::HeadsRequest::default()
        .encode(&Default::default())
        .expect("encode");
    let post = |path: &'static str, instance: String, body: Vec<u8>| {
        let ts = &ts;
        let token = tablet.token.clone();
        async move {
            let resp = ts
                .http
                .post(format!("{}{path}", ts.url()))
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .header(rapport_protocol::INSTANCE_HEADER, instance)
                .body(body)
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, resp.bytes().await.expect("body").to_vec())
        }
    };
    for (path, body) in [
        ("/api/v1/sync", sync_body.clone()),
        ("/api/v1/sync/heads", heads_body.clone()),
    ] {
        for bad in ["не-hex", "a b", &"f".repeat(65)] {
            let (status, answer) = post(path, bad.to_owned(), body.clone()).await;
            assert_eq!(status, 400, "{path} {bad}");
            let json: serde_json::Value = serde_json::from_slice(&answer).expect("a JSON error");
            assert_eq!(error_code(&json), "bad_instance", "{path}: {json}");
        }
        assert_healthy(&ts).await;
    }
    let stored = |ts: &TestServer| {
        let store = ts.state().store.clone();
        async move { store.load(visit).await.expect("load").is_some() }
    };
    assert!(!stored(&ts).await, "nothing stored");
    let (status, _) = post("/api/v1/sync", "0123456789abcdef".into(), sync_body).await;
    assert_eq!(status, 200);
    assert!(stored(&ts).await, "a valid instance goes through");
}

/// Sends `head` on a new connection, then reads until the server closes it or 10 s
/// pass; what it answered.
fn raw_exchange(addr: std::net::SocketAddr, head: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let limit = std::time::Duration::from_secs(10);
    stream.set_read_timeout(Some(limit)).expect("timeout");
    stream.set_write_timeout(Some(limit)).expect("timeout");
    stream.write_all(head).expect("the head is sent");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bounded: the server closes after its answer; the timeout ends a silent one.
    for _ in 0..64 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A request head longer than the connection's read buffer is answered `431 Request
/// Header Fields Too Large` and the server carries on; one that fits is served. The
/// head sent is exactly the buffer's size with no end: the server reads all of it and
/// answers with nothing left unread (a longer head would leave bytes unread, and the
/// kernel may then reset the connection before the client reads the answer).
/// The HTTP layer is the same on both backends: SQLite alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_the_read_buffer_gets_431() {
    let Some(ts) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let addr = ts.addr();
    let limit = rapport_server::serve::READ_BUFFER;
    let start = format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-padding: ");
    let mut endless = start.clone().into_bytes();
    endless.resize(limit, b'a');
    let answer = tokio::task::spawn_blocking(move || raw_exchange(addr, &endless))
        .await
        .expect("the client thread");
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "a {limit} B head with no end: {answer:?}"
    );
    assert_healthy(&ts).await;
    // A long head that fits is served.
    let mut fitting = start.into_bytes();
    fitting.resize(limit - 1024, b'a');
    fitting.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    let answer = tokio::task::spawn_blocking(move || raw_exchange(addr, &fitting))
        .await
        .expect("the client thread");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "a head of {} B that fits: {answer:?}",
        limit - 1024
    );
}

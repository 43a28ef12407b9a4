//! `POST /api/v1/sync` on the real server app (router, auth, SQLite store, access
//! control, validation, commit), in this process without sockets.
//!
//! Set up once per process: a SQLite data folder, a lead, a programme with the rep
//! "ivanov" and one client assigned to him, and his paired tablet. Per input, one sync
//! request with the tablet's token. Half of the inputs (first byte even) send the
//! remaining bytes as the body; the other half build a well-formed frame from the rest
//! (`arbitrary`): 0-3 documents, ids of the programme's real documents or random,
//! messages arbitrary bytes or real automerge sync messages (a new visit by the tablet,
//! the same visit or the client edited with fuzzed values, a change by a stranger).
//!
//! Asserts: never a 5xx and never a panic; a 200 carries a decodable `SyncResponse`;
//! a 4xx carries the JSON error body (`error.code`, `error.message`).
//!
//! The server keeps state between inputs (stored documents, sync states), so an input
//! may behave differently on a second run; a crash is replayed against a fresh process.
//! The corpus replay runs every input through one such server too, in file name order.

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use automerge::sync::{BloomFilter, Capability, Have, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ROOT};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use rapport_domain::client::new_client;
use rapport_domain::programme::{add_client, override_assignment, put_rep};
use rapport_domain::visit::new_visit;
use rapport_domain::{Capacity, DocId, Reason, Segment, VisitInit, default_template, view_id};
use rapport_protocol::{DocMessage, Limits, SyncRequest, SyncResponse};
use rapport_server::auth::edit_actor;
use rapport_server::edit::{create_docs, edit_doc};
use rapport_server::{AppState, Config, now_ms};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Everything built once per process.
struct World {
    app: axum::Router,
    token: String,
    programme: DocId,
    client: DocId,
    /// The server's copy of the client (the tablet edits a fork of it).
    client_doc: Automerge,
    /// A visit of the client by the tablet, not yet uploaded.
    visit_id: DocId,
    visit: Automerge,
    tablet: ActorId,
    /// The store's epoch: the first 16 bytes of every cursor the server hands out.
    epoch: [u8; 16],
    /// Keeps the data folder alive for the process.
    _dir: tempfile::TempDir,
}

/// One runtime for the process: sqlx's pool lives on it between inputs.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| rt().block_on(set_up()))
}

/// `method path` through the app with an optional token and JSON body.
async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn set_up() -> World {
    // RAM-backed when available: every accepted upload is a SQLite commit.
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temporary folder");
    let config = Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.path().join("данные"),
        ..Config::default()
    };
    let state = AppState::open(config).await.expect("server state opens");
    let app = rapport_server::app::router(state.clone());

    let email = "olga@example.ru";
    let password = "пароль-руководителя-2026";
    let lead = rapport_server::accounts::create_lead(&state, email, "Ольга Смирнова", password)
        .await
        .expect("lead");
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/auth/sign-in",
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "sign-in: {body}");
    let lead_token = body["token"].as_str().expect("token").to_owned();
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/programmes",
        Some(&lead_token),
        json!({"name": "VIP-программа 2026 🚀", "start": "2026-03-01", "end": "2026-06-30"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "programme: {body}");
    let programme: DocId = body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("programme id");
    let now = now_ms();
    edit_doc(&state, &lead.actor, programme, "the programme", |doc| {
        put_rep(
            doc,
            "ivanov",
            "Иван Иванов",
            "rep@example.ru",
            Capacity::Dedicated,
            true,
            now,
        )
    })
    .await
    .expect("rep");
    let client = DocId::random();
    let client_doc = new_client(
        edit_actor(&lead.actor),
        client,
        "ООО «Ромашка»",
        Segment::Corporate,
        Some("ivanov"),
        now,
    )
    .expect("client doc");
    create_docs(&state, vec![(client, client_doc.clone())])
        .await
        .expect("client stored");
    edit_doc(&state, &lead.actor, programme, "the programme", |doc| {
        add_client(doc, client, now)?;
        let reason = Reason::LeadDecision {
            note: "решение руководителя".to_owned(),
        };
        override_assignment(doc, client, "ivanov", reason, &lead.id, now)
    })
    .await
    .expect("client assigned");
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/programmes/{programme}/pairing-codes"),
        Some(&lead_token),
        json!({"rep_id": "ivanov", "label": "Планшет 📱"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "pairing code: {body}");
    let code = body["code"].as_str().expect("code").to_owned();
    let tablet = ActorId::from(vec![0x7a; 16]);
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/devices/pair",
        None,
        json!({"code": code, "actor": tablet.to_hex_string()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "pairing: {body}");
    let token = body["token"].as_str().expect("device token").to_owned();
    state.projector.catch_up().await.expect("projection");

    let visit_id = DocId::random();
    let visit = new_visit(
        tablet.clone(),
        &VisitInit {
            id: visit_id,
            programme_id: programme,
            client_id: client,
            date: "2026-03-10".to_owned(),
            rep_id: "ivanov".to_owned(),
        },
        &default_template(),
        now,
    )
    .expect("visit");
    World {
        app,
        token,
        programme,
        client,
        client_doc,
        visit_id,
        visit,
        tablet,
        epoch: state.epoch,
        _dir: dir,
    }
}

/// Which document id an entry names.
#[derive(Arbitrary, Debug)]
enum Id {
    Programme,
    View,
    Client,
    Visit,
    Random([u8; 16]),
}

/// A root key to overwrite: the header fields validation reads, or any.
#[derive(Arbitrary, Debug)]
enum Key {
    Id,
    Kind,
    ProgrammeId,
    ClientId,
    RepId,
    Status,
    Any(String),
}

/// A value to write there.
#[derive(Arbitrary, Debug)]
enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Map,
    Delete,
}

/// The message of an entry.
#[derive(Arbitrary, Debug)]
enum Msg {
    Raw(Vec<u8>),
    /// The tablet's new visit, every change pushed.
    Visit,
    /// The visit with one more change by the tablet.
    EditedVisit(Key, Val),
    /// The client with one change by the tablet.
    EditedClient(Key, Val),
    /// The visit with one more change by another actor.
    Stranger(Key, Val),
    /// A fresh state's first message: heads and a Bloom filter, no changes.
    HeadsOnly,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    id: Id,
    msg: Msg,
}

/// The feed cursor of the request.
#[derive(Arbitrary, Debug)]
enum Cursor {
    /// Empty: first contact, the whole feed.
    Empty,
    /// The server's layout (the store's epoch, then version 1, transaction id,
    /// sequence, big endian, and a first-contact marker) with any numbers: a negative or
    /// huge position must be answered (served, or asked to reconcile), never a 500.
    Feed {
        xid: u64,
        seq: i64,
        first_contact: bool,
    },
    /// Any bytes (cut to the frame's 64-byte limit).
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Frame {
    cursor: Cursor,
    entries: Vec<Entry>,
}

fn edited(base: &Automerge, actor: ActorId, key: &Key, val: &Val) -> Automerge {
    let mut doc = AutoCommit::load(&base.save()).expect("own save loads");
    doc.set_actor(actor);
    let key = match key {
        Key::Id => "id",
        Key::Kind => "kind",
        Key::ProgrammeId => "programme_id",
        Key::ClientId => "client_id",
        Key::RepId => "rep_id",
        Key::Status => "status",
        Key::Any(k) => k.as_str(),
    };
    // Errors (none expected on a map root) only mean no change is made.
    let _ = match val {
        Val::Str(s) => doc.put(ROOT, key, s.as_str()),
        Val::Int(n) => doc.put(ROOT, key, *n),
        Val::Bool(b) => doc.put(ROOT, key, *b),
        Val::Map => doc
            .put_object(ROOT, key, automerge::ObjType::Map)
            .map(|_| ()),
        Val::Delete => doc.delete(ROOT, key),
    };
    doc.commit();
    doc.document().clone()
}

/// The message a device sends first from a fresh persisted state (the protocol's
/// "push on first message": the peer is assumed to hold nothing, every change goes).
fn push_all(doc: &Automerge) -> Vec<u8> {
    let mut state = State::new();
    state.their_heads = Some(Vec::new());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: Vec::new(),
        bloom: BloomFilter::default(),
    }]);
    state.their_capabilities = Some(vec![Capability::MessageV2, Capability::SyncReset]);
    doc.generate_sync_message(&mut state)
        .map(|m| m.encode())
        .unwrap_or_default()
}

fn stranger() -> ActorId {
    ActorId::from(vec![0x5e; 16])
}

fn build(w: &World, frame: Frame) -> Vec<u8> {
    let mut docs: Vec<DocMessage> = Vec::new();
    for entry in frame.entries.into_iter().take(3) {
        let doc = match entry.id {
            Id::Programme => w.programme,
            Id::View => view_id(w.programme),
            Id::Client => w.client,
            Id::Visit => w.visit_id,
            Id::Random(b) => DocId::from_bytes(b),
        };
        if docs.iter().any(|d| d.doc == doc) {
            continue;
        }
        let message = match entry.msg {
            Msg::Raw(bytes) => bytes,
            Msg::Visit => push_all(&w.visit),
            Msg::EditedVisit(k, v) => push_all(&edited(&w.visit, w.tablet.clone(), &k, &v)),
            Msg::EditedClient(k, v) => push_all(&edited(&w.client_doc, w.tablet.clone(), &k, &v)),
            Msg::Stranger(k, v) => push_all(&edited(&w.visit, stranger(), &k, &v)),
            Msg::HeadsOnly => Automerge::new()
                .generate_sync_message(&mut State::new())
                .map(|m| m.encode())
                .unwrap_or_default(),
        };
        docs.push(DocMessage { doc, message });
    }
    let cursor = match frame.cursor {
        Cursor::Empty => Vec::new(),
        Cursor::Feed {
            xid,
            seq,
            first_contact,
        } => {
            let mut c = w.epoch.to_vec();
            c.push(1);
            c.extend_from_slice(&xid.to_be_bytes());
            c.extend_from_slice(&seq.to_be_bytes());
            if first_contact {
                c.push(1);
            }
            c
        }
        Cursor::Raw(mut c) => {
            c.truncate(Limits::DEFAULT.max_cursor_bytes);
            c
        }
    };
    SyncRequest { cursor, docs }
        .encode(&Limits::DEFAULT)
        .expect("a frame within the limits encodes")
}

/// Sends one sync request built from `data` with the tablet's token to the server of
/// this process (set up on the first call, kept for the next); panics on a 5xx, on a 200
/// that is no `SyncResponse`, or on another answer without the JSON error body.
pub fn check(data: &[u8]) {
    let w = world();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        match Frame::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(frame) => build(w, frame),
            Err(_) => return,
        }
    };
    rt().block_on(async {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/sync")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::AUTHORIZATION, format!("Bearer {}", w.token))
            .body(Body::from(body))
            .expect("request");
        let resp = w.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        // `RAPPORT_FUZZ_VERBOSE=1 …/server_sync corpus/server_sync -runs=0` shows how deep
        // the corpus gets (status, error codes per document).
        if std::env::var_os("RAPPORT_FUZZ_VERBOSE").is_some() {
            let summary = match SyncResponse::decode(&bytes, &Limits::DEFAULT) {
                Ok(r) => format!(
                    "{} docs, errors {:?}",
                    r.docs.len(),
                    r.errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>()
                ),
                Err(_) => String::from_utf8_lossy(&bytes).chars().take(120).collect(),
            };
            eprintln!("[server_sync] {status} {summary}");
        }
        assert!(
            !status.is_server_error(),
            "sync answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status == StatusCode::OK {
            SyncResponse::decode(&bytes, &Limits::DEFAULT).expect("a 200 is a SyncResponse");
        } else {
            let body: Value = serde_json::from_slice(&bytes).expect("an error is JSON");
            let code = body["error"]["code"].as_str().unwrap_or_default();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(!code.is_empty() && !message.is_empty(), "{status}: {body}");
        }
    });
}

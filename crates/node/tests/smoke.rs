//! The node end to end against the real server in-process: pair, first sync, a
//! visit filled in Russian, sync, and the server holds it.

use rapport_api::{DocSync, Request, Response, VisitEdit};
use rapport_core::FOLD_WORTH;
use rapport_domain::{AnswerValue, DocId, QuestionKind, ScalarAnswer};
use rapport_node::Node;
use rapport_testkit::{Backend, TestServer};

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paired_device_fills_a_visit_and_the_server_gets_it() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let dir = tempfile::tempdir().expect("dir");
    let node = Node::open(options(dir.path(), false)).await.expect("open");
    let info = pair_and_sync(&node, &ts, code, "Планшет Иванова").await;
    assert_eq!(info.rep_id.as_deref(), Some("ivanov"));
    let Response::Clients(clients) = node.handle(Request::Clients).await.expect("clients") else {
        panic!()
    };
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(clients[0].company, COMPANY);
    assert_eq!(clients[0].client_id, client);

    let detail = start_visit(&node, client).await;
    let visit = detail.visit.id;
    let text_q = question(&detail.template, &QuestionKind::Text);
    let yes_no_q = question(&detail.template, &QuestionKind::YesNo);
    for value in ["Нужен", "Нужен второй канал", "Нужен второй канал связи 🚀"]
    {
        node.handle(Request::EditVisit {
            visit_id: visit,
            edit: VisitEdit::Text {
                question_id: text_q.clone(),
                value: value.into(),
            },
        })
        .await
        .expect("edit text");
    }
    node.handle(Request::EditVisit {
        visit_id: visit,
        edit: VisitEdit::Scalar {
            question_id: yes_no_q.clone(),
            value: ScalarAnswer::YesNo(true),
        },
    })
    .await
    .expect("edit yes/no");
    let Response::Sync(before) = node.handle(Request::SyncStatus).await.expect("status") else {
        panic!()
    };
    assert_eq!(before.pending_docs, 1, "{before:?}");
    assert!(before.pending_bytes > 0);

    let Response::Sync(after) = node.handle(Request::SyncNow).await.expect("sync") else {
        panic!()
    };
    assert!(after.last_error.is_none(), "{after:?}");
    assert_eq!(after.pending_docs, 0, "{after:?}");
    let on_server = ts.visit_doc(visit).await;
    assert_eq!(
        on_server.answers.get(&text_q),
        Some(&AnswerValue::Text("Нужен второй канал связи 🚀".into()))
    );
    assert_eq!(
        on_server.answers.get(&yes_no_q),
        Some(&AnswerValue::Bool(true))
    );
    let Response::Visit(reopened) = node
        .handle(Request::OpenVisit { visit_id: visit })
        .await
        .expect("open")
    else {
        panic!()
    };
    assert_eq!(reopened.sync, DocSync::Synced);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_list_counts_open_follow_ups_until_they_are_done() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::open(options(dir.path(), false)).await.expect("open");
    pair_and_sync(&node, &ts, code, "Планшет Иванова").await;
    let open_of = |node: &Node| {
        let node = node.clone();
        async move {
            let Response::Clients(clients) = node.handle(Request::Clients).await.expect("clients")
            else {
                panic!()
            };
            clients[0].open_follow_ups
        }
    };
    assert_eq!(open_of(&node).await, 0);

    let visit = start_visit(&node, client).await.visit.id;
    let mut ids = Vec::new();
    for what in ["Прислать КП на резервный канал", "Позвонить главбуху"]
    {
        let Response::Saved(saved) = node
            .handle(Request::EditVisit {
                visit_id: visit,
                edit: VisitEdit::AddFollowUp {
                    description: what.into(),
                    owner: "Иван Иванов".into(),
                    due: Some("2026-12-01".into()),
                },
            })
            .await
            .expect("follow-up added")
        else {
            panic!()
        };
        ids.push(saved.entry_id.expect("the follow-up's id"));
    }
    assert_eq!(open_of(&node).await, 2);
    node.handle(Request::EditVisit {
        visit_id: visit,
        edit: VisitEdit::UpdateFollowUp {
            id: ids[0].clone(),
            state: Some(rapport_api::FollowUpState::Done),
            owner: None,
            due: None,
        },
    })
    .await
    .expect("follow-up done");
    assert_eq!(
        open_of(&node).await,
        1,
        "a done follow-up is no longer open"
    );
}

/// The server's side of the established TCP connections to `port` on this machine
/// (Linux's `/proc/net/tcp`: local address `7F000001:PORT`, state `01`).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("Linux's TCP table");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&local) && f[3] == "01"
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_does_not_keep_an_idle_connection_to_the_server_between_runs() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let port = ts.addr().port();
    // The test's own connections (the lead's calls above) stay open meanwhile.
    let before = connections_to(port);
    let dir = tempfile::tempdir().expect("dir");
    let mut o = options(dir.path(), false);
    o.sync.idle_connection = std::time::Duration::from_secs(1);
    let node = Node::open(o).await.expect("open");
    pair_and_sync(&node, &ts, code, "Планшет Иванова").await;
    let visit = start_visit(&node, client).await.visit.id;
    let edit = VisitEdit::Text {
        question_id: "carnegie.plans".into(),
        value: "Открыть филиал в Казани".into(),
    };
    let edited = node.handle(Request::EditVisit {
        visit_id: visit,
        edit,
    });
    assert!(matches!(edited.await, Ok(Response::Saved(_))));
    sync_node(&node).await;
    // Closed a second after the run, well before the HTTP client's own default (90 s)
    // or the next run (a minute).
    wait_for(
        "the device's connection to close",
        std::time::Duration::from_secs(8),
        || async { (connections_to(port) <= before).then_some(()) },
    )
    .await;
    // And the next run opens one again and syncs.
    sync_node(&node).await;
    node.shutdown().await;
}

/// A second tablet of the rep downloads the visit the first one filled: the server sends
/// it whole (one saved document), and the tablet keeps it as those bytes, each change a
/// row without bytes, rather than encoding every change again. It opens with every
/// answer, and an edit on it is stored as a change beside the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_downloaded_whole_is_kept_as_the_server_sent_it() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let (lead, programme, client) = world(&ts).await;
    let first = Device::new(false).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    pair_and_sync(&first.node, &ts, code, "Планшет Иванова").await;
    let visit = start_visit(&first.node, client).await;
    let text_q = question(&visit.template, &QuestionKind::Text);
    // Edits enough to be worth a fold before the upload (`FOLD_WORTH`).
    let typed = [
        "Нужен",
        "Нужен второй",
        "Нужен второй канал",
        "Нужен второй канал связи 🚀",
    ];
    assert!(typed.len() >= FOLD_WORTH);
    for value in typed {
        first.text(visit.visit.id, &text_q, value).await;
    }
    first.sync().await;

    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let (second, _) = Device::paired(&ts, code, "Второй планшет Иванова", false).await;
    second.sync().await;
    let opened = second.open(visit.visit.id).await;
    assert_eq!(
        opened.visit.answers.get(&text_q),
        Some(&AnswerValue::Text("Нужен второй канал связи 🚀".into()))
    );
    let (store, rows) = raw_rows(&second, visit.visit.id).await;
    assert_eq!(
        rows("SELECT count(*) FROM docs WHERE doc_id = ? AND snapshot IS NOT NULL").await,
        1,
        "kept as the saved document it came as"
    );
    assert_eq!(
        rows("SELECT count(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL").await,
        0,
        "no change encoded again"
    );
    let changes = rows("SELECT count(*) FROM changes WHERE doc_id = ?").await;
    assert!(changes >= 4, "a row per change: {changes}");

    let urgent = "Нужен второй канал связи 🚀, срочно";
    second.text(visit.visit.id, &text_q, urgent).await;
    assert_eq!(
        rows("SELECT count(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL").await,
        1,
        "the edit is a change beside the snapshot"
    );
    // One edit costs less to replay than a fold: the run reads it back as it is.
    second.sync().await;
    assert_eq!(
        rows("SELECT count(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL").await,
        1,
        "one loose edit is not folded"
    );
    // Enough edits, and a sync run first folds what the rep typed, from the copy in
    // memory.
    for n in 1..FOLD_WORTH {
        let value = format!("{urgent}{}", "!".repeat(n));
        second.text(visit.visit.id, &text_q, &value).await;
    }
    second.sync().await;
    assert_eq!(
        rows("SELECT count(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL").await,
        0,
        "folded before the run read it back"
    );
    store.pool().close().await;
    second.node.shutdown().await;

    // The first tablet's typing was folded the same way before its upload.
    let (store, rows) = raw_rows(&first, visit.visit.id).await;
    assert_eq!(
        rows("SELECT count(*) FROM changes WHERE doc_id = ? AND data IS NOT NULL").await,
        0,
        "the first tablet's visit is one snapshot"
    );
    store.pool().close().await;
    first.sync().await;
    let opened = first.open(visit.visit.id).await;
    assert_eq!(
        opened.visit.answers.get(&text_q),
        Some(&AnswerValue::Text(format!(
            "Нужен второй канал связи 🚀, срочно{}",
            "!".repeat(FOLD_WORTH - 1)
        ))),
        "and takes the second tablet's edits on top"
    );
    first.node.shutdown().await;
}

/// The device's own store opened beside its node, and a reader of one count about
/// `doc` (SQL with one `?` for its id).
async fn raw_rows(
    device: &Device,
    doc: DocId,
) -> (
    rapport_store::SqliteStore,
    impl Fn(&'static str) -> std::pin::Pin<Box<dyn std::future::Future<Output = i64> + Send>>,
) {
    let dir = device.dir.path().join(DATA);
    let key = rapport_node::keys::load_or_create(&dir, rapport_node::KeyStorage::File, true)
        .expect("the device key");
    let store =
        rapport_store::SqliteStore::open_encrypted(dir.join(rapport_node::DB_FILE), &key.bytes)
            .await
            .expect("the device store opens beside the node");
    let id = doc.as_bytes().to_vec();
    let pool = store.pool().clone();
    let rows = move |sql: &'static str| {
        let id = id.clone();
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("raw SQL on the device store")
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = i64> + Send>>
    };
    (store, rows)
}

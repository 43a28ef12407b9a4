//! The node end to end against the real server in-process: pair, first sync, a
//! visit filled in Russian, sync, and the server holds it.

use std::time::Duration;

use rapport_api::{ClientCard, DocSync, PairRequest, Request, Response, StartVisit, VisitEdit};
use rapport_domain::{AnswerValue, ScalarAnswer};
use rapport_node::{KeyStorage, Node, NodeOptions};
use rapport_testkit::{Backend, TestServer};

fn options(dir: &std::path::Path) -> NodeOptions {
    let mut o = NodeOptions::new(dir);
    o.key_storage = KeyStorage::File;
    o.auto_sync = false;
    o.sync.request_timeout = Duration::from_secs(10);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paired_device_fills_a_visit_and_the_server_gets_it() {
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let client = ts
        .add_client(&lead, programme, "ООО «Ромашка»", "ivanov")
        .await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let dir = tempfile::tempdir().expect("dir");
    let node = Node::open(options(dir.path())).await.expect("open");
    let paired = node
        .handle(Request::Pair(PairRequest {
            server_url: ts.url().to_owned(),
            code,
            label: "Планшет Иванова".into(),
        }))
        .await
        .expect("pair");
    let Response::Device(info) = paired else {
        panic!("{paired:?}")
    };
    assert_eq!(info.rep_id.as_deref(), Some("ivanov"));

    let Response::Sync(status) = node.handle(Request::SyncNow).await.expect("sync") else {
        panic!()
    };
    assert!(status.last_error.is_none(), "{status:?}");
    let Response::Clients(clients) = node.handle(Request::Clients).await.expect("clients") else {
        panic!()
    };
    let companies: Vec<&ClientCard> = clients.iter().collect();
    assert_eq!(companies.len(), 1, "{clients:?}");
    assert_eq!(companies[0].company, "ООО «Ромашка»");
    assert_eq!(companies[0].client_id, client);

    let Response::Visit(detail) = node
        .handle(Request::StartVisit(StartVisit {
            client_id: client,
            date: "2026-11-27".into(),
        }))
        .await
        .expect("start")
    else {
        panic!()
    };
    let visit = detail.visit.id;
    let text_q = detail
        .template
        .active()
        .into_iter()
        .find(|q| q.kind == rapport_domain::QuestionKind::Text)
        .expect("a text question")
        .id
        .clone();
    let yes_no_q = detail
        .template
        .active()
        .into_iter()
        .find(|q| q.kind == rapport_domain::QuestionKind::YesNo)
        .expect("a yes/no question")
        .id
        .clone();
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

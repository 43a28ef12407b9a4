//! The node against the real server serving HTTPS with a company CA's certificate:
//! trusting that CA it pairs and syncs a visit written in Russian; without it, pairing
//! and the lead's calls say the certificate is not trusted and what to do, and nothing
//! is stored half-way (the same code pairs once the CA is given).

use rapport_api::{Request, Response, ServerCall, VisitEdit};
use rapport_domain::{AnswerValue, QuestionKind};
use rapport_node::{CA_FILE, Node};
use rapport_testkit::{Backend, TestCa, TestServer};

mod common;
use common::*;

const NOTE: &str = "Клиент просит перенести встречу на четверг, «Ромашка» довольна";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_trusting_the_company_ca_pairs_and_syncs_over_https() {
    let ca = TestCa::new();
    let ts = TestServer::start_tls(Backend::Sqlite, &ca)
        .await
        .expect("server");
    assert!(ts.url().starts_with("https://127.0.0.1:"), "{}", ts.url());
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let dir = tempfile::tempdir().expect("dir");
    let mut trusting = options(&dir.path().join(DATA), false);
    trusting.ca_cert = Some(ca.ca_pem());
    let node = Node::open(trusting).await.expect("open");
    let info = pair_and_sync(&node, &ts, code, "Планшет Иванова").await;
    assert_eq!(info.server_url, ts.url());

    let detail = start_visit(&node, client).await;
    let visit = detail.visit.id;
    let text_q = question(&detail.template, &QuestionKind::Text);
    node.handle(Request::EditVisit {
        visit_id: visit,
        edit: VisitEdit::Text {
            question_id: text_q.clone(),
            value: NOTE.into(),
        },
    })
    .await
    .expect("edit");
    let Response::Sync(after) = node.handle(Request::SyncNow).await.expect("sync") else {
        panic!("SyncNow answered something else")
    };
    assert!(after.last_error.is_none(), "{after:?}");
    assert_eq!(after.pending_docs, 0, "{after:?}");
    let on_server = ts.visit_doc(visit).await;
    assert_eq!(
        on_server.answers.get(&text_q),
        Some(&AnswerValue::Text(NOTE.into()))
    );
    node.shutdown().await;
    drop(node);

    // Opened without the CA, the paired device's sync says why it cannot sync, and the
    // edit made meanwhile stays pending on the device.
    let node = Node::open(options(&dir.path().join(DATA), false))
        .await
        .expect("reopen");
    node.handle(Request::EditVisit {
        visit_id: visit,
        edit: VisitEdit::Text {
            question_id: text_q.clone(),
            value: format!("{NOTE}; перезвонить"),
        },
    })
    .await
    .expect("edit offline");
    let Response::Sync(refused) = node.handle(Request::SyncNow).await.expect("sync") else {
        panic!("SyncNow answered something else")
    };
    let error = refused.last_error.clone().expect("the run failed");
    // Not "offline": trying again will not help, the rep is told what to do.
    assert_eq!(error.code, "untrusted_certificate", "{error:?}");
    assert!(error.message.contains("not trusted"), "{error:?}");
    assert!(error.message.contains("--ca-cert"), "{error:?}");
    assert_eq!(refused.pending_docs, 1, "{refused:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_the_device_is_told_the_certificate_is_not_trusted() {
    let ca = TestCa::new();
    let ts = TestServer::start_tls(Backend::Sqlite, &ca)
        .await
        .expect("server");
    let (lead, programme, client) = world(&ts).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join(DATA);
    let node = Node::open(options(&data, false)).await.expect("open");
    let err = node
        .handle(Request::Pair(rapport_api::PairRequest {
            server_url: ts.url().to_owned(),
            code: code.clone(),
            label: "Планшет без сертификата".into(),
        }))
        .await
        .expect_err("an untrusted certificate refuses pairing");
    assert_eq!(err.code, "untrusted_certificate", "{err:?}");
    assert!(err.message.contains("not trusted"), "{}", err.message);
    assert!(err.message.contains("--ca-cert"), "{}", err.message);
    assert!(err.message.contains(ts.url()), "{}", err.message);
    // Nothing half-way: the device is not paired.
    let not_paired = node.handle(Request::Device).await.expect_err("not paired");
    assert_eq!(not_paired.code, "not_paired", "{not_paired:?}");

    // The lead's pages in the app go through the same client: the same clear refusal.
    let refused = node
        .call_server(ServerCall {
            server: ts.url().to_owned(),
            method: "GET".into(),
            path: "/api/v1/programmes".into(),
            token: Some(lead.token.clone()),
            content_type: None,
            body: Vec::new(),
        })
        .await
        .expect_err("the lead's call is refused");
    assert_eq!(refused.code, "untrusted_certificate", "{refused:?}");
    node.shutdown().await;
    drop(node);

    // The CA as ca.pem in the data folder: the same device pairs with the same code,
    // which the failed attempt did not use up, and syncs.
    std::fs::copy(ca.ca_pem(), data.join(CA_FILE)).expect("ca.pem copied");
    let node = Node::open(options(&data, false)).await.expect("reopen");
    let info = pair_and_sync(&node, &ts, code, "Планшет без сертификата").await;
    assert_eq!(info.rep_id.as_deref(), Some("ivanov"));
    let detail = start_visit(&node, client).await;
    assert_eq!(detail.visit.client_id, client);
    node.shutdown().await;
}

#[tokio::test]
async fn a_bad_ca_file_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let not_pem = dir.path().join("сертификат-УЦ.pem");
    std::fs::write(&not_pem, "это не сертификат").expect("written");
    for (file, code) in [
        (not_pem.clone(), "bad_ca_certificate"),
        (dir.path().join("нет-такого.pem"), "io_error"),
    ] {
        let data = dir.path().join(DATA);
        let mut options = options(&data, false);
        options.ca_cert = Some(file.clone());
        let Err(err) = Node::open(options).await else {
            panic!("{} was accepted as a CA file", file.display())
        };
        assert_eq!(err.code(), code, "{err}");
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(err.to_string().contains(name), "{err}");
        assert!(!data.exists(), "the data folder was made for a failed open");
    }
}

/// `rapport-device --json <args>` in `dir`, with `env` set; its exit code and stdout.
async fn device_cli(
    dir: &std::path::Path,
    args: Vec<String>,
    env: Vec<(&'static str, std::path::PathBuf)>,
) -> (i32, String) {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rapport-device"));
        command
            .arg("--data-dir")
            .arg(&dir)
            .args(["--key-storage", "file", "--json"])
            .args(&args)
            .env("RAPPORT_LOG", "error")
            .env_remove("RAPPORT_DEVICE_DIR")
            .env_remove("RAPPORT_KEY_STORAGE")
            .env_remove("RAPPORT_CA_CERT")
            .stdin(std::process::Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().expect("rapport-device runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    })
    .await
    .expect("the CLI run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_the_ca_from_its_flag_or_the_environment() {
    let ca = TestCa::new();
    let ts = TestServer::start_tls(Backend::Sqlite, &ca)
        .await
        .expect("server");
    let (lead, programme, _client) = world(&ts).await;
    let dir = tempfile::tempdir().expect("dir");
    let pair = |code: String, label: &str| {
        vec![
            "pair".to_owned(),
            "--server".to_owned(),
            ts.url().to_owned(),
            "--code".to_owned(),
            code,
            "--label".to_owned(),
            label.to_owned(),
        ]
    };

    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let untrusting = dir.path().join("без УЦ");
    let (exit, out) = device_cli(&untrusting, pair(code, "Планшет 1"), vec![]).await;
    assert_eq!(exit, 1, "{out}");
    let error: serde_json::Value = serde_json::from_str(&out).expect("JSON error");
    assert_eq!(error["error"]["code"], "untrusted_certificate", "{out}");

    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let mut args = vec!["--ca-cert".to_owned(), ca.ca_pem().display().to_string()];
    args.extend(pair(code, "Планшет 2"));
    let (exit, out) = device_cli(&dir.path().join("флаг"), args, vec![]).await;
    assert_eq!(exit, 0, "{out}");

    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let env = vec![("RAPPORT_CA_CERT", ca.ca_pem())];
    let (exit, out) = device_cli(&dir.path().join("среда"), pair(code, "Планшет 3"), env).await;
    assert_eq!(exit, 0, "{out}");
}

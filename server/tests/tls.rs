//! HTTPS served by the server itself: it serves with a certificate of a (test) company
//! CA, says https in its address, shuts down gracefully; every bad certificate or key
//! stops it at start with a message naming the file and what to fix, before anything
//! is served or written.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rapport_server::Server;
use rapport_server::app::StartError;
use rapport_testkit::{Backend, TestCa, TestServer, fresh_config};

const BIN: &str = env!("CARGO_BIN_EXE_rapport-server");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    let ca = TestCa::new();
    let mut ts = TestServer::start_tls(Backend::Sqlite, &ca)
        .await
        .expect("server");
    assert!(ts.url().starts_with("https://127.0.0.1:"), "{}", ts.url());
    let healthz = format!("{}/healthz", ts.url());
    let ok = ts.http.get(&healthz).send().await.expect("an answer");
    assert!(ok.status().is_success(), "{}", ok.status());

    // The certificate is made out for localhost too.
    let by_name = healthz.replace("127.0.0.1", "localhost");
    let ok = ts.http.get(&by_name).send().await.expect("an answer");
    assert!(ok.status().is_success(), "{}", ok.status());

    // A client that does not trust the CA gets no answer; plain HTTP gets none either.
    let untrusting = reqwest::Client::new();
    let err = untrusting
        .get(&healthz)
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(err.is_connect(), "{err:?}");
    let plain = healthz.replace("https://", "http://");
    let answer = ts.http.get(&plain).send().await;
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was served on the TLS port: {answer:?}"
    );

    // The lead signs in over HTTPS (Cyrillic password), and the server restarts with it.
    let lead = ts.lead().await;
    assert!(!lead.token.is_empty());
    ts.restart_on_same_port().await;
    let ok = ts.http.get(&healthz).send().await.expect("an answer");
    assert!(ok.status().is_success(), "{}", ok.status());
    ts.stop().await;
}

/// What each bad configuration must say (fragments, besides the file's name).
fn bad_configurations(
    ca: &TestCa,
    dir: &Path,
) -> Vec<(Option<PathBuf>, Option<PathBuf>, Vec<&'static str>)> {
    let not_pem = dir.join("не-PEM.pem");
    std::fs::write(&not_pem, "Это не сертификат, а просто текст").expect("written");
    let empty = dir.join("пустой.pem");
    std::fs::write(&empty, "").expect("written");
    let unrelated = ca.write_unrelated_key("чужой-ключ.pem");
    let missing = dir.join("нет-такого-файла.pem");
    let (cert, key) = (Some(ca.cert_pem()), Some(ca.key_pem()));
    vec![
        (
            cert.clone(),
            None,
            vec!["--tls-key", "RAPPORT_TLS_KEY", "server.pem"],
        ),
        (
            None,
            key.clone(),
            vec!["--tls-cert", "RAPPORT_TLS_CERT", "server-key.pem"],
        ),
        (
            Some(missing),
            key.clone(),
            vec!["cannot read", "нет-такого-файла.pem"],
        ),
        (
            Some(not_pem.clone()),
            key.clone(),
            vec!["not a PEM file", "не-PEM.pem"],
        ),
        (
            cert.clone(),
            Some(not_pem),
            vec!["private key file", "not a PEM file", "не-PEM.pem"],
        ),
        (Some(empty), key.clone(), vec!["is empty", "пустой.pem"]),
        (
            key.clone(),
            key.clone(),
            vec!["holds no certificate", "swapped", "server-key.pem"],
        ),
        (
            cert.clone(),
            cert.clone(),
            vec!["holds no private key", "swapped", "server.pem"],
        ),
        (
            cert,
            Some(unrelated),
            vec!["does not belong", "чужой-ключ.pem", "server.pem"],
        ),
    ]
}

#[tokio::test]
async fn each_bad_tls_configuration_says_what_to_fix() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("dir");
    for (cert, key, expected) in bad_configurations(&ca, dir.path()) {
        let (mut config, _data, _pg) = fresh_config(Backend::Sqlite).await.expect("config");
        config.tls_cert = cert.clone();
        config.tls_key = key.clone();
        let err = match Server::start(config).await {
            Ok(server) => panic!("served with {cert:?} and {key:?} at {}", server.url()),
            Err(err) => err,
        };
        assert!(matches!(err, StartError::Tls(_)), "{err:?}");
        let message = err.to_string();
        for fragment in &expected {
            assert!(message.contains(fragment), "{fragment:?} not in: {message}");
        }
    }
}

/// Waits (bounded) for the child to end; its exit status and standard error.
fn finish(mut child: Child) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("rapport-server did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
    }
    (status, stderr)
}

fn serve(data: &Path, args: &[&std::ffi::OsStr], env: &[(&str, &Path)]) -> Child {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .env_remove("RAPPORT_TLS_CERT")
        .env_remove("RAPPORT_TLS_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("RAPPORT_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("rapport-server starts")
}

#[test]
fn the_binary_stops_at_a_bad_certificate_before_touching_the_data_folder() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("данные");
    let unrelated = ca.write_unrelated_key("чужой-ключ.pem");
    let cert = ca.cert_pem();

    let child = serve(
        &data,
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            unrelated.as_os_str(),
        ],
        &[],
    );
    let (status, stderr) = finish(child);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("does not belong"), "{stderr}");
    assert!(stderr.contains("чужой-ключ.pem"), "{stderr}");
    assert!(
        !data.exists(),
        "the data folder was made by a server that did not start"
    );

    // The certificate from the environment, the key nowhere.
    let child = serve(&data, &[], &[("RAPPORT_TLS_CERT", &cert)]);
    let (status, stderr) = finish(child);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    assert!(!data.exists());
}

#[test]
fn the_binary_says_https_and_stops_gracefully() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("данные");
    let (cert, key) = (ca.cert_pem(), ca.key_pem());
    let mut child = serve(
        &data,
        &["--tls-cert".as_ref(), cert.as_os_str()],
        &[("RAPPORT_TLS_KEY", &key)],
    );
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().take(20) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("no address printed: {e}")
        });
    let url = line
        .strip_prefix("Rapport server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{line}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        ca.client()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .map(|r| r.status())
    });
    assert!(status.as_ref().is_ok_and(|s| s.is_success()), "{status:?}");

    // SIGTERM, as a service manager stops it: it finishes and exits cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let (status, stderr) = finish(child);
    assert!(status.success(), "{status:?}: {stderr}");
}

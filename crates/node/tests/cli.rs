//! The `rapport-device` binary against the real server in-process: each test runs the
//! built binary with its own data folder, `--key-storage file` and (mostly) `--json`,
//! and reads what a script would read: the exit code and one JSON document.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_domain::{AnswerValue, DocId, VisitState};
use rapport_node::Node;
use rapport_testkit::{Backend, TestServer};
use rstest::rstest;
use serde_json::{Value, json};

mod common;
use common::{COMPANY, Run, options, pair_and_sync, question, start_visit};

/// Longest one CLI command may take (it syncs with a local server at most).
const COMMAND_MAX: Duration = Duration::from_secs(60);

/// Runs `rapport-device --data-dir DIR --key-storage file [--json] ARGS`.
async fn device(dir: &Path, json: bool, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport-device"));
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["--key-storage", "file"])
        .args(args)
        .env("RAPPORT_LOG", "error")
        .env_remove("RAPPORT_DEVICE_DIR")
        .env_remove("RAPPORT_KEY_STORAGE");
    if json {
        command.arg("--json");
    }
    raw(command).await
}

/// Runs a prepared command off the async runtime (the server runs on it).
async fn raw(mut command: Command) -> Run {
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("the binary runs");
    assert!(
        started.elapsed() < COMMAND_MAX,
        "the command took {:?}",
        started.elapsed()
    );
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A server with a lead, a programme, the rep "ivanov" and his client.
struct World {
    ts: TestServer,
    lead: rapport_testkit::TestLead,
    programme: DocId,
    client: DocId,
}

async fn world() -> World {
    let ts = TestServer::start(Backend::Sqlite).await.expect("server");
    let (lead, programme, client) = common::world(&ts).await;
    World {
        ts,
        lead,
        programme,
        client,
    }
}

/// The edit flags that answer question `q` of the template (its JSON), by kind.
fn answer_flags(q: &Value) -> Vec<String> {
    let id = q["id"].as_str().expect("question id");
    let kind = q["kind"]["kind"].as_str().expect("question kind");
    match kind {
        "text" => vec![
            "--text".into(),
            format!("{id}=Ответ клиента: всё хорошо ✅"),
        ],
        "yes_no" => vec!["--yes-no".into(), format!("{id}=да")],
        "number" => vec!["--number".into(), format!("{id}=3,5")],
        "date" => vec!["--date".into(), format!("{id}=2026-11-20")],
        "choice" => {
            let option = q["kind"]["options"][0]["id"].as_str().expect("an option");
            vec!["--choice".into(), format!("{id}={option}")]
        }
        "contacts" => vec![
            "--json-edit".into(),
            json!({"kind": "contact", "id": null, "contact": {
                "updates_contact_id": null, "name": "Пётр Петров", "role": "Директор",
                "phone": "+7 900 000-00-00", "email": "petr@example.ru"}})
            .to_string(),
        ],
        "referrals" => vec![
            "--json-edit".into(),
            json!({"kind": "referral", "id": null, "referral": {
                "name": "Мария", "company": "ООО «Лютик»", "contact": "maria@example.ru",
                "note": ""}})
            .to_string(),
        ],
        "quality_check" => vec![
            "--json-edit".into(),
            json!({"kind": "quality", "question_id": id, "answer": {
                "target": 100.0, "actual": 100.0, "outage_last_month": false,
                "note": "норма"}})
            .to_string(),
        ],
        other => panic!("a question kind the test does not know: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_pairs_fills_completes_and_syncs_a_visit_from_the_command_line() {
    let w = world().await;
    let code =
        w.ts.pairing_code(&w.lead, w.programme, Some("ivanov"))
            .await;
    let home = tempfile::tempdir().expect("dir");
    let dir = home.path().join("планшет");

    let paired = device(
        &dir,
        true,
        &[
            "pair",
            "--server",
            w.ts.url(),
            "--code",
            &code,
            "--label",
            "Планшет Иванова",
        ],
    )
    .await
    .ok();
    assert_eq!(paired[0]["type"], "device", "{paired}");
    assert_eq!(paired[0]["data"]["rep_id"], "ivanov", "{paired}");
    // The names come with the programme, fetched by the pairing's first sync.
    assert_eq!(paired[0]["data"]["rep_name"], "Иван Иванов", "{paired}");
    assert!(
        paired[0]["data"]["programme_name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{paired}"
    );
    assert_eq!(paired[1]["type"], "sync", "{paired}");
    assert!(paired[1]["data"]["last_error"].is_null(), "{paired}");

    let clients = device(&dir, true, &["clients"]).await.ok();
    assert_eq!(clients["type"], "clients");
    let list = clients["data"].as_array().expect("a list");
    assert_eq!(list.len(), 1, "{clients}");
    assert_eq!(list[0]["company"], COMPANY);
    assert_eq!(list[0]["client_id"], w.client.to_string());

    let client = w.client.to_string();
    let started = device(
        &dir,
        true,
        &["visit", "new", "--client", &client, "--date", "2026-11-27"],
    )
    .await
    .ok();
    assert_eq!(started["type"], "visit", "{started}");
    assert_eq!(started["data"]["visit"]["date"], "2026-11-27");
    let visit = started["data"]["visit"]["id"]
        .as_str()
        .expect("visit id")
        .to_owned();
    let questions: Vec<Value> = started["data"]["template"]["questions"]
        .as_object()
        .expect("the template's questions")
        .values()
        .filter(|q| q["retired"] == false)
        .cloned()
        .collect();
    let of_kind = |kind: &str, required: bool| {
        questions
            .iter()
            .find(|q| q["kind"]["kind"] == kind && q["required"] == required)
            .and_then(|q| q["id"].as_str())
            .unwrap_or_else(|| panic!("a {kind} question (required: {required})"))
            .to_owned()
    };
    let text_q = of_kind("text", true);
    let yes_no_q = of_kind("yes_no", false);

    let text = "Нужен второй канал связи 🚀";
    let saved = device(
        &dir,
        true,
        &[
            "visit",
            "edit",
            &visit,
            "--text",
            &format!("{text_q}={text}"),
            "--yes-no",
            &format!("{yes_no_q}=да"),
        ],
    )
    .await
    .ok();
    let saved = saved.as_array().expect("one answer per edit");
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(saved.iter().all(|s| s["type"] == "saved"), "{saved:?}");

    let shown = device(&dir, true, &["visit", "show", &visit]).await.ok();
    let answers = &shown["data"]["visit"]["answers"];
    assert_eq!(answers[&text_q], json!({"kind": "text", "value": text}));
    assert_eq!(answers[&yes_no_q], json!({"kind": "bool", "value": true}));

    // Completing too early names every required question still open.
    let required: Vec<&Value> = questions.iter().filter(|q| q["required"] == true).collect();
    let mut open_ids: Vec<String> = required
        .iter()
        .filter(|q| q["id"] != text_q.as_str())
        .map(|q| q["id"].as_str().expect("id").to_owned())
        .collect();
    open_ids.sort();
    assert!(!open_ids.is_empty(), "the template has required questions");
    let refused = device(&dir, true, &["visit", "complete", &visit])
        .await
        .error();
    assert_eq!(refused["code"], "visit_incomplete", "{refused}");
    let mut missing: Vec<String> = refused["missing"]
        .as_array()
        .expect("the missing answers")
        .iter()
        .map(|m| m["question_id"].as_str().expect("question id").to_owned())
        .collect();
    missing.sort();
    assert_eq!(missing, open_ids);
    assert!(
        refused["missing"][0]["wording"]["ru"]
            .as_str()
            .is_some_and(|w| !w.is_empty()),
        "the missing question's wording: {refused}"
    );

    let mut fill = vec!["visit".to_owned(), "edit".to_owned(), visit.clone()];
    for q in required.iter().filter(|q| q["id"] != text_q.as_str()) {
        fill.extend(answer_flags(q));
    }
    let fill: Vec<&str> = fill.iter().map(String::as_str).collect();
    device(&dir, true, &fill).await.ok();
    let completed = device(&dir, true, &["visit", "complete", &visit])
        .await
        .ok();
    assert_eq!(
        completed["data"]["visit"]["state"], "completed",
        "{completed}"
    );
    assert_eq!(completed["data"]["missing"], json!([]));

    let synced = device(&dir, true, &["sync"]).await.ok();
    assert!(synced["data"]["last_error"].is_null(), "{synced}");
    assert_eq!(synced["data"]["pending_docs"], 0, "{synced}");
    let status = device(&dir, true, &["status"]).await.ok();
    assert_eq!(status[0]["data"]["server_url"], w.ts.url(), "{status}");
    assert_eq!(status[1]["data"]["pending_docs"], 0, "{status}");
    assert!(status[1]["data"]["last_success_ms"].is_i64(), "{status}");

    let visit_id: DocId = visit.parse().expect("visit id");
    let on_server = w.ts.visit_doc(visit_id).await;
    assert_eq!(on_server.state, VisitState::Completed);
    assert_eq!(
        on_server.answers.get(&text_q),
        Some(&AnswerValue::Text(text.into()))
    );

    // Text for people: a line per client, and the status in a few lines.
    let human = device(&dir, false, &["clients"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{human:?}");
    let answered = on_server.answers.values().filter(|a| a.is_given()).count();
    assert!(
        lines[0].starts_with(&format!(
            "{COMPANY} — visit 2026-11-27 completed: {answered} answered, 0 required missing"
        )),
        "{human:?}"
    );
    assert!(
        lines[0].contains(&client),
        "the client's id for `visit new`: {human:?}"
    );
    let human = device(&dir, false, &["status"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    for expected in [
        format!("server:     {} (rep Иван Иванов", w.ts.url()),
        "pending:    0 document(s)".to_owned(),
        "last error: none".to_owned(),
        "stopped:    none".to_owned(),
    ] {
        assert!(
            human.stdout.contains(&expected),
            "{expected:?} in {human:?}"
        );
    }
    assert!(!human.stdout.contains("last sync:  never"), "{human:?}");

    // The visit for people: yes/no in Russian, not as true/false.
    let human = device(&dir, false, &["visit", "show", &visit]).await;
    assert_eq!(human.code, 0, "{human:?}");
    let yes_no_line = human
        .stdout
        .lines()
        .find(|l| l.contains(&format!("[{yes_no_q}]")))
        .unwrap_or_else(|| panic!("a line for {yes_no_q}: {human:?}"));
    assert!(yes_no_line.ends_with(": да"), "{yes_no_line}");
    assert!(
        !human.stdout.contains(": true") && !human.stdout.contains(": false"),
        "{human:?}"
    );
}

/// A device paired and synced through the library, with a started visit; closed.
async fn paired_device(w: &World, dir: &Path) -> (DocId, String) {
    let code =
        w.ts.pairing_code(&w.lead, w.programme, Some("ivanov"))
            .await;
    let node = Node::open(options(dir, false)).await.expect("open");
    pair_and_sync(&node, &w.ts, code, "").await;
    let detail = start_visit(&node, w.client).await;
    let text_q = question(&detail.template, &rapport_domain::QuestionKind::Text);
    node.shutdown().await;
    (detail.visit.id, text_q)
}

/// Wrong input on a paired device: exit 1, a stable code, a message, nothing saved.
#[rstest]
#[case::text_without_equals(&["visit", "edit", "{visit}", "--text", "Нужен второй канал"], "bad_argument")]
#[case::yes_no_not_yes_or_no(&["visit", "edit", "{visit}", "--yes-no", "{text_q}=может быть"], "bad_argument")]
#[case::unknown_visit(&["visit", "show", "{unknown}"], "not_found")]
#[case::edit_of_unknown_visit(&["visit", "edit", "{unknown}", "--text", "{text_q}=Текст"], "not_found")]
#[case::unknown_question(&["visit", "edit", "{visit}", "--text", "нет.такого=Текст"], "unknown_question")]
#[case::date_not_a_date(&["visit", "new", "--client", "{client}", "--date", "27.11.2026"], "invalid_date")]
#[case::second_pairing(&["pair", "--server", "http://127.0.0.1:9", "--code", "AAAA-BBBB-CCCC"], "already_paired")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_input_on_a_paired_device_is_refused_with_a_code(
    #[case] args: &[&str],
    #[case] code: &str,
) {
    let w = world().await;
    let home = tempfile::tempdir().expect("dir");
    let (visit, text_q) = paired_device(&w, home.path()).await;
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("{visit}", &visit.to_string())
                .replace("{unknown}", &DocId::random().to_string())
                .replace("{client}", &w.client.to_string())
                .replace("{text_q}", &text_q)
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let show = ["visit", "show", &visit.to_string()].map(str::to_owned);
    let show: Vec<&str> = show.iter().map(String::as_str).collect();
    let before = device(home.path(), true, &show).await.ok();
    let error = device(home.path(), true, &args).await.error();
    assert_eq!(error["code"], code, "{error}");
    // Nothing half-done: the visit is as it was.
    let after = device(home.path(), true, &show).await.ok();
    assert_eq!(after["data"]["visit"], before["data"]["visit"]);
}

/// Wrong input before pairing: exit 1 with a code, nothing paired.
#[rstest]
#[case::command_before_pairing(&["clients"], "not_paired")]
#[case::visit_before_pairing(&["visit", "show", "{unknown}"], "not_paired")]
#[case::malformed_server_url(&["pair", "--server", "127.0.0.1:8080", "--code", "{code}"], "bad_server_url")]
#[case::server_url_with_space(&["pair", "--server", "http://сервер компании", "--code", "{code}"], "bad_server_url")]
#[case::wrong_pairing_code(&["pair", "--server", "{url}", "--code", "ZZZZ-ZZZZ-ZZZZ"], "invalid_pairing_code")]
#[case::server_not_there(&["pair", "--server", "http://127.0.0.1:9", "--code", "{code}"], "offline")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_input_before_pairing_is_refused_with_a_code(
    #[case] args: &[&str],
    #[case] code: &str,
) {
    let w = world().await;
    let pairing_code =
        w.ts.pairing_code(&w.lead, w.programme, Some("ivanov"))
            .await;
    let home = tempfile::tempdir().expect("dir");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("{url}", w.ts.url())
                .replace("{code}", &pairing_code)
                .replace("{unknown}", &DocId::random().to_string())
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let error = device(home.path(), true, &args).await.error();
    assert_eq!(error["code"], code, "{error}");
    let status = device(home.path(), true, &["status"]).await.ok();
    assert_eq!(status["data"]["paired"], false, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pairing_code_says_what_to_do() {
    let w = world().await;
    let home = tempfile::tempdir().expect("dir");
    let run = device(
        home.path(),
        false,
        &["pair", "--server", w.ts.url(), "--code", "ZZZZ-ZZZZ-ZZZZ"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("ask the programme lead for a new one")
            && run.stderr.contains("[invalid_pairing_code]"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_storage_is_a_usage_error() {
    let home = tempfile::tempdir().expect("dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport-device"));
    command
        .arg("--data-dir")
        .arg(home.path())
        .args(["--key-storage", "сейф", "--json", "clients"]);
    let run = raw(command).await;
    assert_eq!(run.code, 2, "clap's usage error: {run:?}");
    assert!(
        run.stderr.contains("unknown key storage") && run.stderr.contains("auto, keychain or file"),
        "{run:?}"
    );
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        std::fs::read_dir(home.path())
            .expect("dir")
            .next()
            .is_none(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_says_so_in_its_status() {
    let w = world().await;
    let code =
        w.ts.pairing_code(&w.lead, w.programme, Some("ivanov"))
            .await;
    let home = tempfile::tempdir().expect("dir");
    let paired = device(
        home.path(),
        true,
        &["pair", "--server", w.ts.url(), "--code", &code],
    )
    .await
    .ok();
    let device_id = paired[0]["data"]["device_id"]
        .as_str()
        .expect("device id")
        .to_owned();
    w.ts.revoke_device(&w.lead, w.programme, &device_id).await;

    let synced = device(home.path(), true, &["sync"]).await.ok();
    assert_eq!(
        synced["data"]["last_error"]["code"], "device_revoked",
        "{synced}"
    );
    let human = device(home.path(), false, &["status"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    let error_line = human
        .stdout
        .lines()
        .find(|l| l.starts_with("last error: "))
        .unwrap_or_else(|| panic!("a last-error line: {human:?}"));
    assert!(
        error_line.contains("revoked this device") && error_line.contains("[device_revoked]"),
        "{human:?}"
    );
    // Clients stay readable on a revoked device.
    let clients = device(home.path(), true, &["clients"]).await.ok();
    assert_eq!(clients["data"][0]["company"], COMPANY, "{clients}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_edit_in_a_list_says_the_ones_before_it_are_saved() {
    let w = world().await;
    let home = tempfile::tempdir().expect("dir");
    let (visit, text_q) = paired_device(&w, home.path()).await;
    let visit = visit.to_string();
    let first = format!("{text_q}=Первый ответ 🚀");
    let error = device(
        home.path(),
        true,
        &[
            "visit",
            "edit",
            &visit,
            "--text",
            &first,
            "--text",
            "нет.такого=Второй",
        ],
    )
    .await
    .error();
    assert_eq!(error["code"], "unknown_question", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("the 1 edit(s) given before it are saved")),
        "{error}"
    );
    let shown = device(home.path(), true, &["visit", "show", &visit])
        .await
        .ok();
    assert_eq!(
        shown["data"]["visit"]["answers"][&text_q],
        json!({"kind": "text", "value": "Первый ответ 🚀"})
    );
}

/// People read a visit as the paper form, a saved edit, and a sync as short text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_an_edit_and_a_sync_read_as_text_for_people() {
    let w = world().await;
    let home = tempfile::tempdir().expect("dir");
    let dir = home.path().join("устройство");
    let (visit, text_q) = paired_device(&w, &dir).await;
    let visit = visit.to_string();
    let edit = format!("{text_q}=Хотят второй канал связи 🚀");
    let saved = device(&dir, false, &["visit", "edit", &visit, "--text", &edit]).await;
    assert_eq!(saved.code, 0, "{saved:?}");
    assert!(
        saved.stdout.starts_with("saved on this device at "),
        "{saved:?}"
    );

    let shown = device(&dir, false, &["visit", "show", &visit]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.starts_with(COMPANY), "{shown:?}");
    assert!(shown.stdout.contains("## Ключевые контакты"), "{shown:?}");
    assert!(
        shown
            .stdout
            .contains(&format!("[{text_q}]: Хотят второй канал связи 🚀")),
        "{shown:?}"
    );
    assert!(shown.stdout.contains("(required, missing)"), "{shown:?}");
    assert!(
        shown.stdout.contains("required answer(s) missing"),
        "{shown:?}"
    );

    let history = device(&dir, false, &["visit", "history", &visit, &text_q]).await;
    assert_eq!(history.code, 0, "{history:?}");
    assert!(
        history
            .stdout
            .contains("this device): Хотят второй канал связи 🚀"),
        "{history:?}"
    );

    let synced = device(&dir, false, &["sync"]).await;
    assert_eq!(synced.code, 0, "{synced:?}");
    assert!(
        synced.stdout.starts_with("pending:    0 document(s)"),
        "{synced:?}"
    );
    assert!(synced.stdout.contains("last error: none"), "{synced:?}");
}

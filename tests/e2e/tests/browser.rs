//! The lead's day in a real browser (headless Chromium through chromedriver) against
//! the real server on PostgreSQL, serving the built UI: sign in, import a client list
//! with one bad row, apply the assignment suggestion, make a pairing code for a rep's
//! tablet — and watch the dashboard change when that tablet (a real device node)
//! syncs a completed visit. And the devices page following a tablet: paired, syncing,
//! revoked.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use rapport_api::{PairRequest, Request, Response, StartVisit, VisitEdit};
use rapport_e2e::*;
use rapport_node::{KeyStorage, Node, NodeOptions};
use rapport_testkit::{Backend, PASSWORD, TestServer};

const CLIENTS_CSV: &str = "Компания;Сегмент;Контакт;Телефон\n\
ООО «Ромашка»;корпоративный;Анна Петрова;+7 495 000-00-01\n\
АО «Северный ветер»;корпоративный;Олег Смирнов;+7 495 000-00-02\n\
;корпоративный;Без компании;+7 495 000-00-03\n\
ИП Ёлкин;ключевой частный;Сергей Ёлкин;+7 495 000-00-04\n";

/// A client list as a Russian CRM exports it.
const CRM_CSV: &str = "Наименование клиента;Контактное лицо;Комментарий;Статус сделки\n\
АО «Балтика»;Ирина Ковалёва;звонить после обеда;переговоры\n\
ООО «Тайга»;Семён Лесных;;договор подписан\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_runs_the_programme_in_a_browser() {
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_rep(&lead, programme, "petrova", "Мария Петрова")
        .await;

    let browser = Browser::start().await;
    let c = &browser.client;

    // Sign in. The start page (the rep's bundle) sends a browser that holds no device to
    // the lead's pages, which the lead's bundle shows.
    c.goto(&format!("{}/", ts.url())).await.expect("start page");
    wait_for(c, "[data-testid=signin-email]").await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/lead"),
        "the start page led to the lead's pages"
    );
    type_into(c, "[data-testid=signin-email]", &lead.row.email).await;
    // A wrong password is refused with a message, and the page stays.
    type_into(c, "[data-testid=signin-password]", "не тот пароль").await;
    click(c, "[data-testid=signin-submit]").await;
    let refusal = wait_for(c, "[data-testid=error]").await;
    assert!(!refusal.text().await.expect("text").trim().is_empty());
    fill(c, "[data-testid=signin-password]", PASSWORD).await;
    click(c, "[data-testid=signin-submit]").await;
    click(c, "[data-testid=programme-open]").await;
    wait_for(c, "[data-testid=dashboard]").await;
    let completed_before = wait_attr(
        c,
        "[data-testid=stat-visits-completed]",
        "data-value",
        WAIT,
        |_| true,
    )
    .await;
    assert_eq!(completed_before, "0");

    // Import a client list with one bad row: the row and the reason are shown, the
    // good rows are in.
    click(c, "[data-testid=nav-clients]").await;
    // The clients page exports its own list (and the visits).
    for file in ["clients.csv", "clients.xlsx", "visits.xlsx"] {
        wait_for(c, &format!("[data-testid=export-link][data-file='{file}']")).await;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let csv = dir.path().join("клиенты.csv");
    std::fs::write(&csv, CLIENTS_CSV).expect("csv written");
    let input = wait_for(c, "[data-testid=import-file]").await;
    input
        .send_keys(csv.to_str().expect("utf-8 path"))
        .await
        .expect("file chosen");
    click(c, "[data-testid=import-submit]").await;
    wait_for(c, "[data-testid=import-result]").await;
    let bad = wait_for(c, "[data-testid=import-row-error]").await;
    assert_eq!(
        bad.attr("data-row").await.expect("attr").as_deref(),
        Some("4")
    );
    let reason = bad.text().await.expect("text");
    assert!(!reason.trim().is_empty(), "the bad row says why");
    assert_eq!(
        c.find_all(Locator::Css("[data-testid=import-row-error]"))
            .await
            .expect("rows")
            .len(),
        1,
        "only the bad row is reported"
    );
    screenshot(c, "lead-import").await;
    wait_text(c, "body", "Северный ветер").await;

    // A list exported from a Russian CRM: its own headers. The page shows each column
    // beside the field guessed for it; the lead reads the deal status into the notes
    // and skips the comment, and the choice is kept for the next file.
    let crm = dir.path().join("выгрузка из CRM.csv");
    std::fs::write(&crm, CRM_CSV).expect("csv written");
    wait_for(c, "[data-testid=import-file]")
        .await
        .send_keys(crm.to_str().expect("utf-8 path"))
        .await
        .expect("file chosen");
    wait_for(c, "[data-testid=import-columns]").await;
    let column = |header: &str| format!("[data-testid=import-column][data-header='{header}']");
    assert_eq!(
        value_of(c, &column("Наименование клиента")).await,
        "company"
    );
    assert_eq!(
        value_of(c, &column("Контактное лицо")).await,
        "contact_name"
    );
    assert_eq!(
        value_of(c, &column("Статус сделки")).await,
        "",
        "not guessed: skipped"
    );
    for (header, field) in [("Комментарий", ""), ("Статус сделки", "notes")]
    {
        wait_for(c, &column(header))
            .await
            .select_by_value(field)
            .await
            .expect("a field chosen");
    }
    screenshot(c, "lead-import-columns").await;
    click(c, "[data-testid=import-submit]").await;
    wait_attr(
        c,
        "[data-testid=import-result]",
        "data-imported",
        WAIT,
        |n| n == "2",
    )
    .await;
    wait_text(c, "body", "АО «Балтика»").await;
    let kept = js(c, "return localStorage.getItem('rapport.import.columns');").await;
    assert!(
        kept.as_str().is_some_and(|k| k.contains("Статус сделки")),
        "the choice is kept for the next file: {kept}"
    );

    // One override, with a reason, while a reason is half typed in another row: the
    // suggestion reloads and that row keeps what is typed.
    click(c, "[data-testid=nav-assignments]").await;
    wait_for(c, "[data-testid=suggestion-row]").await;
    screenshot_page(c, "lead-assignments").await;
    let rows = c
        .find_all(Locator::Css("[data-testid=suggestion-row]"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 5, "a row per client");
    let mut ids = Vec::new();
    for row in &rows {
        ids.push(row.attr("data-client-id").await.expect("attr").expect("id"));
    }
    let row = |id: &str| format!("[data-testid=suggestion-row][data-client-id='{id}']");
    let (first_id, first, last) = (ids[0].clone(), row(&ids[0]), row(&ids[4]));
    let half_typed = "Ещё думаю: спросить Марию";
    fill(
        c,
        &format!("{last} [data-testid=override-reason]"),
        half_typed,
    )
    .await;
    let suggested = wait_for(c, &first)
        .await
        .attr("data-rep-id")
        .await
        .expect("attr")
        .expect("a suggested rep");
    let other = if suggested == "ivanov" {
        "petrova"
    } else {
        "ivanov"
    };
    wait_for(
        c,
        &format!("{first} [data-testid=override-rep] option[value='{other}']"),
    )
    .await;
    wait_for(c, &format!("{first} [data-testid=override-rep]"))
        .await
        .select_by_value(other)
        .await
        .expect("another rep chosen");
    fill(
        c,
        &format!("{first} [data-testid=override-reason]"),
        "Клиент знает её много лет",
    )
    .await;
    click(c, &format!("{first} [data-testid=override-save]")).await;
    wait_text(c, "[data-testid=success]", "назначен менеджер").await;
    // The client list is a projection: it shows the override a moment later.
    let started = Instant::now();
    loop {
        let rep = lead_clients(&ts, &lead, programme)
            .await
            .as_array()
            .expect("client list")
            .iter()
            .find(|c| c["id"] == first_id.as_str())
            .map(|c| c["current_rep"].clone())
            .expect("the overridden client");
        if rep == other {
            break;
        }
        assert!(started.elapsed() < WAIT, "the override never showed: {rep}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        value_of(c, &format!("{first} [data-testid=override-reason]")).await,
        "",
        "the saved override's reason is cleared"
    );
    assert_eq!(
        value_of(c, &format!("{last} [data-testid=override-reason]")).await,
        half_typed,
        "the other row kept the reason being typed"
    );
    click(c, "[data-testid=apply-suggestion]").await;
    let mut assigned = 0;
    let mut clients = serde_json::Value::Null;
    for _ in 0..100 {
        clients = lead_clients(&ts, &lead, programme).await;
        assigned = clients
            .as_array()
            .expect("client list")
            .iter()
            .filter(|c| !c["current_rep"].is_null())
            .count();
        // Three from the first file, two from the CRM's.
        if assigned == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(assigned, 5, "every imported client has a rep: {clients}");

    // A pairing code for Ivanov's tablet.
    let code = make_pairing_code(c, "ivanov").await;
    assert!(code.len() >= 8, "a readable code: {code:?}");
    screenshot(c, "lead-devices").await;

    // The tablet pairs with that code and completes a visit of one of its clients.
    let device_dir = tempfile::tempdir().expect("device folder");
    let mut options = NodeOptions::new(device_dir.path().join("устройство"));
    options.key_storage = KeyStorage::File;
    options.auto_sync = false;
    let node = Node::open(options).await.expect("node opens");
    node.handle(Request::Pair(PairRequest {
        server_url: ts.url().to_owned(),
        code,
        label: "Планшет Иванова".into(),
    }))
    .await
    .expect("the code from the page pairs the tablet");
    let client_id = sync_until_clients(&node).await;
    let visit_id = match node
        .handle(Request::StartVisit(StartVisit {
            client_id,
            date: "2026-11-27".into(),
        }))
        .await
        .expect("visit starts")
    {
        Response::Visit(v) => v.visit.id,
        other => panic!("StartVisit answered {other:?}"),
    };
    fill_required(&node, visit_id).await;
    node.handle(Request::CompleteVisit { visit_id })
        .await
        .expect("the visit completes");
    sync_until_sent(&node).await;

    // The dashboard, still open, shows it without a reload.
    click(c, "[data-testid=nav-dashboard]").await;
    wait_attr(
        c,
        "[data-testid=stat-visits-completed]",
        "data-value",
        Duration::from_secs(60),
        |v| v == "1",
    )
    .await;
    wait_for(c, "[data-testid=chart-coverage]").await;
    screenshot_page(c, "lead-dashboard").await;
    // The charts' labels and numbers keep the body text's size on tablet screens.
    for (width, height) in [(768, 1024), (1024, 768), (1280, 800)] {
        c.set_window_size(width, height)
            .await
            .expect("a window size");
        let sizes = js(
            c,
            "const body = parseFloat(getComputedStyle(document.body).fontSize);
             const texts = [...document.querySelectorAll('[data-testid=chart-row] .chart-label, [data-testid=chart-row] .chart-value')];
             return {body, count: texts.length,
                     smallest: Math.min(...texts.map((t) => t.getBoundingClientRect().height > 0
                         ? parseFloat(getComputedStyle(t).fontSize) : 0))};",
        )
        .await;
        assert!(
            sizes["count"].as_u64().unwrap_or(0) > 0,
            "chart rows: {sizes}"
        );
        assert!(
            sizes["smallest"].as_f64().unwrap_or(0.0) >= sizes["body"].as_f64().unwrap_or(99.0),
            "a chart label smaller than the body text at {width}px: {sizes}"
        );
    }
    c.set_window_size(1024, 768).await.expect("a window size");
    screenshot_page(c, "lead-dashboard-1024").await;
    c.set_window_size(1280, 800)
        .await
        .expect("the test's window size");

    // The reps' list reloads without closing an open edit row or losing what is typed
    // there: Ivanov's row is being edited while another rep is added.
    click(c, "[data-testid=nav-reps]").await;
    click(
        c,
        "[data-testid=rep-row][data-rep-id=ivanov] [data-testid=rep-edit]",
    )
    .await;
    fill(c, "[data-testid=rep-edit-name]", "Иван Петрович Иванов").await;
    click(c, "[data-testid=rep-add]").await;
    type_into(c, "[data-testid=rep-name]", "Пётр Сидоров").await;
    click(c, "[data-testid=rep-save]").await;
    wait_text(c, "tbody", "Пётр Сидоров").await;
    assert_eq!(
        value_of(c, "[data-testid=rep-edit-name]").await,
        "Иван Петрович Иванов",
        "the edit row stays open with its text through the reload"
    );
    screenshot_page(c, "lead-reps-editing").await;

    // Dates in the page's language, whatever the browser's locale: the programme's end
    // reads 30.06.2026; a day that does not exist is refused with a message before
    // anything is sent; a real one is saved and shown as typed.
    click(c, "[data-testid=nav-settings]").await;
    assert_eq!(
        value_of(c, "[data-testid=settings-end]").await,
        "30.06.2026"
    );
    let placeholder = wait_for(c, "[data-testid=settings-end]")
        .await
        .attr("placeholder")
        .await
        .ok()
        .flatten();
    assert_eq!(placeholder.as_deref(), Some("дд.мм.гггг"));
    fill(c, "[data-testid=settings-end]", "31.06.2026").await;
    click(c, "[data-testid=settings-save]").await;
    let refusal = wait_for(c, "[data-testid=date-invalid]").await;
    assert!(
        refusal
            .text()
            .await
            .unwrap_or_default()
            .contains("дд.мм.гггг"),
        "the refusal says how to write a date"
    );
    fill(c, "[data-testid=settings-end]", "31.07.2026").await;
    click(c, "[data-testid=settings-save]").await;
    wait_for(c, "[data-testid=success]").await;
    c.refresh().await.expect("reload");
    // The form is drawn once the programme is loaded, with its dates in it.
    assert_eq!(
        value_of(c, "[data-testid=settings-end]").await,
        "31.07.2026"
    );

    click(c, "[data-testid=nav-dashboard]").await;
    wait_for(c, "[data-testid=dashboard]").await;

    // Russian first; English at a touch, remembered on reload.
    let nav = |c: &fantoccini::Client| {
        let c = c.clone();
        async move {
            c.find(Locator::Css("[data-testid=nav-dashboard]"))
                .await
                .expect("tab")
                .text()
                .await
                .expect("text")
        }
    };
    let russian = nav(c).await;
    assert!(
        russian
            .chars()
            .any(|ch| ('а'..='я').contains(&ch.to_lowercase().next().unwrap_or(ch))),
        "the page starts in Russian: {russian:?}"
    );
    click(c, "[data-testid=lang-en]").await;
    wait_for(c, "html[lang=en]").await;
    let english = nav(c).await;
    assert!(
        english != russian && english.is_ascii(),
        "English after the switch: {english:?}"
    );
    c.refresh().await.expect("reload");
    wait_for(c, "[data-testid=dashboard]").await;
    assert_eq!(nav(c).await, english, "the choice is remembered");
    screenshot_page(c, "lead-dashboard-en").await;

    node.shutdown().await;
    browser.close().await;
}

/// The devices page follows the tablets without a reload: a rep's tablet paired with
/// the code on screen appears, with the card saying so; a revoke question opened on it
/// stays open while the tablet syncs and its row moves; the revoke then stops the tablet
/// at its next sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_watches_a_tablet_pair_and_sync_and_revokes_it() {
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_client(&lead, programme, "ООО «Ромашка»", "ivanov")
        .await;

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in_lead(c, ts.url(), &lead.row.email, PASSWORD).await;
    let code = make_pairing_code(c, "ivanov").await;

    let device_dir = tempfile::tempdir().expect("device folder");
    let mut options = NodeOptions::new(device_dir.path().join("планшет"));
    options.key_storage = KeyStorage::File;
    options.auto_sync = false;
    let node = Node::open(options).await.expect("node opens");
    node.handle(Request::Pair(PairRequest {
        server_url: ts.url().to_owned(),
        code,
        label: "Планшет Иванова".into(),
    }))
    .await
    .expect("the code on screen pairs the tablet");

    // The card that showed the code says the tablet came, and its row is in the list.
    let paired = wait_text(c, "[data-testid=pairing-paired]", "Планшет Иванова").await;
    assert!(paired.contains("подключено"), "{paired:?}");
    let tablet = wait_for(c, "[data-testid=pairing-paired]")
        .await
        .attr("data-device-id")
        .await
        .expect("attr")
        .expect("the paired device's id");
    let row = format!("[data-testid=device-row][data-device-id='{tablet}']");
    wait_text(c, &row, "Планшет Иванова").await;
    wait_text(c, &row, "Иван Иванов").await;
    assert_eq!(
        wait_attr(c, &row, "data-last-seen", WAIT, |_| true).await,
        "0",
        "not synced yet"
    );

    // The lead starts to revoke it; the tablet syncs meanwhile and its row moves.
    click(c, &format!("{row} [data-testid=device-revoke]")).await;
    wait_for(c, &format!("{row} [data-testid=device-revoke-confirm]")).await;
    sync_until_clients(&node).await;
    wait_attr(c, &row, "data-last-seen", WAIT, |v| v != "0").await;
    c.find(Locator::Css(&format!(
        "{row} [data-testid=device-revoke-confirm]"
    )))
    .await
    .expect("the revoke question stays open while the row moves");
    click(c, &format!("{row} [data-testid=device-revoke-confirm]")).await;
    wait_attr(c, &row, "data-revoked", WAIT, |v| v == "true").await;
    wait_text(c, "[data-testid=success]", "Планшет Иванова").await;

    // The tablet is refused at its next sync, and says why.
    let Response::Sync(status) = node.handle(Request::SyncNow).await.expect("a sync answer") else {
        panic!("SyncNow answers with the sync status");
    };
    let refused = status.last_error.expect("a revoked tablet's sync fails");
    assert_eq!(refused.code, "device_revoked", "{refused:?}");

    node.shutdown().await;
    browser.close().await;
}

/// Syncs until the tablet holds at least one client; returns the first.
async fn sync_until_clients(node: &Node) -> rapport_domain::DocId {
    for _ in 0..100 {
        let _ = node.handle(Request::SyncNow).await;
        if let Ok(Response::Clients(clients)) = node.handle(Request::Clients).await
            && let Some(first) = clients.first()
        {
            return first.client_id;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the tablet never received its clients");
}

/// Syncs until nothing waits to be sent.
async fn sync_until_sent(node: &Node) {
    for _ in 0..100 {
        if let Ok(Response::Sync(status)) = node.handle(Request::SyncNow).await
            && status.last_error.is_none()
            && status.pending_docs == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the tablet never finished sending");
}

/// Answers every required question of the visit.
async fn fill_required(node: &Node, visit_id: rapport_domain::DocId) {
    use rapport_api::{ContactInput, QualityAnswer, ScalarAnswer};
    use rapport_domain::QuestionKind;
    let Response::Visit(detail) = node
        .handle(Request::OpenVisit { visit_id })
        .await
        .expect("visit opens")
    else {
        panic!("not a visit");
    };
    for q in detail.template.active().into_iter().filter(|q| q.required) {
        let edit = match &q.kind {
            QuestionKind::Text => VisitEdit::Text {
                question_id: q.id.clone(),
                value: "Ответ клиента: всё хорошо ✅".into(),
            },
            QuestionKind::YesNo => VisitEdit::Scalar {
                question_id: q.id.clone(),
                value: ScalarAnswer::YesNo(true),
            },
            QuestionKind::Number => VisitEdit::Scalar {
                question_id: q.id.clone(),
                value: ScalarAnswer::Number(3.0),
            },
            QuestionKind::Date => VisitEdit::Scalar {
                question_id: q.id.clone(),
                value: ScalarAnswer::Date("2026-11-27".into()),
            },
            QuestionKind::Choice { options } => VisitEdit::Scalar {
                question_id: q.id.clone(),
                value: ScalarAnswer::Choice(options[0].id.clone()),
            },
            QuestionKind::Contacts => VisitEdit::Contact {
                id: None,
                contact: ContactInput {
                    updates_contact_id: None,
                    name: "Анна Петрова".into(),
                    role: "Директор".into(),
                    phone: "+7 495 000-00-01".into(),
                    email: "anna@romashka.ru".into(),
                },
            },
            QuestionKind::Referrals => continue,
            QuestionKind::QualityCheck { .. } => VisitEdit::Quality {
                question_id: q.id.clone(),
                answer: QualityAnswer {
                    target: 100.0,
                    actual: 100.0,
                    outage_last_month: false,
                    note: String::new(),
                    at_most: false,
                },
            },
        };
        node.handle(Request::EditVisit { visit_id, edit })
            .await
            .unwrap_or_else(|e| panic!("answer to {}: {e}", q.id));
    }
}

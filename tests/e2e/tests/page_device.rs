//! The rep's device in a plain browser (headless Chromium, no app): the device core runs
//! in the page. The lead makes a pairing code, the rep pairs on the pairing page, types
//! a visit's answers in Russian while the server is down, and once it is back the visit
//! reaches it by itself (no button) — the lead's status and export show it. A second tab of the same site says Rapport
//! is open elsewhere and runs no device (the first tab holds the Web Lock), and takes
//! over once the first tab closes. A questionnaire the lead edits while the rep has
//! entry forms open on a visit keeps them open, with what is typed.
//!
//! Each step is a helper, so a reload step (once the page's store keeps its data) is
//! one call between two of them.

use std::time::{Duration, Instant};

use fantoccini::Client;
use rapport_domain::DocId;
use rapport_e2e::*;
use rapport_testkit::{Backend, TestLead, TestServer};

const COMPANY: &str = "ООО «Ромашка»";
const ANSWER: &str = "В переговорной на третьем этаже, с видом на Неву";
const QUESTION: &str = "company.meeting_place";

/// Starts a visit and types one answer in Russian; returns the visit id.
async fn type_answer(c: &Client) -> DocId {
    click(c, "[data-testid=start-visit]").await;
    let field = format!("{} textarea", question(QUESTION));
    type_into(c, &field, ANSWER).await;
    wait_attr(c, "[data-testid=save-state]", "data-state", WAIT, |s| {
        s == "saved"
    })
    .await;
    visit_id(c).await
}

/// The lead's visits export (one row per visit, answers in columns).
async fn visits_csv(ts: &TestServer, lead: &TestLead, programme: DocId) -> String {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/programmes/{programme}/exports/visits.csv",
            ts.url()
        ))
        .bearer_auth(&lead.token)
        .send()
        .await
        .expect("export");
    assert!(response.status().is_success(), "{}", response.status());
    response.text().await.expect("export text")
}

/// Waits (bounded) until the server holds the typed answer: nobody pressed "sync".
async fn wait_server_has_answer(ts: &TestServer, lead: &TestLead, programme: DocId) {
    let started = Instant::now();
    let limit = Duration::from_secs(60);
    loop {
        let drafts = lead_status(ts, lead, programme).await["visits"]["draft"]
            .as_u64()
            .unwrap_or(0);
        if drafts == 1 && visits_csv(ts, lead, programme).await.contains(ANSWER) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "the visit did not reach the server by itself within {limit:?} (drafts: {drafts})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The Web Locks of this origin as the page sees them: (held, pending) names.
async fn locks(c: &Client) -> (Vec<String>, Vec<String>) {
    let value = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.locks.query().then(q => done({
                 held: q.held.map(l => l.name),
                 pending: q.pending.map(l => l.name),
             }));",
            vec![],
        )
        .await
        .expect("locks queried");
    (strings(&value["held"]), strings(&value["pending"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_pairs_and_fills_a_visit_in_a_browser_and_it_syncs_by_itself() {
    let Some(mut ts) =
        TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_client(&lead, programme, COMPANY, "ivanov").await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let browser = Browser::start().await;
    let c = &browser.client;

    // A mistyped code is refused with words, in Russian, and nothing is paired.
    c.goto(&format!("{}/rep/pair", ts.url()))
        .await
        .expect("pairing page");
    a_wrong_code_is_refused_in_russian(c, ts.url()).await;

    pair_in_browser(c, ts.url(), &code, COMPANY).await;
    wait_attr(c, "[data-testid=sync-state]", "data-state", WAIT, |s| {
        s == "synced"
    })
    .await;
    let devices = ts
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/programmes/{programme}/devices"),
            Some(&lead.token),
            None,
        )
        .await
        .1;
    assert_eq!(
        devices.as_array().map(Vec::len),
        Some(1),
        "one device paired: {devices}"
    );

    // The network goes away: the rep types on; the bar says the server cannot be
    // reached, calmly, and the edit waits on the device.
    ts.stop().await;
    let _visit = type_answer(c).await;
    wait_attr(c, "[data-testid=sync-state]", "data-state", WAIT, |s| {
        s == "offline"
    })
    .await;
    screenshot(c, "page-device-offline").await;
    // It comes back: the driver's probe finds it and the visit goes by itself.
    ts.restart_on_same_port().await;
    wait_server_has_answer(&ts, &lead, programme).await;
    wait_attr(
        c,
        "[data-testid=sync-state]",
        "data-state",
        Duration::from_secs(60),
        |s| s == "synced",
    )
    .await;
    screenshot(c, "page-device-questionnaire").await;

    // A second tab of the same site: it runs no device while the first one does.
    let first = c.window().await.expect("first tab");
    let second = c.new_window(true).await.expect("second tab").handle;
    c.switch_to_window(second.clone())
        .await
        .expect("to the second tab");
    c.goto(&format!("{}/rep", ts.url()))
        .await
        .expect("rep page in the second tab");
    let notice = wait_for(c, "[data-testid=device-notice][data-notice=other-tab]")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        notice.contains("другой вкладке"),
        "the second tab says where Rapport runs: {notice:?}"
    );
    let (held, pending) = locks(c).await;
    assert_eq!(held, ["rapport-device"], "one tab holds the device");
    assert_eq!(pending, ["rapport-device"], "the other waits for it");
    // The second tab never syncs: no status, no clients, while the first keeps going.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        wait_attr(c, "[data-testid=sync-state]", "data-state", WAIT, |_| true).await,
        "unknown",
        "the waiting tab has no device"
    );
    screenshot(c, "page-device-other-tab").await;

    // The first tab closes: the second takes the device over.
    c.switch_to_window(first).await.expect("to the first tab");
    c.close_window().await.expect("first tab closed");
    c.switch_to_window(second).await.expect("to the second tab");
    wait_gone(c, "[data-testid=device-notice][data-notice=other-tab]").await;
    wait_attr(c, "[data-testid=sync-state]", "data-state", WAIT, |s| {
        s != "unknown"
    })
    .await;
    let (held, pending) = locks(c).await;
    assert_eq!(held, ["rapport-device"], "the second tab holds it now");
    assert!(pending.is_empty(), "nobody waits: {pending:?}");

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_questionnaire_edited_by_the_lead_mid_visit_keeps_the_reps_open_forms() {
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let (lead, programme, _) = ts.ivanov_with_client(COMPANY).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    pair_in_browser(c, ts.url(), &code, COMPANY).await;

    // The rep starts a visit and has a contact and a referral half typed.
    click(c, "[data-testid=start-visit]").await;
    wait_for(c, &question(QUESTION)).await;
    click(c, "[data-testid=contact-add]").await;
    let contact = "Анна Сергеевна Петрова";
    type_into(c, "[data-testid=contact-name]", contact).await;
    click(c, "[data-testid=referral-add]").await;
    let referral = "Игорь Ёлкин";
    type_into(c, "[data-testid=referral-name]", referral).await;

    // Meanwhile the lead adds a question to the questionnaire; the rep syncs, and the
    // visit page shows the new question.
    let (status, body) = ts
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/programmes/{programme}/template/questions"),
            Some(&lead.token),
            Some(serde_json::json!({
                "id": "carnegie.hobby",
                "section": "carnegie",
                "kind": {"kind": "text"},
                "wording_ru": "Чем клиент увлекается?",
                "wording_en": "What are the client's hobbies?",
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    click(c, "[data-testid=sync-now]").await;
    wait_text(c, &question("carnegie.hobby"), "Чем клиент увлекается?").await;

    // Both forms are still open with what was typed, and save it.
    for (field, typed) in [("contact-name", contact), ("referral-name", referral)] {
        let css = format!("[data-testid={field}]");
        assert!(
            !c.find_all(fantoccini::Locator::Css(&css))
                .await
                .expect("fields")
                .is_empty(),
            "the questionnaire's change closed the form holding `{field}`"
        );
        assert_eq!(value_of(c, &css).await, typed, "{field} kept");
    }
    click(c, "[data-testid=contact-save]").await;
    wait_text(c, "[data-testid=contact-row]", contact).await;
    click(c, "[data-testid=referral-save]").await;
    wait_text(c, "[data-testid=referral-row]", referral).await;
    browser.close().await;
}

//! The review round end to end (headless Chromium, the real server on PostgreSQL): the
//! rep fills and completes a visit in the web app (the device core in the page); the
//! lead, in another tab, finds it awaiting review on the clients page, returns it with a
//! comment on the visit and one on an answer; the rep's client list shows it returned,
//! the visit shows the banner and the comment under its answer; the rep reworks it and
//! completes it again; the lead accepts it; both sides show every round.

use std::time::{Duration, Instant};

use fantoccini::Client;
use rapport_domain::DocId;
use rapport_e2e::*;
use rapport_testkit::{Backend, PASSWORD, TestLead, TestServer};

const COMPANY: &str = "ООО «Ромашка»";
const PLANS: &str = "carnegie.plans";

/// Waits (bounded) until the lead's status counts `key` of the visits as `n`: the
/// page's device syncs by itself after an edit.
async fn wait_status(ts: &TestServer, lead: &TestLead, programme: DocId, key: &str, n: u64) {
    let started = Instant::now();
    loop {
        let status = lead_status(ts, lead, programme).await;
        if status["visits"][key].as_u64() == Some(n) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "visits.{key} never became {n}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Opens a rep's page once: its device syncs on start and the page shows what the sync
/// brought by itself; waits (bounded) until `css` has `attr` = `value`.
async fn rep_page_until(c: &Client, url: &str, css: &str, attr: &str, value: &str) {
    c.goto(url).await.expect("page");
    wait_attr(c, css, attr, Duration::from_secs(60), |s| s == value).await;
}

/// Reloads a lead's page until `css` has `attr` = `value` (the page reads on load),
/// bounded.
async fn reload_until(c: &Client, url: &str, css: &str, attr: &str, value: &str) {
    let started = Instant::now();
    loop {
        c.goto(url).await.expect("page");
        let seen = wait_attr(c, css, attr, Duration::from_secs(20), |_| true).await;
        if seen == value {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "`{css}` [{attr}] stayed {seen:?}, expected {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_returns_a_visit_with_comments_and_accepts_it_after_rework() {
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
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
    let server = ts.url().to_owned();

    // The rep pairs the page, fills the whole visit and completes it.
    pair_in_browser(c, &server, &code, COMPANY).await;
    click(c, "[data-testid=start-visit]").await;
    wait_for(c, &question(PLANS)).await;
    let visit = visit_id(c).await;
    fill_whole_visit(c).await;
    click(c, "[data-testid=visit-complete]").await;
    wait_attr(c, "[data-testid=visit-state]", "data-state", WAIT, |s| {
        s == "completed"
    })
    .await;
    wait_attr(c, "[data-testid=visit-review]", "data-state", WAIT, |s| {
        s == "awaiting_review"
    })
    .await;
    wait_status(&ts, &lead, programme, "awaiting_review", 1).await;
    let rep_tab = c.window().await.expect("the rep's tab");

    // The lead, in another tab: the clients page says the visit awaits review.
    let lead_tab = c.new_window(true).await.expect("the lead's tab").handle;
    c.switch_to_window(lead_tab.clone())
        .await
        .expect("to the lead's tab");
    sign_in_lead(c, &server, &lead.row.email, PASSWORD).await;
    wait_for(c, "[data-testid=dashboard]").await;
    wait_attr(
        c,
        "[data-testid=stat-visits-awaiting-review]",
        "data-value",
        WAIT,
        |v| v == "1",
    )
    .await;
    click(c, "[data-testid=nav-clients]").await;
    wait_attr(c, "[data-testid=client-review]", "data-state", WAIT, |s| {
        s == "awaiting_review"
    })
    .await;
    click(c, "[data-testid=client-open-visit]").await;
    wait_attr(
        c,
        "[data-testid=lead-visit-review]",
        "data-state",
        WAIT,
        |s| s == "awaiting_review",
    )
    .await;
    wait_text(c, "[data-testid=lead-visit-company]", COMPANY).await;

    // A return that says nothing is refused in Russian, before anything is sent.
    click(c, "[data-testid=review-return]").await;
    let refusal = wait_for(c, "[data-testid=review-form] [data-testid=error]").await;
    let words = refusal.text().await.expect("text");
    assert!(words.contains("комментарий"), "{words:?}");
    assert_eq!(
        lead_status(&ts, &lead, programme).await["visits"]["returned"],
        0
    );

    // Returned with a comment on the visit and one on the plans answer.
    type_into(
        c,
        "[data-testid=review-comment]",
        "Уточните планы клиента на осень",
    )
    .await;
    click(
        c,
        &format!("[data-testid=lead-answer][data-question-id='{PLANS}'] [data-testid=review-comment-toggle]"),
    )
    .await;
    type_into(
        c,
        &format!("[data-testid=lead-answer][data-question-id='{PLANS}'] [data-testid=review-answer-comment]"),
        "Какие сроки и объёмы? 📈",
    )
    .await;
    screenshot_page(c, "lead-visit-review").await;
    click(c, "[data-testid=review-return]").await;
    wait_attr(
        c,
        "[data-testid=lead-visit-review]",
        "data-state",
        WAIT,
        |s| s == "returned",
    )
    .await;
    wait_for(c, "[data-testid=review-round][data-verdict=returned]").await;
    wait_for(c, "[data-testid=review-closed]").await;

    // The rep's tab: the page reads the device on load, and its device syncs on start.
    c.switch_to_window(rep_tab.clone())
        .await
        .expect("to the rep's tab");
    rep_page_until(
        c,
        &format!("{server}/rep"),
        "[data-testid=visit-review]",
        "data-state",
        "returned",
    )
    .await;
    screenshot_page(c, "web-rep-returned").await;
    click(c, "[data-testid=open-visit]").await;
    let banner = wait_for(c, "[data-testid=return-banner]").await;
    let text = banner.text().await.expect("text");
    assert!(text.contains("Уточните планы клиента на осень"), "{text:?}");
    let note = wait_for(c, &format!("{} [data-testid=review-note]", question(PLANS)))
        .await
        .text()
        .await
        .expect("text");
    assert!(note.contains("Какие сроки и объёмы? 📈"), "{note:?}");
    screenshot_page(c, "web-rep-return-banner").await;

    // Reworked and completed again: awaiting review once more, the banner gone.
    type_into(
        c,
        &format!("{} [data-testid=answer-text]", question(PLANS)),
        " Рост на 20 % к октябрю",
    )
    .await;
    saved(c).await;
    click(c, "[data-testid=visit-complete]").await;
    wait_attr(c, "[data-testid=visit-review]", "data-state", WAIT, |s| {
        s == "awaiting_review"
    })
    .await;
    wait_gone(c, "[data-testid=return-banner]").await;
    wait_status(&ts, &lead, programme, "awaiting_review", 1).await;

    // The lead accepts it.
    c.switch_to_window(lead_tab)
        .await
        .expect("to the lead's tab");
    let visit_page = format!("{server}/lead/{programme}/visits/{visit}");
    reload_until(
        c,
        &visit_page,
        "[data-testid=lead-visit-review]",
        "data-state",
        "awaiting_review",
    )
    .await;
    click(c, "[data-testid=review-accept]").await;
    wait_attr(
        c,
        "[data-testid=lead-visit-review]",
        "data-state",
        WAIT,
        |s| s == "accepted",
    )
    .await;
    let rounds = c
        .find_all(fantoccini::Locator::Css("[data-testid=review-round]"))
        .await
        .expect("rounds");
    assert_eq!(rounds.len(), 2, "both rounds in the lead's history");
    assert_eq!(
        lead_status(&ts, &lead, programme).await["visits"]["accepted"],
        1
    );

    // And the rep sees it accepted, with both rounds.
    c.switch_to_window(rep_tab).await.expect("to the rep's tab");
    rep_page_until(
        c,
        &format!("{server}/rep/visit/{visit}"),
        "[data-testid=visit-review]",
        "data-state",
        "accepted",
    )
    .await;
    let rounds = c
        .find_all(fantoccini::Locator::Css(
            "[data-testid=review-history] [data-testid=review-round]",
        ))
        .await
        .expect("rounds");
    assert_eq!(rounds.len(), 2, "both rounds in the rep's history");
    browser.close().await;
}

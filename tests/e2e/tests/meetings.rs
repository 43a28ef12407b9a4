//! Meetings end to end (headless Chromium, the real server on PostgreSQL): the rep, in
//! the web app (the device core in the page) with the network cut, plans a meeting
//! with a client, is told in Russian what is wrong with a time that is none, moves the
//! meeting and sees it under "Мои встречи"; back online the page syncs by itself; the
//! lead's meetings page counts it for the rep, lists it in its week and not in another,
//! and names the client still without a meeting; the clients page shows the meeting.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use rapport_e2e::*;
use rapport_testkit::{Backend, PASSWORD, TestServer};

const ROMASHKA: &str = "ООО «Ромашка»";
const VECTOR: &str = "АО «Вектор»";
const PLACE: &str = "Тверская, 1 — офис «Ромашки»";

/// A day `days` from today (UTC), as `(YYYY-MM-DD, DD.MM.YYYY)`.
fn day(days: i64) -> (String, String) {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    let (y, m, dd) = (d.year(), u8::from(d.month()), d.day());
    (
        format!("{y:04}-{m:02}-{dd:02}"),
        format!("{dd:02}.{m:02}.{y:04}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_planned_offline_in_the_web_app_reaches_the_leads_meetings_page() {
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    let romashka = ts.add_client(&lead, programme, ROMASHKA, "ivanov").await;
    ts.add_client(&lead, programme, VECTOR, "ivanov").await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    let server = ts.url().to_owned();
    c.goto(&format!("{server}/rep/pair"))
        .await
        .expect("pairing page");
    fill(c, "[data-testid=pair-server]", &server).await;
    fill(c, "[data-testid=pair-code]", &code).await;
    click(c, "[data-testid=pair-submit]").await;
    wait_text(
        c,
        &format!("[data-testid=client-row][data-client-id='{romashka}']"),
        ROMASHKA,
    )
    .await;

    // Offline: "Мои встречи" works on the device alone.
    browser.set_offline(true).await;
    click(c, "[data-testid=nav-my-meetings]").await;
    wait_for(c, "[data-testid=meetings-empty]").await;
    click(c, "[data-testid=plan-meeting]").await;
    wait_for(
        c,
        &format!("[data-testid=meeting-client] option[value='{romashka}']"),
    )
    .await;
    c.find(Locator::Css("[data-testid=meeting-client]"))
        .await
        .expect("client select")
        .select_by_value(&romashka.to_string())
        .await
        .expect("client chosen");
    let (first_iso, first) = day(40);
    fill(c, "[data-testid=meeting-date]", &first).await;
    fill(c, "[data-testid=meeting-time]", "25:99").await;
    fill(c, "[data-testid=meeting-place-input]", PLACE).await;
    click(c, "[data-testid=save-meeting]").await;
    let refusal = wait_for(c, ".meeting-plan [data-testid=error]").await;
    let words = refusal.text().await.expect("text");
    assert!(
        words.contains("ЧЧ:ММ"),
        "the time's refusal says how to write it: {words:?}"
    );
    assert!(
        c.find_all(Locator::Css("[data-testid=meeting]"))
            .await
            .expect("list")
            .is_empty(),
        "nothing planned by a refused form"
    );
    fill(c, "[data-testid=meeting-time]", "10.30").await;
    click(c, "[data-testid=save-meeting]").await;
    wait_text(
        c,
        "[data-testid=meeting] [data-testid=meeting-when]",
        &format!("{first} 10:30"),
    )
    .await;
    wait_text(
        c,
        "[data-testid=meeting] [data-testid=meeting-place]",
        PLACE,
    )
    .await;
    wait_attr(
        c,
        "[data-testid=meeting] [data-testid=meeting-state]",
        "data-state",
        WAIT,
        |s| s == "planned",
    )
    .await;
    wait_attr(c, "[data-testid=meeting-group]", "data-group", WAIT, |g| {
        g == "later"
    })
    .await;

    // Moved to tomorrow (still offline): it goes to this week's or tomorrow's group.
    let (moved_iso, moved) = day(1);
    click(c, "[data-testid=move-meeting]").await;
    fill(c, "[data-testid=meeting-date]", &moved).await;
    fill(c, "[data-testid=meeting-time]", "9:05").await;
    click(c, "[data-testid=save-move]").await;
    wait_text(c, "[data-testid=meeting-when]", &format!("{moved} 09:05")).await;
    screenshot_page(c, "web-rep-meetings").await;
    assert_ne!(first_iso, moved_iso);

    // Back online: a sync (the rep's button; the page also tries by itself) takes the
    // meeting to the server, and the lead sees it.
    browser.set_offline(false).await;
    click(c, "[data-testid=sync-now]").await;
    let started = Instant::now();
    let report = loop {
        let (_, report) = ts
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/programmes/{programme}/meetings"),
                Some(&lead.token),
                None,
            )
            .await;
        if report["meetings"][0]["at"] == format!("{moved_iso}T09:05") {
            break report;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the meeting never reached the server: {report}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(report["meetings"][0]["place"], PLACE);

    let lead_tab = c.new_window(true).await.expect("the lead's tab").handle;
    c.switch_to_window(lead_tab)
        .await
        .expect("to the lead's tab");
    c.goto(&format!("{server}/lead")).await.expect("lead page");
    type_into(c, "[data-testid=signin-email]", &lead.row.email).await;
    type_into(c, "[data-testid=signin-password]", PASSWORD).await;
    click(c, "[data-testid=signin-submit]").await;
    click(c, "[data-testid=programme-open]").await;
    click(c, "[data-testid=nav-meetings]").await;
    wait_text(
        c,
        "[data-testid=rep-meetings] [data-testid=rep-planned]",
        "1",
    )
    .await;
    wait_text(
        c,
        "[data-testid=rep-meetings] [data-testid=rep-unplanned]",
        "1",
    )
    .await;
    wait_text(c, "[data-testid=meeting-row]", ROMASHKA).await;
    wait_text(c, "[data-testid=meeting-row]", &format!("{moved} 09:05")).await;
    wait_text(c, "[data-testid=unplanned-row]", VECTOR).await;
    // The programme ended in June: the page says to plan the rest.
    wait_text(
        c,
        "[data-testid=meetings-end-near]",
        "закончилась 30.06.2026",
    )
    .await;

    // Filtered to another week, the list is empty; to the meeting's week, it is there.
    fill(c, "[data-testid=meetings-week]", &first).await;
    click(c, "h2").await;
    wait_for(c, "[data-testid=meetings-none]").await;
    wait_text(c, "[data-testid=meetings-week-shown]", "—").await;
    fill(c, "[data-testid=meetings-week]", &moved).await;
    click(c, "h2").await;
    wait_text(c, "[data-testid=meeting-row]", ROMASHKA).await;
    screenshot_page(c, "lead-meetings").await;

    // The clients page shows the next meeting beside the client.
    click(c, "[data-testid=nav-clients]").await;
    wait_text(
        c,
        &format!(
            "[data-testid=client-row][data-client-id='{romashka}'] [data-testid=client-next-meeting]"
        ),
        &format!("{moved} 09:05"),
    )
    .await;
    browser.close().await;
}

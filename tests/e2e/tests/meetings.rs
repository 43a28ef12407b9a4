//! Meetings end to end (headless Chromium, the real server on PostgreSQL): the rep, in
//! the web app (the device core in the page) with the network cut, plans a meeting
//! with a client, is told in Russian what is wrong with a time that is none, moves the
//! meeting and sees it under "Мои встречи"; back online the page syncs by itself; the
//! lead's meetings page counts it for the rep, lists it in its week and not in another,
//! and names the client still without a meeting; the clients page shows the meeting.
//! And a sync that brings news while the rep plans or moves a meeting keeps every form
//! open with what is typed in it.

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
    let (lead, programme, romashka) = ts.ivanov_with_client(ROMASHKA).await;
    ts.add_client(&lead, programme, VECTOR, "ivanov").await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    let server = ts.url().to_owned();
    pair_in_browser(c, &server, &code, ROMASHKA).await;

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
    sign_in_lead(c, &server, &lead.row.email, PASSWORD).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_brings_news_keeps_the_meeting_forms_being_filled_in() {
    let Some(ts) = TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let (lead, programme, romashka) = ts.ivanov_with_client(ROMASHKA).await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    let server = ts.url().to_owned();
    pair_in_browser(c, &server, &code, ROMASHKA).await;

    // A meeting to move.
    click(c, "[data-testid=nav-my-meetings]").await;
    wait_for(c, "[data-testid=meetings-empty]").await;
    click(c, "[data-testid=plan-meeting]").await;
    let plan = |field: &str| format!(".meeting-plan [data-testid={field}]");
    let choose = |client: String| async move {
        let select = plan("meeting-client");
        wait_for(c, &format!("{select} option[value='{client}']")).await;
        wait_for(c, &select)
            .await
            .select_by_value(&client)
            .await
            .expect("client chosen");
    };
    choose(romashka.to_string()).await;
    let (_, first) = day(40);
    fill(c, &plan("meeting-date"), &first).await;
    fill(c, &plan("meeting-time"), "10:30").await;
    click(c, "[data-testid=save-meeting]").await;
    wait_text(c, "[data-testid=meeting-when]", &format!("{first} 10:30")).await;

    // The rep starts moving it, and starts planning another, typing the time and place
    // before choosing the client: choosing it keeps them.
    let moving = |field: &str| format!("[data-testid=meeting] [data-testid={field}]");
    click(c, "[data-testid=move-meeting]").await;
    let (_, moved) = day(41);
    fill(c, &moving("meeting-date"), &moved).await;
    fill(c, &moving("meeting-time"), "16:45").await;
    click(c, "[data-testid=plan-meeting]").await;
    let (_, second) = day(42);
    fill(c, &plan("meeting-date"), &second).await;
    fill(c, &plan("meeting-time"), "11:15").await;
    fill(c, &plan("meeting-place-input"), PLACE).await;
    let before = [
        value_of(c, &plan("meeting-date")).await,
        value_of(c, &plan("meeting-time")).await,
        value_of(c, &plan("meeting-place-input")).await,
        value_of(c, &moving("meeting-date")).await,
        value_of(c, &moving("meeting-time")).await,
    ];
    assert!(
        before.iter().all(|v| !v.is_empty()),
        "everything typed: {before:?}"
    );
    choose(romashka.to_string()).await;
    assert_eq!(
        value_of(c, &plan("meeting-date")).await,
        before[0],
        "choosing the client kept the date typed"
    );

    // Meanwhile the lead gives the rep another client; the rep syncs. The page reloads
    // its lists (the new client is offered) and both forms keep what is typed.
    let vector = ts.add_client(&lead, programme, VECTOR, "ivanov").await;
    click(c, "[data-testid=sync-now]").await;
    let offered = format!("{} option[value='{vector}']", plan("meeting-client"));
    let started = Instant::now();
    loop {
        if !c
            .find_all(Locator::Css(&offered))
            .await
            .expect("options")
            .is_empty()
        {
            break;
        }
        assert!(
            !c.find_all(Locator::Css(".meeting-plan form"))
                .await
                .expect("forms")
                .is_empty(),
            "a sync closed the meeting being planned"
        );
        assert!(
            started.elapsed() < WAIT,
            "the sync never brought the new client to the page"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = [
        value_of(c, &plan("meeting-date")).await,
        value_of(c, &plan("meeting-time")).await,
        value_of(c, &plan("meeting-place-input")).await,
        value_of(c, &moving("meeting-date")).await,
        value_of(c, &moving("meeting-time")).await,
    ];
    assert_eq!(after, before, "the sync kept everything typed");
    assert_eq!(
        value_of(c, &plan("meeting-client")).await,
        romashka.to_string(),
        "and the client chosen"
    );

    // Both forms save what was typed.
    click(c, "[data-testid=save-move]").await;
    wait_text(c, "[data-testid=meeting-when]", &format!("{moved} 16:45")).await;
    click(c, "[data-testid=save-meeting]").await;
    let started = Instant::now();
    loop {
        let whens = c
            .find_all(Locator::Css("[data-testid=meeting-when]"))
            .await
            .expect("meetings");
        let mut texts = Vec::new();
        for w in whens {
            texts.push(w.text().await.unwrap_or_default());
        }
        if texts.contains(&format!("{second} 11:15")) {
            assert!(texts.contains(&format!("{moved} 16:45")), "{texts:?}");
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the second meeting never showed: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_text(c, "[data-testid=meeting-place]", PLACE).await;
    browser.close().await;
}

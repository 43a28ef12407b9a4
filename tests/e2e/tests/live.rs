//! The lead's dashboard moves live (headless Chromium against the real server on
//! PostgreSQL): the page follows the programme's server-sent events, so a rep's tablet
//! syncing a visit shows on the open dashboard within moments, with no 5 s poll. When
//! the server goes away the page falls back to polling, and it follows the stream again
//! by itself once the server is back.
//!
//! Figure (printed, never asserted): from a tablet's sync being acknowledged to the
//! dashboard showing it, p50 and p95 over 20 syncs; the anchor, in the same page and
//! run, is one bare fetch of the status the page then makes.

use std::time::Duration;

use rapport_e2e::*;
use rapport_testkit::{Backend, PASSWORD, TestServer};

/// Syncs measured.
const SYNCS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_sync_at_once_and_falls_back_to_polling() {
    let Some(mut ts) =
        TestServer::start_with(Backend::Postgres, |c| c.ui_dir = Some(ui_dist())).await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let mut world = ts.rep_with_client("ООО «Ромашка»").await;
    let mut clients = vec![world.client];
    for i in 1..=SYNCS {
        clients.push(
            ts.add_client(
                &world.lead,
                world.programme,
                &format!("АО «Клиент №{i}»"),
                "ivanov",
            )
            .await,
        );
    }
    world.tablet.sync_until_has(&clients).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in_lead(c, ts.url(), &world.lead.row.email, PASSWORD).await;
    wait_attr(
        c,
        "[data-testid=dashboard]",
        "data-live",
        Duration::from_secs(20),
        |v| v == "true",
    )
    .await;
    let drafts: u64 = wait_attr(
        c,
        "[data-testid=stat-visits-draft]",
        "data-value",
        Duration::from_secs(20),
        |v| v.parse::<u64>().is_ok(),
    )
    .await
    .parse()
    .expect("a number");
    js(c, WATCH_DRAFTS).await;

    // Each sync adds a draft visit; the time from its acknowledgement to the figure on
    // the page. (The dashboard may show it before the tablet has read the answer: 0.)
    let mut latencies = Vec::with_capacity(SYNCS);
    for (i, client) in clients.iter().skip(1).enumerate() {
        world.tablet.new_visit(*client);
        world.tablet.sync().await;
        let acknowledged = now_ms();
        let shown = shown_at(c, drafts + 1 + i as u64, Duration::from_secs(10)).await;
        latencies.push((shown - acknowledged).max(0.0));
    }
    let anchor = js(
        c,
        &format!(
            "return (async () => {{
                 const session = JSON.parse(localStorage.getItem('rapport.lead.session'));
                 const times = [];
                 for (let i = 0; i < 11; i++) {{
                     const t = performance.now();
                     await (await fetch('/api/v1/programmes/{}/status',
                         {{headers: {{authorization: 'Bearer ' + session.token}}}})).arrayBuffer();
                     times.push(performance.now() - t);
                 }}
                 times.sort((a, b) => a - b);
                 return times[5];
             }})();",
            world.programme
        ),
    )
    .await
    .as_f64()
    .expect("the anchor in ms");
    let p50 = percentile(&mut latencies, 0.5);
    let p95 = percentile(&mut latencies, 0.95);
    figure("live_dashboard_sync_to_shown_p50_ms", p50);
    figure("live_dashboard_sync_to_shown_p95_ms", p95);
    figure("live_dashboard_anchor_status_fetch_p50_ms", anchor);
    figure("live_dashboard_p95_over_anchor", p95 / anchor.max(0.01));

    // The server goes away: the page says it has no stream (and polls); it comes back
    // and the page follows the stream again by itself, and a sync shows at once.
    ts.stop().await;
    wait_attr(
        c,
        "[data-testid=dashboard]",
        "data-live",
        Duration::from_secs(20),
        |v| v == "false",
    )
    .await;
    ts.restart_on_same_port().await;
    wait_attr(
        c,
        "[data-testid=dashboard]",
        "data-live",
        Duration::from_secs(45),
        |v| v == "true",
    )
    .await;
    let last = clients[0];
    world.tablet.new_visit(last);
    world.tablet.sync().await;
    shown_at(c, drafts + 1 + SYNCS as u64, Duration::from_secs(10)).await;
    screenshot_page(c, "lead-dashboard-live").await;
    browser.close().await;
}

//! The rep's web app on a tablet, over HTTPS, as a rep lives with it: headless Chromium
//! in a tablet's viewport, trusting the test's own CA through a private NSS database
//! (nothing insecure switched on), against the server serving TLS itself.
//!
//! The rep pairs from the lead's QR link, fills a whole visit in Russian, and it syncs.
//! Then the network goes (the browser's offline mode) and the server stops; a reload
//! opens the app from the service worker with every answer. Forty keystrokes, each
//! awaited "saved"; more typed, and the browser is killed with SIGKILL in the middle of
//! them. Started again on the same profile, still offline: every keystroke that showed
//! "saved" is there. The server comes back and the browser goes online: the visit
//! reaches the lead by itself. Figures (printed as name=value, kept in figures.txt):
//! keystroke to "saved" over 200 Cyrillic keystrokes into a 2,000-character answer,
//! against a bare strict IndexedDB write in the same page (the anchor, as a ratio), and
//! start to an interactive client list, online and from the service worker.

use std::time::{Duration, Instant};

use fantoccini::Client;
use rapport_domain::DocId;
use rapport_e2e::*;
use rapport_testkit::{Backend, ChromiumTrust, TestCa, TestLead, TestServer};
use serde_json::json;

const COMPANY: &str = "ООО «Ромашка»";

/// Records, from the first script of every document, when a client row first appears
/// (`performance.now()`, ms from the navigation's start): a DevTools-injected script,
/// so the page's Content-Security-Policy does not apply to it.
const CLIENT_LIST_CLOCK: &str = "
    new MutationObserver((_, observer) => {
        if (document.querySelector('[data-testid=client-row]')) {
            window.__clientListAt = performance.now();
            observer.disconnect();
        }
    }).observe(document, {childList: true, subtree: true});
";

/// A tablet-sized browser trusting `trust`'s CA, its profile in `profile`, with the
/// client-list clock injected into every document.
async fn tablet(trust: &ChromiumTrust, profile: &std::path::Path) -> Browser {
    let browser = Browser::start_with(Some(trust.home()), Some(profile)).await;
    browser
        .client
        .set_window_size(768, 1024)
        .await
        .expect("a tablet's viewport");
    browser
        .cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 5}),
        )
        .await;
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": CLIENT_LIST_CLOCK}),
        )
        .await;
    browser
}

/// Milliseconds from the navigation's start to the client list (waits for it).
async fn client_list_ms(c: &Client) -> f64 {
    wait_text(c, "[data-testid=client-row]", COMPANY).await;
    js(c, "return window.__clientListAt;")
        .await
        .as_f64()
        .expect("the clock saw the client list")
}

/// Whether a request from the page to the server gets an answer.
async fn server_reachable(c: &Client) -> bool {
    let answer = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/healthz', {cache: 'no-store'}).then(() => done(true), () => done(false));",
            vec![],
        )
        .await
        .expect("script ran");
    answer.as_bool().unwrap_or(false)
}

/// The text the server holds for `question` of `visit`, if any.
async fn server_text(ts: &TestServer, visit: DocId, question: &str) -> Option<String> {
    let doc = ts.load_doc(visit).await?;
    let visit = rapport_domain::visit::read_visit(&doc).ok()?;
    match visit.answers.get(question)? {
        rapport_domain::AnswerValue::Text(text) => Some(text.clone()),
        _ => None,
    }
}

/// Waits (bounded) until the server holds `want` as the answer, and the lead's status
/// counts the visit: nobody pressed "sync".
async fn wait_synced(
    ts: &TestServer,
    lead: &TestLead,
    programme: DocId,
    visit: DocId,
    question: &str,
    want: &str,
) {
    let started = Instant::now();
    let limit = Duration::from_secs(90);
    loop {
        let held = server_text(ts, visit, question).await;
        let visits = lead_status(ts, lead, programme).await["visits"].clone();
        let counted = ["draft", "completed"]
            .iter()
            .map(|k| visits[*k].as_u64().unwrap_or(0))
            .sum::<u64>();
        if held.as_deref() == Some(want) && counted == 1 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "the visit did not reach the server by itself within {limit:?}: it holds {held:?}, status {visits}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_fills_a_visit_offline_survives_a_killed_browser_and_syncs_by_itself() {
    let ca = TestCa::new();
    let Some(mut ts) = TestServer::start_tls_with(Backend::Postgres, &ca, |c| {
        c.ui_dir = Some(ui_dist());
    })
    .await
    else {
        panic!("RAPPORT_TEST_DATABASE_URL is not set: run `bash tests/run.sh`");
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_client(&lead, programme, COMPANY, "ivanov").await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;

    let trust = ChromiumTrust::new(&ca);
    let profile = tempfile::tempdir().expect("a profile folder");
    let browser = tablet(&trust, profile.path()).await;
    let c = &browser.client;

    // The tablet's camera read the QR code: the link opens the pairing page with the
    // server and the code filled in, and pairing starts by itself.
    c.goto(&pairing_link(ts.url(), &code))
        .await
        .expect("the pairing link opens");
    let online_ms = client_list_ms(c).await;
    figure("web_start_to_client_list_online_ms", online_ms);
    wait_attr(c, "[data-testid=sync-state]", "data-state", WAIT, |s| {
        s == "synced"
    })
    .await;
    screenshot(c, "web-rep-clients-768").await;

    click(c, "[data-testid=start-visit]").await;
    wait_for(c, &question("carnegie.proud_of")).await;
    let visit = visit_id(c).await;
    let texts = fill_whole_visit(c).await;
    let (typed_q, typed_text) = texts.first().cloned().expect("a text answer was typed");
    screenshot_page(c, "web-rep-questionnaire-768").await;
    wait_synced(&ts, &lead, programme, visit, &typed_q, &typed_text).await;

    // The network goes, and the server with it.
    browser.set_offline(true).await;
    ts.stop().await;
    assert!(!server_reachable(c).await, "the page reaches no server");
    c.refresh().await.expect("reload");
    wait_for(c, &question("carnegie.proud_of")).await;
    for (q, text) in &texts {
        let shown = value_of(c, &format!("{} [data-testid=answer-text]", question(q))).await;
        assert_eq!(&shown, text, "answer {q} after a reload with no network");
    }
    assert_eq!(
        value_of(c, "[data-testid=answer-date]").await,
        "20.11.2026",
        "the date answer, saved as a date and shown in the page's language"
    );

    // Forty keystrokes, each shown "saved"; then more, and the browser is killed.
    let area = format!("{} [data-testid=answer-text]", question(&typed_q));
    keystroke_latencies(c, &area, 40).await;
    let saved_text = value_of(c, &area).await;
    assert_eq!(
        saved_text.chars().count(),
        typed_text.chars().count() + 40,
        "forty keystrokes typed"
    );
    let field = wait_for(c, &area).await;
    field.send_keys("ёжик в тумане").await.expect("typing on");
    browser.kill_chromium().await;

    // Started again on the same profile, still with no server: the app opens from the
    // service worker and holds every keystroke that showed "saved".
    let browser = tablet(&trust, profile.path()).await;
    let c = &browser.client;
    c.goto(&format!("{}/rep", ts.url()))
        .await
        .expect("the app opens with no server");
    let offline_ms = client_list_ms(c).await;
    figure("web_start_to_client_list_offline_ms", offline_ms);
    c.goto(&format!("{}/rep/visit/{visit}", ts.url()))
        .await
        .expect("the visit opens");
    let after_kill = value_of(c, &area).await;
    assert!(
        after_kill.starts_with(&saved_text),
        "every keystroke that showed saved survives the killed browser: {after_kill:?} lacks some of {saved_text:?}"
    );

    // The server comes back: the visit goes by itself.
    ts.restart_on_same_port().await;
    wait_synced(&ts, &lead, programme, visit, &typed_q, &after_kill).await;
    wait_attr(c, "[data-testid=sync-state]", "data-state", WAIT, |s| {
        s == "synced"
    })
    .await;

    // Figures: 200 Cyrillic keystrokes into a 2,000-character answer.
    let long: String = "Клиент доволен сервисом, просит расширить канал. "
        .chars()
        .cycle()
        .take(2_000)
        .collect();
    c.execute(
        "arguments[0].value = arguments[1];
         arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        vec![
            serde_json::to_value(wait_for(c, &area).await).expect("element"),
            json!(long),
        ],
    )
    .await
    .expect("a long answer set");
    saved(c).await;
    // Typed by a script in the page (as the anchor below is measured), then by WebDriver
    // keystroke by keystroke, each awaited by polling the page from outside: the second
    // adds the harness's own traffic through chromedriver and the browser, which on a
    // two-core machine competes with the store's writes.
    let mut latencies = typed_in_page_latencies(c, &area, 200).await;
    assert_eq!(
        latencies.len(),
        200,
        "every keystroke typed in the page was saved"
    );
    figure(
        "web_keystroke_to_saved_p50_ms",
        percentile(&mut latencies, 0.5),
    );
    figure(
        "web_keystroke_to_saved_p99_ms",
        percentile(&mut latencies, 0.99),
    );
    let mut driven = keystroke_latencies(c, &area, 200).await;
    figure(
        "web_keystroke_to_saved_webdriver_p50_ms",
        percentile(&mut driven, 0.5),
    );
    figure(
        "web_keystroke_to_saved_webdriver_p99_ms",
        percentile(&mut driven, 0.99),
    );
    // The anchor, in the same page and run: a bare IndexedDB write of one small record
    // with strict durability, awaited to `complete` (what every saved keystroke pays at
    // least), 200 times.
    let mut anchor: Vec<f64> = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('rapport-anchor', 1);
             open.onupgradeneeded = () => open.result.createObjectStore('s');
             open.onsuccess = async () => {
                 const db = open.result, out = [];
                 for (let i = 0; i < 200; i++) {
                     const t0 = performance.now();
                     await new Promise((ok, fail) => {
                         const tx = db.transaction('s', 'readwrite', {durability: 'strict'});
                         tx.objectStore('s').put(new Uint8Array(64), i);
                         tx.oncomplete = ok; tx.onerror = fail; tx.onabort = fail;
                     });
                     out.push(performance.now() - t0);
                 }
                 db.close();
                 done(out);
             };
             open.onerror = () => done([]);",
            vec![],
        )
        .await
        .expect("the anchor ran")
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    assert_eq!(anchor.len(), 200, "the anchor wrote 200 records");
    let (a50, a99) = (percentile(&mut anchor, 0.5), percentile(&mut anchor, 0.99));
    figure("web_anchor_idb_put_p50_ms", a50);
    figure("web_anchor_idb_put_p99_ms", a99);
    figure(
        "web_keystroke_to_saved_p50_ratio",
        percentile(&mut latencies, 0.5) / a50.max(0.1),
    );
    figure(
        "web_keystroke_to_saved_p99_ratio",
        percentile(&mut latencies, 0.99) / a99.max(0.1),
    );
    c.set_window_size(1280, 800)
        .await
        .expect("a landscape window");
    screenshot(c, "web-rep-questionnaire-1280").await;
    browser.close().await;
}

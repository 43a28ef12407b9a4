//! The installable web app in a real headless Chromium against the real server:
//!
//! - the service worker caches exactly the build's files under its version, and the app
//!   opens with the server stopped — on a reload and in a browser started again on the
//!   same profile;
//! - a new build is announced ("Доступно обновление") and the old one keeps running
//!   until the button is pressed;
//! - every response carries the Content-Security-Policy and the lead's and rep's pages
//!   cause no violation (reported to the server and seen in the page), while an inline
//!   script is refused and reported (so the check can fail);
//! - the pairing code's QR code holds the link to the pairing page, and that link fills
//!   the pairing form.
//!
//! `http://127.0.0.1` is a secure context: service workers run there without TLS.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::Client;
use rapport_e2e::*;
use rapport_testkit::{Backend, PASSWORD, TestServer};
use serde_json::Value;

/// Runs `script` (which ends by calling `done(value)`) and returns that value.
async fn run_async(c: &Client, script: &str) -> Value {
    let body = format!("const done = arguments[arguments.length - 1];\n{script}");
    c.execute_async(&body, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// The version and file list tools/build-ui.sh stamped into `dir`/sw.js.
fn stamped(dir: &Path) -> (String, BTreeSet<String>) {
    let sw = std::fs::read_to_string(dir.join("sw.js")).expect("sw.js in the built UI");
    let line = |prefix: &str| {
        sw.lines()
            .find_map(|l| l.strip_prefix(prefix)?.strip_suffix(';'))
            .unwrap_or_else(|| panic!("sw.js has no `{prefix}…;` line"))
            .to_owned()
    };
    let version: String = serde_json::from_str(&line("const VERSION = ")).expect("a version");
    let files: Vec<String> = serde_json::from_str(&line("const PRECACHE = ")).expect("a list");
    assert_ne!(version, "dev", "sw.js in {} is not stamped", dir.display());
    (version, files.into_iter().collect())
}

/// The lead's bundle: served from the network to the lead's pages, never cached for
/// the tablet.
const LEAD_BUNDLE: [&str; 2] = ["/rapport-lead.js", "/rapport-lead_bg.wasm"];

/// Every file under `dir` but sw.js and the lead's bundle, as `/path`: what the
/// service worker must cache.
fn files_of(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("a folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("inside");
                out.insert(format!("/{}", rel.to_string_lossy()));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out.remove("/sw.js");
    for file in LEAD_BUNDLE {
        assert!(
            out.remove(file),
            "the built UI has the lead's bundle: {file}"
        );
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a folder");
    for entry in std::fs::read_dir(from).expect("a folder").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a file copied");
        }
    }
}

/// Waits until the service worker is active and returns the names of the caches and
/// the paths in this version's cache.
async fn wait_cached(c: &Client) -> (Vec<String>, BTreeSet<String>) {
    let got = run_async(
        c,
        "navigator.serviceWorker.ready
           .then(async () => {
             const names = await caches.keys();
             const out = {};
             for (const n of names) {
               const keys = await (await caches.open(n)).keys();
               out[n] = keys.map((r) => new URL(r.url).pathname);
             }
             done({ names, out });
           })
           .catch((e) => done({ error: String(e) }));",
    )
    .await;
    assert!(got["error"].is_null(), "no service worker: {got}");
    let names: Vec<String> = serde_json::from_value(got["names"].clone()).expect("names");
    let files = names
        .iter()
        .flat_map(|n| got["out"][n].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    (names, files)
}

/// Whether a worker controls the page.
async fn controlled(c: &Client) -> bool {
    js(c, "return navigator.serviceWorker.controller !== null;")
        .await
        .as_bool()
        .unwrap_or(false)
}

/// Waits until the profile's lock is gone: the closed browser has really ended.
async fn wait_profile_free(profile: &Path) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if std::fs::symlink_metadata(profile.join("SingletonLock")).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the closed browser still holds {}", profile.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_opens_from_the_service_worker_with_the_server_stopped() {
    let dist = ui_dist();
    let (version, precache) = stamped(&dist);
    assert_eq!(
        precache,
        files_of(&dist),
        "sw.js lists exactly the built files but the lead's bundle"
    );
    let mut ts = TestServer::start_with(Backend::Sqlite, |c| c.ui_dir = Some(dist.clone()))
        .await
        .expect("SQLite needs no setup");
    let url = ts.url().to_owned();
    let profile = tempfile::tempdir().expect("a profile folder");

    // The rep's app (the tablet's): installs the worker, which caches it.
    let browser = Browser::start_with_profile(profile.path()).await;
    let c = &browser.client;
    c.goto(&format!("{url}/rep/pair")).await.expect("page");
    wait_for(c, "[data-testid=pair-server]").await;
    let (names, cached) = wait_cached(c).await;
    assert_eq!(
        names,
        vec![format!("rapport-{version}")],
        "one cache, this version's"
    );
    assert_eq!(cached, precache, "every file of the build is cached");
    c.refresh().await.expect("reload");
    wait_for(c, "[data-testid=pair-server]").await;
    assert!(
        controlled(c).await,
        "after a reload the worker controls the page"
    );
    // The lead's pages, in the same browser, load the lead's bundle from the server.
    c.goto(&format!("{url}/lead/sign-in")).await.expect("page");
    wait_for(c, "[data-testid=signin-email]").await;
    let (_, cached) = wait_cached(c).await;
    assert_eq!(
        cached, precache,
        "the lead's bundle is not kept for offline use"
    );

    // The server stops: it really is gone, for the test and for the page.
    ts.stop().await;
    let direct = reqwest::Client::new()
        .get(format!("{url}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(direct.is_err(), "the server still answers: {direct:?}");
    for path in ["/healthz", "/api/v1/openapi.json"] {
        let script = format!(
            "fetch('{path}').then((r) => done('answered ' + r.status)).catch(() => done('failed'));"
        );
        let from_page = run_async(c, &script).await;
        assert_eq!(
            from_page, "failed",
            "{path} is never answered from the cache"
        );
    }

    // The rep's pages open from the worker; a lead's page says the server is missing.
    c.goto(&format!("{url}/rep/pair"))
        .await
        .expect("page offline");
    wait_for(c, "[data-testid=pair-server]").await;
    c.refresh().await.expect("reload offline");
    wait_for(c, "[data-testid=pair-server]").await;
    screenshot(c, "pwa-offline-pair").await;
    c.goto(&format!("{url}/lead/sign-in"))
        .await
        .expect("page offline");
    wait_text(c, "[role=alert]", "нет связи с сервером Rapport").await;
    browser.close().await;

    // The browser closed and started again on the same profile, server still stopped.
    wait_profile_free(profile.path()).await;
    let browser = Browser::start_with_profile(profile.path()).await;
    let c = &browser.client;
    c.goto(&format!("{url}/rep/pair"))
        .await
        .expect("page from the worker");
    wait_for(c, "[data-testid=pair-server]").await;
    assert!(
        controlled(c).await,
        "the worker serves the restarted browser"
    );
    wait_text(c, "body", "Подключение устройства").await;
    browser.close().await;
}

/// Two builds side by side: `served` (A, this build) and `newer` (B: one file differs,
/// and the build's own step stamped its worker again), in `work`. Their versions and
/// B's files.
struct TwoBuilds {
    _work: tempfile::TempDir,
    served: std::path::PathBuf,
    newer: std::path::PathBuf,
    version_a: String,
    version_b: String,
    files_b: BTreeSet<String>,
}

/// Returns the build marker the page shows: `null` for build A, "сборка Б" for B.
const BUILD_MARKER: &str =
    "return document.querySelector('meta[name=rapport-build]')?.content ?? null;";

fn two_builds() -> TwoBuilds {
    let dist = ui_dist();
    let work = tempfile::tempdir().expect("a folder");
    let served = work.path().join("ui");
    let newer = work.path().join("ui-newer");
    copy_dir(&dist, &served);
    copy_dir(&dist, &newer);
    let index = std::fs::read_to_string(newer.join("index.html")).expect("index.html");
    let marked = index.replacen(
        "<head>",
        "<head>\n    <meta name=\"rapport-build\" content=\"сборка Б\" />",
        1,
    );
    assert_ne!(marked, index, "index.html has a <head>");
    std::fs::write(newer.join("index.html"), marked).expect("index.html written");
    let status = std::process::Command::new("bash")
        .arg(repo_root().join("tools/build-ui.sh"))
        .arg("--precache")
        .arg(&newer)
        .status()
        .expect("bash runs");
    assert!(status.success(), "the precache step runs on build B");
    let (version_a, _) = stamped(&served);
    let (version_b, files_b) = stamped(&newer);
    assert_ne!(version_a, version_b, "a changed file gives a new version");
    assert_eq!(files_b, files_of(&newer));
    TwoBuilds {
        _work: work,
        served,
        newer,
        version_a,
        version_b,
        files_b,
    }
}

/// Waits (bounded) until build B runs, through the reload the button starts.
async fn wait_build_b(c: &Client) {
    let started = Instant::now();
    let mut shown = Value::Null;
    while started.elapsed() < WAIT {
        // The page reloads under the new worker; mid-reload a script may fail.
        if let Ok(v) = c.execute(BUILD_MARKER, vec![]).await {
            shown = v;
            if shown == "сборка Б" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("build B does not run after the button: the page shows {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_waits_until_the_user_applies_it() {
    let TwoBuilds {
        _work,
        served,
        newer,
        version_a,
        version_b,
        files_b,
    } = two_builds();
    let ts = TestServer::start_with(Backend::Sqlite, |c| c.ui_dir = Some(served.clone()))
        .await
        .expect("SQLite needs no setup");
    let url = ts.url().to_owned();
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{url}/rep/pair")).await.expect("page");
    wait_for(c, "[data-testid=pair-server]").await;
    let (names, _) = wait_cached(c).await;
    assert_eq!(names, vec![format!("rapport-{version_a}")]);
    c.refresh().await.expect("reload");
    wait_for(c, "[data-testid=pair-server]").await;
    assert!(controlled(c).await);
    let marker = BUILD_MARKER;
    assert_eq!(js(c, marker).await, Value::Null, "build A runs");

    // The server now serves build B.
    copy_dir(&newer, &served);
    c.refresh().await.expect("reload");
    let banner = wait_for(c, "[data-testid=update-banner]").await;
    let text = banner.text().await.expect("text");
    assert!(text.contains("Доступно обновление"), "{text:?}");
    screenshot(c, "pwa-update-banner").await;
    assert_eq!(js(c, marker).await, Value::Null, "build A still runs");
    // Not applied by itself: a reload keeps build A, and the banner comes back.
    c.refresh().await.expect("reload");
    wait_for(c, "[data-testid=update-banner]").await;
    assert_eq!(
        js(c, marker).await,
        Value::Null,
        "build A runs until the button"
    );

    click(c, "[data-testid=update-apply]").await;
    wait_build_b(c).await;
    wait_for(c, "[data-testid=pair-server]").await;
    wait_gone(c, "[data-testid=update-banner]").await;
    let (names, cached) = wait_cached(c).await;
    assert_eq!(
        names,
        vec![format!("rapport-{version_b}")],
        "the old version's cache is gone"
    );
    assert_eq!(cached, files_b);
    browser.close().await;
}

/// `rapport_csp_violations_total` on the server's /metrics (0 before the first).
async fn violations(url: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("rapport_csp_violations_total "))
        .map(|v| v.trim().parse::<f64>().expect("a number") as u64)
        .unwrap_or(0)
}

/// Starts collecting the page's `securitypolicyviolation` events (until a reload).
async fn listen_violations(c: &Client) {
    js(
        c,
        "window.__csp = []; document.addEventListener('securitypolicyviolation', \
         (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); return true;",
    )
    .await;
}

async fn seen_violations(c: &Client) -> Value {
    js(c, "return window.__csp;").await
}

/// The dark modules of the SVG path `d` drawn by the devices page (`M<x>,<y>h1v1h-1z`).
fn modules_of(d: &str) -> BTreeSet<(i32, i32)> {
    d.split('M')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let xy = s.strip_suffix("h1v1h-1z").expect("one module per square");
            let (x, y) = xy.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_keeps_to_the_content_security_policy() {
    let dist = ui_dist();
    let ts = TestServer::start_with(Backend::Sqlite, |c| c.ui_dir = Some(dist.clone()))
        .await
        .expect("SQLite needs no setup");
    let url = ts.url().to_owned();
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;

    // The headers, on the UI's files, the API's answers and its errors.
    let http = reqwest::Client::new();
    for (path, kind) in [
        ("/", "text/html"),
        ("/lead/sign-in", "text/html"),
        ("/start.js", "javascript"),
        ("/rapport-ui.js", "javascript"),
        ("/rapport-ui_bg.wasm", "application/wasm"),
        ("/rapport-lead.js", "javascript"),
        ("/rapport-lead_bg.wasm", "application/wasm"),
        ("/sw.js", "javascript"),
        ("/manifest.webmanifest", "manifest+json"),
        ("/icons/icon-192.png", "image/png"),
        ("/healthz", "application/json"),
        ("/api/v1/openapi.json", "application/json"),
        ("/api/v1/programmes", "application/json"),
    ] {
        let r = http
            .get(format!("{url}{path}"))
            .send()
            .await
            .expect("answer");
        let h = r.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            get("content-security-policy"),
            rapport_server::app::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        assert!(get("content-type").contains(kind), "{path}: {h:?}");
        if path == "/sw.js" {
            assert_eq!(get("service-worker-allowed"), "/");
            assert_eq!(get("cache-control"), "no-cache");
        }
    }
    let manifest: Value = http
        .get(format!("{url}/manifest.webmanifest"))
        .send()
        .await
        .expect("manifest")
        .json()
        .await
        .expect("JSON");
    assert_eq!(manifest["lang"], "ru");
    assert_eq!(manifest["start_url"], "/rep");
    assert!(
        manifest["name"]
            .as_str()
            .unwrap_or("")
            .contains("VIP-программа")
    );
    for icon in manifest["icons"].as_array().expect("icons") {
        let src = icon["src"].as_str().expect("src");
        let r = http.get(format!("{url}{src}")).send().await.expect("icon");
        assert_eq!(r.status(), 200, "{src}");
    }
    let index = std::fs::read_to_string(dist.join("index.html")).expect("index.html");
    assert!(
        !index.contains("<script>") && !index.contains("<script type=\"module\">"),
        "no inline script in index.html:\n{index}"
    );

    let before = violations(&url).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{url}/lead/sign-in")).await.expect("page");
    listen_violations(c).await;
    type_into(c, "[data-testid=signin-email]", &lead.row.email).await;
    type_into(c, "[data-testid=signin-password]", PASSWORD).await;
    click(c, "[data-testid=signin-submit]").await;
    click(c, "[data-testid=programme-open]").await;
    wait_for(c, "[data-testid=dashboard]").await;
    wait_for(c, "[data-testid=stat-visits-completed]").await;
    click(c, "[data-testid=nav-clients]").await;
    wait_for(c, "[data-testid=import-file]").await;
    let code = make_pairing_code(c, "ivanov").await;
    screenshot_page(c, "pwa-pairing-qr").await;
    assert_eq!(
        seen_violations(c).await,
        serde_json::json!([]),
        "lead pages"
    );

    // The QR code holds the link written beside it, which carries the server and code
    // in the fragment.
    let link = wait_for(c, "[data-testid=pairing-link]")
        .await
        .text()
        .await
        .expect("text");
    let expected = pairing_link(&url, &code);
    assert_eq!(link.trim(), expected);
    let d = wait_for(c, "[data-testid=pairing-qr] path")
        .await
        .attr("d")
        .await
        .expect("attr")
        .expect("a path");
    let qr = qrcodegen::QrCode::encode_text(&expected, qrcodegen::QrCodeEcc::Medium)
        .expect("the link fits a QR code");
    let mut want = BTreeSet::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                want.insert((x + 4, y + 4));
            }
        }
    }
    assert_eq!(modules_of(&d), want, "the QR code is the link's");

    // The rep's pages.
    c.goto(&format!("{url}/rep")).await.expect("page");
    listen_violations(c).await;
    wait_for(c, ".topbar").await;
    navigate(c, "/rep/pair").await;
    wait_for(c, "[data-testid=pair-server]").await;
    assert_eq!(seen_violations(c).await, serde_json::json!([]), "rep pages");

    // The link from the QR code fills the pairing form, and the fragment leaves the
    // address bar. (Where the browser has its own device core, it pairs at once and
    // goes on to the client list.)
    // (From another page: a fragment change alone does not load a page again.)
    c.goto("about:blank").await.expect("blank");
    c.goto(&expected).await.expect("the link opens");
    let started = Instant::now();
    let mut last;
    let filled = loop {
        // One look at the page: where it is and what the form holds. The device in the
        // page may pair (and leave the form) between two separate looks.
        let seen = c
            .execute(
                "const v = s => { const e = document.querySelector(s); return e ? e.value : null; };
                 return [location.pathname, v('[data-testid=pair-server]'), v('[data-testid=pair-code]')];",
                vec![],
            )
            .await
            .unwrap_or_default();
        let text = |i: usize| seen[i].as_str().unwrap_or_default().to_owned();
        last = (text(0), text(1), text(2));
        if last.0 == "/rep" || (last.1 == url && last.2 == code) {
            break true;
        }
        if started.elapsed() > WAIT {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(filled, "the link did not fill the form: {last:?}");
    let here = c.current_url().await.expect("url");
    assert_eq!(
        here.fragment(),
        None,
        "the code left the address bar: {here}"
    );

    // The check can fail: an inline script is refused, seen and reported.
    listen_violations(c).await;
    js(
        c,
        "const s = document.createElement('script'); s.textContent = 'window.__ran = 1;'; \
         document.body.appendChild(s); return true;",
    )
    .await;
    assert_eq!(js(c, "return window.__ran ?? null;").await, Value::Null);
    let seen = seen_violations(c).await;
    assert!(
        seen.as_array().is_some_and(|v| v.len() == 1),
        "the inline script was seen: {seen}"
    );
    let started = Instant::now();
    let mut now = violations(&url).await;
    while now < before + 1 && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = violations(&url).await;
    }
    assert_eq!(
        now,
        before + 1,
        "the server heard of the one refused script and of nothing else"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_while_a_visit_is_open_waits_for_the_rep_and_loses_nothing() {
    let builds = two_builds();
    let ts = TestServer::start_with(Backend::Sqlite, |c| {
        c.ui_dir = Some(builds.served.clone());
    })
    .await
    .expect("SQLite needs no setup");
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_client(&lead, programme, "ООО «Ромашка»", "ivanov")
        .await;
    let code = ts.pairing_code(&lead, programme, Some("ivanov")).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&pairing_link(ts.url(), &code))
        .await
        .expect("the pairing link opens");
    wait_text(c, "[data-testid=client-row]", "Ромашка").await;
    wait_cached(c).await;
    click(c, "[data-testid=start-visit]").await;
    let area = format!(
        "{} [data-testid=answer-text]",
        question("company.meeting_place")
    );
    type_into(c, &area, "Переговорная «Нева»").await;
    saved(c).await;

    // The server gets build B while the rep types; the open page checks for it (as it
    // does every quarter of an hour and when the network comes back).
    copy_dir(&builds.newer, &builds.served);
    run_async(
        c,
        "navigator.serviceWorker.getRegistration().then(r => r.update()).then(() => done(true), e => done(String(e)));",
    )
    .await;
    let banner = wait_for(c, "[data-testid=update-banner]").await;
    assert!(
        banner
            .text()
            .await
            .expect("text")
            .contains("Доступно обновление")
    );
    // Never under the rep's fingers: build A runs on, and typing goes on being saved.
    type_into(c, &area, ", третий этаж").await;
    saved(c).await;
    assert_eq!(js(c, BUILD_MARKER).await, Value::Null, "build A still runs");
    let typed = value_of(c, &area).await;
    assert_eq!(typed, "Переговорная «Нева», третий этаж");

    click(c, "[data-testid=update-apply]").await;
    wait_build_b(c).await;
    let after = value_of(c, &area).await;
    assert_eq!(after, typed, "nothing typed is lost by the update");
    let (names, _) = wait_cached(c).await;
    assert_eq!(names, vec![format!("rapport-{}", builds.version_b)]);
    browser.close().await;
}

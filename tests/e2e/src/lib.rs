//! The harness of the UI's end-to-end tests: real programs, started and stopped by
//! the tests themselves.
//!
//! - [`Browser`]: chromedriver driving headless Chromium, for the lead's pages served
//!   by a real server ([`ui_dist`] is the built UI).
//! - [`App`]: the real Tauri app ([`app_binary`]) in an Xvfb display, driven through
//!   tauri-driver and WebKitWebDriver.
//!
//! `bash tests/run.sh` builds the UI and the app before the tests and installs the
//! drivers (tests/setup.sh). Every wait is bounded; every child process is killed when
//! its owner is dropped, even when a test fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

mod rep;
pub use rep::*;

/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(30);

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The built UI (trunk's `dist`): `RAPPORT_UI_DIST`, else app-ui/dist.
pub fn ui_dist() -> PathBuf {
    let dir = std::env::var_os("RAPPORT_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("app-ui/dist"));
    let has_wasm = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .unwrap_or(false);
    assert!(
        has_wasm,
        "no built UI in {}: run `bash tests/run.sh` (it builds the UI with trunk first) \
         or set RAPPORT_UI_DIST",
        dir.display()
    );
    dir
}

/// The built app: `RAPPORT_APP_BIN`, else `<target>/debug/rapport-app`.
pub fn app_binary() -> PathBuf {
    let path = std::env::var_os("RAPPORT_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target.join("debug/rapport-app")
        });
    assert!(
        path.is_file(),
        "no built app at {}: run `bash tests/run.sh` (it builds the app first) or set \
         RAPPORT_APP_BIN",
        path.display()
    );
    path
}

/// Where the tests leave screenshots of the main pages for people to look at
/// (README: "Screenshots"): `RAPPORT_SCREENSHOTS`, else tests/e2e/screenshots.
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("RAPPORT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/e2e/screenshots"));
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    dir
}

/// Saves what the window shows as `<name>.png` in [`screenshot_dir`].
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("screenshot saved");
}

/// The app's log (through tauri-driver): `app.log` beside the screenshots, appended.
fn app_log() -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(screenshot_dir().join("app.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Saves the whole page, not only what fits the window: the window is made as tall as
/// the page for the shot and put back after (Chromium; the app's window is fixed).
pub async fn screenshot_page(client: &Client, name: &str) {
    let (width, height) = client.get_window_size().await.expect("window size");
    let page = js(client, "return document.documentElement.scrollHeight;")
        .await
        .as_u64()
        .unwrap_or(height);
    client
        .set_window_size(width as u32, page.clamp(height, 6000) as u32)
        .await
        .expect("window resized");
    screenshot(client, name).await;
    client
        .set_window_size(width as u32, height as u32)
        .await
        .expect("window size restored");
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A program of the test, in a process group of its own; the whole group (tauri-driver
/// starts WebKitWebDriver, which starts the app) is killed when this is dropped.
pub struct Daemon {
    child: Child,
    name: &'static str,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Daemon {
    fn spawn(name: &'static str, command: &mut Command) -> Self {
        // Its own group (the group's id is its pid), so the drop's kill reaches what it
        // started too: tauri-driver's WebKitWebDriver outlived every test before.
        let child = command
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start ({e}): tests/setup.sh installs it"));
        Self { child, name }
    }

    /// Fails if the program has already ended.
    pub fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} ended early: {status}", self.name);
        }
    }
}

async fn wait_for_port(port: u16, daemon: &mut Daemon) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        daemon.check_alive();
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} does not listen on port {port}", daemon.name);
}

/// An X display of its own (Xvfb picks a free number and tells it).
pub struct Display {
    _xvfb: Daemon,
    /// `:N`, for `DISPLAY`.
    pub name: String,
}

impl Display {
    /// Starts Xvfb at 1280×800, a tablet's landscape screen.
    pub async fn start() -> Self {
        let mut xvfb = Daemon::spawn(
            "Xvfb",
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let stdout = xvfb.child.stdout.take().expect("Xvfb's stdout");
        let mut line = String::new();
        tokio::time::timeout(WAIT, BufReader::new(stdout).read_line(&mut line))
            .await
            .expect("Xvfb tells its display number in time")
            .expect("Xvfb's display number");
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb gave no display number");
        Self {
            _xvfb: xvfb,
            name: format!(":{number}"),
        }
    }
}

/// Headless Chromium through chromedriver.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Daemon,
    _profile: Option<tempfile::TempDir>,
    /// Where chromedriver listens.
    driver_url: String,
    /// The profile folder (`--user-data-dir`).
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium with a tablet-sized window.
    pub async fn start() -> Self {
        Self::start_with(None, None).await
    }

    /// [`Self::start`] with `HOME` at `home`: Chromium then trusts the authorities of
    /// that home's NSS database (`rapport_testkit::ChromiumTrust`), for HTTPS tests.
    pub async fn start_with_home(home: &Path) -> Self {
        Self::start_with(Some(home), None).await
    }

    /// Like [`Self::start`], with the profile (`--user-data-dir`) in `profile`, which
    /// outlives this browser: a browser started again on it finds what this one kept
    /// (service workers, caches, IndexedDB).
    pub async fn start_with_profile(profile: &Path) -> Self {
        Self::start_with(None, Some(profile)).await
    }

    /// The browser with `HOME` at `home` (if given) and its profile in `profile` (if
    /// given; otherwise a fresh one that goes with it).
    pub async fn start_with(home: Option<&Path>, profile: Option<&Path>) -> Self {
        let fresh = match profile {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("a browser profile folder")),
        };
        let profile = match (&fresh, profile) {
            (Some(dir), _) => dir.path().to_path_buf(),
            (None, Some(p)) => p.to_path_buf(),
            (None, None) => unreachable!("one of them is set"),
        };
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let mut driver = Daemon::spawn("chromedriver", &mut command);
        wait_for_port(port, &mut driver).await;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800", "--lang=ru",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self {
            client,
            _driver: driver,
            _profile: fresh,
            driver_url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }

    /// Cuts the page's network (`offline`) or gives it back, as the browser's own
    /// offline mode does (chromedriver's network conditions). It cuts the page, not its
    /// service worker: a test that needs no server also stops it.
    pub async fn set_offline(&self, offline: bool) {
        self.driver_post(
            "chromium/network_conditions",
            json!({"network_conditions": {
                "offline": offline, "latency": 0,
                "download_throughput": -1, "upload_throughput": -1,
            }}),
        )
        .await;
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver; its result.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        self.driver_post("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await["value"]
            .clone()
    }

    /// POSTs `body` to chromedriver's `path` under this session (its extensions that
    /// fantoccini does not name); the answer, which must be a success.
    async fn driver_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let session = self
            .client
            .session_id()
            .await
            .expect("a session id")
            .expect("a session");
        let response = reqwest::Client::new()
            .post(format!("{}/session/{session}/{path}", self.driver_url))
            .json(&body)
            .send()
            .await
            .expect("chromedriver answers");
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "{path} refused: {answer}");
        answer
    }

    /// Kills the browser's processes with SIGKILL, as a tablet's battery dying or the
    /// system killing the app would (nothing is flushed or closed), and waits (bounded)
    /// until none is left. The WebDriver session is dead afterwards.
    pub async fn kill_chromium(self) {
        let pattern = format!("user-data-dir={}", self.profile.display());
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &pattern])
            .status();
        let started = std::time::Instant::now();
        while std::process::Command::new("pgrep")
            .args(["-f", &pattern])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                started.elapsed() < WAIT,
                "Chromium still runs {WAIT:?} after SIGKILL"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session and the driver.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The real Rapport app in its own display, driven through tauri-driver.
pub struct App {
    /// The WebDriver session (the app's window).
    pub client: Client,
    driver: Daemon,
    /// When this session asked the app to start.
    pub started: Instant,
}

/// Where and how an [`App`] runs; the same data folder across restarts.
pub struct AppEnv {
    /// The display.
    pub display: Display,
    /// The app's data folder (`RAPPORT_DEVICE_DIR`).
    pub data_dir: tempfile::TempDir,
    /// Where the app saves the files the lead exports (`RAPPORT_DOWNLOAD_DIR`), so a
    /// test never writes into the downloads folder of whoever runs it.
    pub downloads: tempfile::TempDir,
    /// The webview's own data (local storage, caches: `XDG_DATA_HOME`,
    /// `XDG_CACHE_HOME`), kept across restarts of this app only: shared, a lead's
    /// session left by one test would skip the next test's sign-in.
    pub webview_dir: tempfile::TempDir,
    /// One app test at a time: two WebKit apps and their drivers starting together on
    /// two cores made WebKitWebDriver drop sessions now and then.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static APP_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Drop for AppEnv {
    /// Keeps the app's own log beside the screenshots (for a failed run in CI).
    fn drop(&mut self) {
        let log = self.data_dir.path().join("rapport.log");
        if log.is_file() {
            let name = self
                .data_dir
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = std::fs::copy(&log, screenshot_dir().join(format!("app{name}.log")));
        }
    }
}

impl AppEnv {
    /// A new display and an empty data folder.
    pub async fn new() -> Self {
        let turn = APP_TURN.lock().await;
        Self {
            display: Display::start().await,
            data_dir: tempfile::tempdir().expect("the app's data folder"),
            downloads: tempfile::tempdir().expect("the app's downloads folder"),
            webview_dir: tempfile::tempdir().expect("the webview's data folder"),
            _turn: turn,
        }
    }

    /// Starts tauri-driver and the app; waits until the UI has mounted. A start that
    /// the driver fumbles (no session, or a session whose window never shows the UI)
    /// is tried once more.
    pub async fn launch(&self) -> App {
        match self.try_launch().await {
            Some(app) => app,
            None => self
                .try_launch()
                .await
                .expect("the app starts and shows its UI (second try)"),
        }
    }

    async fn try_launch(&self) -> Option<App> {
        let port = free_port();
        let native_port = free_port();
        let mut driver = Daemon::spawn(
            "tauri-driver",
            Command::new("tauri-driver")
                .args([
                    "--port",
                    &port.to_string(),
                    "--native-port",
                    &native_port.to_string(),
                ])
                .env("DISPLAY", &self.display.name)
                .env("RAPPORT_DEVICE_DIR", self.data_dir.path())
                .env("RAPPORT_DOWNLOAD_DIR", self.downloads.path())
                .env("XDG_DATA_HOME", self.webview_dir.path().join("data"))
                .env("XDG_CACHE_HOME", self.webview_dir.path().join("cache"))
                // No keychain in a bare Xvfb session: the key file (0600) is what a
                // desktop without a keyring gets too.
                .env("RAPPORT_KEY_STORAGE", "file")
                .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
                .env("LANG", "ru_RU.UTF-8")
                .env("RAPPORT_LOG", "info,rapport_node=debug")
                .stdout(Stdio::null())
                .stderr(app_log()),
        );
        wait_for_port(port, &mut driver).await;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert(
            "tauri:options".into(),
            json!({ "application": app_binary() }),
        );
        let started = Instant::now();
        let client = match ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => client,
            Err(e) => {
                eprintln!("no session with the app: {e}");
                return None;
            }
        };
        let shown = client
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(".topbar"))
            .await;
        if let Err(e) = shown {
            eprintln!("the app's window did not show the UI: {e}");
            failure_screenshot(&client).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
            return None;
        }
        Some(App {
            client,
            driver,
            started,
        })
    }
}

impl App {
    /// Closes the app (its window and process) and the driver.
    pub async fn quit(mut self) {
        let _ = self.client.close().await;
        self.driver.check_alive();
    }
}

/// What the page said when a test gave up, for the log: its alerts and error boxes,
/// the last taps and where they landed, and the start of its text.
const PAGE_EVIDENCE: &str = r#"
const texts = (css) => Array.from(document.querySelectorAll(css)).map((e) => (e.innerText || '').trim()).filter((t) => t);
return {
  url: location.pathname,
  alerts: texts('[role=alert], .error, .notice'),
  taps: (window.rapportTaps || []).map((t) => ({what: t.what, at: t.at, hit: t.hit})),
  text: (document.body ? document.body.innerText : '').slice(0, 2000),
};
"#;

/// Leaves `failed.png` (what the window showed when a test gave up) for people to see,
/// and prints what the page said (see [`PAGE_EVIDENCE`]): a failure in CI is then read
/// from the log alone.
pub async fn failure_screenshot(client: &Client) {
    // Bounded: a driver that no longer answers must not hang the failing test.
    if let Ok(Ok(png)) = tokio::time::timeout(Duration::from_secs(5), client.screenshot()).await {
        let _ = std::fs::write(screenshot_dir().join("failed.png"), png);
    }
    if let Ok(Ok(evidence)) = tokio::time::timeout(
        Duration::from_secs(5),
        client.execute(PAGE_EVIDENCE, vec![]),
    )
    .await
    {
        eprintln!(
            "the page when the test gave up: {}",
            serde_json::to_string_pretty(&evidence).unwrap_or_default()
        );
    }
}

/// Signs the lead in on the lead's pages of `server` and opens their (first) programme.
pub async fn sign_in_lead(client: &Client, server: &str, email: &str, password: &str) {
    client
        .goto(&format!("{server}/lead"))
        .await
        .expect("the lead's pages");
    type_into(client, "[data-testid=signin-email]", email).await;
    type_into(client, "[data-testid=signin-password]", password).await;
    click(client, "[data-testid=signin-submit]").await;
    click(client, "[data-testid=programme-open]").await;
}

/// On the lead's pages: opens Devices, makes a pairing code for `rep` and returns it
/// (as shown: the page's text and its `data-code` are the same).
pub async fn make_pairing_code(client: &Client, rep: &str) -> String {
    click(client, "[data-testid=nav-devices]").await;
    // The select is there before the reps are loaded into it: wait for the rep's option
    // (selecting at once failed when the page's data came a moment later).
    wait_for(
        client,
        &format!("[data-testid=pairing-rep] option[value='{rep}']"),
    )
    .await;
    wait_for(client, "[data-testid=pairing-rep]")
        .await
        .select_by_value(rep)
        .await
        .expect("rep chosen");
    click(client, "[data-testid=pairing-create]").await;
    let code = wait_for(client, "[data-testid=pairing-code]").await;
    let text = code.text().await.expect("code text").trim().to_owned();
    let data = code.attr("data-code").await.expect("attr");
    assert_eq!(
        data.as_deref(),
        Some(text.as_str()),
        "the code shown is the code"
    );
    text
}

/// Waits until an element matching `css` exists and returns it.
///
/// A search that chromedriver aborts because the page navigated while it ran counts as
/// "not there yet": the start page sends a browser to the other bundle by loading it
/// (`location.replace` from a timer, after the first bundle rendered), so a search for
/// an element of the second page can run in the first one as it is torn down.
/// fantoccini's own wait gives up on that answer; it failed a CI run once.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    let deadline = Instant::now() + WAIT;
    loop {
        let failed = match client.find(Locator::Css(css)).await {
            Ok(el) => return el,
            Err(CmdError::Standard(w)) if w.error == ErrorStatus::NoSuchElement => None,
            Err(e) if aborted_by_navigation(&e) => None,
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            failure_screenshot(client).await;
            panic!("`{css}` could not be looked for: {e}")
        }
        if Instant::now() >= deadline {
            failure_screenshot(client).await;
            panic!("`{css}` did not appear within {WAIT:?}")
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether chromedriver answered that the command was aborted because the page
/// navigated while it ran (an answer outside WebDriver's error codes).
fn aborted_by_navigation(e: &CmdError) -> bool {
    matches!(e, CmdError::NotW3C(Value::String(s)) if s == "aborted by navigation")
}

/// Starts noting where the element `css` sits on the page (its top, measured from the
/// top of the document, so scrolling does not count) each time the page changes, until
/// the page is left. [`places_of`] reads the notes: a button that content loading above
/// it pushes down is a button a finger (or a driver) taps just as it moves away.
pub async fn note_places(client: &Client, css: &str) {
    js_with(
        client,
        "const css = arguments[0];
         window.__places = [];
         const note = () => {
             const el = document.querySelector(css);
             if (!el) return;
             const top = Math.round(el.getBoundingClientRect().top
                 - document.documentElement.getBoundingClientRect().top);
             if (!window.__places.includes(top)) window.__places.push(top);
         };
         new MutationObserver(note).observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true });
         note();
         return true;",
        vec![json!(css)],
    )
    .await;
}

/// The distinct places (tops, in CSS pixels) [`note_places`] saw its element at, in
/// the order seen.
pub async fn places_of(client: &Client) -> Vec<i64> {
    let places = js(client, "return window.__places || [];").await;
    serde_json::from_value(places).expect("the noted places")
}

/// Waits until `css` matches nothing.
pub async fn wait_gone(client: &Client, css: &str) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.is_empty())
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` is still there after {WAIT:?}");
}

/// Waits (up to `limit`) until `attr` of the element `css` satisfies `ok`; returns it.
pub async fn wait_attr(
    client: &Client,
    css: &str,
    attr: &str,
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let started = Instant::now();
    let mut last = None;
    let mut text = String::new();
    while started.elapsed() < limit {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && let Ok(Some(value)) = el.attr(attr).await
        {
            if ok(&value) {
                return value;
            }
            last = Some(value);
            text = el.text().await.unwrap_or_default();
            if let Ok(Some(title)) = el.attr("title").await {
                text = format!("{text} — {title}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    failure_screenshot(client).await;
    panic!("`{css}` [{attr}] never became as expected within {limit:?}; last: {last:?} ({text:?})");
}

/// Waits until the text of `css` contains `needle`; returns the whole text.
pub async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < WAIT {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    failure_screenshot(client).await;
    panic!("`{css}` never showed {needle:?} within {WAIT:?}; it shows {last:?}");
}

/// Clicks the element `css` (waiting for it first).
pub async fn click(client: &Client, css: &str) {
    let el = wait_for(client, css).await;
    tap(client, &el, css).await;
}

/// Brings the element to the middle of the screen and watches where the next click
/// lands (`window.rapportTaps`, the last few taps, for [`failure_screenshot`]).
const TAP_WATCH: &str = r#"
const el = arguments[0];
el.scrollIntoView({block: 'center', inline: 'center'});
const box = (e) => { const r = e.getBoundingClientRect(); return [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)]; };
const name = (e) => e ? (e.tagName.toLowerCase() + (e.dataset && e.dataset.testid ? '[data-testid=' + e.dataset.testid + ']' : '') + ' ' + (e.textContent || '').trim().slice(0, 40)) : 'nothing';
const tap = {what: arguments[1], at: box(el), hit: null};
tap.listen = (ev) => { tap.hit = {x: ev.clientX, y: ev.clientY, on: name(ev.target), inside: el.contains(ev.target), now: box(el)}; };
document.addEventListener('click', tap.listen, true);
window.rapportTaps = (window.rapportTaps || []).slice(-9);
window.rapportTaps.push(tap);
window.rapportTap = tap;
return true;
"#;

/// Where the click [`TAP_WATCH`] watched landed, and stops watching.
const TAP_LANDED: &str = r#"
const tap = window.rapportTap;
if (!tap) { return null; }
window.rapportTap = null;
document.removeEventListener('click', tap.listen, true);
return tap.hit;
"#;

/// Clicks `el` as a finger would: brought to the middle of the screen first, so the
/// sticky top bar never covers it. A click that landed on something else (the page
/// moved between the driver aiming and clicking, as when a list arrives above a
/// button) fails here, saying where it landed, instead of as a missing effect later.
pub async fn tap(client: &Client, el: &Element, what: &str) {
    let target = serde_json::to_value(el).expect("element");
    let _ = client
        .execute(TAP_WATCH, vec![target, Value::from(what)])
        .await;
    if let Err(e) = el.click().await {
        failure_screenshot(client).await;
        panic!("could not click `{what}`: {e:?}");
    }
    // Unknown when the click loaded another page (the watch went with the old one).
    let landed = client
        .execute(TAP_LANDED, vec![])
        .await
        .unwrap_or(Value::Null);
    if landed["inside"] == Value::Bool(false) {
        failure_screenshot(client).await;
        panic!("the click on `{what}` landed on something else: {landed}");
    }
}

/// Types `text` into the element `css` (waiting for it first).
pub async fn type_into(client: &Client, css: &str, text: &str) {
    let el = wait_for(client, css).await;
    el.send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("could not type into `{css}`: {e}"));
}

/// Replaces the value of the input `css` with `text`, as a person would: select all,
/// then type.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let el = wait_for(client, css).await;
    el.clear()
        .await
        .unwrap_or_else(|e| panic!("could not clear `{css}`: {e}"));
    el.send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("could not type into `{css}`: {e}"));
}

/// The value property of the input `css`.
pub async fn value_of(client: &Client, css: &str) -> String {
    let el = wait_for(client, css).await;
    el.prop("value").await.ok().flatten().unwrap_or_default()
}

/// Runs `script` in the page and returns its value.
pub async fn js(client: &Client, script: &str) -> Value {
    js_with(client, script, vec![]).await
}

/// The strings of a JSON array (none when `value` is not one).
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `script` in the page with `args` (as `arguments[i]`) and returns its value.
pub async fn js_with(client: &Client, script: &str, args: Vec<Value>) -> Value {
    client
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Goes to `path` inside the single-page app without reloading it.
pub async fn navigate(client: &Client, path: &str) {
    // leptos_router listens to popstate; pushState + popstate routes like a link click.
    js(
        client,
        &format!(
            "history.pushState(null, '', {path:?}); \
             window.dispatchEvent(new PopStateEvent('popstate')); return true;"
        ),
    )
    .await;
}

/// Milliseconds since the epoch: the page's `Date.now()` on the same machine.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
}

/// Records in the page, at each change of the lead's dashboard, when each value of the
/// drafts figure was first shown (read back with [`shown_at`]).
pub const WATCH_DRAFTS: &str = "
    window.__drafts = {};
    const look = () => {
        const el = document.querySelector('[data-testid=stat-visits-draft]');
        const v = el && el.getAttribute('data-value');
        if (v !== null && v !== undefined && !(v in window.__drafts)) window.__drafts[v] = Date.now();
    };
    new MutationObserver(look).observe(document.body,
        {subtree: true, childList: true, attributes: true, characterData: true});
    look();
    return true;";

/// Waits (bounded) until the page has shown `value` as the drafts figure (after
/// [`WATCH_DRAFTS`]); when, in the page's milliseconds since the epoch.
pub async fn shown_at(c: &Client, value: u64, limit: Duration) -> f64 {
    let started = Instant::now();
    while started.elapsed() < limit {
        let seen = js(c, &format!("return window.__drafts['{value}'] || null;")).await;
        if let Some(at) = seen.as_f64() {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    failure_screenshot(c).await;
    panic!("the dashboard did not show {value} drafts within {limit:?}");
}

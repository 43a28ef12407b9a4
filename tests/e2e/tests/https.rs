//! Chromium, with Chromium's default and secure settings (no certificate error is
//! ignored), opens the server's HTTPS address `https://localhost:<port>/` when its
//! private NSS database trusts the company CA — a secure context, as the installable
//! web app needs — and shows its certificate warning instead when it trusts another CA.

use rapport_e2e::Browser;
use rapport_testkit::{Backend, ChromiumTrust, TestCa, TestServer};

const TITLE: &str = "Раппорт по HTTPS";
const PAGE: &str = "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
<title>Раппорт по HTTPS</title></head><body><p id=\"ok\">Соединение защищено</p></body></html>";

/// The page's title and whether it is a secure context, after opening `url`.
async fn open(browser: &Browser, url: &str) -> (String, bool) {
    let c = &browser.client;
    c.goto(url).await.expect("navigation");
    let title = c.title().await.expect("title");
    let secure = c
        .execute("return window.isSecureContext === true", vec![])
        .await
        .expect("script");
    (title, secure.as_bool() == Some(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_trusting_the_company_ca_opens_the_https_server() {
    let ca = TestCa::new();
    let ui = tempfile::tempdir().expect("a UI folder");
    std::fs::write(ui.path().join("index.html"), PAGE).expect("page written");
    let ts = TestServer::start_tls_with(Backend::Sqlite, &ca, |c| {
        c.ui_dir = Some(ui.path().to_owned());
    })
    .await
    .expect("server");
    let port = ts.url().rsplit(':').next().expect("a port");
    let url = format!("https://localhost:{port}/");

    let trust = ChromiumTrust::new(&ca);
    assert!(trust.nssdb().join("cert9.db").is_file(), "the NSS database");
    let browser = Browser::start_with_home(trust.home()).await;
    let (title, secure) = open(&browser, &url).await;
    browser.close().await;
    assert_eq!(title, TITLE, "the page, not a certificate warning");
    assert!(secure, "{url} is a secure context");

    // The control: trusting another CA, the same browser set-up refuses the server.
    let other = TestCa::new();
    let elsewhere = ChromiumTrust::new(&other);
    let browser = Browser::start_with_home(elsewhere.home()).await;
    let (title, _) = open(&browser, &url).await;
    browser.close().await;
    assert_ne!(
        title, TITLE,
        "a certificate of an untrusted CA was accepted"
    );
}

//! The server: the router over every route, start and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::serve::serve;
use crate::state::AppState;
/// Why the server could not start (opening its state, or binding its address).
pub use crate::state::StartError;
use crate::tls::TlsListener;

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (the real port when `:0` was asked).
    pub addr: SocketAddr,
    /// The shared state (tests reach the store through it).
    pub state: AppState,
    /// Serving HTTPS (the certificate and key are configured).
    tls: bool,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Opens the state, projects what is missing, binds, and serves in the background.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let state = AppState::open(config).await?;
        Self::start_with(state).await
    }

    /// Serves an opened state: HTTPS when the configuration names a certificate and key
    /// (checked before anything listens), else plain HTTP.
    pub async fn start_with(state: AppState) -> Result<Self, StartError> {
        let tls = match state.config.tls_files()? {
            Some(files) => Some(files.load()?),
            None => None,
        };
        if let Err(e) = state.projector.catch_up().await {
            tracing::warn!(error = %e, "initial projection pass failed; the background task retries");
        }
        let addr = state.config.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        // A fresh token per start: a state served again after a stop must not start
        // stopped.
        let mut state = state;
        state.stopping = CancellationToken::new();
        let stop = state.stopping.clone();
        tokio::spawn(state.projector.clone().run(
            Duration::from_millis(state.config.project_every_ms.max(10)),
            stop.clone(),
        ));
        tokio::spawn(crate::compactor::run(
            state.store.clone(),
            Duration::from_secs(state.config.compact_every_secs.max(1)),
            state.config.compact_min_changes,
            stop.clone(),
        ));
        let app = router(state.clone());
        let shutdown = stop.clone();
        let stopped = async move { shutdown.cancelled().await };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = match tls.clone() {
            Some(config) => tokio::spawn(async move {
                serve(TlsListener::new(listener, config), app, stopped).await;
                Ok(())
            }),
            None => tokio::spawn(async move {
                serve(listener, app, stopped).await;
                Ok(())
            }),
        };
        tracing::info!(%addr, scheme, "serving");
        Ok(Self {
            addr,
            state,
            tls: tls.is_some(),
            stop,
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:8080`, or `https://…` when serving HTTPS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in flight (and their commits) finish.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.stop.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Serves until the task ends (for `main`, which cancels through [`Self::stopper`]).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// A handle that stops the server gracefully when cancelled.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Counts requests and their latency per route and status for `/metrics`.
async fn record_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("rapport_http_requests_total", &labels).increment(1);
    metrics::histogram!("rapport_http_request_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The Content-Security-Policy of every response: scripts, styles, images, connections,
/// workers and the manifest from this origin only; no inline script or style, no
/// plugins, no framing. `wasm-unsafe-eval` lets the UI's wasm compile (it allows no
/// `eval`). The browser reports what it refuses to [`CSP_REPORT_PATH`].
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'; report-uri /csp-report";

/// Where browsers report what the Content-Security-Policy refused (logged as a warning
/// and counted in `rapport_csp_violations_total` on `/metrics`).
pub const CSP_REPORT_PATH: &str = "/csp-report";

/// The service worker's script (app-ui/sw.js): its scope is the whole origin.
const SERVICE_WORKER_PATH: &str = "/sw.js";

/// Puts the security headers on every response (API answers, the UI's files, errors):
/// the Content-Security-Policy, `nosniff`, no referrer. Responses without a
/// Cache-Control get `no-cache` (revalidate, a 304 when unchanged): the UI's files keep
/// one name across builds, so a browser without the service worker must not use a
/// stale copy; the service worker's own script also gets `Service-Worker-Allowed: /`.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let is_worker = request.uri().path() == SERVICE_WORKER_PATH;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if is_worker {
        headers.insert("service-worker-allowed", HeaderValue::from_static("/"));
    }
    response
}

/// A browser's report of something the Content-Security-Policy refused
/// (`application/csp-report`: `{"csp-report": {...}}`): logged and counted.
async fn csp_report(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return crate::error::HttpError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "csp_report_invalid",
            "a CSP report is a JSON object {\"csp-report\": {...}} as browsers send it",
        )
        .into_response();
    };
    let r = &report["csp-report"];
    tracing::warn!(
        directive = %r["violated-directive"],
        blocked = %r["blocked-uri"],
        page = %r["document-uri"],
        "the browser refused something under the Content-Security-Policy"
    );
    metrics::counter!("rapport_csp_violations_total").increment(1);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// Every route, with the body limit, request tracing and the security headers.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let (api, _openapi) = crate::routes::routes().split_for_parts();
    let app = api
        .route(CSP_REPORT_PATH, axum::routing::post(csp_report))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::map_response(crate::error::json_errors))
        .layer(axum::middleware::from_fn(record_request))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone());
    let app = app.method_not_allowed_fallback(|| async {
        crate::error::HttpError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method; see /api/v1/openapi.json",
        )
    });
    let app = match &state.config.ui_dir {
        Some(dir) => app.fallback_service(
            tower_http::services::ServeDir::new(dir)
                .fallback(tower_http::services::ServeFile::new(dir.join("index.html"))),
        ),
        None => app.fallback(|| async {
            crate::error::HttpError::new(
                axum::http::StatusCode::NOT_FOUND,
                "no_such_route",
                "there is no such route; see /api/v1/openapi.json",
            )
        }),
    };
    app.layer(axum::middleware::from_fn(security_headers))
}

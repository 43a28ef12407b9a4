//! The server: the router over every route, start and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::config::Config;
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
        let stop = CancellationToken::new();
        tokio::spawn(
            state
                .projector
                .clone()
                .run(Duration::from_secs(1), stop.clone()),
        );
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
                axum::serve(TlsListener::new(listener, config), app)
                    .with_graceful_shutdown(stopped)
                    .await
            }),
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
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

/// Every route, with the body limit and request tracing.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let (api, _openapi) = crate::routes::routes().split_for_parts();
    let app = api
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
    match &state.config.ui_dir {
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
    }
}

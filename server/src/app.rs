//! The server: state shared by handlers, the router, start and graceful shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rapport_protocol::Limits;
use rapport_store::{DocStore, PgStore, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::db::Db;
use crate::projector::Projector;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The documents.
    pub store: Arc<dyn DocStore>,
    /// Accounts, devices, projections.
    pub db: Db,
    /// Keeps projections current.
    pub projector: Arc<Projector>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Sync frame limits.
    pub limits: Limits,
    /// The store's epoch when this process opened it (a restore, which gives a new
    /// one, happens with the servers stopped): the first part of every feed cursor.
    pub epoch: [u8; 16],
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The last status computed per programme (see [`crate::results::status_json`]).
    pub status_cache: Arc<crate::results::StatusCache>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder cannot be made.
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The document store cannot be opened.
    #[error(transparent)]
    Store(#[from] rapport_store::StoreError),
    /// The server tables cannot be opened or migrated.
    #[error("cannot open or migrate the server tables: {0}")]
    Db(#[from] sqlx::Error),
    /// The projections could not be checked or rebuilt.
    #[error("cannot check the projections against the store: {0}")]
    Projections(String),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}; is another server running there?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

fn metrics_handle() -> PrometheusHandle {
    // One recorder per process: tests start many servers in one process.
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then this one stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl AppState {
    /// Opens the store and the server tables (migrating both) as configured.
    pub async fn open(config: Config) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let (store, db): (Arc<dyn DocStore>, Db) = match &config.database_url {
            Some(url) => (
                Arc::new(PgStore::connect(url.expose()).await?),
                Db::open_postgres(url.expose()).await?,
            ),
            None => {
                let path = config.sqlite_path();
                (
                    Arc::new(SqliteStore::open(&path).await?),
                    Db::open_sqlite(&path).await?,
                )
            }
        };
        // A store that went back in time (restored from an older copy, or renumbered
        // after a dump was restored into another cluster) may have a projector cursor
        // beyond its feed: it would never see a new change. Project everything again.
        let projections = |e: crate::error::HttpError| StartError::Projections(e.to_string());
        if db.projector_cursor().await.map_err(projections)? > store.feed_head().await? {
            tracing::warn!(
                "the projections are ahead of the store's feed (a restored store): rebuilding them"
            );
            db.reset_projections().await.map_err(projections)?;
        }
        let epoch = store.epoch().await?;
        let projector = Arc::new(Projector::new(store.clone(), db.clone()));
        Ok(Self {
            epoch,
            store,
            db,
            projector,
            config: Arc::new(config),
            limits: Limits::DEFAULT,
            metrics: metrics_handle(),
            status_cache: Arc::default(),
        })
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (the real port when `:0` was asked).
    pub addr: SocketAddr,
    /// The shared state (tests reach the store through it).
    pub state: AppState,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Opens the state, projects what is missing, binds, and serves in the background.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let state = AppState::open(config).await?;
        Self::start_with(state).await
    }

    /// Serves an opened state.
    pub async fn start_with(state: AppState) -> Result<Self, StartError> {
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
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        });
        tracing::info!(%addr, "serving");
        Ok(Self {
            addr,
            state,
            stop,
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

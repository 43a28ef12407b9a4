//! What every handler can reach: the store, the server's tables, the projector, the
//! configuration and this process's caches, opened once at start-up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rapport_protocol::Limits;
use rapport_store::{CachedStore, DocId, DocStore, GroupCommit, PgStore, SqliteStore};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;
use crate::error::HttpError;
use crate::projector::Projector;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The documents.
    pub store: Arc<dyn DocStore>,
    /// The group commit under `store`, for its figures in `/metrics`.
    pub grouped: Arc<GroupCommit>,
    /// The resident documents in front of it (`None`: `resident_docs_mb = 0`), for
    /// their figures in `/metrics`.
    pub resident: Option<Arc<CachedStore>>,
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
    pub status_cache: Arc<StatusCache>,
    /// The visits' status summaries per programme, read again where they changed.
    pub status_rows: Arc<crate::status_rows::StatusRows>,
    /// Cancelled when the server that serves this state stops: endless answers (the
    /// lead's live status) end with it, so a graceful shutdown does not wait on them.
    pub stopping: CancellationToken,
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
    /// HTTPS is configured but its certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}; is another server running there?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// How often the recorded histograms are drained (what `PrometheusBuilder::install`
/// would do; this server renders `/metrics` itself).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

fn metrics_handle() -> PrometheusHandle {
    // One recorder per process: tests start many servers in one process.
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then this one stays empty.
            let _ = metrics::set_global_recorder(recorder);
            // A histogram keeps every value recorded until it is drained, which
            // `/metrics` does when it is read: a server nobody scrapes would keep one
            // value per request for ever. This drains them every few seconds instead,
            // into summaries of bounded size.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(METRICS_UPKEEP);
                        upkeep.run_upkeep();
                    }
                });
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
                Arc::new(PgStore::connect_with(url.expose(), config.db_connections).await?),
                Db::open_postgres(url.expose(), config.db_connections).await?,
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
        let projections = |e: HttpError| StartError::Projections(e.to_string());
        if db.projector_cursor().await.map_err(projections)? > store.feed_head().await? {
            tracing::warn!(
                "the projections are ahead of the store's feed (a restored store): rebuilding them"
            );
            db.reset_projections().await.map_err(projections)?;
        }
        // Sync requests arriving together commit in one transaction.
        let grouped = Arc::new(GroupCommit::new(store));
        let resident = match config.resident_docs_mb {
            0 => None,
            mb => Some(Arc::new(CachedStore::new(
                grouped.clone(),
                mb.saturating_mul(1 << 20),
            ))),
        };
        let store: Arc<dyn DocStore> = match &resident {
            Some(cached) => cached.clone(),
            None => grouped.clone(),
        };
        let epoch = store.epoch().await?;
        let projector = Arc::new(Projector::new(store.clone(), db.clone()));
        Ok(Self {
            epoch,
            store,
            grouped,
            resident,
            db,
            projector,
            config: Arc::new(config),
            limits: Limits::DEFAULT,
            metrics: metrics_handle(),
            status_cache: Arc::default(),
            status_rows: Arc::default(),
            stopping: CancellationToken::new(),
        })
    }
}

/// A computed status: the projection version and day it is for, and its JSON.
#[derive(Debug)]
struct CachedStatus {
    version: i64,
    today: String,
    json: Bytes,
}

/// The last computed status per programme, by projection version and day.
#[derive(Debug, Default)]
pub struct StatusCache(Mutex<HashMap<DocId, CachedStatus>>);

impl StatusCache {
    /// The status cached for this programme, version and day, if any.
    pub(crate) fn get(&self, id: DocId, version: i64, today: &str) -> Option<Bytes> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&id)
            .filter(|c| c.version == version && c.today == today)
            .map(|c| c.json.clone())
    }

    /// Keeps the status computed for this programme, version and day.
    pub(crate) fn put(&self, id: DocId, version: i64, today: String, json: Bytes) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            id,
            CachedStatus {
                version,
                today,
                json,
            },
        );
    }
}

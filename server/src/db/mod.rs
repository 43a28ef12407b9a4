//! The server's own tables (accounts, devices, projections) beside the document store,
//! written once for both backends through sqlx's `Any` driver: the SQL in these files is
//! the common subset of SQLite and PostgreSQL (`$n` parameters, text ids, bigint times).
//!
//! Here: the `Db` type (opening and migrating), the rows it reads and writes, and
//! what the queries share; the queries themselves, by table group, in `accounts`
//! (leads, sessions, failed sign-ins), `devices` (pairing codes, devices, the
//! documents refused to them) and `projections` (what the projector derives from the
//! documents, a programme split into its head and a row per client by
//! `programme_rows`).

mod accounts;
mod devices;
pub use devices::Authors;
mod programme_rows;
pub use programme_rows::{ClientRow, join as join_programme, split as split_programme};
mod projections;
pub use projections::{ProgrammeProjection, VisitRow, WrittenClients};
mod rights;
pub(crate) use rights::Clients;

use std::path::Path;

use rapport_domain::{DocKind, DocScope};
use rapport_store::DocId;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::error::{HttpError, HttpResult};

/// Which database the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The server's tables.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The rights read for devices, kept while their stamp holds.
    rights: std::sync::Arc<rights::RightsCache>,
}

/// A lead account.
#[derive(Clone, Debug)]
pub struct LeadRow {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// 16-byte actor prefix, hex.
    pub actor: String,
}

/// A paired device, as stored (the lead's API shows it as `rapport_api::lead::DeviceView`,
/// without the token's hash).
#[derive(Clone, Debug)]
pub struct DeviceRecord {
    /// Device id.
    pub id: String,
    /// The programme it syncs.
    pub programme_id: String,
    /// The rep it belongs to (none: a device of the lead).
    pub rep_id: Option<String>,
    /// Its Automerge actor (hex).
    pub actor: String,
    /// A label, e.g. "Планшет Иванова".
    pub label: String,
    /// When paired (unix ms).
    pub created_ms: i64,
    /// Last sync (unix ms).
    pub last_seen_ms: Option<i64>,
    /// When revoked (unix ms); a revoked device is refused at once.
    pub revoked_ms: Option<i64>,
    /// The opening of the device's store whose reconcile its sync states follow (see
    /// the sync engine's `Instance`).
    pub sync_instance: Option<String>,
    pub(crate) token_hash: String,
    /// What the device's rights depend on, read with it when it authenticates (`None`
    /// when read otherwise): see [`RightsStamp`].
    pub(crate) rights: Option<RightsStamp>,
}

/// What a device's rights depend on, read in the same query as the device on every
/// sync, so that a process's copy of them ([`rights::RightsCache`]) is used only while it
/// is still what the database says, whichever process changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RightsStamp {
    /// The programme's `clients_version`: its clients and their reps.
    pub(crate) clients: i64,
    /// Its authors: the `authors_versions` of the programme's devices and of the lead
    /// accounts. Neither table loses a row or changes an actor; each device or lead
    /// added gives its version a new random value in the same transaction.
    pub(crate) authors: [i64; 2],
    /// Whether any document is recorded as refused to the device.
    pub(crate) has_refusals: bool,
}

impl DeviceRecord {
    /// A device about to be paired with `actor` (hex), `label` and the hash of its new
    /// token: [`Db::redeem_pairing_code`] fills in the programme and rep from the code.
    pub(crate) fn candidate(actor: &str, label: &str, token_hash: String, now_ms: i64) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            programme_id: String::new(),
            rep_id: None,
            actor: actor.to_owned(),
            label: label.trim().to_owned(),
            created_ms: now_ms,
            last_seen_ms: None,
            revoked_ms: None,
            sync_instance: None,
            token_hash,
            rights: None,
        }
    }
}

/// A document's projection row.
#[derive(Clone, Debug)]
pub struct MetaRow {
    /// The document.
    pub doc_id: DocId,
    /// `programme`, `client` or `visit`.
    pub kind: String,
    /// For a visit: its programme.
    pub programme_id: Option<DocId>,
    /// For a visit: its client; for a client: itself.
    pub client_id: Option<DocId>,
    /// The typed document as JSON.
    pub body: String,
    /// What the programme status needs of it, as JSON.
    pub summary: String,
    /// The document's heads when projected ([`heads_key`]).
    pub heads: String,
}

impl MetaRow {
    /// The scope the row records (`None` for a kind this server does not know).
    pub fn scope(&self) -> Option<DocScope> {
        let kind = match self.kind.as_str() {
            "programme" => DocKind::Programme,
            "client" => DocKind::Client,
            "visit" => DocKind::Visit,
            "programme_view" => DocKind::ProgrammeView,
            _ => return None,
        };
        Some(DocScope {
            kind,
            id: self.doc_id,
            programme_id: self.programme_id,
            client_id: self.client_id,
        })
    }
}

/// A document the server refused a device for good, for the lead's devices page.
#[derive(Clone, Debug)]
pub struct RefusalRow {
    /// The device it was refused to.
    pub device_id: String,
    /// The document.
    pub doc_id: DocId,
    /// The protocol's stable code (`forbidden`, `rejected`, …).
    pub code: String,
    /// The server's message, as the device got it.
    pub message: String,
    /// The last refusal (unix ms).
    pub at_ms: i64,
    /// `visit`, `client`, … when the server has a projection of the document (a
    /// document refused on its first upload has none).
    pub kind: Option<String>,
    /// The company of the document's client, when projected.
    pub client: Option<String>,
}

/// A document's heads as one comparable string (sorted hex, comma-separated).
pub fn heads_key(doc: &automerge::Automerge) -> String {
    let mut heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    heads.sort_unstable();
    heads.join(",")
}

/// The projection of one document, ready to write.
#[derive(Clone, Debug)]
pub struct Projection {
    /// The document's row.
    pub meta: MetaRow,
    /// For a programme: every client's row (its current rep and its entry); the
    /// programme in `meta.body` is written without them.
    pub clients: Option<Vec<ClientRow>>,
    /// For a client: its company's key (`rapport_domain::client::company_key`), which
    /// the rows of the programmes listing it carry for the duplicate check.
    pub company_key: Option<String>,
    /// For a programme: the view its reps' devices receive (published, not stored here).
    pub view: Option<rapport_domain::ProgrammeView>,
}

/// A new version of what devices' rights depend on (`clients_version`,
/// `authors_versions`) or of a programme's status (`programme_versions.version`):
/// random, not the last one plus one, so that a database put back to an older copy
/// under a running server never reaches again a version a process kept something under
/// (`db/rights.rs`, the status cache). Below 2^53: the live status sends it as a JSON
/// number, which JavaScript reads exactly up to there.
fn fresh_version() -> i64 {
    i64::try_from(uuid::Uuid::new_v4().as_u64_pair().0 >> 11).unwrap_or(i64::MAX)
}

/// A new random stamp for a projection row (`status_rows.rs`): below 2^31, so that the
/// sum of a programme's stamps fits in 64 bits in both databases.
fn fresh_stamp() -> i64 {
    i64::try_from(uuid::Uuid::new_v4().as_u64_pair().0 >> 33).unwrap_or(0)
}

fn doc_id(s: &str) -> HttpResult<DocId> {
    s.parse()
        .map_err(|e| HttpError::internal("bad document id in the database", e))
}

/// Builds `$first, $first+1, …` for an IN list.
fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids per IN list: below SQLite's and PostgreSQL's parameter limits.
const IN_CHUNK: usize = 500;

impl Db {
    /// Opens the server tables next to the store and migrates them.
    pub async fn open_sqlite(path: &Path) -> Result<Self, sqlx::Error> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(&url, Backend::Sqlite, 4).await
    }

    /// Connects to PostgreSQL with at most `connections` open at once and migrates the
    /// server tables (few are cheaper than many: see `PgStore::connect_with`).
    pub async fn open_postgres(url: &str, connections: u32) -> Result<Self, sqlx::Error> {
        Self::open(url, Backend::Postgres, connections.max(1)).await
    }

    async fn open(url: &str, backend: Backend, max: u32) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        // A migrations table of our own: the document store keeps its own in the same
        // database, and each migrator would take the other's rows for missing migrations.
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.dangerous_set_table_name("_rapport_server_migrations");
        migrator.run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            rights: Default::default(),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database answers (for `/healthz`).
    pub async fn ping(&self) -> HttpResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

//! Backups and restore of the server's store, and a new epoch after a restore.
//!
//! A backup is one consistent snapshot of everything the server keeps (documents and
//! the server's own tables), taken while the server serves: `VACUUM INTO` on the
//! embedded SQLite file, `pg_dump --format=custom` on PostgreSQL. A restore puts it
//! back with the servers stopped and always ends with a new epoch
//! ([`DocStore::new_epoch`]): devices see on their next sync that the server went back
//! in time and upload whatever it lacks.
//!
//! Nothing is touched before the backup file has been checked whole; a file is never
//! left half-written under its final name (temporary name, then rename); the database
//! password is never put on a command line or in a message (`PGPASSWORD` of the child).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_store::{DocStore, PgStore, SqliteStore, StoreError};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};
use sqlx::{Connection, Row};

use crate::config::Config;

/// The first bytes of a SQLite database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// The first bytes of a `pg_dump --format=custom` archive.
const PGDUMP_MAGIC: &[u8] = b"PGDMP";
/// How long a restore waits for the connections of stopping servers to close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What a backup wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// `"sqlite"` or `"postgresql"`.
    pub backend: &'static str,
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    /// `"sqlite"` or `"postgresql"`.
    pub backend: &'static str,
    /// The store's new epoch, hex.
    pub epoch_hex: String,
}

/// Why a backup, a restore or a new epoch did not happen. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// `backup --out` names a file that exists.
    #[error(
        "{path} exists already: a backup never overwrites a file; choose another name or move that file away"
    )]
    OutputExists {
        /// The file.
        path: String,
    },
    /// The folder of `backup --out` cannot take the file.
    #[error("cannot write the backup into {folder}: {reason}")]
    OutputFolder {
        /// The folder.
        folder: String,
        /// Why.
        reason: String,
    },
    /// There is no store to back up or to give a new epoch.
    #[error("there is no Rapport store at {target}: check --data-dir, --config and DATABASE_URL")]
    NoStore {
        /// The SQLite file or the PostgreSQL URL (without password).
        target: String,
    },
    /// The file given to `restore --from` does not exist.
    #[error("there is no backup file at {path}: check the path given to --from")]
    BackupMissing {
        /// The path.
        path: String,
    },
    /// The file given to `restore --from` is empty.
    #[error(
        "{path} is empty, not a backup (an interrupted copy?); nothing was changed; use another backup"
    )]
    BackupEmpty {
        /// The path.
        path: String,
    },
    /// The file is neither kind of backup.
    #[error(
        "{path} is not a Rapport backup: it is neither a SQLite database nor a PostgreSQL dump (pg_dump --format=custom); nothing was changed"
    )]
    NotABackup {
        /// The path.
        path: String,
    },
    /// The backup is of the other backend than the one configured.
    #[error(
        "{path}: this is a {file_kind} backup but the server is configured with {configured}; {hint}; nothing was changed"
    )]
    WrongBackend {
        /// The path.
        path: String,
        /// What the file is.
        file_kind: &'static str,
        /// What the configuration says.
        configured: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// The backup is damaged (truncated, corrupt) or not a Rapport server's.
    #[error("{path} cannot be restored: {reason}; nothing was changed; use another backup")]
    BackupCorrupt {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store to restore into has data and `--force` was not given.
    #[error(
        "the store at {target} is not empty ({what}); restoring would replace all of it with the backup: add --force to do that"
    )]
    StoreHasData {
        /// The SQLite file or the PostgreSQL URL (without password).
        target: String,
        /// What it holds, e.g. "12 documents, 1 lead account".
        what: String,
    },
    /// A server (or another client) has the store open.
    #[error(
        "the store at {target} is in use ({detail}): stop every rapport-server on it first, then run this again; nothing was changed"
    )]
    InUse {
        /// The SQLite file or the PostgreSQL URL (without password).
        target: String,
        /// What holds it.
        detail: String,
    },
    /// `DATABASE_URL` cannot be understood.
    #[error(
        "the database URL cannot be used: {reason}; expected postgres://user:password@host:port/database"
    )]
    BadUrl {
        /// Why.
        reason: String,
    },
    /// The database cannot be reached.
    #[error("cannot reach the database at {target}: {reason}")]
    Database {
        /// The URL without password.
        target: String,
        /// What the driver said.
        reason: String,
    },
    /// `pg_dump` or `pg_restore` is not installed.
    #[error(
        "{tool} was not found (looked in PATH and /usr/lib/postgresql/*/bin): install the PostgreSQL client tools, e.g. `apt install postgresql-client`, of the server's major version or newer"
    )]
    ToolMissing {
        /// `pg_dump` or `pg_restore`.
        tool: &'static str,
    },
    /// `pg_dump` or `pg_restore` failed.
    #[error("{tool} failed ({status}): {stderr}{after}")]
    ToolFailed {
        /// The tool.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// What it said (never holds the password: it is not on its command line).
        stderr: String,
        /// What state things are in, and what to do.
        after: &'static str,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot read".
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The document store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    /// A stable code for scripts and logs; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OutputExists { .. } => "backup_output_exists",
            Self::OutputFolder { .. } => "backup_output_folder",
            Self::NoStore { .. } => "no_store",
            Self::BackupMissing { .. } => "backup_missing",
            Self::BackupEmpty { .. } => "backup_empty",
            Self::NotABackup { .. } => "not_a_backup",
            Self::WrongBackend { .. } => "backup_wrong_backend",
            Self::BackupCorrupt { .. } => "backup_corrupt",
            Self::StoreHasData { .. } => "store_has_data",
            Self::InUse { .. } => "store_in_use",
            Self::BadUrl { .. } => "bad_database_url",
            Self::Database { .. } => "database_unreachable",
            Self::ToolMissing { .. } => "pg_tool_missing",
            Self::ToolFailed { .. } => "pg_tool_failed",
            Self::Io { .. } => "io_error",
            Self::Store(e) => e.code(),
        }
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

/// Runs blocking file or process work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn backend_name(config: &Config) -> &'static str {
    if config.database_url.is_some() {
        "postgresql"
    } else {
        "sqlite"
    }
}

// ----- backup ------------------------------------------------------------------------

/// Writes a consistent backup of the configured store to `out` (which must not exist)
/// while servers keep serving.
pub async fn backup(config: &Config, out: &Path) -> Result<BackupReport, BackupError> {
    if out.symlink_metadata().is_ok() {
        return Err(BackupError::OutputExists {
            path: out.display().to_string(),
        });
    }
    let folder = parent_folder(out);
    if !folder.is_dir() {
        return Err(BackupError::OutputFolder {
            folder: folder.display().to_string(),
            reason: "the folder does not exist; create it first".to_owned(),
        });
    }
    let tmp = TempPath::beside(out, "partial");
    match &config.database_url {
        None => backup_sqlite(config, tmp.path()).await?,
        Some(url) => backup_postgres(url.expose(), tmp.path()).await?,
    }
    let out_owned = out.to_owned();
    let bytes = blocking(move || tmp.persist(&out_owned)).await?;
    Ok(BackupReport {
        path: out.to_owned(),
        bytes,
        backend: backend_name(config),
    })
}

async fn backup_sqlite(config: &Config, tmp: &Path) -> Result<(), BackupError> {
    let db = config.sqlite_path();
    if !db.is_file() {
        return Err(BackupError::NoStore {
            target: db.display().to_string(),
        });
    }
    let store = SqliteStore::open(&db).await?;
    let written = store.backup_to(tmp).await;
    store.pool().close().await;
    written?;
    Ok(())
}

async fn backup_postgres(url: &str, tmp: &Path) -> Result<(), BackupError> {
    let target = PgTarget::parse(url)?;
    let mut conn = target.connect(url).await?;
    let has_store = table_exists(&mut conn, "docs").await;
    let _ = conn.close().await;
    if !has_store.map_err(|e| target.database_error(&e))? {
        return Err(BackupError::NoStore {
            target: target.url.clone(),
        });
    }
    let pg_dump = find_pg_tool("pg_dump")?;
    let mut cmd = target.command(&pg_dump);
    cmd.args(["--format=custom", "--no-owner", "--no-password", "--file"])
        .arg(tmp)
        .arg(&target.url);
    run_tool("pg_dump", cmd, "; no backup was written").await?;
    Ok(())
}

// ----- restore -----------------------------------------------------------------------

/// What a backup file is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

fn read_kind(from: &Path) -> Result<Kind, BackupError> {
    use std::io::Read;
    let path = || from.display().to_string();
    let meta = match std::fs::metadata(from) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::BackupMissing { path: path() });
        }
        Err(e) => return Err(io("cannot read", from)(e)),
    };
    if !meta.is_file() {
        return Err(BackupError::NotABackup { path: path() });
    }
    if meta.len() == 0 {
        return Err(BackupError::BackupEmpty { path: path() });
    }
    let mut head = Vec::with_capacity(SQLITE_MAGIC.len());
    std::fs::File::open(from)
        .and_then(|f| f.take(SQLITE_MAGIC.len() as u64).read_to_end(&mut head))
        .map_err(io("cannot read", from))?;
    if head.starts_with(SQLITE_MAGIC) {
        Ok(Kind::Sqlite)
    } else if head.starts_with(PGDUMP_MAGIC) {
        Ok(Kind::Postgres)
    } else {
        Err(BackupError::NotABackup { path: path() })
    }
}

/// Restores the backup `from` into the configured store, which must not be in use and
/// must be empty unless `force`; ends with a new epoch so devices reconcile.
pub async fn restore(
    config: &Config,
    from: &Path,
    force: bool,
) -> Result<RestoreReport, BackupError> {
    let kind = {
        let from = from.to_owned();
        blocking(move || read_kind(&from)).await?
    };
    let epoch = match (&config.database_url, kind) {
        (None, Kind::Sqlite) => restore_sqlite(config, from, force).await?,
        (Some(url), Kind::Postgres) => restore_postgres(url.expose(), from, force).await?,
        (None, Kind::Postgres) => {
            return Err(BackupError::WrongBackend {
                path: from.display().to_string(),
                file_kind: "PostgreSQL",
                configured: "the embedded SQLite store",
                hint: "set DATABASE_URL (or database_url in the configuration) to the PostgreSQL database to restore it into",
            });
        }
        (Some(_), Kind::Sqlite) => {
            return Err(BackupError::WrongBackend {
                path: from.display().to_string(),
                file_kind: "SQLite",
                configured: "PostgreSQL (DATABASE_URL)",
                hint: "unset DATABASE_URL to restore it as the embedded store of --data-dir",
            });
        }
    };
    Ok(RestoreReport {
        backend: backend_name(config),
        epoch_hex: hex::encode(epoch),
    })
}

async fn restore_sqlite(
    config: &Config,
    from: &Path,
    force: bool,
) -> Result<[u8; 16], BackupError> {
    let created = !config.data_dir.exists();
    let restored = restore_sqlite_into(config, from, force).await;
    if created && restored.is_err() {
        // No empty data folder left behind by a refused restore (a mistyped --data-dir).
        let _ = std::fs::remove_dir(&config.data_dir);
    }
    restored
}

async fn restore_sqlite_into(
    config: &Config,
    from: &Path,
    force: bool,
) -> Result<[u8; 16], BackupError> {
    let target = config.sqlite_path();
    std::fs::create_dir_all(&config.data_dir).map_err(io("cannot create", &config.data_dir))?;
    // Work on a copy beside the target (same file system: the rename at the end is atomic).
    let tmp = TempPath::beside(&target, "restoring");
    {
        let (from, copy) = (from.to_owned(), tmp.path().to_owned());
        blocking(move || {
            std::fs::copy(&from, &copy).map_err(io("cannot copy the backup to", &copy))
        })
        .await?;
    }
    let corrupt = |reason: String| BackupError::BackupCorrupt {
        path: from.display().to_string(),
        reason,
    };
    check_sqlite_backup(tmp.path()).await.map_err(corrupt)?;
    // Migrated (an older backup) and given its new epoch before it replaces anything:
    // the restored store appears under its name whole, new epoch included, or not at all.
    let store = SqliteStore::open(tmp.path()).await.map_err(|e| {
        corrupt(format!(
            "this version of rapport-server cannot open it ({e}); a backup made by a newer version is restored with that version"
        ))
    })?;
    let epoch = store.new_epoch().await;
    store.pool().close().await;
    let epoch = epoch?;
    let wal = sidecar(tmp.path(), "-wal");
    if wal.exists() {
        return Err(io("cannot fold the write-ahead log into", tmp.path())(
            std::io::Error::other(format!("{} is still there", wal.display())),
        ));
    }

    if target.is_file() {
        wait_sqlite_unused(&target).await?;
        if !force && let Some(what) = sqlite_holdings(&target).await {
            return Err(BackupError::StoreHasData {
                target: target.display().to_string(),
                what,
            });
        }
    }
    blocking(move || {
        // The old file's journal would be replayed into the new one.
        for suffix in ["-wal", "-shm", "-journal"] {
            let side = sidecar(&target, suffix);
            match std::fs::remove_file(&side) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("cannot remove", &side)(e));
                }
                _ => {}
            }
        }
        tmp.replace(&target)
    })
    .await?;
    Ok(epoch)
}

/// `path` + `suffix` (SQLite's `-wal`, `-shm`, `-journal` files).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens the copy, checks it whole (`PRAGMA integrity_check`) and that it is a Rapport
/// server's database; the reason when it is not.
async fn check_sqlite_backup(copy: &Path) -> Result<(), String> {
    let options = SqliteConnectOptions::new()
        .filename(copy)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| format!("it does not open as a SQLite database ({e})"))?;
    let checked = async {
        let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| format!("it is damaged (truncated or corrupt): {e}"))?;
        if problems.len() != 1 || problems[0] != "ok" {
            let shown: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
            return Err(format!(
                "it is damaged (truncated or corrupt): {}",
                shown.join("; ")
            ));
        }
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('docs', 'changes', 'leads')",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("it cannot be read: {e}"))?;
        if tables.len() != 3 {
            return Err(
                "it is a SQLite database but not a Rapport server's (no documents and lead accounts in it)"
                    .to_owned(),
            );
        }
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    checked
}

/// What the SQLite store at `path` holds, when it holds anything (or cannot be read).
async fn sqlite_holdings(path: &Path) -> Option<String> {
    let store = match SqliteStore::open(path).await {
        Ok(s) => s,
        Err(e) => return Some(format!("a database that cannot be opened: {e}")),
    };
    let docs = store.list_docs().await;
    let leads = sqlite_count_leads(store.pool()).await;
    store.pool().close().await;
    match (docs, leads) {
        (Ok(docs), Ok(leads)) => {
            (!docs.is_empty() || leads > 0).then(|| holdings(docs.len(), leads))
        }
        (Err(e), _) => Some(format!("a store that cannot be read: {e}")),
        (_, Err(e)) => Some(format!("a store that cannot be read: {e}")),
    }
}

async fn sqlite_count_leads(pool: &sqlx::SqlitePool) -> Result<i64, sqlx::Error> {
    let has: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'leads')",
    )
    .fetch_one(pool)
    .await?;
    if !has {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT COUNT(*) FROM leads")
        .fetch_one(pool)
        .await
}

fn holdings(docs: usize, leads: i64) -> String {
    format!(
        "{docs} document{}, {leads} lead account{}",
        if docs == 1 { "" } else { "s" },
        if leads == 1 { "" } else { "s" }
    )
}

/// Whether another process has the SQLite store open: every connection of a server
/// (WAL mode) holds a shared lock on the file, so an exclusive lock is refused. Waits
/// up to [`CLOSE_GRACE`] for a stopping server to let go.
async fn wait_sqlite_unused(path: &Path) -> Result<(), BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(Duration::ZERO);
    let started = Instant::now();
    loop {
        let probe = async {
            let mut conn = SqliteConnection::connect_with(&options).await?;
            let locked = sqlx::raw_sql("BEGIN EXCLUSIVE; COMMIT;")
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            locked.map(|_| ())
        }
        .await;
        match probe {
            Ok(()) => return Ok(()),
            Err(sqlx::Error::Database(d))
                if d.code()
                    .and_then(|c| c.parse::<u32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6)) =>
            {
                if started.elapsed() >= CLOSE_GRACE {
                    return Err(BackupError::InUse {
                        target: path.display().to_string(),
                        detail: "another process has the database file open".to_owned(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Not a lock conflict (a damaged file, say): nobody serves from it; what
            // comes next reports what is wrong with it, if it matters.
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot lock the database to check that no server uses it");
                return Ok(());
            }
        }
    }
}

async fn restore_postgres(url: &str, from: &Path, force: bool) -> Result<[u8; 16], BackupError> {
    let target = PgTarget::parse(url)?;
    let pg_restore = find_pg_tool("pg_restore")?;
    // The whole archive is read before anything is touched: `--list` reads its table of
    // contents, a restore into /dev/null reads every data block (a truncated dump fails).
    let corrupt = |e: BackupError| match e {
        BackupError::ToolFailed { stderr, .. } => BackupError::BackupCorrupt {
            path: from.display().to_string(),
            reason: format!("pg_restore cannot read it (truncated or corrupt): {stderr}"),
        },
        other => other,
    };
    let mut list = Command::new(&pg_restore);
    list.arg("--list").arg(from);
    let toc = run_tool("pg_restore", list, "").await.map_err(corrupt)?;
    let mut read_all = Command::new(&pg_restore);
    read_all.arg("--file").arg(null_device()).arg(from);
    run_tool("pg_restore", read_all, "")
        .await
        .map_err(corrupt)?;
    let toc = String::from_utf8_lossy(&toc);
    let has_table = |table: &str| {
        toc.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.windows(3).any(|w| w == ["TABLE", "public", table])
        })
    };
    if !["docs", "changes", "leads"].into_iter().all(has_table) {
        return Err(BackupError::BackupCorrupt {
            path: from.display().to_string(),
            reason: "it is a PostgreSQL dump but not of a Rapport server's database (no documents and lead accounts in it)".to_owned(),
        });
    }

    let mut conn = target.connect(url).await?;
    let prepared = prepare_pg_target(&target, url, &mut conn, force).await;
    let _ = conn.close().await;
    prepared?;

    let mut cmd = target.command(&pg_restore);
    cmd.args([
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        "--dbname",
    ])
    .arg(&target.url)
    .arg(from);
    run_tool(
        "pg_restore",
        cmd,
        "; the restore was rolled back, and the database is left empty if it held a store before (it was cleared first): fix the cause and run restore again",
    )
    .await?;
    // Renumbers a dump of another cluster, migrates an older one.
    let store = PgStore::connect(url).await?;
    let epoch = store.new_epoch().await;
    store.pool().close().await;
    Ok(epoch?)
}

/// Checks that nothing uses the database and that it holds nothing (unless `force`),
/// then clears the `public` schema if it has anything in it.
async fn prepare_pg_target(
    target: &PgTarget,
    url: &str,
    conn: &mut PgConnection,
    force: bool,
) -> Result<(), BackupError> {
    let db_error = |e: sqlx::Error| target.database_error(&e);
    wait_pg_unused(target, conn).await?;
    let relations: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if relations == 0 {
        return Ok(());
    }
    if !force && let Some(what) = pg_holdings(url, conn, relations).await.map_err(db_error)? {
        return Err(BackupError::StoreHasData {
            target: target.url.clone(),
            what,
        });
    }
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// What the database holds, when it holds anything (or a store that cannot be read).
async fn pg_holdings(
    url: &str,
    conn: &mut PgConnection,
    relations: i64,
) -> Result<Option<String>, sqlx::Error> {
    if !table_exists(conn, "docs").await? {
        return Ok(Some(format!(
            "{relations} tables and other objects that are not a Rapport store"
        )));
    }
    let docs = match PgStore::connect(url).await {
        Ok(store) => {
            let docs = store.list_docs().await;
            store.pool().close().await;
            docs
        }
        Err(e) => Err(e),
    };
    let docs = match docs {
        Ok(docs) => docs.len(),
        Err(e) => return Ok(Some(format!("a store that cannot be read: {e}"))),
    };
    let leads: i64 = if table_exists(conn, "leads").await? {
        sqlx::query_scalar("SELECT COUNT(*) FROM leads")
            .fetch_one(&mut *conn)
            .await?
    } else {
        0
    };
    Ok((docs > 0 || leads > 0).then(|| holdings(docs, leads)))
}

/// Waits up to [`CLOSE_GRACE`] until no other session is connected to the database
/// (servers that are stopping close theirs).
async fn wait_pg_unused(target: &PgTarget, conn: &mut PgConnection) -> Result<(), BackupError> {
    let started = Instant::now();
    loop {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n,
                    COALESCE(string_agg(DISTINCT COALESCE(NULLIF(application_name, ''), 'unnamed'), ', '), '') AS apps
             FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend'",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| target.database_error(&e))?;
        let n: i64 = row.try_get("n").map_err(|e| target.database_error(&e))?;
        if n == 0 {
            return Ok(());
        }
        if started.elapsed() >= CLOSE_GRACE {
            let apps: String = row.try_get("apps").map_err(|e| target.database_error(&e))?;
            return Err(BackupError::InUse {
                target: target.url.clone(),
                detail: format!("{n} other connection(s) to the database: {apps}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn table_exists(conn: &mut PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("public.{table}"))
        .fetch_one(conn)
        .await
}

// ----- new epoch ---------------------------------------------------------------------

/// Gives the configured store a new epoch (after a restore done by other means: a VM
/// snapshot, a file copy, PostgreSQL point-in-time recovery), with the servers
/// stopped; returns it, hex. Devices reconcile on their next sync.
pub async fn new_epoch(config: &Config) -> Result<String, BackupError> {
    let epoch = match &config.database_url {
        None => {
            let path = config.sqlite_path();
            if !path.is_file() {
                return Err(BackupError::NoStore {
                    target: path.display().to_string(),
                });
            }
            wait_sqlite_unused(&path).await?;
            let store = SqliteStore::open(&path).await?;
            let epoch = store.new_epoch().await;
            store.pool().close().await;
            epoch?
        }
        Some(url) => {
            let url = url.expose();
            let target = PgTarget::parse(url)?;
            let mut conn = target.connect(url).await?;
            let checked = async {
                wait_pg_unused(&target, &mut conn).await?;
                if table_exists(&mut conn, "docs")
                    .await
                    .map_err(|e| target.database_error(&e))?
                {
                    Ok(())
                } else {
                    Err(BackupError::NoStore {
                        target: target.url.clone(),
                    })
                }
            }
            .await;
            let _ = conn.close().await;
            checked?;
            let store = PgStore::connect(url).await?;
            let epoch = store.new_epoch().await;
            store.pool().close().await;
            epoch?
        }
    };
    Ok(hex::encode(epoch))
}

// ----- files -------------------------------------------------------------------------

fn parent_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file beside its final name, removed on drop unless moved into place.
struct TempPath(Option<PathBuf>);

impl TempPath {
    fn beside(target: &Path, what: &str) -> Self {
        let name = target
            .file_name()
            .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
        let suffix = hex::encode(crate::auth::random_bytes::<6>());
        Self(Some(
            parent_folder(target).join(format!(".{name}.{what}-{suffix}")),
        ))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Flushes the file to disk and moves it to `target`, which must not exist; its size.
    fn persist(self, target: &Path) -> Result<u64, BackupError> {
        if target.symlink_metadata().is_ok() {
            return Err(BackupError::OutputExists {
                path: target.display().to_string(),
            });
        }
        self.replace(target)
    }

    /// Flushes the file to disk and moves it to `target`, replacing it; its size.
    fn replace(mut self, target: &Path) -> Result<u64, BackupError> {
        let tmp = self.0.take().unwrap_or_default();
        let moved = (|| {
            let file = std::fs::File::open(&tmp).map_err(io("cannot open", &tmp))?;
            file.sync_all().map_err(io("cannot flush to disk", &tmp))?;
            let bytes = file.metadata().map_err(io("cannot read", &tmp))?.len();
            std::fs::rename(&tmp, target)
                .map_err(io("cannot move the file into place at", target))?;
            // The rename itself is durable once the folder is flushed (not on every OS).
            if let Ok(dir) = std::fs::File::open(parent_folder(target)) {
                let _ = dir.sync_all();
            }
            Ok(bytes)
        })();
        if moved.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        moved
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            for p in [
                sidecar(&path, "-wal"),
                sidecar(&path, "-shm"),
                sidecar(&path, "-journal"),
                path,
            ] {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn null_device() -> &'static str {
    if cfg!(windows) { "NUL" } else { "/dev/null" }
}

// ----- PostgreSQL client tools -------------------------------------------------------

/// A PostgreSQL URL for the client tools: without its password (safe on a command
/// line and in messages); the password goes into the child's `PGPASSWORD`.
#[derive(Clone, PartialEq, Eq)]
struct PgTarget {
    /// The URL without password, in the form libpq reads.
    url: String,
    password: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    fn parse(url: &str) -> Result<Self, BackupError> {
        let bad = |reason: &str| BackupError::BadUrl {
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .trim()
            .split_once("://")
            .filter(|(s, _)| matches!(*s, "postgres" | "postgresql"))
            .ok_or_else(|| bad("it does not start with postgres://"))?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = main
            .find('/')
            .map_or((main, ""), |i| (&main[..i], &main[i..]));
        let (userinfo, host) = authority.rfind('@').map_or((None, authority), |i| {
            (Some(&authority[..i]), &authority[i + 1..])
        });
        let mut password = None;
        let user = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, pw)) => {
                    password =
                        Some(percent_decode(pw).ok_or_else(|| {
                            bad("its password is not valid percent-encoded UTF-8")
                        })?);
                    Some(user)
                }
                None => Some(info),
            },
            None => None,
        };
        // libpq's names for what sqlx also accepts under its own; sqlx-only ones dropped.
        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = match key {
                "password" => {
                    password =
                        Some(percent_decode(value).ok_or_else(|| {
                            bad("its password is not valid percent-encoded UTF-8")
                        })?);
                    continue;
                }
                "statement-cache-capacity" => continue,
                "ssl-mode" => "sslmode",
                "ssl-root-cert" | "ssl-ca" => "sslrootcert",
                "ssl-cert" => "sslcert",
                "ssl-key" => "sslkey",
                other => other,
            };
            params.push(format!("{key}={value}"));
        }
        let mut clean = format!("{scheme}://");
        if let Some(user) = user {
            clean.push_str(user);
            clean.push('@');
        }
        clean.push_str(host);
        clean.push_str(path);
        if !params.is_empty() {
            clean.push('?');
            clean.push_str(&params.join("&"));
        }
        Ok(Self {
            url: clean,
            password,
        })
    }

    /// A command for `tool` with the password in its environment, never prompting.
    fn command(&self, tool: &Path) -> Command {
        let mut cmd = Command::new(tool);
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd
    }

    async fn connect(&self, url: &str) -> Result<PgConnection, BackupError> {
        PgConnection::connect(url)
            .await
            .map_err(|e| self.database_error(&e))
    }

    fn database_error(&self, e: &sqlx::Error) -> BackupError {
        BackupError::Database {
            target: self.url.clone(),
            reason: e.to_string(),
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `tool` on PATH, else in the newest `/usr/lib/postgresql/<version>/bin`.
fn find_pg_tool(tool: &'static str) -> Result<PathBuf, BackupError> {
    let exe = format!("{tool}{}", std::env::consts::EXE_SUFFIX);
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(&exe);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let candidate = e.path().join("bin").join(&exe);
            candidate.is_file().then_some((version, candidate))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .ok_or(BackupError::ToolMissing { tool })
}

/// Runs a client tool to completion; its standard output, or its standard error in
/// the error (the last lines) followed by `after`.
async fn run_tool(
    tool: &'static str,
    mut cmd: Command,
    after: &'static str,
) -> Result<Vec<u8>, BackupError> {
    cmd.stdin(std::process::Stdio::null());
    let output = blocking(move || cmd.output())
        .await
        .map_err(io("cannot run", Path::new(tool)))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let shown = lines[lines.len().saturating_sub(5)..].join(" / ");
    Err(BackupError::ToolFailed {
        tool,
        status: output.status.to_string(),
        stderr: if shown.is_empty() {
            "no message".to_owned()
        } else {
            shown
        },
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let t = PgTarget::parse("postgres://rapport:p%40ss%3Aw%C3%B6rd@db.local:5433/rapport?sslmode=require&ssl-root-cert=/ca.pem&statement-cache-capacity=10").expect("parses");
        assert_eq!(
            t.url,
            "postgres://rapport@db.local:5433/rapport?sslmode=require&sslrootcert=/ca.pem"
        );
        assert_eq!(t.password.as_deref(), Some("p@ss:wörd"));
        assert!(!format!("{t:?}").contains("wörd"));

        let t = PgTarget::parse("postgresql://u@h/d?password=секрет").expect("parses");
        assert_eq!(t.url, "postgresql://u@h/d");
        assert_eq!(t.password.as_deref(), Some("секрет"));

        let t = PgTarget::parse("postgres:///rapport?host=/var/run/postgresql").expect("parses");
        assert_eq!(t.url, "postgres:///rapport?host=/var/run/postgresql");
        assert_eq!(t.password, None);

        let err = PgTarget::parse("mysql://u:p@h/d").expect_err("not PostgreSQL");
        assert_eq!(err.code(), "bad_database_url");
        assert!(!err.to_string().contains(":p@"), "{err}");
    }
}

//! Why a backup, a restore or a new epoch did not happen, with a stable code and a
//! message that says what to do.

use std::path::Path;
use std::time::Duration;

use rapport_store::StoreError;

/// How long a restore waits for the connections of stopping servers to close before
/// it is refused with [`BackupError::InUse`].
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(5);

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

/// Makes an I/O error into the [`BackupError::Io`] of `what` failing on `path`.
pub(super) fn io(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

/// What a store holds, as [`BackupError::StoreHasData`] says it.
pub(super) fn holdings(docs: usize, leads: i64) -> String {
    format!(
        "{docs} document{}, {leads} lead account{}",
        if docs == 1 { "" } else { "s" },
        if leads == 1 { "" } else { "s" }
    )
}

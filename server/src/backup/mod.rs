//! Backups and restore of the server's store, and a new epoch after a restore.
//!
//! A backup is one consistent snapshot of everything the server keeps (documents and
//! the server's own tables), taken while the server serves: `VACUUM INTO` on the
//! embedded SQLite file, `pg_dump --format=custom` on PostgreSQL. A restore puts it
//! back with the servers stopped and always ends with a new epoch
//! ([`rapport_store::DocStore::new_epoch`]): devices see on their next sync that the server went back
//! in time and upload whatever it lacks.
//!
//! Nothing is touched before the backup file has been checked whole; a file is never
//! left half-written under its final name (temporary name, then rename); the database
//! password is never put on a command line or in a message (`PGPASSWORD` of the child).
//!
//! Here: the three commands, which check what they are given and hand the work to the
//! backend's half (`sqlite`, `postgres`), and the reports. Errors are in `error`,
//! temporary files in `files`.

mod error;
mod files;
mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};

pub use self::error::BackupError;
use self::error::io;
use self::files::{TempPath, blocking, parent_folder};
use crate::config::Config;

/// The first bytes of a SQLite database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// The first bytes of a `pg_dump --format=custom` archive.
const PGDUMP_MAGIC: &[u8] = b"PGDMP";

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

fn backend_name(config: &Config) -> &'static str {
    if config.database_url.is_some() {
        "postgresql"
    } else {
        "sqlite"
    }
}

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
        None => sqlite::backup(config, tmp.path()).await?,
        Some(url) => postgres::backup(url.expose(), tmp.path()).await?,
    }
    let out_owned = out.to_owned();
    let bytes = blocking(move || tmp.persist(&out_owned)).await?;
    Ok(BackupReport {
        path: out.to_owned(),
        bytes,
        backend: backend_name(config),
    })
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
        (None, Kind::Sqlite) => sqlite::restore(config, from, force).await?,
        (Some(url), Kind::Postgres) => postgres::restore(url.expose(), from, force).await?,
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

/// Gives the configured store a new epoch (after a restore done by other means: a VM
/// snapshot, a file copy, PostgreSQL point-in-time recovery), with the servers
/// stopped; returns it, hex. Devices reconcile on their next sync.
pub async fn new_epoch(config: &Config) -> Result<String, BackupError> {
    let epoch = match &config.database_url {
        None => sqlite::new_epoch(config).await?,
        Some(url) => postgres::new_epoch(url.expose()).await?,
    };
    Ok(hex::encode(epoch))
}

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

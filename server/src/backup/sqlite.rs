//! Backup and restore of the embedded SQLite store: `VACUUM INTO` a new file while
//! servers serve; a restore checks a copy whole, gives it its new epoch, then renames
//! it over the store once no server has the file open.

use std::path::Path;
use std::time::{Duration, Instant};

use rapport_store::{DocStore, SqliteStore};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};

use super::error::{BackupError, CLOSE_GRACE, holdings, io};
use super::files::{TempPath, blocking, sidecar};
use crate::config::Config;

/// Writes a consistent copy of the embedded store to `tmp` (`VACUUM INTO`).
pub(super) async fn backup(config: &Config, tmp: &Path) -> Result<(), BackupError> {
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

/// Restores the SQLite backup `from` as the embedded store; its new epoch.
pub(super) async fn restore(
    config: &Config,
    from: &Path,
    force: bool,
) -> Result<[u8; 16], BackupError> {
    let created = !config.data_dir.exists();
    let restored = restore_into(config, from, force).await;
    if created && restored.is_err() {
        // No empty data folder left behind by a refused restore (a mistyped --data-dir).
        let _ = std::fs::remove_dir(&config.data_dir);
    }
    restored
}

async fn restore_into(config: &Config, from: &Path, force: bool) -> Result<[u8; 16], BackupError> {
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
    check_backup(tmp.path()).await.map_err(corrupt)?;
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

/// Opens the copy, checks it whole (`PRAGMA integrity_check`) and that it is a Rapport
/// server's database; the reason when it is not.
async fn check_backup(copy: &Path) -> Result<(), String> {
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

/// Gives the embedded store a new epoch, once no server has it open.
pub(super) async fn new_epoch(config: &Config) -> Result<[u8; 16], BackupError> {
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
    Ok(epoch?)
}

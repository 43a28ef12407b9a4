//! The one error type of every store.

use automerge::ChangeHash;
use rapport_domain::DocId;

/// Why a store operation failed. Messages say what is wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or reached when the store was created.
    #[error("cannot open the database at {target}: {reason}")]
    Open {
        /// The path or the URL (without password) of the database.
        target: String,
        /// What the driver said.
        reason: String,
    },
    /// The database file does not open with the key given: a wrong key, an encrypted file
    /// opened without one, or a file that is not a database. Nothing was written.
    #[error(
        "cannot read the database at {target}: the encryption key does not match it (or it is not a Rapport database); nothing was changed: restore the key, or move the file aside to start over"
    )]
    WrongKey {
        /// The path of the database.
        target: String,
    },
    /// A schema migration failed at start-up; the database was left at the last good version.
    #[error(
        "cannot migrate the database schema: {reason}; restore a backup or fix the database by hand"
    )]
    Migration {
        /// What the migrator said.
        reason: String,
    },
    /// The thing asked for is not stored.
    #[error("{what} is not stored")]
    NotFound {
        /// What was asked for, e.g. "document 0b6f…".
        what: String,
    },
    /// Stored bytes of a document do not decode: the document cannot be loaded.
    #[error(
        "document {doc} is corrupt in the store: {reason}; restore it from a backup or a device that holds it"
    )]
    Corrupt {
        /// The document that cannot be loaded.
        doc: DocId,
        /// What is wrong with its bytes.
        reason: String,
    },
    /// A change to commit depends on a change the store does not hold; nothing was stored.
    #[error(
        "change {change} of document {doc} depends on change {missing}, which is not stored; send the missing change in the same or an earlier batch"
    )]
    MissingDependencies {
        /// The document the change belongs to.
        doc: DocId,
        /// The change that cannot be stored.
        change: ChangeHash,
        /// The dependency that is neither stored nor in the batch.
        missing: ChangeHash,
    },
    /// A concurrent writer got in the way (deadlock, serialization failure, a compaction
    /// that raced another); nothing was stored and the operation can be retried.
    #[error("concurrent update conflict: {reason}; retry the operation")]
    Conflict {
        /// What collided.
        reason: String,
    },
    /// The database is not reachable or the connection pool is exhausted right now.
    #[error(
        "the database is unavailable: {reason}; check that it is running and reachable, then retry"
    )]
    Unavailable {
        /// What the driver said.
        reason: String,
    },
    /// A feed cursor handed in by a caller is not one this store produced.
    #[error("invalid feed cursor: {reason}; start again from FeedCursor::start()")]
    BadCursor {
        /// What is wrong with the bytes.
        reason: String,
    },
    /// Any other database error.
    #[error("database error: {reason}")]
    Database {
        /// What the driver said.
        reason: String,
    },
}

impl StoreError {
    /// A stable code for clients and logs; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Open { .. } => "store_open_failed",
            Self::WrongKey { .. } => "store_wrong_key",
            Self::Migration { .. } => "store_migration_failed",
            Self::NotFound { .. } => "not_found",
            Self::Corrupt { .. } => "corrupt_document",
            Self::MissingDependencies { .. } => "missing_dependencies",
            Self::Conflict { .. } => "conflict",
            Self::Unavailable { .. } => "store_unavailable",
            Self::BadCursor { .. } => "bad_feed_cursor",
            Self::Database { .. } => "database_error",
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Unavailable { .. })
    }
}

/// Maps a driver error into our variants at the store boundary.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound {
            what: "the row asked for".to_owned(),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable {
            reason: e.to_string(),
        },
        sqlx::Error::Database(d) => {
            #[cfg(feature = "sqlite")]
            let sqlite = d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            #[cfg(not(feature = "sqlite"))]
            let sqlite = false;
            let code = d.code();
            match code.as_deref() {
                // PostgreSQL: serialization failure, deadlock, unique violation.
                Some("40001" | "40P01" | "23505") if !sqlite => StoreError::Conflict {
                    reason: d.message().to_owned(),
                },
                // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6) and their extended codes.
                Some(c) if sqlite && is_sqlite_busy(c) => StoreError::Conflict {
                    reason: d.message().to_owned(),
                },
                // PostgreSQL: too many connections, shutting down, cannot connect now.
                Some("53300" | "57P01" | "57P02" | "57P03") if !sqlite => StoreError::Unavailable {
                    reason: d.message().to_owned(),
                },
                _ => StoreError::Database {
                    reason: e.to_string(),
                },
            }
        }
        _ => StoreError::Database {
            reason: e.to_string(),
        },
    }
}

/// SQLite reports numeric result codes; the low byte is the primary code.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn is_sqlite_busy(code: &str) -> bool {
    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn migration(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Migration {
        reason: e.to_string(),
    }
}

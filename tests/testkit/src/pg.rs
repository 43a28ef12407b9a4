//! A fresh PostgreSQL database per test, and the choice of backend.

use rapport_domain::DocId;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The variable with the admin URL of the test PostgreSQL (its role needs CREATEDB).
///
/// There is no default URL on purpose: without the variable the PostgreSQL cases are
/// skipped and say so on stderr, so a machine without PostgreSQL still runs the rest.
pub const PG_ENV: &str = "RAPPORT_TEST_DATABASE_URL";

/// Which database the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file in the data folder.
    Sqlite,
    /// A fresh PostgreSQL database (needs `RAPPORT_TEST_DATABASE_URL`).
    Postgres,
}

/// A fresh PostgreSQL database, dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct PgDb {
    admin_url: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

impl PgDb {
    /// Creates `rapport_t_<random>`; `None` (and a line on stderr) when [`PG_ENV`] is
    /// not set. Panics when the variable is set but the server is unreachable: a
    /// configured PostgreSQL that is down is a failure, not a skip.
    pub async fn create() -> Option<Self> {
        let admin_url = match std::env::var(PG_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                eprintln!("{PG_ENV} is not set: skipping the PostgreSQL case");
                return None;
            }
        };
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {PG_ENV}: {e}\n\
                 Start it with `pg_ctlcluster 15 main start`, and create the role once with \
                 `su postgres -c \"psql -c \\\"CREATE ROLE rapport LOGIN PASSWORD 'rapport' CREATEDB\\\"\"` \
                 and `su postgres -c \"createdb -O rapport rapport\"`, \
                 or point {PG_ENV} at another server whose role has CREATEDB."
            )
        });
        let name = format!("rapport_t_{}", DocId::random().as_uuid().simple());
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE (the role needs CREATEDB): {e}"));
        let _ = admin.close().await;
        // Same server and options (`?sslmode=...`), the fresh database instead of the admin's.
        let (base, query) = admin_url
            .split_once('?')
            .map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let url = match query {
            Some(q) => format!("{prefix}/{name}?{q}"),
            None => format!("{prefix}/{name}"),
        };
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDb {
    /// On a thread of its own: the test's runtime may be gone or blocked.
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                conn.execute(AssertSqlSafe(sql)).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

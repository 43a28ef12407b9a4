//! Backup and restore of a PostgreSQL store through the client tools: `pg_dump
//! --format=custom` while servers serve; `pg_restore` in one transaction into a
//! database no server uses, after the archive was read whole. The password stays off
//! command lines and out of messages (`PGPASSWORD` of the child).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_store::{DocStore, PgStore};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::error::{BackupError, CLOSE_GRACE, holdings, io};
use super::files::blocking;

/// Writes a consistent dump of the database to `tmp` (`pg_dump --format=custom`).
pub(super) async fn backup(url: &str, tmp: &Path) -> Result<(), BackupError> {
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

/// Restores the dump `from` into the database (read whole first, then cleared and
/// restored in one transaction); its new epoch.
pub(super) async fn restore(url: &str, from: &Path, force: bool) -> Result<[u8; 16], BackupError> {
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

/// Gives the database's store a new epoch, once no other session is connected.
pub(super) async fn new_epoch(url: &str) -> Result<[u8; 16], BackupError> {
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
    Ok(epoch?)
}

fn null_device() -> &'static str {
    if cfg!(windows) { "NUL" } else { "/dev/null" }
}

// ----- the client tools ------------------------------------------------------------

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

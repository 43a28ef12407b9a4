//! Configuration: defaults, then a TOML file, then environment variables, then flags.
//! This module is the only place that reads them; the rest get a typed [`Config`].

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret (a database URL with a password): never printed by `Debug` or logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

/// `db_connections` by default: of 2, 4, 8 and 16, the cheapest under P3 on 2 cores.
pub const DEFAULT_DB_CONNECTIONS: u32 = rapport_store::PgStore::DEFAULT_CONNECTIONS;
/// The fewest `db_connections`: a commit holds one while the next request loads.
const MIN_DB_CONNECTIONS: u32 = 2;
/// The most `db_connections`: far beyond what PostgreSQL serves well, surely a typo.
const MAX_DB_CONNECTIONS: u32 = 256;

/// Everything the server is configured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Folder for the embedded database and other files.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; unset: the embedded SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// Connections to PostgreSQL this process opens at most, for the documents and
    /// again for the server's tables. Many more than the database has cores make it
    /// slower, not faster (see `PgStore::connect_with`).
    pub db_connections: u32,
    /// How long a lead's sign-in lasts, in hours.
    pub session_hours: u32,
    /// How long a pairing code stays valid, in minutes (by default; the lead may choose less).
    pub pairing_minutes: u32,
    /// Largest request body accepted, in bytes (the sync frame limit is lower or equal).
    pub max_body_bytes: usize,
    /// Largest import file accepted, in bytes.
    pub max_import_bytes: usize,
    /// Seconds between background compaction passes.
    pub compact_every_secs: u64,
    /// Loose changes that make a document worth compacting.
    pub compact_min_changes: usize,
    /// Milliseconds between looks for commits that other server processes made on the
    /// same database (this process projects its own commits at once).
    pub project_every_ms: u64,
    /// Memory for resident documents (documents kept loaded between requests, checked
    /// against the store before each use), in MiB; 0 turns them off. The default keeps
    /// a server of 5,000 devices syncing once a minute under 512 MB in all.
    pub resident_docs_mb: u64,
    /// Folder with the built web UI to serve at `/` (none: the API only).
    pub ui_dir: Option<PathBuf>,
    /// Log filter (`info`, `rapport_server=debug`, …).
    pub log: String,
    /// PEM file with the server's certificate chain: serve HTTPS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("rapport-data"),
            database_url: None,
            db_connections: DEFAULT_DB_CONNECTIONS,
            session_hours: 12,
            pairing_minutes: 24 * 60,
            max_body_bytes: 40 * 1024 * 1024,
            max_import_bytes: 10 * 1024 * 1024,
            compact_every_secs: 60,
            project_every_ms: 1000,
            resident_docs_mb: 160,
            compact_min_changes: 64,
            ui_dir: None,
            log: "info".to_owned(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    /// `--bind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--tls-cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}; check the file given with --config and the RAPPORT_* variables")]
pub struct ConfigError(String);

impl Config {
    /// Defaults → `file` (if given, or `rapport.toml` in the data folder if it exists) →
    /// `RAPPORT_*` variables and `DATABASE_URL` → `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| std::env::var_os("RAPPORT_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| Config::default().data_dir);
        match file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "the configuration file {} does not exist",
                        path.display()
                    )));
                }
                figment = figment.merge(Toml::file(path));
            }
            None => {
                let default_file = data_dir.join("rapport.toml");
                if default_file.is_file() {
                    figment = figment.merge(Toml::file(default_file));
                }
            }
        }
        figment = figment
            .merge(Env::prefixed("RAPPORT_"))
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Serialized::defaults(overrides));
        let mut config: Config = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        if config
            .database_url
            .as_ref()
            .is_some_and(|url| url.expose().trim().is_empty())
        {
            config.database_url = None;
        }
        if !(MIN_DB_CONNECTIONS..=MAX_DB_CONNECTIONS).contains(&config.db_connections) {
            return Err(ConfigError(format!(
                "db_connections is {}; give a number from {MIN_DB_CONNECTIONS} to \
                 {MAX_DB_CONNECTIONS} (about the database's cores; the default is \
                 {DEFAULT_DB_CONNECTIONS})",
                config.db_connections
            )));
        }
        Ok(config)
    }

    /// The certificate and key files when HTTPS is configured; both or neither, else
    /// an error saying which one to give.
    pub fn tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, crate::tls::TlsError> {
        crate::tls::TlsFiles::pair(self.tls_cert.clone(), self.tls_key.clone())
    }

    /// Where the embedded SQLite database lives.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("rapport.sqlite3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = Config {
            database_url: Some(Secret::new("postgres://rapport:пароль@db/rapport")),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("пароль"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    // figment's Jail API returns its own (large) error type; nothing to shrink here.
    #[allow(clippy::result_large_err)]
    #[test]
    fn file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "rapport.toml",
                "session_hours = 3\npairing_minutes = 30\nbind = \"127.0.0.1:9000\"",
            )?;
            jail.set_env("RAPPORT_PAIRING_MINUTES", "45");
            jail.set_env("DATABASE_URL", "postgres://u:p@h/d");
            let overrides = Overrides {
                bind: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
                ..Overrides::default()
            };
            let config = Config::load(Some(Path::new("rapport.toml")), &overrides)
                .map_err(|e| e.to_string())?;
            assert_eq!(config.session_hours, 3, "from the file");
            assert_eq!(
                config.pairing_minutes, 45,
                "the environment wins over the file"
            );
            assert_eq!(config.bind.port(), 9100, "flags win over everything");
            assert_eq!(
                config.database_url.as_ref().map(Secret::expose),
                Some("postgres://u:p@h/d")
            );
            Ok(())
        });
    }

    // figment's Jail API returns its own (large) error type; nothing to shrink here.
    #[allow(clippy::result_large_err)]
    #[test]
    fn database_connections_out_of_range_are_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.db_connections, DEFAULT_DB_CONNECTIONS);
            jail.create_file("настройки.toml", "db_connections = 12")?;
            let file = Some(Path::new("настройки.toml"));
            let config = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.db_connections, 12, "from the file");
            for wrong in ["0", "1", "257"] {
                jail.set_env("RAPPORT_DB_CONNECTIONS", wrong);
                let err = Config::load(file, &Overrides::default())
                    .expect_err("out of range")
                    .to_string();
                assert!(err.contains(&format!("db_connections is {wrong}")), "{err}");
                assert!(err.contains("from 2 to 256"), "{err}");
            }
            jail.set_env("RAPPORT_DB_CONNECTIONS", "много");
            let err = Config::load(file, &Overrides::default())
                .expect_err("not a number")
                .to_string();
            assert!(err.to_lowercase().contains("db_connections"), "{err}");
            assert!(err.contains("много"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/конфиг.toml")),
            &Overrides::default(),
        )
        .expect_err("missing file");
        assert!(err.to_string().contains("конфиг.toml"), "{err}");
    }

    // figment's Jail API returns its own (large) error type; nothing to shrink here.
    #[allow(clippy::result_large_err)]
    #[test]
    fn tls_files_from_file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "rapport.toml",
                "tls_cert = \"из-файла/сертификат.pem\"\ntls_key = \"из-файла/ключ.pem\"",
            )?;
            let file = Some(Path::new("rapport.toml"));
            let config = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                config.tls_cert.as_deref(),
                Some(Path::new("из-файла/сертификат.pem"))
            );
            assert_eq!(
                config.tls_key.as_deref(),
                Some(Path::new("из-файла/ключ.pem"))
            );

            jail.set_env("RAPPORT_TLS_CERT", "из-среды/сертификат.pem");
            let config = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                config.tls_cert.as_deref(),
                Some(Path::new("из-среды/сертификат.pem")),
                "the environment wins over the file"
            );
            assert_eq!(
                config.tls_key.as_deref(),
                Some(Path::new("из-файла/ключ.pem")),
                "what the environment does not set stays from the file"
            );

            let overrides = Overrides {
                tls_cert: Some(PathBuf::from("с-флага/сертификат.pem")),
                tls_key: Some(PathBuf::from("с-флага/ключ.pem")),
                ..Overrides::default()
            };
            let config = Config::load(file, &overrides).map_err(|e| e.to_string())?;
            assert_eq!(
                config.tls_cert.as_deref(),
                Some(Path::new("с-флага/сертификат.pem")),
                "flags win over everything"
            );
            assert_eq!(
                config.tls_key.as_deref(),
                Some(Path::new("с-флага/ключ.pem"))
            );
            let files = config
                .tls_files()
                .map_err(|e| e.to_string())?
                .expect("both given");
            assert_eq!(files.cert, PathBuf::from("с-флага/сертификат.pem"));
            Ok(())
        });
    }

    #[test]
    fn plain_http_by_default_and_tls_needs_both_files() {
        assert!(
            Config::default()
                .tls_files()
                .expect("neither is fine")
                .is_none()
        );
        let only_cert = Config {
            tls_cert: Some(PathBuf::from("сертификат.pem")),
            ..Config::default()
        };
        let err = only_cert.tls_files().expect_err("a certificate alone");
        assert!(err.to_string().contains("--tls-key"), "{err}");
        assert!(err.to_string().contains("RAPPORT_TLS_KEY"), "{err}");
        let only_key = Config {
            tls_key: Some(PathBuf::from("ключ.pem")),
            ..Config::default()
        };
        let err = only_key.tls_files().expect_err("a key alone");
        assert!(err.to_string().contains("--tls-cert"), "{err}");
        assert!(err.to_string().contains("RAPPORT_TLS_CERT"), "{err}");
    }
}

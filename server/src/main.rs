//! `rapport-server`: serve, create a lead, rebuild projections, back up and restore.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rapport_server::{AppState, Config, Overrides, Server};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: under 1,000 devices reconnecting at once a
/// quarter of the server's CPU was glibc's allocator (`_int_malloc`, consolidating
/// and unlinking free chunks), and glibc kept ~140 MB freed but not returned.
/// mimalloc 2 (the `v2` feature): under steady load (5,000 tablets syncing once a
/// minute) mimalloc 3 kept climbing to ~505 MB over 15 minutes, even with its heaps
/// collected whenever a worker idled; mimalloc 2 levelled off at ~465 MB, with less
/// CPU per sync.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "rapport-server", version, about = "The Rapport sync server")]
struct Cli {
    /// A TOML configuration file (default: rapport.toml in the data folder, if any).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Folder for the embedded database (used when DATABASE_URL is not set).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve devices and the lead's API.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// On an empty store, create a demo programme and a lead whose password is printed once.
        #[arg(long)]
        demo: bool,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long)]
        tls_key: Option<PathBuf>,
    },
    /// Create a lead account; the password is read from standard input.
    CreateLead {
        /// The lead's e-mail (the sign-in name).
        #[arg(long)]
        email: String,
        /// The lead's name as shown in programmes.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Set a lead's password (read from standard input); ends the lead's sessions.
    SetPassword {
        /// The lead's e-mail.
        #[arg(long)]
        email: String,
    },
    /// Rebuild the projections (status, access, exports) from the documents.
    RebuildProjections,
    /// Write a consistent backup of the store to a new file, while servers keep serving.
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into the store (servers stopped); devices then reconcile.
    Restore {
        /// The backup file (from `rapport-server backup`).
        #[arg(long)]
        from: PathBuf,
        /// Replace a store that holds data.
        #[arg(long)]
        force: bool,
    },
    /// Give the store a new epoch after a restore done by other means (a VM snapshot, a
    /// file copy, point-in-time recovery), servers stopped: devices then reconcile.
    NewEpoch,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        ..Overrides::default()
    };
    if let Command::Serve {
        bind,
        tls_cert,
        tls_key,
        ..
    } = &cli.command
    {
        overrides.bind = *bind;
        overrides.tls_cert = tls_cert.clone();
        overrides.tls_key = tls_key.clone();
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    tracing::info!(?config, "configuration");
    match cli.command {
        Command::Serve { demo, .. } => {
            // A bad certificate or key stops here, before the data folder is touched.
            if let Some(files) = config.tls_files()? {
                files.load()?;
            }
            let state = AppState::open(config).await?;
            if demo && let Some(seeded) = rapport_server::demo::seed_if_empty(&state).await? {
                println!("{seeded}");
            }
            let server = Server::start_with(state).await?;
            println!("Rapport server listening on {}", server.url());
            let stop = server.stopper();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down: finishing requests in flight");
                stop.cancel();
            });
            server.wait().await?;
        }
        Command::CreateLead { email, name } => {
            let password = read_password("create-lead", &email)?;
            let state = AppState::open(config).await?;
            let lead =
                rapport_server::accounts::create_lead(&state, &email, &name, &password).await?;
            println!("lead {} created ({})", lead.email, lead.id);
        }
        Command::SetPassword { email } => {
            let password = read_password("set-password", &email)?;
            let state = AppState::open(config).await?;
            rapport_server::accounts::set_password(&state, &email, &password).await?;
            println!("password of {email} set; its sessions ended");
        }
        Command::RebuildProjections => {
            let state = AppState::open(config).await?;
            let n = state.projector.rebuild().await?;
            println!("projections rebuilt from {n} documents");
        }
        Command::Backup { out } => {
            let report = rapport_server::backup::backup(&config, &out).await?;
            println!(
                "backup of the {} store written to {} ({} bytes)",
                report.backend,
                report.path.display(),
                report.bytes
            );
        }
        Command::Restore { from, force } => {
            let report = rapport_server::backup::restore(&config, &from, force).await?;
            println!(
                "{} restored into the {} store; its new epoch is {}",
                from.display(),
                report.backend,
                report.epoch_hex
            );
            println!("{RECONCILE}");
        }
        Command::NewEpoch => {
            let epoch = rapport_server::backup::new_epoch(&config).await?;
            println!("the store's new epoch is {epoch}");
            println!("{RECONCILE}");
        }
    }
    Ok(())
}

/// What a new epoch means, for whoever ran the command.
const RECONCILE: &str = "Devices notice the new epoch on their next sync and upload whatever the server lacks; nobody has to do anything.";

/// The password from standard input (one line; the newline is not part of it).
fn read_password(command: &str, email: &str) -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!(
            "no password on standard input: pipe it in, e.g. `read -s P; echo \"$P\" | rapport-server {command} --email {email}`"
        );
    }
    Ok(password)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

//! `rapport-server`: serve, create a lead, rebuild projections.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rapport_server::{AppState, Config, Overrides, Server};
use tracing_subscriber::EnvFilter;

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
    /// Rebuild the projections (status, access, exports) from the documents.
    RebuildProjections,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bind = match &cli.command {
        Command::Serve { bind, .. } => *bind,
        _ => None,
    };
    let config = Config::load(
        cli.config.as_deref(),
        &Overrides {
            bind,
            data_dir: cli.data_dir.clone(),
        },
    )?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    tracing::info!(?config, "configuration");
    match cli.command {
        Command::Serve { demo, .. } => {
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
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!(
                    "no password on standard input: pipe it in, e.g. `read -s P; echo \"$P\" | rapport-server create-lead --email {email}`"
                );
            }
            let state = AppState::open(config).await?;
            let lead =
                rapport_server::api::auth::create_lead(&state, &email, &name, password).await?;
            println!("lead {} created ({})", lead.email, lead.id);
        }
        Command::RebuildProjections => {
            let state = AppState::open(config).await?;
            let n = state.projector.rebuild().await?;
            println!("projections rebuilt from {n} documents");
        }
    }
    Ok(())
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

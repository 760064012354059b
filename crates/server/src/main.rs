//! `ringdesk-server [--config FILE] [serve]` runs the team server;
//! `ringdesk-server invite --name NAME [--admin]` adds an agent and prints the link their
//! desktop joins with (the first admin is made this way).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ringdesk_core::team::Role;
use ringdesk_core::{UserInput, UserSettings};
use ringdesk_providers::Endpoints;
use ringdesk_server::config::ServerConfig;
use ringdesk_server::Server;

#[derive(Parser)]
#[command(name = "ringdesk-server", version, about = "Ringdesk's team server")]
struct Cli {
    /// The configuration file (TOML); every setting has a default.
    #[arg(long, env = "RINGDESK_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the team (the default).
    Serve,
    /// Add an agent and print the one-time link their desktop joins with.
    Invite {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// An admin may change the team.
        #[arg(long)]
        admin: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RINGDESK_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringdesk-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig::load(cli.config.as_deref())?;
    // The providers' APIs (each overridable, like the desktop's: RINGDESK_TWILIO_API_URL, …).
    let endpoints = Endpoints::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let (server, listener) = Server::bind(&config, endpoints).await?;
            server.serve(listener, stopped()).await?;
        }
        Command::Invite { name, email, admin } => {
            let server = Server::open(&config, endpoints).await?;
            let team = &server.shared.team;
            let user = team
                .agents
                .save_user(
                    None,
                    UserInput {
                        name,
                        email,
                        is_me: false,
                        assigned_numbers: vec![],
                        primary_number: None,
                        forwarding_number: None,
                        settings: UserSettings::default(),
                    },
                )
                .await?;
            let role = if admin { Role::Admin } else { Role::Agent };
            let invite = team.invite(user.id, role).await?;
            println!("{}", invite.link);
            let until = invite
                .expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            eprintln!(
                "{} ({}) may join until {until} with the link above, once.",
                user.name,
                role.code(),
            );
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM (systemd's stop).
async fn stopped() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

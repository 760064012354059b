//! `ringdesk-cli`: Ringdesk's SIP core from a terminal, for scripting and interop testing.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ringdesk_sip::account::SipAccount;
use ringdesk_sip::registration::RegistrationEvent;

#[derive(Parser)]
#[command(name = "ringdesk-cli", version, about = "Ringdesk from a terminal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register a SIP account, stay registered, unregister on Ctrl+C (or after --for seconds).
    ///
    /// The password is read from RINGDESK_SIP_PASSWORD, else from the first line of stdin —
    /// never from the command line, where other users could see it.
    Register {
        /// Registrar or outbound proxy: host[:port]
        #[arg(long)]
        registrar: String,
        /// SIP user name (the user part of your address)
        #[arg(long)]
        user: String,
        /// Domain of your address, when it is not the registrar's
        #[arg(long)]
        domain: Option<String>,
        /// Authentication user, when it differs from --user
        #[arg(long)]
        auth_user: Option<String>,
        /// Requested registration lifetime in seconds
        #[arg(long, default_value_t = 300)]
        expires: u32,
        /// Unregister and exit after this many seconds
        #[arg(long = "for")]
        duration: Option<u64>,
    },
}

fn password() -> Result<String, String> {
    if let Ok(p) = std::env::var("RINGDESK_SIP_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err("no password: set RINGDESK_SIP_PASSWORD or pipe it on stdin".into());
    }
    Ok(line)
}

fn describe(event: &RegistrationEvent) -> String {
    match event {
        RegistrationEvent::Registered { expires, contact } => {
            format!("registered as {contact} for {expires} s")
        }
        RegistrationEvent::Failed {
            status,
            reason,
            retry_in,
        } => format!(
            "registration failed{}: {reason}{}",
            status.map(|s| format!(" ({s})")).unwrap_or_default(),
            retry_in
                .map(|d| format!("; retrying in {} s", d.as_secs()))
                .unwrap_or_default()
        ),
        RegistrationEvent::Unregistered => "unregistered".to_string(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RINGDESK_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let Cli { command } = Cli::parse();
    match command {
        Command::Register {
            registrar,
            user,
            domain,
            auth_user,
            expires,
            duration,
        } => {
            let password = match password() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let account = SipAccount {
                registrar,
                domain,
                username: user,
                auth_username: auth_user,
                password,
                expires,
            };
            let mut handle = match account.register(rand::random()).await {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let deadline = async {
                match duration {
                    Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(deadline);
            let mut registered = false;
            loop {
                tokio::select! {
                    event = handle.events.recv() => match event {
                        Some(event) => {
                            println!("{}", describe(&event));
                            registered |= matches!(event, RegistrationEvent::Registered { .. });
                        }
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                    _ = &mut deadline => break,
                }
            }
            for event in handle.stop(Duration::from_secs(10)).await {
                println!("{}", describe(&event));
            }
            if registered {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

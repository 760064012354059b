//! A SIP account as a person configures it, and the registration it starts.

use std::io;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::driver::{connect_udp, resolve, run_registration, Command};
use crate::registration::{Registration, RegistrationConfig, RegistrationEvent};
use crate::transaction::Timers;
use crate::uri::{split_host_port, Uri};

#[derive(Clone)]
pub struct SipAccount {
    /// Registrar or outbound proxy, `host[:port]` (default port 5060).
    pub registrar: String,
    /// Domain of the address of record; the registrar's host when empty.
    pub domain: Option<String>,
    pub username: String,
    /// Digest user when it differs from `username`.
    pub auth_username: Option<String>,
    pub password: String,
    pub expires: u32,
}

impl std::fmt::Debug for SipAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipAccount")
            .field("registrar", &self.registrar)
            .field("domain", &self.domain)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("“{0}” is not a host[:port]")]
    Registrar(String),
    #[error("“{0}” is not a valid SIP user")]
    User(String),
    #[error("cannot reach {0}: {1}")]
    Network(String, io::Error),
}

/// A running registration: send commands, read events.
pub struct RegistrationHandle {
    pub commands: mpsc::Sender<Command>,
    pub events: mpsc::Receiver<RegistrationEvent>,
    pub task: JoinHandle<io::Result<()>>,
}

impl RegistrationHandle {
    /// Unregisters and waits (at most `grace`) for the registrar to confirm.
    pub async fn stop(mut self, grace: Duration) -> Vec<RegistrationEvent> {
        let _ = self.commands.send(Command::Stop).await;
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(grace, async {
            while let Some(event) = self.events.recv().await {
                let done = event == RegistrationEvent::Unregistered;
                seen.push(event);
                if done {
                    break;
                }
            }
        })
        .await;
        self.task.abort();
        seen
    }
}

impl SipAccount {
    /// Resolves the registrar, opens a UDP socket towards it and starts registering.
    pub async fn register(&self, seed: u64) -> Result<RegistrationHandle, AccountError> {
        let (host, port) = split_host_port(self.registrar.trim())
            .ok_or_else(|| AccountError::Registrar(self.registrar.clone()))?;
        let port = port.unwrap_or(5060);
        let server = resolve(&host, port)
            .await
            .map_err(|e| AccountError::Network(self.registrar.clone(), e))?;
        let domain = self
            .domain
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| self.registrar.clone());
        let registrar = Uri::parse(&format!("sip:{domain}"))
            .map_err(|_| AccountError::Registrar(domain.clone()))?;
        let aor = Uri::parse(&format!("sip:{}@{domain}", self.username))
            .map_err(|_| AccountError::User(self.username.clone()))?;
        if self.username.is_empty() || self.username.contains(['@', ':', ';', '?', '<', '>']) {
            return Err(AccountError::User(self.username.clone()));
        }
        let socket = connect_udp(server)
            .await
            .map_err(|e| AccountError::Network(self.registrar.clone(), e))?;
        let local = socket
            .local_addr()
            .map_err(|e| AccountError::Network(self.registrar.clone(), e))?;
        let config = RegistrationConfig {
            registrar,
            aor,
            auth_username: self
                .auth_username
                .clone()
                .unwrap_or_else(|| self.username.clone()),
            password: self.password.clone(),
            transport: "UDP".into(),
            local_host: local.ip().to_string(),
            local_port: local.port(),
            expires: self.expires,
            user_agent: concat!("Ringdesk/", env!("CARGO_PKG_VERSION")).into(),
            reliable: false,
            timers: Timers::default(),
        };
        let (commands, command_rx) = mpsc::channel(4);
        let (event_tx, events) = mpsc::channel(16);
        let task = tokio::spawn(run_registration(
            socket,
            Registration::new(config, seed),
            command_rx,
            event_tx,
        ));
        Ok(RegistrationHandle {
            commands,
            events,
            task,
        })
    }
}

//! A SIP account as a person configures it, and the running `Phone` it starts.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::driver::{host_of, run_endpoint, Command, Connector, UaOp};
use crate::endpoint::{Endpoint, EndpointEvent};
use crate::flow::{TlsTrust, Transport};
use crate::locate;
use crate::registration::{Registration, RegistrationConfig};
use crate::transaction::Timers;
use crate::ua::{CallId, UaConfig, UserAgent};
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
    /// Shown to the people we call.
    pub display_name: Option<String>,
    /// None: find it as RFC 3263 says (NAPTR, then SRV, else UDP).
    pub transport: Option<Transport>,
    /// The DNS server to ask; None: the system's.
    pub dns_server: Option<SocketAddr>,
    /// For TLS: certificates to trust besides the public roots.
    pub tls: TlsTrust,
    /// How often to check, while registered, that the registrar still answers (None: never).
    pub keepalive: Option<Duration>,
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

/// A running account: registered, placing and taking calls. Every method is a message to
/// the driver's task, so a `Phone` can be shared by reference across the app.
pub struct Phone {
    commands: mpsc::Sender<Command>,
    /// Unbounded: the driver must never wait on the app to read (the app may be waiting on
    /// the driver to answer a command).
    pub events: mpsc::UnboundedReceiver<EndpointEvent>,
    pub task: JoinHandle<io::Result<()>>,
}

/// The driver's task has ended (stopped, or its socket failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the SIP account is no longer running")]
pub struct PhoneGone;

impl Phone {
    /// Runs `op` on the user agent inside the driver and returns its result.
    pub async fn act<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut UserAgent, Instant) -> T + Send + 'static,
    ) -> Result<T, PhoneGone> {
        let (tx, rx) = oneshot::channel();
        let op: UaOp = Box::new(move |ua, now| {
            let _ = tx.send(op(ua, now));
        });
        self.commands
            .send(Command::Ua(op))
            .await
            .map_err(|_| PhoneGone)?;
        rx.await.map_err(|_| PhoneGone)
    }

    /// The address our SDP should carry: the one the registrar saw us at (our Contact's host),
    /// or loopback when that is a name rather than an address.
    pub async fn media_address(&self) -> Result<std::net::IpAddr, PhoneGone> {
        let host = self.act(|ua, _| ua.contact().host.clone()).await?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(host
            .parse()
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])))
    }

    pub async fn call(&self, target: Uri, sdp: Vec<u8>) -> Result<CallId, PhoneGone> {
        self.act(move |ua, now| ua.call(target, sdp, now)).await
    }

    pub async fn answer(&self, call: CallId, sdp: Vec<u8>) -> Result<bool, PhoneGone> {
        self.act(move |ua, now| ua.answer(call, sdp, now)).await
    }

    pub async fn reject(&self, call: CallId, status: u16) -> Result<bool, PhoneGone> {
        self.act(move |ua, now| ua.reject(call, status, now)).await
    }

    pub async fn hangup(&self, call: CallId) -> Result<bool, PhoneGone> {
        self.act(move |ua, now| ua.hangup(call, now)).await
    }

    /// A new offer in the call (hold: `a=sendonly`; resume: `a=sendrecv`).
    pub async fn reinvite(&self, call: CallId, sdp: Vec<u8>) -> Result<bool, PhoneGone> {
        self.act(move |ua, now| ua.reinvite(call, sdp, now)).await
    }

    pub async fn refer(&self, call: CallId, target: Uri) -> Result<bool, PhoneGone> {
        self.act(move |ua, now| ua.refer(call, &target, now)).await
    }

    pub async fn refer_replacing(&self, call: CallId, other: CallId) -> Result<bool, PhoneGone> {
        self.act(move |ua, now| ua.refer_replacing(call, other, now))
            .await
    }

    pub async fn refresh_registration(&self) -> Result<(), PhoneGone> {
        self.commands
            .send(Command::RefreshNow)
            .await
            .map_err(|_| PhoneGone)
    }

    /// Hangs up, unregisters and waits (at most `grace`) for the server to confirm; returns
    /// the events seen meanwhile.
    pub async fn stop(mut self, grace: Duration) -> Vec<EndpointEvent> {
        let _ = self.commands.send(Command::Stop).await;
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(grace, async {
            while let Some(event) = self.events.recv().await {
                seen.push(event);
            }
        })
        .await;
        self.task.abort();
        seen
    }
}

impl SipAccount {
    /// Resolves the registrar, connects to it over the account's transport (it is also the
    /// outbound proxy for calls) and starts registering — unless `expires` is 0: then calls
    /// go out through it without registering (a peer reached directly, a trunk).
    pub async fn start(&self, seed: u64) -> Result<Phone, AccountError> {
        let (host, port) = split_host_port(self.registrar.trim())
            .ok_or_else(|| AccountError::Registrar(self.registrar.clone()))?;
        let network = |e| AccountError::Network(self.registrar.clone(), e);
        let resolver = locate::resolver(self.dns_server).map_err(network)?;
        let targets = locate::locate(&resolver, &host, port, self.transport)
            .await
            .map_err(network)?;
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
        // The first server that takes a connection (UDP always does: its timers judge it).
        let mut last_error = None;
        let mut opened = None;
        for target in targets {
            let connector = Connector {
                transport: target.transport,
                server: target.addr,
                host: host.clone(),
                trust: self.tls.clone(),
            };
            match connector.connect().await {
                Ok(flow) => {
                    opened = Some((connector, flow));
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some((connector, flow)) = opened else {
            return Err(network(last_error.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "no SIP server found")
            })));
        };
        let local = flow.local_addr();
        let (transport, reliable) = (connector.transport.token(), connector.transport.reliable());
        let auth_username = self
            .auth_username
            .clone()
            .unwrap_or_else(|| self.username.clone());
        let user_agent = concat!("Ringdesk/", env!("CARGO_PKG_VERSION")).to_string();
        let registration = RegistrationConfig {
            registrar,
            aor: aor.clone(),
            auth_username: auth_username.clone(),
            password: self.password.clone(),
            transport: transport.into(),
            local_host: host_of(local.ip()),
            local_port: local.port(),
            expires: self.expires,
            user_agent: user_agent.clone(),
            reliable,
            timers: Timers::default(),
        };
        let ua = UaConfig {
            aor,
            display_name: self.display_name.clone(),
            auth_username,
            password: self.password.clone(),
            transport: transport.into(),
            local_host: host_of(local.ip()),
            local_port: local.port(),
            reliable,
            user_agent,
            timers: Timers::default(),
        };
        let registration = (self.expires > 0).then(|| {
            let mut registration = Registration::new(registration, seed);
            if let Some(every) = self.keepalive {
                registration.set_keepalive(every);
            }
            registration
        });
        let endpoint = Endpoint::new(registration, UserAgent::new(ua, seed.wrapping_add(1)));
        let (commands, command_rx) = mpsc::channel(16);
        let (event_tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_endpoint(
            connector, flow, endpoint, command_rx, event_tx,
        ));
        Ok(Phone {
            commands,
            events,
            task,
        })
    }
}

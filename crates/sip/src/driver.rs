//! The tokio side: a flow (UDP, TCP or TLS) and a timer around the sans-IO `Endpoint`
//! (registration and user agent).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use crate::endpoint::{Endpoint, EndpointEvent};
use crate::flow::{Flow, Received, TlsTrust, Transport};
use crate::registration::RegistrationEvent;
use crate::ua::UserAgent;

/// Work for the user agent, run on the driver's task with the current instant.
pub type UaOp = Box<dyn FnOnce(&mut UserAgent, Instant) + Send>;

pub enum Command {
    /// Hang up, unregister, then end the task.
    Stop,
    /// Register again now (network change, registrar restart).
    RefreshNow,
    Ua(UaOp),
}

/// A UDP socket connected to `server`: the kernel picks the local address that routes there
/// (what Via and Contact must carry) and drops datagrams from anyone else.
pub async fn connect_udp(server: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse()
    } else {
        "[::]:0".parse()
    }
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(server).await?;
    Ok(socket)
}

/// Runs `endpoint` over `flow` until `Command::Stop` has hung up and unregistered, reporting
/// every event on `events`. A stream that breaks is reconnected (with back-off) through
/// `connector`, and the endpoint registers from its new address.
pub async fn run_endpoint(
    connector: Connector,
    flow: Flow,
    mut endpoint: Endpoint,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<EndpointEvent>,
) -> io::Result<()> {
    let mut flow = Some(flow);
    // A new flow being opened — after the stream broke, or because the registrar went quiet —
    // runs beside the loop, so timers and commands go on meanwhile (a TLS handshake to a
    // silent server takes up to `CONNECT_TIMEOUT`).
    let mut connecting: Option<Connecting> = None;
    let mut reconnect_at: Option<tokio::time::Instant> = None;
    let mut backoff = FIRST_RECONNECT;
    let mut stopping: Option<Instant> = None;
    let mut unregistered = false;
    endpoint.start(Instant::now());
    loop {
        while let Some(bytes) = endpoint.poll_transmit() {
            trace!(line = %first_line(&bytes), "sent");
            let Some(f) = flow.as_mut() else {
                // Reconnecting: what the transactions still need is sent again after rebind.
                continue;
            };
            if let Err(e) = f.send(&bytes).await {
                // ICMP unreachable and friends: the transactions' timers decide what it means.
                warn!(error = %e, "could not send to the SIP server");
            }
        }
        while let Some(event) = endpoint.poll_event() {
            unregistered |= event == EndpointEvent::Registration(RegistrationEvent::Unregistered);
            let _ = events.send(event);
        }
        // Quitting ends once the binding is gone and every call has been hung up (the BYE or
        // CANCEL answered), or when the grace period runs out below.
        // (Without a registration there is no binding to wait for.)
        let binding_gone =
            unregistered || (stopping.is_some() && endpoint.registration().is_none());
        if binding_gone && endpoint.ua().live_calls().is_empty() {
            return Ok(());
        }
        let mut deadline = endpoint.poll_timeout();
        if let Some(since) = stopping {
            // Without a registration, or if the registrar never answers, stop anyway.
            let give_up = since + STOP_GRACE;
            if Instant::now() >= give_up || deadline.is_none() || flow.is_none() {
                return Ok(());
            }
            deadline = Some(deadline.map_or(give_up, |d| d.min(give_up)));
        }
        let deadline = deadline.map(tokio::time::Instant::from_std);
        tokio::select! {
            received = recv(&mut flow) => match received {
                Ok(Received::Datagram(bytes)) => {
                    trace!(line = %first_line(&bytes), "received");
                    endpoint.handle_bytes(&bytes, Instant::now());
                }
                Ok(Received::Message(message)) => {
                    trace!(line = %first_line(&message.to_bytes()), "received");
                    endpoint.handle_message(message, Instant::now());
                }
                Err(e) if flow.as_ref().is_some_and(Flow::is_stream) => {
                    warn!(error = %e, "the SIP connection broke");
                    flow = None;
                    backoff = FIRST_RECONNECT;
                    reconnect_at = Some(tokio::time::Instant::now() + backoff);
                    if let Some(r) = endpoint.registration() {
                        r.connection_lost(&format!("the connection to the server broke ({e})"), backoff);
                    }
                }
                Err(e) => debug!(error = %e, "receive failed"),
            },
            _ = sleep_until(reconnect_at), if flow.is_none() && connecting.is_none() => {
                reconnect_at = None;
                connecting = Some(connector.open());
            }
            opened = finish(&mut connecting) => {
                connecting = None;
                match opened {
                    Ok(f) => {
                        let local = f.local_addr();
                        debug!(%local, "opened a new flow to the SIP server");
                        endpoint.rebind(&host_of(local.ip()), local.port(), Instant::now());
                        flow = Some(f);
                        reconnect_at = None;
                    }
                    Err(e) if flow.is_none() => {
                        backoff = (backoff * 2).min(MAX_RECONNECT);
                        reconnect_at = Some(tokio::time::Instant::now() + backoff);
                        if let Some(r) = endpoint.registration() {
                            r.connection_lost(&format!("cannot reach the server ({e})"), backoff);
                        }
                    }
                    // The old flow stays until a new one opens.
                    Err(e) => debug!(error = %e, "could not open a new flow yet"),
                }
            }
            _ = sleep_until(deadline) => {
                endpoint.handle_timeout(Instant::now());
                let suspect = endpoint.registration().is_some_and(|r| r.take_flow_suspect());
                if suspect && flow.is_some() && connecting.is_none() {
                    // The registrar went quiet: after a network change the old socket's address
                    // is no longer ours, so open a new flow and register from where we are now.
                    connecting = Some(connector.open());
                }
            }
            command = commands.recv(), if stopping.is_none() => match command {
                Some(Command::RefreshNow) => {
                    if let Some(r) = endpoint.registration() {
                        r.refresh_now(Instant::now());
                    }
                }
                Some(Command::Ua(op)) => op(endpoint.ua(), Instant::now()),
                Some(Command::Stop) | None => {
                    stopping = Some(Instant::now());
                    endpoint.stop(Instant::now());
                }
            },
        }
    }
}

const FIRST_RECONNECT: Duration = Duration::from_secs(1);
const MAX_RECONNECT: Duration = Duration::from_secs(60);

/// How to open the flow again after a stream broke.
#[derive(Clone)]
pub struct Connector {
    pub transport: Transport,
    pub server: SocketAddr,
    pub host: String,
    pub trust: TlsTrust,
}

/// A server that accepts TCP but never finishes TLS must not hold us forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Connector {
    pub async fn connect(&self) -> io::Result<Flow> {
        let connecting = Flow::connect(self.transport, self.server, &self.host, &self.trust);
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
                ))
            })
    }
}

/// A host for Via and Contact: IPv6 addresses in brackets (RFC 3261 §25.1).
pub fn host_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A flow being opened, on its own: see `run_endpoint`.
type Connecting = Pin<Box<dyn Future<Output = io::Result<Flow>> + Send>>;

impl Connector {
    fn open(&self) -> Connecting {
        let connector = self.clone();
        Box::pin(async move { connector.connect().await })
    }
}

async fn finish(connecting: &mut Option<Connecting>) -> io::Result<Flow> {
    match connecting {
        Some(c) => c.await,
        None => std::future::pending().await,
    }
}

async fn recv(flow: &mut Option<Flow>) -> io::Result<Received> {
    match flow {
        Some(f) => f.recv().await,
        None => std::future::pending().await,
    }
}

/// How long quitting waits for BYEs and the unregistration to be answered.
const STOP_GRACE: Duration = Duration::from_secs(8);

/// The start line only: headers may carry credentials (Authorization) and personal data.
fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end.min(200)).unwrap_or_default()).into_owned()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

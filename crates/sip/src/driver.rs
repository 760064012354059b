//! The tokio side: a UDP socket and a timer around the sans-IO `Registration`.
//! (TCP/TLS transports, DNS SRV/NAPTR and calls come next; see ARCHITECTURE.md.)

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::message::{Limits, Message};
use crate::registration::{Registration, RegistrationEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Unregister, then end the task.
    Stop,
    /// Register again now (network change, registrar restart).
    RefreshNow,
}

/// Resolves `host:port` to an address (A/AAAA).
pub async fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")))
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

/// Runs `registration` over `socket` until `Command::Stop` has unregistered it, reporting
/// every event on `events`.
pub async fn run_registration(
    socket: UdpSocket,
    mut registration: Registration,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<RegistrationEvent>,
) -> io::Result<()> {
    let limits = Limits::default();
    let mut buf = vec![0u8; limits.max_message + 1];
    let mut stopping = false;
    registration.start(Instant::now());
    loop {
        while let Some(bytes) = registration.poll_transmit() {
            if let Err(e) = socket.send(&bytes).await {
                // ICMP unreachable and friends: the transaction's timers decide what it means.
                warn!(error = %e, "could not send to the registrar");
            }
        }
        while let Some(event) = registration.poll_event() {
            let done = event == RegistrationEvent::Unregistered;
            let _ = events.send(event).await;
            if done {
                return Ok(());
            }
        }
        let deadline = registration
            .poll_timeout()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            received = socket.recv(&mut buf) => match received {
                Ok(n) => match Message::parse_datagram(&buf[..n], &limits) {
                    Ok(message) => {
                        if !registration.handle_message(message, Instant::now()) {
                            debug!("ignored a message that is not for the registration");
                        }
                    }
                    Err(e) => debug!(error = %e, "dropped a malformed datagram"),
                },
                Err(e) => warn!(error = %e, "receive failed"),
            },
            _ = sleep_until(deadline) => registration.handle_timeout(Instant::now()),
            command = commands.recv(), if !stopping => match command {
                Some(Command::RefreshNow) => registration.refresh_now(Instant::now()),
                Some(Command::Stop) | None => {
                    stopping = true;
                    registration.stop(Instant::now());
                }
            },
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

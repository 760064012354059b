//! `ringdesk-cli`: Ringdesk's SIP core from a terminal, for scripting and interop testing.
//! Each command registers, does its one thing, then hangs up and unregisters (Ctrl+C too).

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringdesk_sip::account::{Phone, SipAccount};
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::flow::Transport;
use ringdesk_sip::registration::RegistrationEvent;
use ringdesk_sip::sdp::{self, Direction};
use ringdesk_sip::ua::{CallEvent, CallId, EndReason};
use ringdesk_sip::Uri;

#[derive(Parser)]
#[command(name = "ringdesk-cli", version, about = "Ringdesk from a terminal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The password is read from RINGDESK_SIP_PASSWORD, else from the first line of stdin —
/// never from the command line, where other users could see it.
#[derive(Args)]
struct AccountArgs {
    /// Registrar and outbound proxy: host[:port]
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
    /// Signalling transport: auto (DNS NAPTR/SRV, else UDP), udp, tcp or tls (TLS checks the
    /// certificate against public roots)
    #[arg(long, default_value = "auto", value_parser = ["auto", "udp", "tcp", "tls"])]
    transport: String,
}

#[derive(Subcommand)]
enum Command {
    /// Register, stay registered, unregister on Ctrl+C (or after --for seconds).
    Register {
        #[command(flatten)]
        account: AccountArgs,
        /// Unregister and exit after this many seconds
        #[arg(long = "for")]
        duration: Option<u64>,
    },
    /// Register and call someone; hang up on Ctrl+C or after --hangup-after seconds.
    Call {
        #[command(flatten)]
        account: AccountArgs,
        /// Who to call: a SIP URI, or a user or number at your domain
        #[arg(long)]
        to: String,
        /// Hang up this many seconds after the call is answered
        #[arg(long)]
        hangup_after: Option<u64>,
    },
    /// Register and wait for a call: answer it (or decline it), until either side hangs up.
    Answer {
        #[command(flatten)]
        account: AccountArgs,
        /// Decline with 603 instead of answering
        #[arg(long)]
        decline: bool,
        /// Hang up this many seconds after answering
        #[arg(long)]
        hangup_after: Option<u64>,
        /// Give up when no call arrives within this many seconds
        #[arg(long, default_value_t = 120)]
        wait: u64,
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

fn describe_registration(event: &RegistrationEvent) -> String {
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

fn describe_end(reason: &EndReason) -> String {
    match reason {
        EndReason::Local => "you hung up".into(),
        EndReason::Remote => "the other side hung up".into(),
        EndReason::Cancelled => "the caller gave up".into(),
        EndReason::Busy => "busy".into(),
        EndReason::Declined => "declined".into(),
        EndReason::Failed { status, reason } => format!("failed ({status} {reason})"),
        EndReason::Timeout => "no answer from the network".into(),
        EndReason::Replaced => "replaced by a transferred call".into(),
    }
}

/// One line per event a person cares about; None for the rest.
fn describe(event: &EndpointEvent) -> Option<String> {
    match event {
        EndpointEvent::Registration(r) => Some(describe_registration(r)),
        EndpointEvent::Call(c) => match c {
            CallEvent::Incoming { from, .. } => Some(format!("incoming call from {from}")),
            CallEvent::Ringing { .. } => Some("ringing".into()),
            CallEvent::Established { .. } => Some("established".into()),
            CallEvent::Ended { reason, .. } => Some(format!("ended: {}", describe_end(reason))),
            CallEvent::TransferRequested { target, .. } => Some(format!(
                "asked to transfer to {target} (not supported here)"
            )),
            _ => None,
        },
    }
}

/// What a session is waiting for next.
enum Step {
    Registering,
    Waiting,
    InCall(CallId),
}

struct Session {
    phone: Phone,
    /// Where our (unused) RTP port is: a real socket, so peers' media has somewhere to go.
    rtp: tokio::net::UdpSocket,
    registered: bool,
    established: bool,
}

impl Session {
    async fn start(args: AccountArgs) -> Result<Session, String> {
        let password = password()?;
        let account = SipAccount {
            registrar: args.registrar,
            domain: args.domain,
            username: args.user,
            auth_username: args.auth_user,
            password,
            expires: args.expires,
            display_name: None,
            transport: match args.transport.as_str() {
                "udp" => Some(Transport::Udp),
                "tcp" => Some(Transport::Tcp),
                "tls" => Some(Transport::Tls),
                _ => None,
            },
            dns_server: None,
            tls: Default::default(),
            keepalive: Some(Duration::from_secs(60)),
        };
        let phone = account
            .start(rand::random())
            .await
            .map_err(|e| e.to_string())?;
        let rtp = tokio::net::UdpSocket::bind("0.0.0.0:0")
            .await
            .map_err(|e| format!("cannot open an RTP port: {e}"))?;
        Ok(Session {
            phone,
            rtp,
            registered: false,
            established: false,
        })
    }

    /// Our SDP at the address the registrar saw us on.
    fn offer(&self, contact_host: &str) -> Vec<u8> {
        let host = contact_host.trim_start_matches('[').trim_end_matches(']');
        let address = host.parse().unwrap_or([127, 0, 0, 1].into());
        let port = self.rtp.local_addr().map(|a| a.port()).unwrap_or(9);
        sdp::audio(address, port, 1, Direction::SendRecv)
    }

    async fn next(&mut self) -> Option<EndpointEvent> {
        let mut buf = [0u8; 2048];
        loop {
            tokio::select! {
                event = self.phone.events.recv() => {
                    if let Some(e) = &event {
                        if let Some(line) = describe(e) {
                            println!("{line}");
                        }
                        self.registered |= matches!(e, EndpointEvent::Registration(RegistrationEvent::Registered { .. }));
                        self.established |= matches!(e, EndpointEvent::Call(CallEvent::Established { .. }));
                    }
                    return event;
                }
                // Media is the media crate's job; until then received RTP is dropped.
                _ = self.rtp.recv(&mut buf) => {}
            }
        }
    }

    async fn stop(self) {
        for event in self.phone.stop(Duration::from_secs(10)).await {
            if let Some(line) = describe(&event) {
                println!("{line}");
            }
        }
    }
}

fn sleep_or_forever(secs: Option<u64>) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_secs(secs.unwrap_or(u64::MAX / 4)))
}

/// Places or takes one call; true when it was established.
async fn run_call(
    args: AccountArgs,
    to: Option<String>,
    decline: bool,
    hangup_after: Option<u64>,
    wait: u64,
) -> Result<bool, String> {
    let domain = args
        .domain
        .clone()
        .unwrap_or_else(|| args.registrar.clone());
    let target = match &to {
        Some(t) if t.starts_with("sip:") || t.starts_with("sips:") => {
            Some(Uri::parse(t).map_err(|e| format!("“{t}” is not a SIP address: {e}"))?)
        }
        Some(t) => Some(
            Uri::parse(&format!("sip:{t}@{domain}"))
                .map_err(|e| format!("“{t}” is not a user or number: {e}"))?,
        ),
        None => None,
    };
    let mut session = Session::start(args).await?;
    let mut step = Step::Registering;
    let hangup = sleep_or_forever(None);
    tokio::pin!(hangup);
    let give_up = tokio::time::sleep(Duration::from_secs(wait));
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            event = session.next() => {
                let Some(event) = event else { break };
                match (&step, event) {
                    (Step::Registering, EndpointEvent::Registration(RegistrationEvent::Registered { contact, .. })) => {
                        let host = Uri::parse(&contact).map(|u| u.host).unwrap_or_default();
                        match &target {
                            Some(t) => {
                                let offer = session.offer(&host);
                                let call = session.phone.call(t.clone(), offer).await.map_err(|e| e.to_string())?;
                                step = Step::InCall(call);
                            }
                            None => step = Step::Waiting,
                        }
                    }
                    (Step::Registering, EndpointEvent::Registration(RegistrationEvent::Failed { .. })) => break,
                    (Step::Waiting, EndpointEvent::Call(CallEvent::Incoming { call, .. })) => {
                        if decline {
                            session.phone.reject(call, 603).await.map_err(|e| e.to_string())?;
                        } else {
                            let contact = session.phone.act(|ua, _| ua.contact().host.clone()).await.map_err(|e| e.to_string())?;
                            let answer = session.offer(&contact);
                            session.phone.answer(call, answer).await.map_err(|e| e.to_string())?;
                        }
                        step = Step::InCall(call);
                    }
                    (Step::InCall(_), EndpointEvent::Call(CallEvent::Established { .. })) => {
                        hangup.as_mut().set(sleep_or_forever(hangup_after));
                    }
                    (Step::InCall(c), EndpointEvent::Call(CallEvent::Ended { call, .. })) if *c == call => break,
                    _ => {}
                }
            }
            _ = &mut hangup => {
                // Once: a finished timer would fire on every turn of the loop.
                hangup.as_mut().set(sleep_or_forever(None));
                if let Step::InCall(call) = step {
                    let _ = session.phone.hangup(call).await;
                }
            }
            _ = &mut give_up, if matches!(step, Step::Registering | Step::Waiting) => {
                println!("no call within {wait} s");
                break;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let established = session.established;
    session.stop().await;
    Ok(established || (decline && matches!(step, Step::InCall(_))))
}

async fn run_register(args: AccountArgs, duration: Option<u64>) -> Result<bool, String> {
    let mut session = Session::start(args).await?;
    let deadline = sleep_or_forever(duration);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = session.next() => if event.is_none() { break },
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut deadline => break,
        }
    }
    let registered = session.registered;
    session.stop().await;
    Ok(registered)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RINGDESK_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let Cli { command } = Cli::parse();
    let outcome = match command {
        Command::Register { account, duration } => run_register(account, duration).await,
        Command::Call {
            account,
            to,
            hangup_after,
        } => run_call(account, Some(to), false, hangup_after, u64::MAX / 4).await,
        Command::Answer {
            account,
            decline,
            hangup_after,
            wait,
        } => run_call(account, None, decline, hangup_after, wait).await,
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

//! `ringdesk-cli`: Ringdesk's SIP and media core from a terminal, for scripting and interop
//! testing. Each command registers, does its one thing, then hangs up and unregisters (Ctrl+C
//! too).

use std::io::BufRead;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringdesk_media::audio::{AudioSink, AudioSource, NullSink, WavSink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::device::{self, DeviceSink, DeviceSource};
use ringdesk_media::sdp::Direction;
use ringdesk_media::session::MediaEvent;
use ringdesk_sip::account::{Phone, SipAccount};
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::flow::{TlsTrust, Transport};
use ringdesk_sip::registration::RegistrationEvent;
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
    /// Do not register: call through --registrar as an outbound proxy, or a peer directly
    #[arg(long)]
    no_register: bool,
    /// Signalling transport: auto (DNS NAPTR/SRV, else UDP), udp, tcp or tls (TLS checks the
    /// certificate against public roots)
    #[arg(long, default_value = "auto", value_parser = ["auto", "udp", "tcp", "tls"])]
    transport: String,
    /// Also trust the CA certificate(s) in this PEM file for TLS (a PBX with its own CA)
    #[arg(long)]
    ca: Option<PathBuf>,
}

/// Where the call's audio comes from and goes to.
#[derive(Args, Clone)]
struct MediaArgs {
    /// Play this WAV file (16-bit PCM, any rate) to the other side instead of the microphone
    #[arg(long)]
    play: Option<PathBuf>,
    /// Record what the other side says, as played after the jitter buffer, to this WAV file
    /// instead of the speaker
    #[arg(long)]
    record: Option<PathBuf>,
    /// Microphone to use (see `ringdesk-cli devices`); the default input otherwise
    #[arg(long)]
    mic: Option<String>,
    /// Speaker or headset to use; the default output otherwise
    #[arg(long)]
    speaker: Option<String>,
    /// Sample rate of the --record file (16000 for wideband codecs)
    #[arg(long, default_value_t = 8000)]
    record_rate: u32,
    /// Codecs to offer or accept, in order of preference
    #[arg(long, default_value = "opus,g722,pcmu,pcma", value_delimiter = ',')]
    codecs: Vec<String>,
    /// Send these DTMF keys (0-9 * # A-D) once the call is up
    #[arg(long)]
    dtmf: Option<String>,
}

impl MediaArgs {
    fn codecs(&self) -> Result<Vec<Codec>, String> {
        self.codecs
            .iter()
            .map(|c| {
                Codec::from_name(c)
                    .ok_or_else(|| format!("unknown codec “{c}” (opus, g722, pcmu, pcma)"))
            })
            .collect()
    }

    /// Opens the audio and the RTP ports for one call on `address`; `encrypted` (signalling
    /// over TLS) offers and requires SRTP.
    async fn open(&self, address: IpAddr, encrypted: bool) -> Result<CallMedia, String> {
        let source: Box<dyn AudioSource> = match &self.play {
            Some(path) => {
                Box::new(WavSource::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            None => match DeviceSource::open(self.mic.as_deref()) {
                Ok(mic) => Box::new(mic),
                Err(e) => {
                    println!("no microphone ({e}): sending silence");
                    Box::new(WavSource::from_samples(8000, Vec::new()))
                }
            },
        };
        let sink: Box<dyn AudioSink> = match &self.record {
            Some(path) => Box::new(
                WavSink::create(path, self.record_rate)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            ),
            None => match DeviceSink::open(self.speaker.as_deref()) {
                Ok(speaker) => Box::new(speaker),
                Err(e) => {
                    println!("no speaker ({e}): the call is not heard");
                    Box::new(NullSink(8000))
                }
            },
        };
        CallMedia::new(address, self.codecs()?, encrypted, source, sink)
            .await
            .map_err(|e| e.to_string())
    }
}

#[derive(Subcommand)]
enum Command {
    /// List the microphones and speakers (the defaults marked with *).
    Devices,
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
        #[command(flatten)]
        media: MediaArgs,
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
        #[command(flatten)]
        media: MediaArgs,
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
    /// Signalling is TLS, so media is SRTP (its keys travel in the SDP).
    encrypted: bool,
    media: Option<CallMedia>,
    registered: bool,
    established: bool,
}

impl Session {
    async fn start(args: AccountArgs) -> Result<Session, String> {
        let tls = match &args.ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                TlsTrust::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => TlsTrust::default(),
        };
        let password = password()?;
        let encrypted = args.transport == "tls";
        let account = SipAccount {
            registrar: args.registrar,
            domain: args.domain,
            username: args.user,
            auth_username: args.auth_user,
            password,
            expires: if args.no_register { 0 } else { args.expires },
            display_name: None,
            transport: match args.transport.as_str() {
                "udp" => Some(Transport::Udp),
                "tcp" => Some(Transport::Tcp),
                "tls" => Some(Transport::Tls),
                _ => None,
            },
            dns_server: None,
            tls,
            keepalive: Some(Duration::from_secs(60)),
        };
        let phone = account
            .start(rand::random())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Session {
            phone,
            encrypted,
            media: None,
            registered: false,
            established: false,
        })
    }

    /// The media of the call, on the address the registrar saw us at.
    async fn open_media(&mut self, args: &MediaArgs) -> Result<&mut CallMedia, String> {
        let address = self
            .phone
            .media_address()
            .await
            .map_err(|e| e.to_string())?;
        Ok(self.media.insert(args.open(address, self.encrypted).await?))
    }

    async fn next(&mut self) -> Option<EndpointEvent> {
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
                Some(e) = async { self.media.as_mut()?.events()?.recv().await } => {
                    match e {
                        MediaEvent::Dtmf(d) => println!("dtmf {d}"),
                        MediaEvent::Quality(q) if q.is_poor() => println!(
                            "poor audio: loss {:.1} %, jitter {} ms, MOS {:.1}",
                            q.loss_percent, q.jitter.as_millis(), q.mos
                        ),
                        _ => {}
                    }
                }
            }
        }
    }

    async fn stop(self) {
        if let Some(report) = match self.media {
            Some(m) => m.stop().await,
            None => None,
        } {
            let q = report.quality;
            let j = report.stats.jitter;
            println!(
                "audio: {} packets sent, {} received, loss {:.1} %, jitter {} ms, MOS {:.1}; \
                 buffer {} ms, {} late, {} concealed, {} stretched, {} dropped",
                report.stats.sent_packets,
                report.stats.received_packets,
                q.loss_percent,
                q.jitter.as_millis(),
                q.mos,
                q.buffer_delay.as_millis(),
                j.late,
                j.concealed,
                j.stretched,
                j.dropped
            );
        }
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

/// Registered (or not registering): place the call, or wait for one.
async fn begin(
    session: &mut Session,
    target: Option<&Uri>,
    media: &MediaArgs,
) -> Result<Step, String> {
    let Some(target) = target else {
        return Ok(Step::Waiting);
    };
    let offer = session.open_media(media).await?.offer(Direction::SendRecv);
    let call = session
        .phone
        .call(target.clone(), offer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Step::InCall(call))
}

/// What `run_call` does.
struct CallPlan {
    to: Option<String>,
    decline: bool,
    hangup_after: Option<u64>,
    wait: u64,
    media: MediaArgs,
}

/// Places or takes one call; true when it was established.
async fn run_call(args: AccountArgs, plan: CallPlan) -> Result<bool, String> {
    let CallPlan {
        to,
        decline,
        hangup_after,
        wait,
        media,
    } = plan;
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
    media.codecs()?;
    let registers = !args.no_register;
    let mut session = Session::start(args).await?;
    let mut step = Step::Registering;
    if !registers {
        step = begin(&mut session, target.as_ref(), &media).await?;
    }
    let hangup = sleep_or_forever(None);
    tokio::pin!(hangup);
    let give_up = tokio::time::sleep(Duration::from_secs(wait));
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            event = session.next() => {
                let Some(event) = event else { break };
                match (&step, event) {
                    (Step::Registering, EndpointEvent::Registration(RegistrationEvent::Registered { .. })) => {
                        step = begin(&mut session, target.as_ref(), &media).await?;
                    }
                    (Step::Registering, EndpointEvent::Registration(RegistrationEvent::Failed { .. })) => break,
                    (Step::Waiting, EndpointEvent::Call(CallEvent::Incoming { call, sdp, .. })) => {
                        if decline {
                            session.phone.reject(call, 603).await.map_err(|e| e.to_string())?;
                        } else {
                            let m = session.open_media(&media).await?;
                            // An INVITE without an offer gets ours; the answer comes in the ACK.
                            let answer = if sdp.is_empty() { Ok(m.offer(Direction::SendRecv)) } else { m.answer(&sdp) };
                            match answer {
                                Ok(answer) => {
                                    session.phone.answer(call, answer).await.map_err(|e| e.to_string())?;
                                }
                                Err(e) => {
                                    println!("cannot take the call's media: {e}");
                                    session.phone.reject(call, 488).await.map_err(|e| e.to_string())?;
                                }
                            }
                        }
                        step = Step::InCall(call);
                    }
                    (Step::InCall(c), EndpointEvent::Call(CallEvent::Ringing { call, sdp: Some(sdp) })) if *c == call => {
                        if let Some(m) = session.media.as_mut() {
                            if let Err(e) = m.answered(&sdp) {
                                println!("early media refused: {e}");
                            }
                        }
                    }
                    (Step::InCall(c), EndpointEvent::Call(CallEvent::Established { call, sdp })) if *c == call => {
                        if let (Some(m), false) = (session.media.as_mut(), sdp.is_empty()) {
                            if let Err(e) = m.answered(&sdp) {
                                println!("cannot use their answer: {e}");
                                let _ = session.phone.hangup(call).await;
                            }
                        }
                        if let (Some(digits), Some(m)) = (&media.dtmf, session.media.as_mut()) {
                            if !m.press(digits).await {
                                println!("cannot send DTMF “{digits}”");
                            }
                        }
                        hangup.as_mut().set(sleep_or_forever(hangup_after));
                    }
                    (Step::InCall(c), EndpointEvent::Call(CallEvent::Reoffer { call, sdp })) if *c == call => {
                        // Every re-INVITE gets a final answer: ours, or 488 and the old media.
                        let answer = match session.media.as_mut() {
                            Some(m) => m.reoffer(&sdp).map_err(|e| e.to_string()),
                            None => Err("no media for this call".to_string()),
                        };
                        match answer {
                            Ok(answer) => {
                                let _ = session.phone.act(move |ua, now| ua.answer_reoffer(call, answer, now)).await;
                            }
                            Err(why) => {
                                println!("refused their new offer ({why}); the call keeps its audio");
                                let _ = session.phone.act(move |ua, now| ua.reject_reoffer(call, 488, &why, now)).await;
                            }
                        }
                    }
                    (Step::InCall(c), EndpointEvent::Call(CallEvent::ReofferAck { call, sdp })) if *c == call => {
                        if let Some(m) = session.media.as_mut() {
                            if let Err(e) = m.answered(&sdp) {
                                println!("cannot use their answer: {e}");
                            }
                        }
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
        Command::Devices => {
            let list = device::devices();
            let mark = |name: &String, default: &Option<String>| {
                if Some(name) == default.as_ref() {
                    "*"
                } else {
                    " "
                }
            };
            println!("microphones:");
            for name in &list.inputs {
                println!(" {} {name}", mark(name, &list.default_input));
            }
            println!("speakers:");
            for name in &list.outputs {
                println!(" {} {name}", mark(name, &list.default_output));
            }
            Ok(true)
        }
        Command::Register { account, duration } => run_register(account, duration).await,
        Command::Call {
            account,
            to,
            hangup_after,
            media,
        } => {
            let plan = CallPlan {
                to: Some(to),
                decline: false,
                hangup_after,
                wait: u64::MAX / 4,
                media,
            };
            run_call(account, plan).await
        }
        Command::Answer {
            account,
            decline,
            hangup_after,
            wait,
            media,
        } => {
            let plan = CallPlan {
                to: None,
                decline,
                hangup_after,
                wait,
                media,
            };
            run_call(account, plan).await
        }
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

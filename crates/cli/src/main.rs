//! `ringdesk-cli`: Ringdesk's SIP and media core from a terminal, for scripting and interop
//! testing. Each command registers, does its one thing, then hangs up and unregisters (Ctrl+C
//! too). Its calls follow the same call controller as the app's (crates/phone): a transfer
//! asked of it is followed, a caller passed on to it replaces the consultation call, and
//! `--transfer-to` passes its own call on, blind or attended.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringdesk_media::audio::{AudioSink, AudioSource, NullSink, WavSink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::device::{self, DeviceSink, DeviceSource};
use ringdesk_phone::TransferKind;

mod session;
mod team;

use session::{CallPlan, TransferPlan};

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
    /// Record both sides of the call, as the app does, to this stereo Ogg Opus file (this side
    /// left, the other right), written as the call goes
    #[arg(long)]
    record_call: Option<PathBuf>,
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
    /// `nth` counts this run's calls from 1: the first records to --record, later ones (a
    /// transfer brings a second call) beside it as `<name>-<nth>.wav`.
    async fn open(
        &self,
        address: IpAddr,
        encrypted: bool,
        nth: usize,
    ) -> Result<CallMedia, String> {
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
            Some(path) => {
                let path = numbered(path, nth);
                Box::new(
                    WavSink::create(&path, self.record_rate)
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                )
            }
            None => match DeviceSink::open(self.speaker.as_deref()) {
                Ok(speaker) => Box::new(speaker),
                Err(e) => {
                    println!("no speaker ({e}): the call is not heard");
                    Box::new(NullSink(8000))
                }
            },
        };
        let mut media = CallMedia::new(address, self.codecs()?, encrypted, source, sink)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(path) = &self.record_call {
            media.record(Some(numbered(path, nth)));
        }
        Ok(media)
    }
}

/// The recording of a run's `nth` call.
fn numbered(path: &Path, nth: usize) -> PathBuf {
    if nth <= 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{nth}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{nth}"),
    };
    path.with_file_name(name)
}

/// Passing the call on, once it is up.
#[derive(Args, Clone)]
struct TransferArgs {
    /// Transfer the call to this SIP URI, user or number once it is up
    #[arg(long)]
    transfer_to: Option<String>,
    /// blind (REFER at once) or attended (call the target first, then hand the call over)
    #[arg(long, default_value = "blind", value_parser = ["blind", "attended"])]
    transfer_kind: String,
    /// Seconds after the call is up before transferring
    #[arg(long, default_value_t = 2)]
    transfer_after: u64,
    /// Attended: seconds of talk with the target before handing the call over
    #[arg(long, default_value_t = 2)]
    complete_after: u64,
}

impl TransferArgs {
    fn plan(&self) -> Option<TransferPlan> {
        Some(TransferPlan {
            to: self.transfer_to.clone()?,
            kind: TransferKind::from_code(&self.transfer_kind)?,
            after: Duration::from_secs(self.transfer_after),
            complete_after: Duration::from_secs(self.complete_after),
        })
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
        #[command(flatten)]
        transfer: TransferArgs,
    },
    /// Register and wait for a call: answer it (or decline it), until every call is over (a
    /// transfer asked of us, or a caller passed on to us, is followed).
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
        #[command(flatten)]
        transfer: TransferArgs,
    },
    /// Join a team server with an invite and be one of its agents: register the softphone
    /// login it made for you, tell it how you are (type `dnd` or `available` and Enter), and
    /// answer every call it sends, until Ctrl+C.
    Team {
        /// The invite link an admin gave (ringdesk://join?server=…&code=…)
        #[arg(long, env = "RINGDESK_TEAM_INVITE")]
        invite: String,
        /// How this device is named in the team
        #[arg(long, default_value = "ringdesk-cli")]
        device_name: String,
        /// Hang up this many seconds after answering
        #[arg(long)]
        hangup_after: Option<u64>,
        /// Let each call ring this many seconds before answering it
        #[arg(long)]
        answer_after: Option<u64>,
        #[command(flatten)]
        media: MediaArgs,
    },
}

fn password() -> Result<String, String> {
    if let Ok(p) = std::env::var("RINGDESK_SIP_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err("no password: set RINGDESK_SIP_PASSWORD or pipe it on stdin".into());
    }
    Ok(line)
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
        Command::Register { account, duration } => session::register(account, duration).await,
        Command::Call {
            account,
            to,
            hangup_after,
            media,
            transfer,
        } => {
            let plan = CallPlan {
                to: Some(to),
                decline: false,
                answer_after: None,
                hangup_after: hangup_after.map(Duration::from_secs),
                wait: None,
                transfer: transfer.plan(),
                media,
                keep_going: false,
            };
            session::run(account, plan).await
        }
        Command::Team {
            invite,
            device_name,
            hangup_after,
            answer_after,
            media,
        } => {
            let plan = CallPlan {
                to: None,
                decline: false,
                answer_after: answer_after.map(Duration::from_secs),
                hangup_after: hangup_after.map(Duration::from_secs),
                wait: None,
                transfer: None,
                media,
                keep_going: true,
            };
            team::run(&invite, &device_name, plan).await
        }
        Command::Answer {
            account,
            decline,
            hangup_after,
            wait,
            media,
            transfer,
        } => {
            let plan = CallPlan {
                to: None,
                decline,
                answer_after: None,
                hangup_after: hangup_after.map(Duration::from_secs),
                wait: Some(Duration::from_secs(wait)),
                transfer: transfer.plan(),
                media,
                keep_going: false,
            };
            session::run(account, plan).await
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

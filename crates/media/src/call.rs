//! The media side of one call, driven by the SDP that signalling carries: make our offer or
//! answer, start the stream when the far end's description is known, follow re-offers
//! (hold, resume, a moved peer), stop with a report. It knows SDP, not SIP.

use std::net::IpAddr;
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::audio::{AudioSink, AudioSource};
use crate::codec::Codec;
use crate::driver::{MediaError, MediaHandle, MediaPorts, MediaReport};
use crate::jitter::JitterConfig;
use crate::sdp::{self, Direction, LocalMedia, Negotiated, SdpError};
use crate::session::MediaEvent;
use crate::srtp::SrtpKey;

#[derive(Debug, thiserror::Error)]
pub enum CallMediaError {
    #[error("their session description: {0}")]
    Sdp(#[from] SdpError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

enum Stream {
    Ready(MediaPorts, Box<dyn AudioSource>, Box<dyn AudioSink>),
    Running(MediaHandle),
    Stopped,
}

pub struct CallMedia {
    local: LocalMedia,
    stream: Stream,
    jitter: JitterConfig,
    agreed: Option<Negotiated>,
    /// Our direction before the offer still waiting for its answer (restored if refused).
    offered_from: Option<Direction>,
    /// Recording asked for before the stream started: begun with it.
    record: Option<PathBuf>,
}

impl CallMedia {
    /// Opens the RTP/RTCP ports on `address` (the one signalling advertises) for a call whose
    /// audio comes from `source` and goes to `sink`; `encrypted` (signalling over TLS) offers
    /// and requires SRTP.
    pub async fn new(
        address: IpAddr,
        codecs: Vec<Codec>,
        encrypted: bool,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<CallMedia, CallMediaError> {
        let ports = MediaPorts::bind(address).await?;
        Ok(CallMedia {
            local: LocalMedia {
                address,
                port: ports.rtp_port(),
                codecs,
                direction: Direction::SendRecv,
                version: 0,
                srtp: encrypted.then(|| SrtpKey::random(1)),
            },
            stream: Stream::Ready(ports, source, sink),
            jitter: JitterConfig::default(),
            agreed: None,
            offered_from: None,
            record: None,
        })
    }

    pub fn negotiated(&self) -> Option<Negotiated> {
        self.agreed
    }

    /// Our offer: for a new call, or to hold (`SendOnly`) and resume (`SendRecv`) one.
    pub fn offer(&mut self, direction: Direction) -> Vec<u8> {
        self.offered_from.get_or_insert(self.local.direction);
        self.local.direction = direction;
        self.local.version += 1;
        sdp::offer(&self.local)
    }

    /// Our offer was refused (or never answered): the call keeps the media it had.
    pub fn offer_refused(&mut self) {
        if let Some(direction) = self.offered_from.take() {
            self.local.direction = direction;
        }
    }

    /// Their answer to our offer (or early media in a 183): the stream starts or follows it.
    pub fn answered(&mut self, answer: &[u8]) -> Result<(), CallMediaError> {
        let agreed = sdp::negotiate(&self.local, &sdp::parse(answer)?)?;
        self.offered_from = None;
        self.apply(agreed)
    }

    /// Their offer (an incoming call, or a re-INVITE): our answer, and the stream follows it.
    /// An offer we cannot follow changes nothing: the call keeps its media.
    pub fn answer(&mut self, offer: &[u8]) -> Result<Vec<u8>, CallMediaError> {
        let remote = sdp::parse(offer)?;
        let mut local = self.local.clone();
        // A peer that offers SRTP gets it, whatever our own signalling.
        if remote.secure && local.srtp.is_none() {
            local.srtp = Some(SrtpKey::random(1));
        }
        // Our own hold stands when they re-offer; otherwise we go along with theirs.
        let agreed = sdp::negotiate(&local, &remote)?;
        local.version += 1;
        let answer = sdp::answer(&local, &agreed);
        self.apply(agreed)?;
        self.local = local;
        Ok(answer)
    }

    /// A re-INVITE's body: their new offer answered (see [`answer`](Self::answer)), or, for
    /// an offer-less re-INVITE, our offer as things stand — their answer comes in the ACK
    /// (see [`answered`](Self::answered)).
    pub fn reoffer(&mut self, offer: &[u8]) -> Result<Vec<u8>, CallMediaError> {
        if offer.is_empty() {
            return Ok(self.offer(self.local.direction));
        }
        self.answer(offer)
    }

    fn apply(&mut self, agreed: Negotiated) -> Result<(), CallMediaError> {
        self.agreed = Some(agreed);
        self.stream = match std::mem::replace(&mut self.stream, Stream::Stopped) {
            Stream::Ready(ports, source, sink) => {
                tracing::info!(codec = agreed.codec.name(), remote = %agreed.remote_rtp, "media starts");
                let handle = ports.start(agreed, source, sink, self.jitter)?;
                if let Some(file) = self.record.take() {
                    handle.record(Some(file));
                }
                Stream::Running(handle)
            }
            Stream::Running(handle) => {
                handle.update(agreed);
                Stream::Running(handle)
            }
            Stream::Stopped => Stream::Stopped,
        };
        Ok(())
    }

    pub fn events(&mut self) -> Option<&mut mpsc::UnboundedReceiver<MediaEvent>> {
        match &mut self.stream {
            Stream::Running(h) => Some(&mut h.events),
            _ => None,
        }
    }

    /// Sends DTMF keys in the media (RFC 4733); false when not possible. (`&mut`: the audio
    /// source it may still hold is `Send` but not `Sync`.)
    pub async fn press(&mut self, digits: &str) -> bool {
        match &self.stream {
            Stream::Running(h) => h.press(digits).await,
            _ => false,
        }
    }

    /// How the threads carrying this call's audio are scheduled, as they reported it.
    pub fn scheduling(&self) -> Vec<(String, crate::realtime::Scheduling)> {
        match &self.stream {
            Stream::Running(h) => h.scheduling(),
            _ => Vec::new(),
        }
    }

    pub fn mute(&self, muted: bool) {
        if let Stream::Running(h) = &self.stream {
            h.mute(muted);
        }
    }

    /// Records both sides of the call into `file` from now on (from its start when it has
    /// not started yet); None pauses. See [`crate::recording`].
    pub fn record(&mut self, file: Option<PathBuf>) {
        match &self.stream {
            Stream::Running(h) => h.record(file),
            Stream::Ready(..) => self.record = file,
            Stream::Stopped => {}
        }
    }

    /// Plays the recording notice to both sides (when the audio runs).
    pub fn beep(&self) {
        if let Stream::Running(h) = &self.stream {
            h.beep();
        }
    }

    /// Moves the call to another microphone and/or speaker (None keeps the one it has).
    pub fn replace_devices(
        &mut self,
        source: Option<Box<dyn AudioSource>>,
        sink: Option<Box<dyn AudioSink>>,
    ) {
        match &mut self.stream {
            Stream::Running(h) => h.replace_devices(source, sink),
            Stream::Ready(_, old_source, old_sink) => {
                if let Some(source) = source {
                    *old_source = source;
                }
                if let Some(sink) = sink {
                    *old_sink = sink;
                }
            }
            Stream::Stopped => {}
        }
    }

    /// Ends the media; a report when it had started.
    pub async fn stop(mut self) -> Option<MediaReport> {
        match std::mem::replace(&mut self.stream, Stream::Stopped) {
            Stream::Running(h) => h.stop().await,
            _ => None,
        }
    }
}

//! Runs a [`MediaSession`] on two UDP sockets (RTP on an even port, RTCP on the next) with an
//! audio source and sink, one 20 ms frame per tick.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::audio::{AudioError, AudioSink, AudioSource, Resampler};
use crate::codec::FRAME_MS;
use crate::jitter::JitterConfig;
use crate::quality::Quality;
use crate::sdp::Negotiated;
use crate::session::{
    MediaEvent, MediaSession, SessionError, SessionStart, SessionStats, Transmit,
};
use crate::voice::VoiceProcessor;

/// Ports tried for a free even/odd pair before giving up.
const PORT_ATTEMPTS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot open RTP ports: {0}")]
    Bind(#[from] io::Error),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// A bound RTP/RTCP port pair, before the far end is known.
pub struct MediaPorts {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl MediaPorts {
    /// An even port for RTP and the one above for RTCP (RFC 3550 §11), on `address`.
    pub async fn bind(address: IpAddr) -> Result<MediaPorts, MediaError> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let rtp = UdpSocket::bind(SocketAddr::new(address, 0)).await?;
            let port = rtp.local_addr()?.port();
            let (rtp, even) = if port % 2 == 0 {
                (rtp, port)
            } else {
                drop(rtp);
                match UdpSocket::bind(SocketAddr::new(address, port.wrapping_add(1))).await {
                    Ok(s) => (s, port.wrapping_add(1)),
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            };
            match UdpSocket::bind(SocketAddr::new(address, even.wrapping_add(1))).await {
                Ok(rtcp) => return Ok(MediaPorts { rtp, rtcp }),
                Err(e) => last = Some(e),
            }
        }
        Err(MediaError::Bind(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::AddrInUse, "no free port pair")
        })))
    }

    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Starts sending and receiving; the audio flows until [`MediaHandle::stop`].
    pub fn start(
        self,
        agreed: Negotiated,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
        jitter: JitterConfig,
    ) -> Result<MediaHandle, MediaError> {
        let session = MediaSession::new(agreed, jitter, SessionStart::now())?;
        let (capture, playback, voice) = fitted(session.sample_rate(), &*source, &*sink)?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            Runner {
                session,
                rtp: self.rtp,
                rtcp: self.rtcp,
                source,
                sink,
                capture,
                playback,
                voice,
                muted: false,
                events: events_tx,
            }
            .run(rx),
        );
        Ok(MediaHandle {
            commands,
            events,
            task,
        })
    }
}

/// The resamplers between the devices' rates and the codec's, and voice processing for a
/// microphone.
fn fitted(
    rate: u32,
    source: &dyn AudioSource,
    sink: &dyn AudioSink,
) -> Result<(Resampler, Resampler, Option<VoiceProcessor>), MediaError> {
    let capture = Resampler::new(source.sample_rate(), rate)?;
    let playback = Resampler::new(rate, sink.sample_rate())?;
    let voice = if source.is_microphone() {
        Some(VoiceProcessor::new(
            source.sample_rate(),
            sink.sample_rate(),
        )?)
    } else {
        None
    };
    Ok((capture, playback, voice))
}

enum Command {
    Press(String, oneshot::Sender<bool>),
    Update(Negotiated),
    Mute(bool),
    /// Other devices mid-call (a headset plugged in or pulled out); None keeps the one in use.
    Devices(Option<Box<dyn AudioSource>>, Option<Box<dyn AudioSink>>),
    Stop,
}

/// What a call's media did, for the journal.
#[derive(Debug, Clone, Copy)]
pub struct MediaReport {
    pub stats: SessionStats,
    pub quality: Quality,
}

pub struct MediaHandle {
    commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    task: JoinHandle<MediaReport>,
}

impl MediaHandle {
    /// Sends DTMF keys; false if one is not a key or the far end takes no DTMF.
    pub async fn press(&self, digits: &str) -> bool {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Press(digits.into(), tx))
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// A new offer/answer in the call: hold, resume, a moved peer.
    pub fn update(&self, agreed: Negotiated) {
        let _ = self.commands.send(Command::Update(agreed));
    }

    pub fn mute(&self, muted: bool) {
        let _ = self.commands.send(Command::Mute(muted));
    }

    /// Moves the call to another microphone and/or speaker without a gap in the stream.
    pub fn replace_devices(
        &self,
        source: Option<Box<dyn AudioSource>>,
        sink: Option<Box<dyn AudioSink>>,
    ) {
        let _ = self.commands.send(Command::Devices(source, sink));
    }

    /// Says RTCP BYE, flushes the sink and reports.
    pub async fn stop(self) -> Option<MediaReport> {
        let _ = self.commands.send(Command::Stop);
        self.task.await.ok()
    }
}

struct Runner {
    session: MediaSession,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    capture: Resampler,
    playback: Resampler,
    voice: Option<VoiceProcessor>,
    muted: bool,
    events: mpsc::UnboundedSender<MediaEvent>,
}

impl Runner {
    /// Rebuilds the conversions after the codec's or a device's rate changed.
    fn refit(&mut self, captured: &mut Vec<i16>) {
        match fitted(self.session.sample_rate(), &*self.source, &*self.sink) {
            Ok((capture, playback, voice)) => {
                self.capture = capture;
                self.playback = playback;
                self.voice = voice;
                captured.resize(self.capture.input_frame(), 0);
            }
            Err(e) => tracing::warn!(error = %e, "cannot convert between the new rates"),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> MediaReport {
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(FRAME_MS)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut rtp_buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 2048];
        let mut captured = vec![0i16; self.capture.input_frame()];
        let (mut frame, mut played, mut out) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = Instant::now();
                    let n = self.source.read(&mut captured);
                    if let Some(rest) = captured.get_mut(n..) {
                        rest.fill(0);
                    }
                    if self.muted {
                        captured.fill(0);
                    }
                    // Echo cancellation works at the devices' rates, on what they really
                    // heard and played (see voice.rs).
                    if let Some(voice) = self.voice.as_mut() {
                        voice.capture(&mut captured);
                    }
                    frame.clear();
                    self.capture.process(&captured, &mut frame);
                    frame.resize(self.session.frame_samples(), 0);
                    played.clear();
                    self.session.play(now, &mut played);
                    if let Some(t) = self.session.send_audio(&frame, now) {
                        send(&self.rtp, &t).await;
                    }
                    out.clear();
                    for chunk in played.chunks(self.session.frame_samples()) {
                        self.playback.process(chunk, &mut out);
                    }
                    if let Some(voice) = self.voice.as_mut() {
                        voice.render(&out);
                    }
                    self.sink.write(&out);
                    if let Some(t) = self.session.poll_rtcp(now) {
                        send(&self.rtcp, &t).await;
                    }
                    while let Some(e) = self.session.poll_event() {
                        let _ = self.events.send(e);
                    }
                }
                r = self.rtp.recv_from(&mut rtp_buf) => match r {
                    Ok((n, from)) => self.session.receive_rtp(from, rtp_buf.get(..n).unwrap_or_default(), Instant::now()),
                    // ICMP port unreachable from a peer not yet listening shows up here.
                    Err(e) => tracing::trace!(error = %e, "RTP receive"),
                },
                r = self.rtcp.recv_from(&mut rtcp_buf) => match r {
                    Ok((n, from)) => self.session.receive_rtcp(from, rtcp_buf.get(..n).unwrap_or_default(), Instant::now()),
                    Err(e) => tracing::trace!(error = %e, "RTCP receive"),
                },
                command = commands.recv() => match command {
                    Some(Command::Press(digits, answer)) => {
                        let _ = answer.send(self.session.press(&digits));
                    }
                    Some(Command::Update(agreed)) => {
                        let rate = self.session.sample_rate();
                        if let Err(e) = self.session.update(agreed) {
                            tracing::warn!(error = %e, "cannot follow the new offer (codec or keys); keeping the stream as it was");
                        } else if self.session.sample_rate() != rate {
                            // Another codec, another rate: the conversions follow it.
                            self.refit(&mut captured);
                        }
                    }
                    Some(Command::Mute(m)) => self.muted = m,
                    Some(Command::Devices(source, sink)) => {
                        if let Some(source) = source {
                            self.source = source;
                        }
                        if let Some(sink) = sink {
                            // What the old speaker still buffers plays out there.
                            std::mem::replace(&mut self.sink, sink).finish();
                        }
                        self.refit(&mut captured);
                    }
                    Some(Command::Stop) | None => break,
                },
            }
        }
        if let Some(t) = self.session.bye(Instant::now()) {
            send(&self.rtcp, &t).await;
        }
        self.sink.finish();
        MediaReport {
            stats: self.session.stats(),
            quality: self.session.quality(),
        }
    }
}

async fn send(socket: &UdpSocket, t: &Transmit) {
    if let Err(e) = socket.send_to(&t.data, t.to).await {
        tracing::debug!(error = %e, to = %t.to, "media send failed");
    }
}

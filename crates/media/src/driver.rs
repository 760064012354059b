//! Runs a [`MediaSession`] on two UDP sockets (RTP on an even port, RTCP on the next) with an
//! audio source and sink, on a thread of its own that asks for real-time scheduling.
//!
//! The audio clocks pace the call, not a timer: a microphone's captured frames are sent as the
//! device delivers them, and a speaker is given a frame whenever its queue runs below its
//! target — so a late wake-up on a busy machine neither bunches packets nor starves the
//! speaker. Sources and sinks without a clock (files, memory) follow a 20 ms schedule. The
//! thread waits only on the RTP socket (with a short timeout), so a packet's arrival time is
//! the moment it came.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::audio::{AudioError, AudioSink, AudioSource, Resampler};
use crate::codec::FRAME_MS;
use crate::jitter::JitterConfig;
use crate::quality::Quality;
use crate::realtime::{self, Reports, Scheduling};
use crate::recording::{Pairing, Recorder, RecordingSummary};
use crate::sdp::Negotiated;
use crate::session::{
    MediaEvent, MediaSession, SessionError, SessionStart, SessionStats, Transmit,
};
use crate::voice::VoiceProcessor;

const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// The longest the media thread sleeps: how soon it sees a device's new frames and commands.
const POLL: Duration = Duration::from_millis(4);
/// How much a clocked speaker is kept fed beyond its own prebuffer.
const SPEAKER_AHEAD_MS: u32 = 20;

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
        // Both stay non-blocking (as tokio made them): the thread waits in poll(2).
        let rtp = self.rtp.into_std()?;
        let rtcp = self.rtcp.into_std()?;
        let (commands, rx) = std_mpsc::channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let scheduling = Reports::default();
        let runner = Runner {
            session,
            rtp,
            rtcp,
            source,
            sink,
            capture,
            playback,
            voice,
            muted: false,
            events: events_tx,
            scheduling: scheduling.clone(),
            devices_reported: (false, false),
            tap: None,
            beep: (None, None),
        };
        let thread = std::thread::Builder::new()
            .name("ringdesk-media".into())
            .spawn(move || runner.run(rx))?;
        Ok(MediaHandle {
            commands,
            events,
            thread: Some(thread),
            scheduling,
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
    /// Record into this file (or go on recording into the one begun); None pauses.
    Record(Option<PathBuf>),
    /// The recording notice: a short tone both sides hear.
    Beep,
    Stop,
}

/// What a call's media did, for the journal.
#[derive(Debug, Clone)]
pub struct MediaReport {
    pub stats: SessionStats,
    pub quality: Quality,
    /// How each thread carrying the call's audio was scheduled.
    pub scheduling: Vec<(String, Scheduling)>,
    /// The call's recording, when it was recorded.
    pub recording: Option<RecordingSummary>,
}

pub struct MediaHandle {
    commands: std_mpsc::Sender<Command>,
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    thread: Option<JoinHandle<MediaReport>>,
    scheduling: Reports,
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

    /// Plays the recording notice (a 1400 Hz tone for half a second) to both sides.
    pub fn beep(&self) {
        let _ = self.commands.send(Command::Beep);
    }

    /// Records both sides into `file` (stereo Ogg Opus, see `recording`); None pauses. Asked
    /// again with a file while a recording runs, it goes on in the file begun.
    pub fn record(&self, file: Option<PathBuf>) {
        let _ = self.commands.send(Command::Record(file));
    }

    /// Moves the call to another microphone and/or speaker without a gap in the stream.
    pub fn replace_devices(
        &self,
        source: Option<Box<dyn AudioSource>>,
        sink: Option<Box<dyn AudioSink>>,
    ) {
        let _ = self.commands.send(Command::Devices(source, sink));
    }

    /// How the call's audio threads are scheduled so far (the media thread reports as it
    /// starts; sound devices at their first callback).
    pub fn scheduling(&self) -> Vec<(String, Scheduling)> {
        self.scheduling.all()
    }

    /// Says RTCP BYE, flushes the sink and reports.
    pub async fn stop(mut self) -> Option<MediaReport> {
        let _ = self.commands.send(Command::Stop);
        let thread = self.thread.take()?;
        tokio::task::spawn_blocking(move || thread.join().ok())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for MediaHandle {
    /// A call dropped without `stop` still ends its thread.
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
    }
}

struct Runner {
    session: MediaSession,
    rtp: std::net::UdpSocket,
    rtcp: std::net::UdpSocket,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    capture: Resampler,
    playback: Resampler,
    voice: Option<VoiceProcessor>,
    muted: bool,
    events: mpsc::UnboundedSender<MediaEvent>,
    scheduling: Reports,
    /// Whether the microphone's and the speaker's scheduling were recorded.
    devices_reported: (bool, bool),
    tap: Option<Tap>,
    /// The recording notice still to be mixed into what is sent and what is played.
    beep: (Option<Tone>, Option<Tone>),
}

/// A sine mixed over a stream for a while.
struct Tone {
    rate: u32,
    sample: usize,
    left: usize,
}

impl Tone {
    const HZ: f32 = 1400.0;
    const MS: usize = 500;
    /// About -12 dBFS: heard over speech, not painful.
    const LEVEL: f32 = 8000.0;

    fn new(rate: u32) -> Tone {
        Tone {
            rate,
            sample: 0,
            left: rate as usize * Self::MS / 1000,
        }
    }

    /// Mixes what is left of the tone in `slot` into `frame`, and clears the slot once it is
    /// over.
    fn mix_into(slot: &mut Option<Tone>, frame: &mut [i16]) {
        if let Some(tone) = slot.as_mut() {
            if !tone.mix(frame) {
                *slot = None;
            }
        }
    }

    /// Mixes the next part of the tone into `frame`; false once it is over.
    fn mix(&mut self, frame: &mut [i16]) -> bool {
        let step = 2.0 * std::f32::consts::PI * Self::HZ / self.rate as f32;
        for s in frame.iter_mut().take(self.left) {
            let v = (self.sample as f32 * step).sin() * Self::LEVEL;
            *s = (f32::from(*s) + v).clamp(-32768.0, 32767.0) as i16;
            self.sample += 1;
        }
        self.left = self.left.saturating_sub(frame.len());
        self.left > 0
    }
}

/// The call's recording: both directions lined up and handed to the recorder's thread.
struct Tap {
    pairing: Pairing,
    recorder: Recorder,
    paused: bool,
    /// The writer gave up (told once; the call goes on, nothing more is lined up).
    stopped: bool,
}

impl Tap {
    /// Whether frames are wanted now.
    fn taking(&self) -> bool {
        !self.paused && !self.stopped
    }
}

/// Buffers the media thread reuses frame after frame.
#[derive(Default)]
struct Frames {
    captured: Vec<i16>,
    frame: Vec<i16>,
    played: Vec<i16>,
    out: Vec<i16>,
    datagram: Vec<u8>,
}

impl Runner {
    /// Rebuilds the conversions after the codec's or a device's rate changed.
    fn refit(&mut self, frames: &mut Frames) {
        match fitted(self.session.sample_rate(), &*self.source, &*self.sink) {
            Ok((capture, playback, voice)) => {
                self.capture = capture;
                self.playback = playback;
                self.voice = voice;
                frames.captured.resize(self.capture.input_frame(), 0);
                if let Some(tap) = self.tap.as_mut() {
                    if let Err(e) = tap.pairing.set_rate(self.session.sample_rate()) {
                        tracing::warn!(error = %e, "the recording cannot follow the new rate");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot convert between the new rates"),
        }
    }

    fn run(mut self, commands: std_mpsc::Receiver<Command>) -> MediaReport {
        let scheduling = realtime::promote_current_thread(
            self.capture.input_frame() as u32,
            self.source.sample_rate(),
        );
        self.scheduling.record("media", scheduling);
        let mut frames = Frames {
            captured: vec![0; self.capture.input_frame()],
            datagram: vec![0; 2048],
            ..Default::default()
        };
        let start = Instant::now();
        let (mut next_send, mut next_play) = (start, start);
        'call: loop {
            loop {
                match commands.try_recv() {
                    Ok(Command::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => break 'call,
                    Ok(command) => self.command(command, &mut frames),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            // What the microphone captured, as its clock gives it (files: every 20 ms).
            match self.source.available() {
                Some(mut ready) => {
                    while ready >= frames.captured.len() && self.send_frame(now, &mut frames) {
                        ready -= frames.captured.len();
                    }
                }
                None => {
                    while next_send <= now {
                        self.send_frame(next_send, &mut frames);
                        next_send += FRAME;
                    }
                }
            }
            // What the speaker needs, as its clock takes it (files: every 20 ms).
            let frame_out = (self.sink.sample_rate() / 50) as usize;
            match self.sink.queued() {
                Some(queued) => {
                    let target = self.sink.prebuffer()
                        + (self.sink.sample_rate() * SPEAKER_AHEAD_MS / 1000) as usize;
                    let mut queued = queued;
                    while queued < target {
                        self.play_frame(now, &mut frames, true);
                        queued += frame_out.max(1);
                        next_play = now + FRAME;
                    }
                    // A device that takes nothing (starting up, suspended by the sound
                    // server) must not stall the call: after three frames without room the
                    // buffer is played at the wall clock's pace into nowhere, so it neither
                    // overflows nor counts the device's gap as lost packets.
                    while next_play + 3 * FRAME <= now {
                        self.play_frame(now, &mut frames, false);
                        next_play += FRAME;
                    }
                }
                None => {
                    while next_play <= now {
                        self.play_frame(now, &mut frames, true);
                        next_play += FRAME;
                    }
                }
            }
            self.rtcp(now, &mut frames);
            self.report_devices();
            while let Some(e) = self.session.poll_event() {
                let _ = self.events.send(e);
            }
            // Sleep on the RTP socket: a packet wakes the thread at the moment it arrives.
            let now = Instant::now();
            let mut wait = POLL;
            if self.source.available().is_none() {
                wait = wait.min(next_send.saturating_duration_since(now));
            }
            if self.sink.queued().is_none() {
                wait = wait.min(next_play.saturating_duration_since(now));
            }
            self.receive(wait, &mut frames);
        }
        let now = Instant::now();
        if let Some(t) = self.session.bye(now) {
            send(&self.rtcp, &t);
        }
        self.sink.finish();
        let recording = self.tap.take().and_then(|t| {
            if t.recorder.dropped > 0 {
                tracing::warn!(
                    frames = t.recorder.dropped,
                    "the disk was too slow: recording frames dropped"
                );
            }
            t.recorder.finish()
        });
        MediaReport {
            stats: self.session.stats(),
            quality: self.session.quality(),
            scheduling: self.scheduling.all(),
            recording,
        }
    }

    /// The devices' callback threads say how they run at their first callback: recorded once
    /// per device.
    fn report_devices(&mut self) {
        if !self.devices_reported.0 {
            if let Some(s) = self.source.scheduling() {
                self.scheduling.record("microphone", s);
                self.devices_reported.0 = true;
            }
        }
        if !self.devices_reported.1 {
            if let Some(s) = self.sink.scheduling() {
                self.scheduling.record("speaker", s);
                self.devices_reported.1 = true;
            }
        }
    }

    fn command(&mut self, command: Command, frames: &mut Frames) {
        match command {
            Command::Press(digits, answer) => {
                let _ = answer.send(self.session.press(&digits));
            }
            Command::Update(agreed) => {
                let rate = self.session.sample_rate();
                if let Err(e) = self.session.update(agreed) {
                    tracing::warn!(error = %e, "cannot follow the new offer (codec or keys); keeping the stream as it was");
                } else if self.session.sample_rate() != rate {
                    // Another codec, another rate: the conversions follow it.
                    self.refit(frames);
                }
            }
            Command::Mute(m) => self.muted = m,
            Command::Record(file) => self.record(file),
            Command::Beep => {
                let rate = self.session.sample_rate();
                self.beep = (Some(Tone::new(rate)), Some(Tone::new(rate)));
            }
            Command::Devices(source, sink) => {
                if let Some(source) = source {
                    self.source = source;
                    self.devices_reported.0 = false;
                }
                if let Some(sink) = sink {
                    // What the old speaker still buffers plays out there.
                    std::mem::replace(&mut self.sink, sink).finish();
                    self.devices_reported.1 = false;
                }
                self.refit(frames);
            }
            Command::Stop => {}
        }
    }

    /// One frame of the microphone, processed, encoded and sent; false when the source had
    /// none after all (a device still priming).
    fn send_frame(&mut self, now: Instant, f: &mut Frames) -> bool {
        let n = self.source.read(&mut f.captured);
        if n == 0 && self.source.available().is_some() {
            return false;
        }
        if let Some(rest) = f.captured.get_mut(n..) {
            rest.fill(0);
        }
        if self.muted {
            f.captured.fill(0);
        }
        // Echo cancellation works at the devices' rates, on what they really heard and played
        // (see voice.rs).
        if let Some(voice) = self.voice.as_mut() {
            voice.capture(&mut f.captured);
        }
        f.frame.clear();
        self.capture.process(&f.captured, &mut f.frame);
        f.frame.resize(self.session.frame_samples(), 0);
        Tone::mix_into(&mut self.beep.0, &mut f.frame);
        if let Some(t) = self.session.send_audio(&f.frame, now) {
            send(&self.rtp, &t);
        }
        if let Some(tap) = self.tap.as_mut().filter(|t| t.taking()) {
            tap.pairing.sent(&f.frame);
            self.drain_tap();
        }
        true
    }

    /// Starts, resumes (`Some`) or pauses (`None`) the recording.
    fn record(&mut self, file: Option<PathBuf>) {
        match (file, self.tap.as_mut()) {
            (None, Some(tap)) => tap.paused = true,
            (None, None) => {}
            (Some(_), Some(tap)) => tap.paused = false,
            (Some(path), None) => {
                let started = Pairing::new(self.session.sample_rate())
                    .and_then(|pairing| Ok((pairing, Recorder::start(path)?)));
                match started {
                    Ok((pairing, recorder)) => {
                        self.tap = Some(Tap {
                            pairing,
                            recorder,
                            paused: false,
                            stopped: false,
                        })
                    }
                    Err(e) => {
                        let _ = self.events.send(MediaEvent::RecordingStopped(format!(
                            "cannot start recording: {e}"
                        )));
                    }
                }
            }
        }
    }

    /// Hands every stereo frame ready to the recorder; says so once when it has given up.
    fn drain_tap(&mut self) {
        let Some(tap) = self.tap.as_mut() else {
            return;
        };
        while let Some((left, right)) = tap.pairing.frame() {
            if !tap.recorder.push(left, right) {
                tap.stopped = true;
                let why = tap
                    .recorder
                    .failure()
                    .unwrap_or_else(|| "the recording stopped".into());
                let _ = self.events.send(MediaEvent::RecordingStopped(why));
                return;
            }
        }
    }

    /// One frame for the speaker from the jitter buffer, converted and played (`heard`: false
    /// when the speaker has no room for it).
    fn play_frame(&mut self, now: Instant, f: &mut Frames, heard: bool) {
        f.played.clear();
        self.session.play(now, &mut f.played);
        Tone::mix_into(&mut self.beep.1, &mut f.played);
        if let Some(tap) = self.tap.as_mut().filter(|t| t.taking()) {
            for chunk in f.played.chunks(self.session.frame_samples().max(1)) {
                tap.pairing.heard(chunk);
            }
            self.drain_tap();
        }
        if !heard {
            return;
        }
        f.out.clear();
        for chunk in f.played.chunks(self.session.frame_samples().max(1)) {
            self.playback.process(chunk, &mut f.out);
        }
        if let Some(voice) = self.voice.as_mut() {
            voice.render(&f.out);
        }
        self.sink.write(&f.out);
    }

    fn rtcp(&mut self, now: Instant, f: &mut Frames) {
        if let Some(t) = self.session.poll_rtcp(now) {
            send(&self.rtcp, &t);
        }
        while let Ok((n, from)) = self.rtcp.recv_from(&mut f.datagram) {
            let data = f.datagram.get(..n).unwrap_or_default();
            self.session.receive_rtcp(from, data, Instant::now());
        }
    }

    /// Waits up to `wait` for RTP; takes every datagram that came.
    fn receive(&mut self, wait: Duration, f: &mut Frames) {
        wait_readable(&self.rtp, wait);
        while let Ok((n, from)) = self.rtp.recv_from(&mut f.datagram) {
            let data = f.datagram.get(..n).unwrap_or_default();
            self.session.receive_rtp(from, data, Instant::now());
        }
    }
}

/// Sleeps until `socket` has a datagram or `wait` has passed (poll(2), millisecond steps).
fn wait_readable(socket: &std::net::UdpSocket, wait: Duration) {
    use std::os::fd::AsRawFd;
    let mut fds = [libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: one pollfd, owned here, for a descriptor the socket keeps open meanwhile.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
    if ready < 0 {
        // Interrupted or refused: do not spin.
        std::thread::sleep(wait);
    }
}

fn send(socket: &std::net::UdpSocket, t: &Transmit) {
    if let Err(e) = socket.send_to(&t.data, t.to) {
        tracing::debug!(error = %e, to = %t.to, "media send failed");
    }
}

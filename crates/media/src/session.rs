//! One call's audio stream, sans-IO: PCM frames in → RTP out, RTP in → jitter buffer →
//! PCM frames out at the playout clock's pace, RTCP both ways, DTMF both ways, quality.
//! The caller owns sockets, clocks and entropy: `now` comes with every call, the wall clock
//! and a seed once at the start ([`SessionStart`]), so the same seed gives the same bytes.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rtcp::goodbye::Goodbye;
use rtcp::packet::Packet as RtcpPacket;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use webrtc_util::marshal::{Marshal, Unmarshal};

use crate::audio::Resampler;
use crate::codec::{Codec, CodecError, Decoder, Encoder};
use crate::dtmf::{DtmfReceiver, DtmfSender};
use crate::jitter::{Frame, JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::quality::{self, Quality, ReceiveStats};
use crate::sdp::{Direction, Negotiated};
use crate::srtp::Srtp;
use crate::srtp::SrtpError;
use crate::vad::Vad;

/// RTCP report interval (RFC 3550 §6.2's minimum, randomised ±50 % as §6.3.1 asks).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Another source is taken for the peer's only after the one we latched to has been silent
/// this long and the newcomer has sent `RELATCH_PACKETS` packets in sequence (a peer that
/// moved behind its NAT), so nobody else who reaches the port can talk into the call.
const RELATCH_QUIET: Duration = Duration::from_secs(2);
const RELATCH_PACKETS: u8 = 4;

/// Why a stream cannot start or change: its codec or its SRTP keys.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Srtp(#[from] SrtpError),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
}

/// What a session starts from: the moment, the wall clock at that moment (for RTCP's NTP
/// times) and a seed for everything random (SSRC, first sequence number and timestamp, RTCP
/// spacing). Drivers read them with [`SessionStart::now`]; tests and simulations fix them.
#[derive(Debug, Clone, Copy)]
pub struct SessionStart {
    pub now: Instant,
    /// Time since the Unix epoch at `now`.
    pub wall: Duration,
    pub seed: u64,
}

impl SessionStart {
    /// The real clocks and fresh entropy (for drivers, at the edge of the sans-IO core).
    pub fn now() -> Self {
        SessionStart {
            now: Instant::now(),
            wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            seed: rand::random(),
        }
    }

    /// A fixed start: `now`, a fixed wall clock and `seed`.
    pub fn fixed(now: Instant, seed: u64) -> Self {
        SessionStart {
            now,
            // 2026-12-01 00:00 UTC.
            wall: Duration::from_secs(1_796_083_200),
            seed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Dtmf(char),
    /// Sent with each RTCP report we make (every ~5 s): what was heard since the last one.
    Quality(Quality),
    /// The peer said RTCP BYE.
    Bye,
    /// The call's recording stopped on its own (a full disk, a folder gone): why. The call
    /// goes on.
    RecordingStopped(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub sent_packets: u32,
    pub received_packets: u32,
    /// Not ours, not RTP, not a payload type we agreed on, or from a stranger.
    pub ignored_packets: u32,
    /// From another source than the peer's (counted in `ignored_packets` too).
    pub strangers: u32,
    pub jitter: JitterStats,
}

/// A payload type's decoder, with a resampler when it decodes at another rate than the
/// stream plays at (a peer that switched codecs without a new offer).
struct Receiver {
    decoder: Box<dyn Decoder>,
    resampler: Option<Resampler>,
    rate: u32,
}

/// Where the peer's packets come from, and a newcomer that may replace it.
#[derive(Debug, Default)]
struct Latch {
    source: Option<SocketAddr>,
    last_heard: Option<Instant>,
    /// (source, SSRC, last sequence number, packets in sequence so far)
    candidate: Option<(SocketAddr, u32, u16, u8)>,
}

impl Latch {
    /// Whether a packet from `from` is the peer's; latches to the first source, and to a
    /// newcomer only on the rules above.
    fn admit(&mut self, from: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> bool {
        match self.source {
            None => {}
            Some(source) if source == from => {}
            Some(_) => {
                let quiet = self
                    .last_heard
                    .is_none_or(|at| now.saturating_duration_since(at) >= RELATCH_QUIET);
                let count = match self.candidate {
                    Some((c, s, last, n))
                        if c == from && s == ssrc && seq == last.wrapping_add(1) =>
                    {
                        n + 1
                    }
                    _ => 1,
                };
                self.candidate = Some((from, ssrc, seq, count));
                if !(quiet && count >= RELATCH_PACKETS) {
                    return false;
                }
                tracing::info!(%from, "the peer's audio moved to another address");
            }
        }
        self.source = Some(from);
        self.last_heard = Some(now);
        self.candidate = None;
        true
    }
}

/// The jitter buffer's counters and the sequence-number counts at the last quality report.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    jitter: JitterStats,
    expected: u32,
    lost: i64,
}

pub struct MediaSession {
    agreed: Negotiated,
    encoder: Box<dyn Encoder>,
    receivers: HashMap<u8, Receiver>,
    /// The payload type of the last frame decoded (its decoder conceals the next loss).
    last_payload_type: u8,
    jitter: JitterBuffer,
    vad: Vad,
    decoded: Vec<i16>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    rng: StdRng,
    dtmf_out: DtmfSender,
    dtmf_in: DtmfReceiver,
    dtmf_ts: u32,
    remote_ssrc: Option<u32>,
    rtp_latch: Latch,
    recv: ReceiveStats,
    sent_packets: u32,
    sent_octets: u32,
    ignored: u32,
    strangers: u32,
    last_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
    remote_loss: Option<f32>,
    epoch: Instant,
    wall_epoch: Duration,
    next_rtcp: Instant,
    reported: Mark,
    events: VecDeque<MediaEvent>,
    cname: Bytes,
    payload: Vec<u8>,
    srtp: Option<Srtp>,
}

impl MediaSession {
    pub fn new(
        agreed: Negotiated,
        jitter_config: JitterConfig,
        start: SessionStart,
    ) -> Result<Self, SessionError> {
        let codec = agreed.codec;
        let mut rng = StdRng::seed_from_u64(start.seed);
        let ssrc: u32 = rng.gen();
        let (seq, ts) = (rng.gen(), rng.gen());
        let mut session = MediaSession {
            encoder: codec.encoder()?,
            receivers: HashMap::new(),
            last_payload_type: agreed.payload_type,
            jitter: JitterBuffer::new(codec.rtp_clock_rate(), jitter_config),
            vad: Vad::default(),
            decoded: Vec::with_capacity(960),
            ssrc,
            seq,
            ts,
            rng,
            dtmf_out: dtmf_sender(&agreed),
            dtmf_in: DtmfReceiver::default(),
            dtmf_ts: 0,
            remote_ssrc: None,
            rtp_latch: Latch::default(),
            recv: ReceiveStats::default(),
            sent_packets: 0,
            sent_octets: 0,
            ignored: 0,
            strangers: 0,
            last_sr: None,
            rtt: None,
            remote_loss: None,
            epoch: start.now,
            wall_epoch: start.wall,
            next_rtcp: start.now + RTCP_INTERVAL / 2,
            reported: Mark::default(),
            events: VecDeque::new(),
            cname: Bytes::from(format!("ringdesk-{ssrc:08x}")),
            payload: Vec::with_capacity(1500),
            srtp: srtp_for(&agreed)?,
            agreed,
        };
        // The codec we agreed on must decode: fail now rather than at the first packet.
        session.receiver(agreed.payload_type)?;
        Ok(session)
    }

    pub fn codec(&self) -> Codec {
        self.agreed.codec
    }

    /// The rate of what [`play`](Self::play) gives and [`send_audio`](Self::send_audio) takes.
    pub fn sample_rate(&self) -> u32 {
        self.agreed.codec.sample_rate()
    }

    /// Samples in one frame handed to [`send_audio`](Self::send_audio).
    pub fn frame_samples(&self) -> usize {
        self.agreed.codec.frame_samples()
    }

    pub fn direction(&self) -> Direction {
        self.agreed.direction
    }

    pub fn remote(&self) -> SocketAddr {
        self.agreed.remote_rtp
    }

    /// When [`poll_rtcp`](Self::poll_rtcp) has something to send next.
    pub fn poll_timeout(&self) -> Instant {
        self.next_rtcp
    }

    /// A new offer/answer in the same call (hold, resume, a new address or codec).
    pub fn update(&mut self, agreed: Negotiated) -> Result<(), SessionError> {
        if agreed.codec != self.agreed.codec {
            let codec = agreed.codec;
            self.encoder = codec.encoder()?;
            // Decoders follow the new playout rate; the buffer starts over in the new clock.
            self.receivers.clear();
            self.jitter.reset(codec.rtp_clock_rate());
        }
        if (agreed.codec, agreed.dtmf_clock_rate)
            != (self.agreed.codec, self.agreed.dtmf_clock_rate)
        {
            self.dtmf_out = dtmf_sender(&agreed);
        }
        if agreed.srtp != self.agreed.srtp {
            self.srtp = srtp_for(&agreed)?;
        }
        if agreed.remote_rtp != self.agreed.remote_rtp {
            // The peer said it moved: its new source is learnt afresh.
            self.rtp_latch = Latch::default();
        }
        self.agreed = agreed;
        self.last_payload_type = agreed.payload_type;
        self.receiver(agreed.payload_type)?;
        Ok(())
    }

    /// Queues DTMF keys; false if a key is not 0-9, *, #, A-D or the peer takes no DTMF.
    pub fn press(&mut self, digits: &str) -> bool {
        self.agreed.dtmf_payload_type.is_some() && self.dtmf_out.press(digits)
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    pub fn stats(&self) -> SessionStats {
        SessionStats {
            sent_packets: self.sent_packets,
            received_packets: self.recv_count(),
            ignored_packets: self.ignored,
            strangers: self.strangers,
            jitter: self.jitter.stats(),
        }
    }

    fn recv_count(&self) -> u32 {
        (i64::from(self.recv.expected()) - self.recv.lost()).max(0) as u32
    }

    /// One frame captured from the microphone (or a key press instead, while one is sent).
    pub fn send_audio(&mut self, pcm: &[i16], now: Instant) -> Option<Transmit> {
        let _ = now;
        let frame = self.agreed.codec.frame_ticks();
        let start_ts = self.ts;
        self.ts = self.ts.wrapping_add(frame);
        if !self.agreed.direction.sends() {
            return None;
        }
        self.payload.clear();
        let (payload_type, timestamp, marker) = match self.dtmf_out.next_packet() {
            Some(key) => {
                if key.new_timestamp {
                    self.dtmf_ts = start_ts;
                }
                self.payload.extend_from_slice(&key.payload);
                (self.agreed.dtmf_payload_type?, self.dtmf_ts, key.marker)
            }
            None => {
                if let Err(e) = self.encoder.encode(pcm, &mut self.payload) {
                    tracing::warn!(error = %e, "cannot encode a frame");
                    return None;
                }
                (self.agreed.payload_type, start_ts, self.sent_packets == 0)
            }
        };
        let packet = rtp::packet::Packet {
            header: rtp::header::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number: self.seq,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(&self.payload),
        };
        self.seq = self.seq.wrapping_add(1);
        let mut data = packet.marshal().ok()?.to_vec();
        if let Some(srtp) = self.srtp.as_mut() {
            data = srtp.protect_rtp(&data).ok()?;
        }
        self.sent_packets = self.sent_packets.wrapping_add(1);
        self.sent_octets = self.sent_octets.wrapping_add(self.payload.len() as u32);
        Some(Transmit {
            to: self.agreed.remote_rtp,
            data,
        })
    }

    /// A datagram on the RTP port.
    pub fn receive_rtp(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        let Some(data) = self.plain(data, false) else {
            return;
        };
        let Ok(packet) = rtp::packet::Packet::unmarshal(&mut &data[..]) else {
            self.ignored += 1;
            return;
        };
        let h = &packet.header;
        if h.version != 2 || h.ssrc == self.ssrc {
            self.ignored += 1;
            return;
        }
        let codec = self.agreed.codec_for(h.payload_type);
        let dtmf = Some(h.payload_type) == self.agreed.dtmf_payload_type;
        if codec.is_none() && !dtmf {
            self.ignored += 1;
            return;
        }
        // Symmetric RTP (RFC 4961): behind NAT the peer is where its packets come from — and
        // only there.
        if !self.rtp_latch.admit(from, h.ssrc, h.sequence_number, now) {
            self.ignored += 1;
            self.strangers += 1;
            return;
        }
        if from != self.agreed.remote_rtp {
            tracing::debug!(%from, signalled = %self.agreed.remote_rtp, "RTP latched to source");
            self.agreed.remote_rtp = from;
        }
        if self.remote_ssrc != Some(h.ssrc) {
            if self.remote_ssrc.is_some() {
                // Another stream (a PBX switching sources, a peer restarting): start over.
                self.jitter.reset(self.jitter.clock_rate());
            }
            self.remote_ssrc = Some(h.ssrc);
            self.recv = ReceiveStats::default();
            self.reported.expected = 0;
            self.reported.lost = 0;
        }
        if let Some(codec) = codec {
            if codec.rtp_clock_rate() != self.jitter.clock_rate() {
                // A codec with another clock: its timestamps are another timeline.
                self.jitter.reset(codec.rtp_clock_rate());
            }
        }
        let rate = f64::from(self.jitter.clock_rate());
        let arrival =
            (now.saturating_duration_since(self.epoch).as_secs_f64() * rate) as u64 as u32;
        self.recv.update(h.sequence_number, h.timestamp, arrival);
        if dtmf {
            self.jitter.skip(h.sequence_number);
            if let Some(digit) = self.dtmf_in.receive(h.timestamp, &packet.payload) {
                self.events.push_back(MediaEvent::Dtmf(digit));
            }
        } else if self.agreed.direction.receives() {
            let frame = Frame {
                payload_type: h.payload_type,
                payload: packet.payload.clone(),
            };
            self.jitter.push(h.sequence_number, h.timestamp, frame, now);
        }
    }

    /// The decoder for `payload_type`, made the first time it is needed.
    fn receiver(&mut self, payload_type: u8) -> Result<&mut Receiver, SessionError> {
        let rate = self.sample_rate();
        let codec = self
            .agreed
            .codec_for(payload_type)
            .unwrap_or(self.agreed.codec);
        match self.receivers.entry(payload_type) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let resampler = if codec.sample_rate() == rate {
                    None
                } else {
                    Some(Resampler::new(codec.sample_rate(), rate)?)
                };
                Ok(e.insert(Receiver {
                    decoder: codec.decoder()?,
                    resampler,
                    rate: codec.sample_rate(),
                }))
            }
        }
    }

    /// One frame for the speaker, at the pace of the playout clock.
    pub fn play(&mut self, now: Instant, out: &mut Vec<i16>) {
        // The buffer counts in RTP ticks; the speaker in samples at the playout rate.
        let ticks = self.jitter.frame_samples();
        let samples =
            ticks * self.sample_rate() as usize / self.jitter.clock_rate().max(1) as usize;
        if !self.agreed.direction.receives() {
            out.resize(out.len() + samples, 0);
            return;
        }
        // Each turn plays a frame, or drops one the buffer offered and the listener will not
        // miss; bounded by the buffer's length.
        loop {
            match self.jitter.pop(now) {
                Playout::Silence => {
                    let before = out.len();
                    out.resize(before + samples, 0);
                    self.vad.silent(out.get(before..).unwrap_or_default());
                }
                Playout::Frame {
                    frame,
                    droppable,
                    forced,
                } => {
                    let mut decoded = std::mem::take(&mut self.decoded);
                    decoded.clear();
                    self.decode(&frame, samples, &mut decoded);
                    let silent = self.vad.silent(&decoded);
                    if droppable && (silent || forced) {
                        self.jitter.dropped(!silent);
                        self.decoded = decoded;
                        continue;
                    }
                    out.extend_from_slice(&decoded);
                    self.decoded = decoded;
                }
                Playout::Lost { next } => {
                    let before = out.len();
                    self.conceal(next.as_ref(), ticks, out);
                    self.vad.silent(out.get(before..).unwrap_or_default());
                }
            }
            return;
        }
    }

    fn decode(&mut self, frame: &Frame, samples: usize, out: &mut Vec<i16>) {
        self.last_payload_type = frame.payload_type;
        let rate = self.sample_rate() as usize;
        let Ok(receiver) = self.receiver(frame.payload_type) else {
            out.resize(out.len() + samples, 0);
            return;
        };
        let mut native = Vec::new();
        let target = match receiver.resampler {
            Some(_) => &mut native,
            None => &mut *out,
        };
        let before = target.len();
        if let Err(e) = receiver.decoder.decode(&frame.payload, target) {
            tracing::debug!(error = %e, "undecodable frame concealed");
            target.truncate(before);
            let n = samples * receiver.rate as usize / rate;
            receiver.decoder.conceal(None, n, target);
        }
        if let Some(resampler) = receiver.resampler.as_mut() {
            for chunk in native.chunks(resampler.input_frame()) {
                resampler.process(chunk, out);
            }
        }
    }

    fn conceal(&mut self, next: Option<&Frame>, ticks: usize, out: &mut Vec<i16>) {
        let payload_type = self.last_payload_type;
        let clock = self.jitter.clock_rate().max(1) as usize;
        let Ok(receiver) = self.receiver(payload_type) else {
            return;
        };
        // FEC comes only from the next packet of the same codec.
        let next = next
            .filter(|f| f.payload_type == payload_type)
            .map(|f| f.payload.as_ref());
        let n = ticks * receiver.rate as usize / clock;
        match receiver.resampler.as_mut() {
            None => receiver.decoder.conceal(next, n, out),
            Some(resampler) => {
                let mut native = Vec::with_capacity(n);
                receiver.decoder.conceal(next, n, &mut native);
                for chunk in native.chunks(resampler.input_frame()) {
                    resampler.process(chunk, out);
                }
            }
        }
    }

    /// The datagram as sent: decrypted under SRTP, else as it is. None (counted as ignored)
    /// when SRTP refuses it — forged, replayed or not ours — so nothing reads it.
    fn plain<'a>(&mut self, data: &'a [u8], rtcp: bool) -> Option<Cow<'a, [u8]>> {
        let Some(srtp) = self.srtp.as_mut() else {
            return Some(Cow::Borrowed(data));
        };
        let plain = if rtcp {
            srtp.unprotect_rtcp(data)
        } else {
            srtp.unprotect_rtp(data)
        };
        match plain {
            Ok(p) => Some(Cow::Owned(p)),
            Err(_) => {
                self.ignored += 1;
                None
            }
        }
    }

    /// A datagram on the RTCP port.
    pub fn receive_rtcp(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        let Some(data) = self.plain(data, true) else {
            return;
        };
        let Ok(packets) = rtcp::packet::unmarshal(&mut &data[..]) else {
            self.ignored += 1;
            return;
        };
        // RTCP from a stranger could end the call (BYE) or fake its quality: only the peer's
        // host (where its RTP comes from, or where it said it would be) is heard.
        let peer = self
            .rtp_latch
            .source
            .map_or(self.agreed.remote_rtcp.ip(), |s| s.ip());
        if from.ip() != peer {
            self.ignored += 1;
            self.strangers += 1;
            return;
        }
        self.agreed.remote_rtcp = from;
        for packet in packets {
            let any = packet.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.last_sr = Some(((sr.ntp_time >> 16) as u32, now));
                self.reception(&sr.reports, now);
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.reception(&rr.reports, now);
            } else if any.downcast_ref::<Goodbye>().is_some() {
                self.events.push_back(MediaEvent::Bye);
            }
        }
    }

    fn reception(&mut self, reports: &[ReceptionReport], now: Instant) {
        for report in reports.iter().filter(|r| r.ssrc == self.ssrc) {
            self.remote_loss = Some(f32::from(report.fraction_lost) * 100.0 / 256.0);
            self.encoder
                .set_expected_loss((u32::from(report.fraction_lost) * 100 / 256) as u8);
            if let Some(rtt) = quality::round_trip(
                self.ntp_middle(now),
                report.last_sender_report,
                report.delay,
            ) {
                self.rtt = Some(rtt);
            }
        }
    }

    /// Our RTCP report when it is due (check every frame, or at [`poll_timeout`](Self::poll_timeout));
    /// emits a quality event with it.
    pub fn poll_rtcp(&mut self, now: Instant) -> Option<Transmit> {
        if now < self.next_rtcp {
            return None;
        }
        let spread = self.rng.gen::<f64>() + 0.5;
        self.next_rtcp = now + RTCP_INTERVAL.mul_f64(spread);
        let data = self.report(now, None);
        let interval = self.quality_since(self.reported);
        self.reported = self.mark();
        self.events.push_back(MediaEvent::Quality(interval));
        data.map(|data| Transmit {
            to: self.agreed.remote_rtcp,
            data,
        })
    }

    /// RTCP BYE, with a last report, for the end of the call.
    pub fn bye(&mut self, now: Instant) -> Option<Transmit> {
        self.report(
            now,
            Some(Goodbye {
                sources: vec![self.ssrc],
                reason: Bytes::new(),
            }),
        )
        .map(|data| Transmit {
            to: self.agreed.remote_rtcp,
            data,
        })
    }

    fn report(&mut self, now: Instant, bye: Option<Goodbye>) -> Option<Vec<u8>> {
        let reports: Vec<ReceptionReport> = self
            .remote_ssrc
            .filter(|_| self.recv.started())
            .map(|remote| {
                let (lsr, dlsr) = match self.last_sr {
                    Some((lsr, at)) => (
                        lsr,
                        (now.saturating_duration_since(at).as_secs_f64() * 65536.0) as u32,
                    ),
                    None => (0, 0),
                };
                ReceptionReport {
                    ssrc: remote,
                    fraction_lost: self.recv.take_fraction_lost(),
                    total_lost: self.recv.lost().clamp(0, 0x7F_FFFF) as u32,
                    last_sequence_number: self.recv.extended_max(),
                    jitter: self.recv.jitter(),
                    last_sender_report: lsr,
                    delay: dlsr,
                }
            })
            .into_iter()
            .collect();
        let mut packets: Vec<Box<dyn RtcpPacket + Send + Sync>> = Vec::new();
        if self.sent_packets > 0 {
            packets.push(Box::new(SenderReport {
                ssrc: self.ssrc,
                ntp_time: self.ntp(now),
                rtp_time: self.ts,
                packet_count: self.sent_packets,
                octet_count: self.sent_octets,
                reports,
                profile_extensions: Bytes::new(),
            }));
        } else {
            packets.push(Box::new(ReceiverReport {
                ssrc: self.ssrc,
                reports,
                profile_extensions: Bytes::new(),
            }));
        }
        packets.push(Box::new(SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: self.ssrc,
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: self.cname.clone(),
                }],
            }],
        }));
        if let Some(bye) = bye {
            packets.push(Box::new(bye));
        }
        match rtcp::packet::marshal(&packets) {
            Ok(b) => match self.srtp.as_mut() {
                Some(srtp) => srtp.protect_rtcp(&b).ok(),
                None => Some(b.to_vec()),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot build an RTCP report");
                None
            }
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            jitter: self.jitter.stats(),
            expected: self.recv.expected(),
            lost: self.recv.lost(),
        }
    }

    /// The whole call's quality so far (the journal's figure).
    pub fn quality(&self) -> Quality {
        self.quality_since(Mark::default())
    }

    /// What the listener heard since `mark`: loss on the wire, and frames concealed (lost,
    /// late) or dropped in speech among those played — whichever is worse scores the call.
    fn quality_since(&self, mark: Mark) -> Quality {
        let rate = f64::from(self.jitter.clock_rate());
        let jitter = Duration::from_secs_f64(f64::from(self.recv.jitter()) / rate);
        let expected = self.recv.expected().saturating_sub(mark.expected);
        let lost = (self.recv.lost() - mark.lost).max(0);
        let loss_percent = if expected == 0 {
            0.0
        } else {
            lost as f32 * 100.0 / expected as f32
        };
        let now = self.jitter.stats();
        let then = mark.jitter;
        let impaired = (now.concealed - then.concealed)
            + (now.late - then.late)
            + (now.dropped_speech - then.dropped_speech);
        let played = now.played - then.played;
        let heard = played + impaired;
        let concealed_percent = if heard == 0 {
            0.0
        } else {
            impaired as f32 * 100.0 / heard as f32
        };
        // Packets keep coming and nothing of them plays: the listener hears silence.
        let received = now.received - then.received;
        let stalled = received >= 25 && played * 10 < received;
        let buffer_delay = self.jitter.target_delay();
        let one_way = self.rtt.unwrap_or_default() / 2
            + buffer_delay
            + Duration::from_millis(u64::from(crate::codec::FRAME_MS));
        // G.113: G.711 with concealment Ie 0, Bpl 25.1; Opus is scored on the same scale.
        let mos = if stalled {
            1.0
        } else {
            quality::mos(one_way, loss_percent.max(concealed_percent), 0.0, 25.1)
        };
        Quality {
            jitter,
            loss_percent,
            concealed_percent,
            stalled,
            remote_loss_percent: self.remote_loss,
            round_trip: self.rtt,
            buffer_delay,
            mos,
        }
    }

    fn wall(&self, now: Instant) -> Duration {
        self.wall_epoch + now.saturating_duration_since(self.epoch)
    }

    fn ntp(&self, now: Instant) -> u64 {
        let wall = self.wall(now);
        let secs = wall.as_secs() + NTP_UNIX_OFFSET;
        let frac = (u64::from(wall.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }

    fn ntp_middle(&self, now: Instant) -> u32 {
        (self.ntp(now) >> 16) as u32
    }
}

fn srtp_for(agreed: &Negotiated) -> Result<Option<Srtp>, SessionError> {
    Ok(agreed
        .srtp
        .map(|(ours, theirs)| Srtp::new(&ours, &theirs))
        .transpose()?)
}

/// Key presses are timed in the telephone-event clock, one update per 20 ms frame.
fn dtmf_sender(agreed: &Negotiated) -> DtmfSender {
    let rate = agreed.dtmf_clock_rate;
    DtmfSender::new(rate, rate * crate::codec::FRAME_MS / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf;

    fn agreed(codec: Codec, remote: &str) -> Negotiated {
        Negotiated {
            codec,
            payload_type: codec.static_payload_type().unwrap_or(111),
            receivable: Default::default(),
            dtmf_payload_type: Some(101),
            dtmf_clock_rate: 8000,
            remote_rtp: remote.parse().unwrap(),
            remote_rtcp: remote
                .parse::<SocketAddr>()
                .map(|a| SocketAddr::new(a.ip(), a.port() + 1))
                .unwrap(),
            direction: Direction::SendRecv,
            srtp: None,
        }
    }

    fn session(codec: Codec, remote: &str, t0: Instant, seed: u64) -> MediaSession {
        MediaSession::new(
            agreed(codec, remote),
            JitterConfig::default(),
            SessionStart::fixed(t0, seed),
        )
        .unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn tone(n: usize, offset: usize) -> Vec<i16> {
        (offset..offset + n)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect()
    }

    /// Two sessions wired back to back on a fake clock; `drop` decides which packets are lost.
    fn exchange(
        codec: Codec,
        frames: usize,
        drop: impl Fn(usize) -> bool,
    ) -> (Vec<i16>, MediaSession, MediaSession) {
        let t0 = Instant::now();
        let mut a = session(codec, "10.0.0.2:4000", t0, 1);
        let mut b = session(codec, "10.0.0.1:5000", t0, 2);
        let n = a.frame_samples();
        let mut played = Vec::new();
        for k in 0..frames {
            let now = t0 + Duration::from_millis(20 * k as u64);
            if let Some(t) = a.send_audio(&tone(n, k * n), now) {
                assert_eq!(t.to, addr("10.0.0.2:4000"));
                if !drop(k) {
                    b.receive_rtp(
                        addr("10.0.0.1:5000"),
                        &t.data,
                        now + Duration::from_millis(5),
                    );
                }
            }
            b.play(now + Duration::from_millis(10), &mut played);
            if let Some(r) = b.poll_rtcp(now) {
                a.receive_rtcp(
                    addr("10.0.0.2:4001"),
                    &r.data,
                    now + Duration::from_millis(1),
                );
            }
            if let Some(r) = a.poll_rtcp(now) {
                b.receive_rtcp(
                    addr("10.0.0.1:5001"),
                    &r.data,
                    now + Duration::from_millis(1),
                );
            }
        }
        (played, a, b)
    }

    #[test]
    fn audio_flows_and_reports_measure_the_loss() {
        let (played, a, b) = exchange(Codec::Pcmu, 600, |k| k % 20 == 7);
        assert_eq!(played.len(), 600 * 160);
        assert!(played.iter().filter(|s| s.abs() > 1000).count() > 500 * 160 / 2);
        let q = b.quality();
        assert!((q.loss_percent - 5.0).abs() < 0.5, "{q:?}");
        // What was heard: the lost frames were concealed.
        assert!((q.concealed_percent - 5.0).abs() < 0.5, "{q:?}");
        assert!(q.mos < 4.2 && q.mos > 3.3, "{q:?}");
        assert!(!q.stalled);
        let remote = a.quality();
        assert!(
            remote.remote_loss_percent.is_some(),
            "a heard b's report: {remote:?}"
        );
        assert!(remote.round_trip.is_some(), "rtt from LSR/DLSR: {remote:?}");
        assert!(b.stats().jitter.concealed >= 25, "{:?}", b.stats());
    }

    #[test]
    fn srtp_protects_audio_and_keys_both_ways_and_refuses_what_it_cannot_authenticate() {
        use crate::srtp::SrtpKey;
        let t0 = Instant::now();
        let (ka, kb) = (
            SrtpKey::from_material(1, [7; 30]),
            SrtpKey::from_material(1, [9; 30]),
        );
        let mut a_agreed = agreed(Codec::Pcmu, "10.0.0.2:4000");
        a_agreed.srtp = Some((ka, kb));
        let mut b_agreed = agreed(Codec::Pcmu, "10.0.0.1:5000");
        b_agreed.srtp = Some((kb, ka));
        let new = |agreed, seed| {
            MediaSession::new(
                agreed,
                JitterConfig::default(),
                SessionStart::fixed(t0, seed),
            )
            .unwrap()
        };
        let (mut a, mut b) = (new(a_agreed, 1), new(b_agreed, 2));
        let mut played = Vec::new();
        let mut digits = String::new();
        for k in 0..150 {
            let now = t0 + Duration::from_millis(20 * k as u64);
            if k == 100 {
                assert!(a.press("7*"));
            }
            let t = a.send_audio(&tone(160, k * 160), now).unwrap();
            b.receive_rtp(
                addr("10.0.0.1:5000"),
                &t.data,
                now + Duration::from_millis(5),
            );
            // A copy with one bit flipped is refused, not played.
            let mut forged = t.data.clone();
            if let Some(last) = forged.last_mut() {
                *last ^= 1;
            }
            b.receive_rtp(
                addr("10.0.0.1:5000"),
                &forged,
                now + Duration::from_millis(6),
            );
            b.play(now + Duration::from_millis(10), &mut played);
            while let Some(e) = b.poll_event() {
                if let MediaEvent::Dtmf(d) = e {
                    digits.push(d);
                }
            }
        }
        assert_eq!(digits, "7*");
        assert!(
            played[8000..].iter().any(|s| s.abs() > 3000),
            "speech heard"
        );
        assert_eq!(b.stats().ignored_packets, 150, "every forgery refused");
        assert_eq!(b.stats().jitter.concealed, 0);
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let t0 = Instant::now();
        let run = |seed| {
            let mut s = session(Codec::Opus, "10.0.0.2:4000", t0, seed);
            let mut out = Vec::new();
            for k in 0..300 {
                let now = t0 + Duration::from_millis(20 * k as u64);
                out.extend(s.send_audio(&tone(960, k * 960), now).map(|t| t.data));
                out.extend(s.poll_rtcp(now).map(|t| t.data));
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn opus_flows_through_the_session() {
        let (played, _, b) = exchange(Codec::Opus, 100, |_| false);
        assert_eq!(played.len(), 100 * 960);
        assert_eq!(b.stats().jitter.concealed, 0);
        assert!(played[48_000..].iter().any(|s| s.abs() > 3000));
    }

    #[test]
    fn g722_stamps_packets_in_its_8000_hz_clock_and_plays_16_khz_frames() {
        let (played, _, b) = exchange(Codec::G722, 100, |k| k == 50);
        // 320 samples a frame at the speaker, lost frame concealed at the same length.
        assert_eq!(played.len(), 100 * 320);
        assert_eq!(b.stats().jitter.concealed, 1, "{:?}", b.stats());
        assert!(played[16_000..].iter().any(|s| s.abs() > 3000));
        // Two frames of 320 samples: the RTP clock moves 160 ticks each.
        let t0 = Instant::now();
        let mut c = session(Codec::G722, "10.0.0.2:4000", t0, 3);
        let stamp = |t: Transmit| {
            rtp::packet::Packet::unmarshal(&mut &t.data[..])
                .unwrap()
                .header
                .timestamp
        };
        let first = stamp(c.send_audio(&tone(320, 0), t0).unwrap());
        let second = stamp(
            c.send_audio(&tone(320, 320), t0 + Duration::from_millis(20))
                .unwrap(),
        );
        assert_eq!(second.wrapping_sub(first), 160);
        let q = b.quality();
        assert!((q.loss_percent - 1.0).abs() < 0.5, "{q:?}");
    }

    #[test]
    fn dtmf_goes_out_instead_of_audio_and_is_heard_once() {
        let t0 = Instant::now();
        let mut a = session(Codec::Pcmu, "10.0.0.2:4000", t0, 1);
        let mut b = session(Codec::Pcmu, "10.0.0.1:5000", t0, 2);
        assert!(!a.press("1z"));
        assert!(a.press("42#"));
        for k in 0..40 {
            let now = t0 + Duration::from_millis(20 * k);
            if let Some(t) = a.send_audio(&[0; 160], now) {
                b.receive_rtp(addr("10.0.0.1:5000"), &t.data, now);
            }
        }
        let digits: String = std::iter::from_fn(|| b.poll_event())
            .filter_map(|e| match e {
                MediaEvent::Dtmf(d) => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(digits, "42#");
        let _ = dtmf::digit_of(0);
    }

    #[test]
    fn latches_to_the_source_and_ignores_strangers_and_garbage() {
        let t0 = Instant::now();
        let mut a = session(Codec::Pcmu, "10.0.0.2:4000", t0, 1);
        let mut intruder = session(Codec::Pcmu, "10.0.0.2:4000", t0, 9);
        let mut b = session(Codec::Pcmu, "192.0.2.9:9", t0, 2);
        let peer = addr("203.0.113.5:6000");
        let t = a.send_audio(&[0; 160], t0).unwrap();
        b.receive_rtp(peer, &t.data, t0);
        assert_eq!(b.remote(), peer, "behind NAT");
        b.receive_rtp(peer, b"\x00garbage", t0);
        b.receive_rtcp(addr("203.0.113.5:6001"), b"\x81\xc9", t0);
        let mut wrong_pt = t.data.clone();
        wrong_pt[1] = 13; // comfort noise, not negotiated
        b.receive_rtp(peer, &wrong_pt, t0);
        assert_eq!(b.stats().ignored_packets, 3);
        assert_eq!(b.stats().strangers, 0);

        // Somebody else who reaches the port cannot talk into the call, nor end it.
        let stranger = addr("198.51.100.66:7000");
        for k in 1..20u64 {
            let now = t0 + Duration::from_millis(20 * k);
            let t = intruder.send_audio(&tone(160, 0), now).unwrap();
            b.receive_rtp(stranger, &t.data, now);
            let t = a.send_audio(&[0; 160], now).unwrap();
            b.receive_rtp(peer, &t.data, now);
        }
        assert_eq!(b.stats().strangers, 19);
        assert_eq!(b.remote(), peer);
        let bye = intruder.bye(t0).unwrap();
        b.receive_rtcp(addr("198.51.100.66:7001"), &bye.data, t0);
        assert_eq!(b.poll_event(), None);
        let bye = a.bye(t0).unwrap();
        b.receive_rtcp(addr("203.0.113.5:6001"), &bye.data, t0);
        assert_eq!(b.poll_event(), Some(MediaEvent::Bye));
    }

    #[test]
    fn a_peer_that_moves_behind_its_nat_is_followed_once_its_old_address_is_silent() {
        let t0 = Instant::now();
        let mut a = session(Codec::Pcmu, "10.0.0.2:4000", t0, 1);
        let mut b = session(Codec::Pcmu, "192.0.2.9:9", t0, 2);
        let (old, new) = (addr("203.0.113.5:6000"), addr("203.0.113.5:6100"));
        let mut now = t0;
        for _ in 0..10 {
            now += Duration::from_millis(20);
            b.receive_rtp(old, &a.send_audio(&[0; 160], now).unwrap().data, now);
        }
        // Its NAT rebinds: the same stream from another port, after 2 s of nothing.
        now += Duration::from_secs(2);
        for k in 0..RELATCH_PACKETS {
            now += Duration::from_millis(20);
            b.receive_rtp(new, &a.send_audio(&[0; 160], now).unwrap().data, now);
            assert_eq!(b.remote() == new, k + 1 == RELATCH_PACKETS, "packet {k}");
        }
    }

    #[test]
    fn packets_that_arrive_but_never_play_are_a_fault_not_a_good_call() {
        // A jitter buffer that cannot play what comes would leave the listener in silence
        // with every packet "received": the report must say so.
        let t0 = Instant::now();
        let mut a = session(Codec::Pcmu, "10.0.0.2:4000", t0, 1);
        let mut b = session(Codec::Pcmu, "10.0.0.1:5000", t0, 2);
        b.agreed.direction = Direction::SendRecv;
        for k in 0..300u64 {
            let now = t0 + Duration::from_millis(20 * k);
            let t = a.send_audio(&tone(160, 0), now).unwrap();
            b.receive_rtp(addr("10.0.0.1:5000"), &t.data, now);
            // No playout: nothing is taken from the buffer.
        }
        let mark = Mark::default();
        let q = b.quality_since(mark);
        assert!(q.stalled && q.is_poor(), "{q:?}");
        assert_eq!(q.mos, 1.0);
    }

    #[test]
    fn on_hold_nothing_is_sent_and_silence_is_played() {
        let t0 = Instant::now();
        let mut s = agreed(Codec::Pcmu, "10.0.0.2:4000");
        s.direction = Direction::RecvOnly;
        let mut a =
            MediaSession::new(s, JitterConfig::default(), SessionStart::fixed(t0, 1)).unwrap();
        assert!(a.send_audio(&tone(160, 0), t0).is_none());
        s.direction = Direction::SendOnly;
        a.update(s).unwrap();
        assert!(a.send_audio(&tone(160, 0), t0).is_some());
        let mut out = Vec::new();
        a.play(t0, &mut out);
        assert_eq!(out, vec![0; 160]);
    }
}

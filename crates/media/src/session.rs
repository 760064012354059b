//! One call's audio stream, sans-IO: PCM frames in → RTP out, RTP in → jitter buffer →
//! PCM frames out at the playout clock's pace, RTCP both ways, DTMF both ways, quality.
//! The caller owns sockets and clocks and passes `now` to every call.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rtcp::goodbye::Goodbye;
use rtcp::packet::Packet as RtcpPacket;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use webrtc_util::marshal::{Marshal, Unmarshal};

use crate::codec::{Codec, CodecError, Decoder, Encoder};
use crate::dtmf::{DtmfReceiver, DtmfSender};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::quality::{self, Quality, ReceiveStats};
use crate::sdp::{Direction, Negotiated};
use crate::srtp::Srtp;
use crate::srtp::SrtpError;

/// RTCP report interval (RFC 3550 §6.2's minimum, randomised ±50 % as §6.3.1 asks).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why a stream cannot start or change: its codec or its SRTP keys.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Srtp(#[from] SrtpError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Dtmf(char),
    /// Sent with each RTCP report we make (every ~5 s).
    Quality(Quality),
    /// The peer said RTCP BYE.
    Bye,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub sent_packets: u32,
    pub received_packets: u32,
    pub ignored_packets: u32,
    pub jitter: JitterStats,
}

pub struct MediaSession {
    agreed: Negotiated,
    encoder: Box<dyn Encoder>,
    decoder: Box<dyn Decoder>,
    jitter: JitterBuffer,
    jitter_config: JitterConfig,
    ssrc: u32,
    seq: u16,
    ts: u32,
    dtmf_out: DtmfSender,
    dtmf_in: DtmfReceiver,
    dtmf_ts: u32,
    remote_ssrc: Option<u32>,
    latched_rtp: bool,
    latched_rtcp: bool,
    recv: ReceiveStats,
    sent_packets: u32,
    sent_octets: u32,
    ignored: u32,
    last_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
    remote_loss: Option<f32>,
    epoch: Instant,
    wall_epoch: Duration,
    next_rtcp: Instant,
    events: VecDeque<MediaEvent>,
    cname: Bytes,
    payload: Vec<u8>,
    srtp: Option<Srtp>,
}

impl MediaSession {
    pub fn new(
        agreed: Negotiated,
        jitter_config: JitterConfig,
        now: Instant,
    ) -> Result<Self, SessionError> {
        let codec = agreed.codec;
        let ssrc: u32 = rand::random();
        let mut jitter = JitterBuffer::new(codec.rtp_clock_rate(), jitter_config);
        jitter.set_quiet(codec.quiet());
        Ok(MediaSession {
            encoder: codec.encoder()?,
            decoder: codec.decoder()?,
            jitter,
            jitter_config,
            ssrc,
            seq: rand::random(),
            ts: rand::random(),
            dtmf_out: dtmf_sender(&agreed),
            dtmf_in: DtmfReceiver::default(),
            dtmf_ts: 0,
            remote_ssrc: None,
            latched_rtp: false,
            latched_rtcp: false,
            recv: ReceiveStats::default(),
            sent_packets: 0,
            sent_octets: 0,
            ignored: 0,
            last_sr: None,
            rtt: None,
            remote_loss: None,
            epoch: now,
            wall_epoch: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            next_rtcp: now + RTCP_INTERVAL / 2,
            events: VecDeque::new(),
            cname: Bytes::from(format!("ringdesk-{ssrc:08x}")),
            payload: Vec::with_capacity(1500),
            srtp: srtp_for(&agreed)?,
            agreed,
        })
    }

    pub fn codec(&self) -> Codec {
        self.agreed.codec
    }

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

    /// A new offer/answer in the same call (hold, resume, a new address or codec).
    pub fn update(&mut self, agreed: Negotiated) -> Result<(), SessionError> {
        if agreed.codec != self.agreed.codec {
            let codec = agreed.codec;
            self.encoder = codec.encoder()?;
            self.decoder = codec.decoder()?;
            self.jitter = JitterBuffer::new(codec.rtp_clock_rate(), self.jitter_config);
            self.jitter.set_quiet(codec.quiet());
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
            self.latched_rtp = false;
            self.latched_rtcp = false;
        }
        self.agreed = agreed;
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
        let audio = h.payload_type == self.agreed.payload_type;
        let dtmf = Some(h.payload_type) == self.agreed.dtmf_payload_type;
        if !audio && !dtmf {
            self.ignored += 1;
            return;
        }
        // Symmetric RTP (RFC 4961): behind NAT the peer is where its packets come from.
        if !self.latched_rtp {
            self.latched_rtp = true;
            if from != self.agreed.remote_rtp {
                tracing::debug!(%from, signalled = %self.agreed.remote_rtp, "RTP latched to source");
                self.agreed.remote_rtp = from;
            }
        }
        if self.remote_ssrc != Some(h.ssrc) {
            self.remote_ssrc = Some(h.ssrc);
            self.recv = ReceiveStats::default();
        }
        let rate = f64::from(self.agreed.codec.rtp_clock_rate());
        let arrival =
            (now.saturating_duration_since(self.epoch).as_secs_f64() * rate) as u64 as u32;
        self.recv.update(h.sequence_number, h.timestamp, arrival);
        if dtmf {
            if let Some(digit) = self.dtmf_in.receive(h.timestamp, &packet.payload) {
                self.events.push_back(MediaEvent::Dtmf(digit));
            }
        } else if self.agreed.direction.receives() {
            self.jitter.push(h.timestamp, packet.payload.clone(), now);
        }
    }

    /// One frame for the speaker, at the pace of the playout clock.
    pub fn play(&mut self, now: Instant, out: &mut Vec<i16>) {
        // The buffer counts in RTP ticks; the speaker in samples (they differ for G.722).
        let frame = self
            .agreed
            .codec
            .ticks_to_samples(self.jitter.frame_samples());
        if !self.agreed.direction.receives() {
            out.resize(out.len() + frame, 0);
            return;
        }
        match self.jitter.pop(now) {
            Playout::Silence => out.resize(out.len() + frame, 0),
            Playout::Frame(payload) => {
                let before = out.len();
                if let Err(e) = self.decoder.decode(&payload, out) {
                    tracing::debug!(error = %e, "undecodable frame concealed");
                    out.truncate(before);
                    self.decoder.conceal(None, frame, out);
                }
            }
            Playout::Lost { next } => self.decoder.conceal(next.as_deref(), frame, out),
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
        if !self.latched_rtcp {
            self.latched_rtcp = true;
            self.agreed.remote_rtcp = from;
        }
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

    /// Our RTCP report when it is due (check every frame); emits a quality event with it.
    pub fn poll_rtcp(&mut self, now: Instant) -> Option<Transmit> {
        if now < self.next_rtcp {
            return None;
        }
        let spread = rand::random::<f64>() + 0.5;
        self.next_rtcp = now + RTCP_INTERVAL.mul_f64(spread);
        let data = self.report(now, None);
        self.events.push_back(MediaEvent::Quality(self.quality()));
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

    pub fn quality(&self) -> Quality {
        let rate = f64::from(self.agreed.codec.rtp_clock_rate());
        let jitter = Duration::from_secs_f64(f64::from(self.recv.jitter()) / rate);
        let expected = self.recv.expected();
        let loss_percent = if expected == 0 {
            0.0
        } else {
            (self.recv.lost().max(0) as f32) * 100.0 / expected as f32
        };
        let buffer_delay = self.jitter.target_delay();
        let one_way = self.rtt.unwrap_or_default() / 2
            + buffer_delay
            + Duration::from_millis(u64::from(crate::codec::FRAME_MS));
        // G.113: G.711 with concealment Ie 0, Bpl 25.1; Opus is scored on the same scale.
        let mos = quality::mos(one_way, loss_percent, 0.0, 25.1);
        Quality {
            jitter,
            loss_percent,
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
        let mut a =
            MediaSession::new(agreed(codec, "10.0.0.2:4000"), JitterConfig::default(), t0).unwrap();
        let mut b =
            MediaSession::new(agreed(codec, "10.0.0.1:5000"), JitterConfig::default(), t0).unwrap();
        let n = a.frame_samples();
        let mut played = Vec::new();
        for k in 0..frames {
            let now = t0 + Duration::from_millis(20 * k as u64);
            if let Some(t) = a.send_audio(&tone(n, k * n), now) {
                assert_eq!(t.to, "10.0.0.2:4000".parse().unwrap());
                if !drop(k) {
                    b.receive_rtp(
                        "10.0.0.1:5000".parse().unwrap(),
                        &t.data,
                        now + Duration::from_millis(5),
                    );
                }
            }
            b.play(now + Duration::from_millis(10), &mut played);
            if let Some(r) = b.poll_rtcp(now) {
                a.receive_rtcp(
                    "10.0.0.2:4001".parse().unwrap(),
                    &r.data,
                    now + Duration::from_millis(1),
                );
            }
            if let Some(r) = a.poll_rtcp(now) {
                b.receive_rtcp(
                    "10.0.0.1:5001".parse().unwrap(),
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
        assert!(q.mos < 4.2 && q.mos > 3.3, "{q:?}");
        let remote = a.quality();
        assert!(
            remote.remote_loss_percent.is_some(),
            "a heard b's report: {remote:?}"
        );
        assert!(remote.round_trip.is_some(), "rtt from LSR/DLSR: {remote:?}");
        assert!(b.stats().jitter.concealed >= 25, "{:?}", b.stats());
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
        let mut c = MediaSession::new(
            agreed(Codec::G722, "10.0.0.2:4000"),
            JitterConfig::default(),
            t0,
        )
        .unwrap();
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
        let mut a = MediaSession::new(
            agreed(Codec::Pcmu, "10.0.0.2:4000"),
            JitterConfig::default(),
            t0,
        )
        .unwrap();
        let mut b = MediaSession::new(
            agreed(Codec::Pcmu, "10.0.0.1:5000"),
            JitterConfig::default(),
            t0,
        )
        .unwrap();
        assert!(!a.press("1z"));
        assert!(a.press("42#"));
        for k in 0..40 {
            let now = t0 + Duration::from_millis(20 * k);
            if let Some(t) = a.send_audio(&[0; 160], now) {
                b.receive_rtp("10.0.0.1:5000".parse().unwrap(), &t.data, now);
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
        let mut a = MediaSession::new(
            agreed(Codec::Pcmu, "10.0.0.2:4000"),
            JitterConfig::default(),
            t0,
        )
        .unwrap();
        let mut b = MediaSession::new(
            agreed(Codec::Pcmu, "192.0.2.9:9"),
            JitterConfig::default(),
            t0,
        )
        .unwrap();
        let t = a.send_audio(&[0; 160], t0).unwrap();
        b.receive_rtp("203.0.113.5:6000".parse().unwrap(), &t.data, t0);
        assert_eq!(
            b.remote(),
            "203.0.113.5:6000".parse().unwrap(),
            "behind NAT"
        );
        b.receive_rtp("203.0.113.5:6000".parse().unwrap(), b"\x00garbage", t0);
        b.receive_rtcp("203.0.113.5:6001".parse().unwrap(), b"\x81\xc9", t0);
        let mut wrong_pt = t.data.clone();
        wrong_pt[1] = 13; // comfort noise, not negotiated
        b.receive_rtp("203.0.113.5:6000".parse().unwrap(), &wrong_pt, t0);
        assert_eq!(b.stats().ignored_packets, 3);
        let bye = a.bye(t0).unwrap();
        b.receive_rtcp("10.0.0.1:5001".parse().unwrap(), &bye.data, t0);
        assert_eq!(b.poll_event(), Some(MediaEvent::Bye));
    }

    #[test]
    fn on_hold_nothing_is_sent_and_silence_is_played() {
        let t0 = Instant::now();
        let mut s = agreed(Codec::Pcmu, "10.0.0.2:4000");
        s.direction = Direction::RecvOnly;
        let mut a = MediaSession::new(s, JitterConfig::default(), t0).unwrap();
        assert!(a.send_audio(&tone(160, 0), t0).is_none());
        s.direction = Direction::SendOnly;
        a.update(s).unwrap();
        assert!(a.send_audio(&tone(160, 0), t0).is_some());
        let mut out = Vec::new();
        a.play(t0, &mut out);
        assert_eq!(out, vec![0; 160]);
    }
}

//! The codecs a call can use and their encoders and decoders: G.711 (µ-law, A-law) with our
//! concealment, G.722 (wideband ADPCM, through the `audio-codec` crate) with the same
//! concealment at 16 kHz, and Opus through libopus with in-band FEC and its own concealment.
//! Audio is 16-bit mono at the codec's rate; frames are 20 ms.

use crate::g711;
use crate::plc::Plc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Opus,
    G722,
    Pcmu,
    Pcma,
}

/// Frame length of everything we send.
pub const FRAME_MS: u32 = 20;

impl Codec {
    pub fn from_name(name: &str) -> Option<Codec> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(Codec::Opus),
            "g722" => Some(Codec::G722),
            "pcmu" => Some(Codec::Pcmu),
            "pcma" => Some(Codec::Pcma),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::G722 => "G722",
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Opus => None,
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
        }
    }

    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            // RFC 3551 §4.5.2: G.722's clock says 8000 though it samples at 16 kHz.
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8_000,
        }
    }

    /// The rate of the PCM that goes in and comes out.
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::G722 => 16_000,
            _ => self.rtp_clock_rate(),
        }
    }

    /// PCM samples in one frame.
    pub fn frame_samples(self) -> usize {
        (self.sample_rate() * FRAME_MS / 1000) as usize
    }

    /// RTP clock ticks in one frame.
    pub fn frame_ticks(self) -> u32 {
        self.rtp_clock_rate() * FRAME_MS / 1000
    }

    /// `ticks` of the RTP clock in PCM samples.
    pub fn ticks_to_samples(self, ticks: usize) -> usize {
        ticks * self.sample_rate() as usize / self.rtp_clock_rate() as usize
    }

    pub fn rtpmap(self) -> &'static str {
        match self {
            Codec::Opus => "opus/48000/2",
            Codec::G722 => "G722/8000",
            Codec::Pcmu => "PCMU/8000",
            Codec::Pcma => "PCMA/8000",
        }
    }

    pub fn fmtp(self) -> Option<&'static str> {
        match self {
            Codec::Opus => Some("useinbandfec=1;minptime=10"),
            _ => None,
        }
    }

    pub fn matches(self, name: &str, clock_rate: u32) -> bool {
        name.eq_ignore_ascii_case(self.name()) && clock_rate == self.rtp_clock_rate()
    }

    pub fn encoder(self) -> Result<Box<dyn Encoder>, CodecError> {
        Ok(match self {
            Codec::Pcmu => Box::new(G711Encoder(g711::ulaw_encode)),
            Codec::Pcma => Box::new(G711Encoder(g711::alaw_encode)),
            Codec::Opus => Box::new(OpusEncoder::new()?),
            Codec::G722 => Box::new(G722Encoder(audio_codec::g722::G722Encoder::new())),
        })
    }

    pub fn decoder(self) -> Result<Box<dyn Decoder>, CodecError> {
        Ok(match self {
            Codec::Pcmu => Box::new(G711Decoder::new(g711::ulaw_decode)),
            Codec::Pcma => Box::new(G711Decoder::new(g711::alaw_decode)),
            Codec::Opus => Box::new(OpusDecoder::new()?),
            Codec::G722 => Box::new(G722Decoder {
                inner: audio_codec::g722::G722Decoder::new(),
                plc: Plc::new(16_000),
            }),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    #[error("G.722: {0}")]
    G722(String),
}

pub trait Encoder: Send {
    /// Encodes one frame of PCM, appending the payload to `out`.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError>;
    /// The peer's reported loss, for codecs that protect themselves against it.
    fn set_expected_loss(&mut self, _percent: u8) {}
}

pub trait Decoder: Send {
    /// Decodes one payload, appending PCM to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Appends `samples` of concealment for a lost frame; `next` is the packet after it,
    /// from which a codec with in-band FEC rebuilds the lost one.
    fn conceal(&mut self, next: Option<&[u8]>, samples: usize, out: &mut Vec<i16>);
}

struct G711Encoder(fn(i16) -> u8);

impl Encoder for G711Encoder {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend(pcm.iter().map(|s| (self.0)(*s)));
        Ok(())
    }
}

struct G711Decoder {
    law: fn(u8) -> i16,
    plc: Plc,
}

impl G711Decoder {
    fn new(law: fn(u8) -> i16) -> Self {
        G711Decoder {
            law,
            plc: Plc::new(8000),
        }
    }
}

impl Decoder for G711Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let start = out.len();
        out.extend(payload.iter().map(|b| (self.law)(*b)));
        if let Some(frame) = out.get_mut(start..) {
            self.plc.good(frame);
        }
        Ok(())
    }

    fn conceal(&mut self, _next: Option<&[u8]>, samples: usize, out: &mut Vec<i16>) {
        conceal_with(&mut self.plc, samples, out);
    }
}

/// Appends `samples` of `plc`'s concealment for a lost frame.
fn conceal_with(plc: &mut Plc, samples: usize, out: &mut Vec<i16>) {
    let start = out.len();
    out.resize(start + samples, 0);
    if let Some(frame) = out.get_mut(start..) {
        plc.conceal(frame);
    }
}

/// 64 kbit/s G.722 (mode 1): a byte per two 16 kHz samples.
struct G722Encoder(audio_codec::g722::G722Encoder);

impl Encoder for G722Encoder {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        use audio_codec::Encoder as _;
        let start = out.len();
        out.resize(start + self.0.max_encode_bytes(pcm.len()), 0);
        let n = self
            .0
            .encode_into(pcm, out.get_mut(start..).unwrap_or_default())
            .map_err(|e| CodecError::G722(format!("{e:?}")))?;
        out.truncate(start + n);
        Ok(())
    }
}

struct G722Decoder {
    inner: audio_codec::g722::G722Decoder,
    plc: Plc,
}

impl Decoder for G722Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        use audio_codec::Decoder as _;
        let start = out.len();
        out.resize(start + payload.len() * 2, 0);
        let n = self
            .inner
            .decode_into(payload, out.get_mut(start..).unwrap_or_default())
            .map_err(|e| CodecError::G722(format!("{e:?}")))?;
        out.truncate(start + n);
        if let Some(frame) = out.get_mut(start..) {
            self.plc.good(frame);
        }
        Ok(())
    }

    fn conceal(&mut self, _next: Option<&[u8]>, samples: usize, out: &mut Vec<i16>) {
        conceal_with(&mut self.plc, samples, out);
    }
}

/// Measured with PESQ (wideband, the benchmark's 16 kHz speech, `impaired_path` over five
/// seeds): 32 kbit/s scores 3.6, 48 kbit/s 4.0, 64 kbit/s 4.27, 80 kbit/s 4.37, 96 kbit/s 4.42
/// on a clean path; at 3 % loss 4.10, 4.23, 4.31. 80 kbit/s is where a softphone like baresip
/// sends (≈ 77 kbit/s) and clears 4.3; application, signal and complexity moved nothing.
const OPUS_BITRATE: i32 = 80_000;
/// FEC is always on and primed for this much loss until the peer reports its own figure;
/// the reported loss then sets how much of the bitrate goes to FEC (2 % rather than 5:
/// clean 4.37 → 4.40, lossy paths unchanged).
const OPUS_MIN_LOSS_PERCENT: u8 = 2;
/// The largest Opus payload (RFC 6716 §3.4, R5).
const OPUS_MAX_PAYLOAD: usize = 1275;

struct OpusEncoder {
    inner: opus::Encoder,
    buf: Vec<u8>,
    loss: u8,
}

impl OpusEncoder {
    fn new() -> Result<Self, CodecError> {
        let mut inner = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)?;
        // Voice keeps the encoder in SILK or hybrid mode, the ones that carry in-band FEC.
        inner.set_signal(opus::Signal::Voice)?;
        inner.set_inband_fec(true)?;
        inner.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))?;
        inner.set_packet_loss_perc(i32::from(OPUS_MIN_LOSS_PERCENT))?;
        Ok(OpusEncoder {
            inner,
            buf: vec![0; OPUS_MAX_PAYLOAD],
            loss: OPUS_MIN_LOSS_PERCENT,
        })
    }
}

impl Encoder for OpusEncoder {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let n = self.inner.encode(pcm, &mut self.buf)?;
        out.extend_from_slice(self.buf.get(..n).unwrap_or_default());
        Ok(())
    }

    fn set_expected_loss(&mut self, percent: u8) {
        let loss = percent.clamp(OPUS_MIN_LOSS_PERCENT, 30);
        if loss == self.loss {
            return;
        }
        self.loss = loss;
        if let Err(e) = self.inner.set_packet_loss_perc(i32::from(loss)) {
            tracing::warn!(error = %e, "opus: cannot adapt to loss");
        }
    }
}

struct OpusDecoder {
    inner: opus::Decoder,
    buf: Vec<i16>,
}

impl OpusDecoder {
    fn new() -> Result<Self, CodecError> {
        Ok(OpusDecoder {
            inner: opus::Decoder::new(48_000, opus::Channels::Mono)?,
            // 120 ms, the longest Opus packet.
            buf: vec![0; 5760],
        })
    }
}

impl Decoder for OpusDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let n = self.inner.decode(payload, &mut self.buf, false)?;
        out.extend_from_slice(self.buf.get(..n).unwrap_or_default());
        Ok(())
    }

    fn conceal(&mut self, next: Option<&[u8]>, samples: usize, out: &mut Vec<i16>) {
        let samples = samples.min(self.buf.len());
        let slot = self.buf.get_mut(..samples).unwrap_or_default();
        // With the next packet at hand its FEC data rebuilds this one; otherwise libopus's PLC.
        let decoded = match next {
            Some(next) => self.inner.decode(next, slot, true),
            None => self.inner.decode(&[], slot, false),
        };
        match decoded {
            Ok(n) => out.extend_from_slice(self.buf.get(..n).unwrap_or_default()),
            Err(e) => {
                tracing::debug!(error = %e, "opus concealment failed; silence instead");
                out.resize(out.len() + samples, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechlike(rate: u32, n: usize) -> Vec<i16> {
        // A 150 Hz voiced buzz with formant-ish partials, enough for a codec to get wrong.
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let s = (2.0 * std::f32::consts::PI * 150.0 * t).sin() * 0.5
                    + (2.0 * std::f32::consts::PI * 700.0 * t).sin() * 0.3
                    + (2.0 * std::f32::consts::PI * 1900.0 * t).sin() * 0.15;
                (s * 12000.0) as i16
            })
            .collect()
    }

    fn correlation(a: &[i16], b: &[i16]) -> f64 {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let ea: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
        let eb: f64 = b.iter().take(a.len()).map(|x| f64::from(*x).powi(2)).sum();
        dot / (ea * eb).sqrt().max(1.0)
    }

    fn best_alignment(reference: &[i16], decoded: &[i16]) -> (usize, f64) {
        (0..960)
            .map(|lag| (lag, correlation(reference, &decoded[lag..])))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
    }

    fn snr_db(reference: &[i16], decoded: &[i16]) -> f64 {
        let signal: f64 = reference.iter().map(|s| f64::from(*s).powi(2)).sum();
        let noise: f64 = reference
            .iter()
            .zip(decoded)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum();
        10.0 * (signal / noise.max(1.0)).log10()
    }

    #[test]
    fn g711_round_trips_with_its_quantisation_noise() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let pcm = speechlike(8000, 160);
            let mut enc = codec.encoder().unwrap();
            let mut dec = codec.decoder().unwrap();
            let mut payload = Vec::new();
            enc.encode(&pcm, &mut payload).unwrap();
            assert_eq!(payload.len(), 160);
            let mut out = Vec::new();
            dec.decode(&payload, &mut out).unwrap();
            let snr = snr_db(&pcm, &out);
            assert!(snr > 30.0, "{codec:?} SNR {snr:.1} dB");
        }
    }

    fn speech_48k() -> Vec<i16> {
        crate::audio::WavSource::open(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/audio/speech-48k.wav"
        )))
        .unwrap()
        .samples()
        .to_vec()
    }

    #[test]
    fn g722_carries_wideband_speech_at_64_kbit_s_with_an_8000_hz_clock() {
        assert_eq!(
            (Codec::G722.frame_samples(), Codec::G722.frame_ticks()),
            (320, 160)
        );
        assert_eq!(Codec::G722.ticks_to_samples(160), 320);
        // A 5 kHz tone, beyond what any narrowband codec carries, and speech.
        let tone: Vec<i16> = (0..3200)
            .map(|i| {
                ((i as f32 * 2.0 * std::f32::consts::PI * 5000.0 / 16_000.0).sin() * 8000.0) as i16
            })
            .collect();
        let speech = crate::audio::resample(&speech_48k(), 48_000, 16_000).unwrap();
        for (what, pcm, floor) in [("5 kHz tone", tone, 0.99), ("speech", speech, 0.98)] {
            let mut enc = Codec::G722.encoder().unwrap();
            let mut dec = Codec::G722.decoder().unwrap();
            let mut out = Vec::new();
            for frame in pcm.chunks_exact(320) {
                let mut payload = Vec::new();
                enc.encode(frame, &mut payload).unwrap();
                assert_eq!(payload.len(), 160, "64 kbit/s: 160 bytes per 20 ms");
                dec.decode(&payload, &mut out).unwrap();
            }
            let (lag, c) = best_alignment(&pcm[..pcm.len() - 960], &out);
            assert!(c > floor, "{what}: correlation {c:.4} at lag {lag}");
            // A tone aligns at any whole period; speech only at the codec's own delay.
            if what == "speech" {
                assert!(
                    lag < 64,
                    "{what}: the delay is the QMF filters' alone: {lag}"
                );
            }
        }
    }

    #[test]
    fn opus_round_trips_and_rebuilds_a_lost_frame_from_fec() {
        let pcm = speech_48k();
        let mut enc = Codec::Opus.encoder().unwrap();
        let packets: Vec<Vec<u8>> = pcm
            .chunks(960)
            .map(|f| {
                let mut p = Vec::new();
                enc.encode(f, &mut p).unwrap();
                p
            })
            .collect();
        let bytes: usize = packets.iter().map(Vec::len).sum();
        assert!(
            bytes * 8 / 3 < 86_000,
            "about 80 kbit/s: {} bit/s",
            bytes * 8 / 3
        );
        let lost: Vec<usize> = (20..140).step_by(10).collect();
        let decode_all = |use_fec: bool| {
            let mut dec = Codec::Opus.decoder().unwrap();
            let mut out = Vec::new();
            for (i, p) in packets.iter().enumerate() {
                if lost.contains(&i) {
                    let next = packets.get(i + 1).filter(|_| use_fec).map(|p| p.as_slice());
                    dec.conceal(next, 960, &mut out);
                } else {
                    dec.decode(p, &mut out).unwrap();
                }
            }
            out
        };
        let (with_fec, plc_only) = (decode_all(true), decode_all(false));
        assert_eq!(with_fec.len(), pcm.len());
        // Opus is not a waveform coder: compare by normalised correlation after aligning
        // for its look-ahead (6.5 ms).
        let (lag, whole) = best_alignment(&pcm[24_000..48_000], &with_fec[24_000..]);
        assert!(whole > 0.9, "correlation {whole:.2} at lag {lag}");
        let rebuilt = |decoded: &[i16]| {
            lost.iter()
                .map(|i| correlation(&pcm[i * 960..(i + 1) * 960], &decoded[i * 960 + lag..]))
                .sum::<f64>()
                / lost.len() as f64
        };
        let (fec, plc) = (rebuilt(&with_fec), rebuilt(&plc_only));
        assert!(
            fec > plc,
            "FEC rebuilds the lost frame better ({fec:.2}) than PLC ({plc:.2})"
        );
    }
}

//! One direction of a call through two real `MediaSession`s on simulated time: speech is
//! encoded by one, its packets cross a seeded impaired path (random loss, normally
//! distributed delay, so also reordering) and the other plays them out through its jitter
//! buffer and decoder, paced by a 20 ms playout clock. What was played is written aligned to
//! the speech, ready for PESQ (`scripts/pesq_score.py`). No sockets, no clock: the same seed
//! gives the same file, so a change to the jitter buffer or concealment is judged in seconds
//! instead of a namespaced call (`benches/call_quality.rs` in ringdesk-cli is the real one).
//!
//!     cargo run --release -p ringdesk-media --example impaired_path -- \
//!         SPEECH.wav OUT.wav [opus|pcmu|g722] [loss 0.03] [delay_ms 40] [jitter_ms 30] [seed]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use ringdesk_media::analysis;
use ringdesk_media::audio::{resample, AudioSink, AudioSource, WavSink, WavSource};
use ringdesk_media::codec::Codec;
use ringdesk_media::jitter::JitterConfig;
use ringdesk_media::sdp::{Direction, Negotiated};
use ringdesk_media::session::MediaSession;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let (speech_path, out_path) = (arg(0, "speech.wav"), arg(1, "heard.wav"));
    let codec = Codec::from_name(&arg(2, "opus")).ok_or("unknown codec")?;
    let loss: f64 = arg(3, "0.03").parse()?;
    let delay_ms: f64 = arg(4, "40").parse()?;
    let jitter_ms: f64 = arg(5, "30").parse()?;
    let seed: u64 = arg(6, "20261126").parse()?;

    let speech = WavSource::open(Path::new(&speech_path))?;
    let rate = speech.sample_rate();
    let pcm = resample(speech.samples(), rate, codec.sample_rate())?;
    let frame = codec.frame_samples();

    let address: SocketAddr = "127.0.0.1:4000".parse()?;
    let agreed = Negotiated {
        codec,
        payload_type: codec.static_payload_type().unwrap_or(111),
        dtmf_payload_type: None,
        dtmf_clock_rate: 8000,
        remote_rtp: address,
        remote_rtcp: address,
        direction: Direction::SendRecv,
        srtp: None,
    };
    let start = Instant::now();
    let mut sender = MediaSession::new(agreed, JitterConfig::default(), start)?;
    let mut receiver = MediaSession::new(agreed, JitterConfig::default(), start)?;

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tick = Duration::from_millis(20);
    // The playout clock runs at its own phase against the sender's.
    let phase = Duration::from_micros(rng.gen_range(0..20_000));
    // Packets on the way, by arrival time; the receiver's reports go back unimpaired, so the
    // sender's FEC follows the loss as in a call.
    let mut on_the_way: BTreeMap<(Duration, u64), Vec<u8>> = BTreeMap::new();
    let mut played = Vec::new();
    // A second of silence after the speech lets the deepest buffer play out.
    let frames = pcm.len().div_ceil(frame) + 50;
    for i in 0..frames + 20 {
        let sent = tick * i as u32;
        let mut chunk: Vec<i16> = pcm.iter().skip(i * frame).take(frame).copied().collect();
        chunk.resize(frame, 0);
        let packet = (i < frames)
            .then(|| sender.send_audio(&chunk, start + sent))
            .flatten();
        if let Some(packet) = packet.filter(|_| rng.gen::<f64>() >= loss) {
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let delay = Duration::from_secs_f64((delay_ms + jitter_ms * z).max(0.0) / 1000.0);
            on_the_way.insert((sent + delay, i as u64), packet.data);
        }
        let now = sent + phase;
        while let Some(entry) = on_the_way.first_entry() {
            if entry.key().0 > now {
                break;
            }
            receiver.receive_rtp(address, &entry.remove(), start + now);
        }
        receiver.play(start + now, &mut played);
        while let Some(report) = receiver.poll_rtcp(start + now) {
            sender.receive_rtcp(address, &report.data, start + now);
        }
    }
    let stats = receiver.stats().jitter;
    eprintln!(
        "{} {:.0} %: {} received, {} late, {} concealed, {} stretched, {} dropped",
        codec.name(),
        loss * 100.0,
        stats.received,
        stats.late,
        stats.concealed,
        stats.stretched,
        stats.dropped
    );

    let heard = resample(&played, codec.sample_rate(), rate)?;
    let reference = speech.samples();
    let r = rate as usize;
    let (lag, _) = analysis::align(&reference[r..3 * r], &heard, 4 * r);
    eprintln!(
        "played out {} ms after it was spoken (seconds 1–3 of the speech)",
        lag.saturating_sub(r) * 1000 / r
    );
    let cut =
        analysis::cut_aligned(reference, &heard, rate).ok_or("nothing of the speech was heard")?;
    let mut sink = WavSink::create(Path::new(&out_path), rate)?;
    sink.write(&cut);
    sink.finish();
    Ok(())
}

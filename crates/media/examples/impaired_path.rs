//! One direction of a call through two real `MediaSession`s on simulated time: speech is
//! encoded by one, its packets cross a seeded impaired path (random loss, normally
//! distributed delay, so also reordering) and the other plays them out through its jitter
//! buffer and decoder, paced by a 20 ms playout clock. What was played is written aligned to
//! the speech, ready for PESQ (`scripts/pesq_score.py`). No sockets, no clock: the same seed
//! gives the same file, so a change to the jitter buffer or concealment is judged in seconds
//! instead of a namespaced call (`benches/call_quality.rs` in ringdesk-cli is the real one).
//!
//!     cargo run --release -p ringdesk-media --example impaired_path -- SPEECH.wav OUT.wav \
//!         [codec=opus|pcmu|g722] [loss=0.03] [delay=40] [jitter=30] [seed=N] \
//!         [hold=MS] [step=MS] [repeat=N]
//!
//! `hold=MS` plays a far end that holds and resumes after the first of `repeat` plays of the
//! speech: it sends nothing for MS, then goes on with its sequence numbers where they were
//! and its timestamps moved by the time that passed plus `step` ms (off the 20 ms grid, as
//! some softphones do). OUT is then the first play after the resume, and the time from the
//! first packet after the resume to the first frame played from it is printed.

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
use ringdesk_media::session::{MediaSession, SessionStart};

struct Options {
    codec: Codec,
    loss: f64,
    delay_ms: f64,
    jitter_ms: f64,
    seed: u64,
    hold_ms: Option<u64>,
    step_ms: f64,
    repeat: usize,
}

fn options(args: &[String]) -> Result<Options, Box<dyn std::error::Error>> {
    let mut o = Options {
        codec: Codec::Opus,
        loss: 0.03,
        delay_ms: 40.0,
        jitter_ms: 30.0,
        seed: 20261126,
        hold_ms: None,
        step_ms: 7.0,
        repeat: 1,
    };
    for arg in args {
        let (key, value) = arg.split_once('=').ok_or("options are key=value")?;
        match key {
            "codec" => o.codec = Codec::from_name(value).ok_or("unknown codec")?,
            "loss" => o.loss = value.parse()?,
            "delay" => o.delay_ms = value.parse()?,
            "jitter" => o.jitter_ms = value.parse()?,
            "seed" => o.seed = value.parse()?,
            "hold" => o.hold_ms = Some(value.parse()?),
            "step" => o.step_ms = value.parse()?,
            "repeat" => o.repeat = value.parse()?,
            _ => return Err(format!("unknown option {key}").into()),
        }
    }
    if o.hold_ms.is_some() {
        o.repeat = o.repeat.max(2);
    }
    Ok(o)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (speech_path, out_path) = match args.as_slice() {
        [speech, out, ..] => (speech.clone(), out.clone()),
        _ => return Err("usage: impaired_path SPEECH.wav OUT.wav [key=value …]".into()),
    };
    let o = options(&args[2..])?;
    let codec = o.codec;

    let speech = WavSource::open(Path::new(&speech_path))?;
    let rate = speech.sample_rate();
    let pcm = resample(speech.samples(), rate, codec.sample_rate())?;
    let frame = codec.frame_samples();
    let clip_frames = pcm.len().div_ceil(frame);
    let hold_frames = o.hold_ms.map_or(0, |ms| (ms / 20) as usize);
    // The sender's timeline: the first play, the hold (nothing sent), the other plays.
    let resume_frame = clip_frames + hold_frames;
    let content = |i: usize| -> Vec<i16> {
        let k = if i < clip_frames {
            i
        } else if i < resume_frame {
            return vec![0; frame];
        } else {
            (i - resume_frame) % clip_frames
        };
        let mut chunk: Vec<i16> = pcm.iter().skip(k * frame).take(frame).copied().collect();
        chunk.resize(frame, 0);
        chunk
    };
    let sent_frames = clip_frames * o.repeat + hold_frames;

    let address: SocketAddr = "127.0.0.1:4000".parse()?;
    let agreed = Negotiated {
        codec,
        payload_type: codec.static_payload_type().unwrap_or(111),
        receivable: Default::default(),
        dtmf_payload_type: None,
        dtmf_clock_rate: 8000,
        remote_rtp: address,
        remote_rtcp: address,
        direction: Direction::SendRecv,
        srtp: None,
    };
    let start = Instant::now();
    let mut sender = MediaSession::new(
        agreed,
        JitterConfig::default(),
        SessionStart::fixed(start, o.seed),
    )?;
    let mut receiver = MediaSession::new(
        agreed,
        JitterConfig::default(),
        SessionStart::fixed(start, o.seed + 1),
    )?;

    let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
    let tick = Duration::from_millis(20);
    // The playout clock runs at its own phase against the sender's.
    let phase = Duration::from_micros(rng.gen_range(0..20_000));
    // Packets on the way, by arrival time; the receiver's reports go back unimpaired, so the
    // sender's FEC follows the loss as in a call.
    let mut on_the_way: BTreeMap<(Duration, u64), Vec<u8>> = BTreeMap::new();
    let mut played = Vec::new();
    let step_ticks = (o.step_ms * f64::from(codec.rtp_clock_rate()) / 1000.0).round() as u32;
    let (mut resumed_at, mut heard_again_at) = (None, None);
    let mut resume_sample = 0;
    // A second of silence after the speech lets the deepest buffer play out.
    let frames = sent_frames + 50;
    for i in 0..frames + 20 {
        let sent = tick * i as u32;
        let packet = (i < frames)
            .then(|| sender.send_audio(&content(i), start + sent))
            .flatten()
            .filter(|_| o.hold_ms.is_none() || !(clip_frames..resume_frame).contains(&i))
            .map(|p| {
                if o.hold_ms.is_none() || i < resume_frame {
                    return p.data;
                }
                // On resume: sequence numbers go on, timestamps moved by the hold and the step.
                analysis::rewrite_rtp(&p.data, |h| {
                    h.sequence_number = h.sequence_number.wrapping_sub(hold_frames as u16);
                    h.timestamp = h.timestamp.wrapping_add(step_ticks);
                })
                .unwrap_or(p.data)
            });
        if let Some(packet) = packet.filter(|_| rng.gen::<f64>() >= o.loss) {
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let delay = Duration::from_secs_f64((o.delay_ms + o.jitter_ms * z).max(0.0) / 1000.0);
            on_the_way.insert((sent + delay, i as u64), packet);
        }
        let now = sent + phase;
        while let Some(entry) = on_the_way.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, index), packet) = entry.remove_entry();
            if index as usize >= resume_frame && o.hold_ms.is_some() && resumed_at.is_none() {
                resumed_at = Some(now);
                resume_sample = played.len();
            }
            receiver.receive_rtp(address, &packet, start + now);
        }
        let before = receiver.stats().jitter.played;
        receiver.play(start + now, &mut played);
        if resumed_at.is_some()
            && heard_again_at.is_none()
            && receiver.stats().jitter.played > before
        {
            heard_again_at = Some(now);
        }
        while let Some(report) = receiver.poll_rtcp(start + now) {
            sender.receive_rtcp(address, &report.data, start + now);
        }
    }
    let stats = receiver.stats().jitter;
    eprintln!(
        "{} {:.0} %: {} received, {} late, {} concealed, {} stretched, {} dropped",
        codec.name(),
        o.loss * 100.0,
        stats.received,
        stats.late,
        stats.concealed,
        stats.stretched,
        stats.dropped
    );
    let quality = receiver.quality();
    eprintln!(
        "reported: loss {:.1} %, concealed {:.1} %, MOS {:.2}{}",
        quality.loss_percent,
        quality.concealed_percent,
        quality.mos,
        if quality.stalled { ", stalled" } else { "" }
    );
    if let Some(resumed) = resumed_at {
        match heard_again_at {
            Some(heard) => eprintln!(
                "after the resume: audio played {} ms after its first packet arrived",
                (heard - resumed).as_millis()
            ),
            None => eprintln!("after the resume: nothing played again"),
        }
    }

    let heard = resample(&played[resume_sample..], codec.sample_rate(), rate)?;
    let reference = speech.samples();
    let r = rate as usize;
    for (from, to) in [(1, 3), (5, 7)] {
        let Some(part) = reference.get(from * r..to * r) else {
            continue;
        };
        let (lag, _) = analysis::align(part, &heard, (from + 3) * r);
        eprintln!(
            "played out {} ms after it was spoken (seconds {from}–{to} of the speech)",
            lag.saturating_sub(from * r) * 1000 / r
        );
    }
    // Nothing recognisable after the resume still gives a file to score: the silence it was.
    let cut = analysis::cut_aligned(reference, &heard, rate).unwrap_or_else(|| {
        eprintln!("nothing of the speech was heard");
        let mut first = heard.clone();
        first.resize(reference.len(), 0);
        first
    });
    let mut sink = WavSink::create(Path::new(&out_path), rate)?;
    sink.write(&cut);
    sink.finish();
    Ok(())
}

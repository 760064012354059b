//! CPU per active call for the audio work, in percent of one core: each 20 ms frame is
//! captured from a 48 kHz headset through voice processing (echo cancellation, noise
//! suppression, gain), resampled to the codec's rate, encoded, decoded, resampled for the
//! headset and rendered to the canceller, as the driver does.
//!
//!     cargo bench -p ringdesk-media --bench per_call_cpu
//!
//! The sockets, RTP and the driver's tick come on top; `cargo bench -p ringdesk-cli --bench
//! call_quality` measures the whole CLI process during calls (without voice processing, since
//! it plays files).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ringdesk_media::audio::Resampler;
use ringdesk_media::codec::Codec;
use ringdesk_media::voice::VoiceProcessor;

const FRAMES: usize = 2_500; // 50 s of audio

fn speech(rate: u32) -> Vec<i16> {
    (0..rate as usize * 2)
        .map(|i| {
            let t = i as f32 / rate as f32;
            ((t * 2.0 * std::f32::consts::PI * 180.0).sin() * 6000.0
                + (t * 2.0 * std::f32::consts::PI * 1100.0).sin() * 2000.0) as i16
        })
        .collect()
}

/// The headset's rate.
const DEVICE_RATE: u32 = 48_000;

fn per_call(codec: Codec, voice: bool) -> (Duration, f64) {
    let n = (DEVICE_RATE / 50) as usize;
    let pcm = speech(DEVICE_RATE);
    let mut encoder = codec.encoder().unwrap();
    let mut decoder = codec.decoder().unwrap();
    let mut capture = Resampler::new(DEVICE_RATE, codec.sample_rate()).unwrap();
    let mut playback = Resampler::new(codec.sample_rate(), DEVICE_RATE).unwrap();
    let mut processor = voice.then(|| VoiceProcessor::new(DEVICE_RATE, DEVICE_RATE).unwrap());
    let (mut frame, mut payload, mut decoded, mut played) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    for k in 0..FRAMES {
        let start = (k * n) % (pcm.len() - n);
        let mut captured = pcm[start..start + n].to_vec();
        if let Some(p) = processor.as_mut() {
            p.capture(&mut captured);
        }
        frame.clear();
        capture.process(&captured, &mut frame);
        payload.clear();
        encoder.encode(&frame, &mut payload).unwrap();
        decoded.clear();
        decoder.decode(black_box(&payload), &mut decoded).unwrap();
        played.clear();
        playback.process(&decoded, &mut played);
        if let Some(p) = processor.as_mut() {
            p.render(&played);
        }
    }
    let spent = started.elapsed();
    let audio = Duration::from_millis(20 * FRAMES as u64);
    (
        spent / FRAMES as u32,
        spent.as_secs_f64() / audio.as_secs_f64() * 100.0,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // A shared machine's neighbours show up as noise in single runs: five runs each, the
    // least disturbed (min) and the typical (median) reported.
    const RUNS: usize = 5;
    for codec in [Codec::Pcmu, Codec::G722, Codec::Opus] {
        for voice in [false, true] {
            let mut runs: Vec<(Duration, f64)> =
                (0..RUNS).map(|_| per_call(codec, voice)).collect();
            runs.sort_by(|a, b| a.1.total_cmp(&b.1));
            let ((min_frame, min), (median_frame, median)) = (runs[0], runs[RUNS / 2]);
            println!(
                "{:<5} {:<22} {:>6.1} µs / {:>6.1} µs per 20 ms frame = {:.2} % / {:.2} % of one core (min / median of {RUNS})",
                codec.name(),
                if voice {
                    "with voice processing"
                } else {
                    "no voice processing"
                },
                min_frame.as_secs_f64() * 1e6,
                median_frame.as_secs_f64() * 1e6,
                min,
                median
            );
        }
    }
}

//! What recording a call adds, per call, in percent of one core: the media thread lines both
//! directions up at 16 kHz (`Pairing`: resampling from the codec's rate), the recorder's thread
//! encodes stereo Opus and writes Ogg pages to a file — as the driver and `Recorder` do. Also
//! the file's size per minute of call.
//!
//!     cargo bench -p ringdesk-media --bench recording_cost
//!
//! Same method as `per_call_cpu` (50 s of audio, five runs, least disturbed and median).

use std::fs::File;
use std::time::{Duration, Instant};

use ringdesk_media::recording::{OggOpusWriter, Pairing};

const FRAMES: usize = 2_500; // 50 s of audio

fn speech(rate: u32, hz: f32) -> Vec<i16> {
    (0..rate as usize * 2)
        .map(|i| {
            let t = i as f32 / rate as f32;
            ((t * 2.0 * std::f32::consts::PI * hz).sin() * 6000.0
                + (t * 2.0 * std::f32::consts::PI * 1100.0).sin() * 2000.0) as i16
        })
        .collect()
}

/// (media thread, recorder thread) time per 20 ms frame, and the file's bytes.
fn run(rate: u32) -> (Duration, Duration, u64) {
    let n = (rate / 50) as usize;
    let (ours, theirs) = (speech(rate, 180.0), speech(rate, 240.0));
    let dir = std::env::temp_dir().join(format!("ringdesk-bench-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("call.opus");
    let mut pairing = Pairing::new(rate).unwrap();
    let mut writer = OggOpusWriter::new(File::create(&path).unwrap(), 1).unwrap();
    let (mut media, mut recorder) = (Duration::ZERO, Duration::ZERO);
    for k in 0..FRAMES {
        let start = (k * n) % (ours.len() - n);
        let t = Instant::now();
        pairing.sent(&ours[start..start + n]);
        pairing.heard(&theirs[start..start + n]);
        let frame = pairing.frame();
        media += t.elapsed();
        if let Some((left, right)) = frame {
            let t = Instant::now();
            writer.write(&left, &right).unwrap();
            recorder += t.elapsed();
        }
    }
    writer.finish().unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    std::fs::remove_dir_all(dir).unwrap();
    (media / FRAMES as u32, recorder / FRAMES as u32, bytes)
}

fn percent(per_frame: Duration) -> f64 {
    per_frame.as_secs_f64() / 0.020 * 100.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    const RUNS: usize = 5;
    for (codec, rate) in [("PCMU/G.711", 8_000), ("G.722", 16_000), ("Opus", 48_000)] {
        let mut runs: Vec<(Duration, Duration, u64)> = (0..RUNS).map(|_| run(rate)).collect();
        runs.sort_by_key(|r| r.0 + r.1);
        let (least, median) = (runs[0], runs[RUNS / 2]);
        let per_minute = least.2 as f64 / (FRAMES as f64 * 0.020) * 60.0 / 1024.0;
        println!(
            "recording a {codec} call ({rate} Hz): media thread {:.3} % of a core (median {:.3} %), \
             recorder thread {:.2} % (median {:.2} %), total {:.2} %; file {per_minute:.0} KiB a minute",
            percent(least.0),
            percent(median.0),
            percent(least.1),
            percent(median.1),
            percent(least.0 + least.1),
        );
    }
}

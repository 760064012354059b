//! Two calls' media wired to each other over real UDP on loopback, speech both ways.

use std::path::Path;
use std::time::Duration;

use ringdesk_media::analysis;
use ringdesk_media::audio::{MemorySink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::sdp::Direction;
use ringdesk_media::session::MediaEvent;

fn speech(name: &str) -> WavSource {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/audio")
        .join(name);
    WavSource::open(&path).unwrap()
}

fn samples(name: &str) -> Vec<i16> {
    speech(name).samples().to_vec()
}

/// Waits until `done` holds (checked every 20 ms), failing the test after `limit`.
async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn call(
    codecs: Vec<Codec>,
    encrypted: bool,
    file: &str,
    rate: u32,
    seconds: u64,
) -> (Vec<i16>, Vec<i16>, Codec) {
    let local = "127.0.0.1".parse().unwrap();
    let (a_heard, b_heard) = (MemorySink::new(rate), MemorySink::new(rate));
    let mut a = CallMedia::new(
        local,
        codecs.clone(),
        encrypted,
        Box::new(speech(file)),
        Box::new(a_heard.clone()),
    )
    .await
    .unwrap();
    let mut b = CallMedia::new(
        local,
        codecs,
        encrypted,
        Box::new(speech(file)),
        Box::new(b_heard.clone()),
    )
    .await
    .unwrap();
    let offer = a.offer(Direction::SendRecv);
    assert_eq!(
        String::from_utf8_lossy(&offer).contains("RTP/SAVP"),
        encrypted
    );
    let answer = b.answer(&offer).unwrap();
    a.answered(&answer).unwrap();
    let codec = a.negotiated().unwrap().codec;
    // Keys replace audio while they last: press them once the compared stretch (seconds 1.5
    // to 2 of the speech) has been heard.
    let heard = |s: &MemorySink, secs: f64| (s.len() as f64) >= secs * f64::from(rate);
    until("the speech heard", Duration::from_secs(10), || {
        heard(&a_heard, 2.5) && heard(&b_heard, 2.5)
    })
    .await;
    assert!(a.press("159#").await);
    let mut digits = String::new();
    until("the keys heard", Duration::from_secs(10), || {
        while let Ok(e) = b.events().unwrap().try_recv() {
            if let MediaEvent::Dtmf(d) = e {
                digits.push(d);
            }
        }
        digits.len() >= 4
    })
    .await;
    assert_eq!(digits, "159#");
    // The media threads asked for real-time scheduling and said what they got.
    for media in [&a, &b] {
        let reported = media.scheduling();
        assert!(
            reported.iter().any(|(thread, _)| thread == "media"),
            "{reported:?}"
        );
    }
    until(
        "the call's length",
        Duration::from_secs(seconds + 10),
        || heard(&a_heard, seconds as f64) && heard(&b_heard, seconds as f64),
    )
    .await;
    let report = a.stop().await.unwrap();
    b.stop().await.unwrap();
    assert!(
        report.stats.sent_packets as u64 >= seconds * 45,
        "{report:?}"
    );
    (a_heard.samples(), b_heard.samples(), codec)
}

/// `least`: Opus is not a waveform coder and is resampled twice here, so it matches less.
fn assert_heard(reference: &[i16], heard: &[i16], rate: usize, least: f64) {
    // Half a second of speech from 1.5 s in — after the buffer has settled from its cautious
    // start, which may drop a silent frame — found in what was played.
    let (lag, c) = analysis::align(&reference[rate * 3 / 2..2 * rate], &heard[rate..], rate * 2);
    assert!(c > least, "correlation {c:.3} at lag {lag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_speech_crosses_loopback_both_ways() {
    let (a, b, codec) = call(vec![Codec::Pcmu], false, "speech-8k.wav", 8000, 4).await;
    assert_eq!(codec, Codec::Pcmu);
    let reference = samples("speech-8k.wav");
    assert_heard(&reference, &a, 8000, 0.9);
    assert_heard(&reference, &b, 8000, 0.9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_speech_crosses_loopback_resampled_to_the_sink() {
    // The source is 8 kHz, Opus runs at 48 kHz, the sinks take 8 kHz again.
    let (a, _, codec) = call(
        vec![Codec::Opus, Codec::Pcmu],
        false,
        "speech-8k.wav",
        8000,
        4,
    )
    .await;
    assert_eq!(codec, Codec::Opus);
    assert_heard(&samples("speech-8k.wav"), &a, 8000, 0.8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_speech_and_dtmf_cross_loopback_both_ways() {
    let (a, b, codec) = call(vec![Codec::Pcmu], true, "speech-8k.wav", 8000, 4).await;
    assert_eq!(codec, Codec::Pcmu);
    let reference = samples("speech-8k.wav");
    assert_heard(&reference, &a, 8000, 0.9);
    assert_heard(&reference, &b, 8000, 0.9);
}

/// A headset plugged in mid-call: the call moves to another microphone and speaker, at other
/// rates, and the stream goes on — the old speaker stops, the new one plays, the far end
/// hears the new microphone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_change_mid_call_at_other_rates() {
    let local = "127.0.0.1".parse().unwrap();
    let (speaker, headset, b_heard) = (
        MemorySink::new(8000),
        MemorySink::new(16_000),
        MemorySink::new(8000),
    );
    let mut a = CallMedia::new(
        local,
        vec![Codec::Pcmu],
        false,
        Box::new(WavSource::from_samples(8000, Vec::new())),
        Box::new(speaker.clone()),
    )
    .await
    .unwrap();
    let mut b = CallMedia::new(
        local,
        vec![Codec::Pcmu],
        false,
        Box::new(speech("speech-8k.wav")),
        Box::new(b_heard.clone()),
    )
    .await
    .unwrap();
    let answer = b.answer(&a.offer(Direction::SendRecv)).unwrap();
    a.answered(&answer).unwrap();
    // A second of the call on the first devices.
    until("a second of the call", Duration::from_secs(10), || {
        speaker.len() >= 8000 && b_heard.len() >= 8000
    })
    .await;
    let before = b_heard.len();
    // The headset's microphone runs at 48 kHz, its speaker at 16 kHz.
    a.replace_devices(
        Some(Box::new(speech("speech-48k.wav"))),
        Some(Box::new(headset.clone())),
    );
    // Two seconds on the headset, and as long again at the far end since the swap.
    until(
        "two seconds on the headset",
        Duration::from_secs(10),
        || headset.len() >= 2 * 16_000 && b_heard.len() >= before + 2 * 8000,
    )
    .await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();

    assert_eq!(
        speaker.finished(),
        (true, false),
        "the old speaker was let go, and nothing was played on it after"
    );
    let on_speaker = speaker.len();
    assert!(
        on_speaker < 8000 * 3 / 2,
        "{on_speaker} samples before the swap"
    );
    let played = headset.samples();
    assert!(
        played.iter().any(|s| s.abs() > 3000),
        "speech on the headset"
    );
    // The far end hears the headset's microphone from the swap on: the speech from its start,
    // converted from 48 kHz.
    let heard = b_heard.samples();
    let (lag, c) = analysis::align(
        &samples("speech-8k.wav")[4000..8000],
        &heard[before..],
        16_000,
    );
    assert!(
        c > 0.8,
        "the new microphone heard: correlation {c:.3} at lag {lag}"
    );
}

/// A speaker with a clock of its own that takes nothing for its first `stall` (a sound server
/// waking a suspended sink), then plays at its rate; what it played is kept.
struct SlowToStartSpeaker {
    rate: u32,
    started: std::time::Instant,
    stall: Duration,
    written: usize,
    heard: MemorySink,
}

impl ringdesk_media::audio::AudioSink for SlowToStartSpeaker {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn write(&mut self, samples: &[i16]) {
        self.written += samples.len();
        self.heard.write(samples);
    }

    fn queued(&self) -> Option<usize> {
        let playing = self.started.elapsed().saturating_sub(self.stall);
        let played = (playing.as_secs_f64() * f64::from(self.rate)) as usize;
        Some(self.written.saturating_sub(played))
    }

    fn prebuffer(&self) -> usize {
        self.rate as usize / 25
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_slow_to_start_costs_no_audio_and_counts_no_loss() {
    let local = "127.0.0.1".parse().unwrap();
    let heard = MemorySink::new(8000);
    let speaker = SlowToStartSpeaker {
        rate: 8000,
        started: std::time::Instant::now(),
        stall: Duration::from_millis(800),
        written: 0,
        heard: heard.clone(),
    };
    let mut a = CallMedia::new(
        local,
        vec![Codec::Pcmu],
        false,
        Box::new(WavSource::from_samples(8000, Vec::new())),
        Box::new(speaker),
    )
    .await
    .unwrap();
    let mut b = CallMedia::new(
        local,
        vec![Codec::Pcmu],
        false,
        Box::new(speech("speech-8k.wav")),
        Box::new(MemorySink::new(8000)),
    )
    .await
    .unwrap();
    let answer = b.answer(&a.offer(Direction::SendRecv)).unwrap();
    a.answered(&answer).unwrap();
    until("three seconds heard", Duration::from_secs(10), || {
        heard.len() >= 3 * 8000
    })
    .await;
    let report = a.stop().await.unwrap();
    b.stop().await.unwrap();
    let jitter = report.stats.jitter;
    assert_eq!(jitter.concealed + jitter.late, 0, "{jitter:?}");
    assert!(
        report.quality.concealed_percent < 1.0,
        "{:?}",
        report.quality
    );
    // What the speaker plays once it runs is the speech as it is at that moment.
    let reference = samples("speech-8k.wav");
    let (lag, c) = analysis::align(&reference[20_000..24_000], &heard.samples(), 20_000);
    assert!(c > 0.9, "correlation {c:.3} at lag {lag}");
}

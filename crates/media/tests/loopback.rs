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
    // Keys replace audio while they last: press them after the compared stretch.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(a.press("159#").await);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let digits: String = std::iter::from_fn(|| b.events().unwrap().try_recv().ok())
        .filter_map(|e| match e {
            MediaEvent::Dtmf(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(digits, "159#");
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

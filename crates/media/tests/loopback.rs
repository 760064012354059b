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
    let mut source = speech(name);
    let mut all = vec![0i16; 1 << 22];
    let n = ringdesk_media::audio::AudioSource::read(&mut source, &mut all);
    all.truncate(n);
    all
}

async fn call(
    codecs: Vec<Codec>,
    file: &str,
    rate: u32,
    seconds: u64,
) -> (Vec<i16>, Vec<i16>, Codec) {
    let local = "127.0.0.1".parse().unwrap();
    let (a_heard, b_heard) = (MemorySink::new(rate), MemorySink::new(rate));
    let mut a = CallMedia::new(
        local,
        codecs.clone(),
        Box::new(speech(file)),
        Box::new(a_heard.clone()),
    )
    .await
    .unwrap();
    let mut b = CallMedia::new(
        local,
        codecs,
        Box::new(speech(file)),
        Box::new(b_heard.clone()),
    )
    .await
    .unwrap();
    let offer = a.offer(Direction::SendRecv);
    let answer = b.answer(&offer).unwrap();
    a.answered(&answer).unwrap();
    let codec = a.negotiated().unwrap().codec;
    tokio::time::sleep(Duration::from_millis(500)).await;
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

fn assert_heard(reference: &[i16], heard: &[i16], rate: usize) {
    // One second of speech from 1 s in, found within the first 2.5 s of what was played.
    let (lag, c) = analysis::align(&reference[rate..2 * rate], &heard[rate..], rate * 3 / 2);
    assert!(c > 0.9, "correlation {c:.3} at lag {lag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_speech_crosses_loopback_both_ways() {
    let (a, b, codec) = call(vec![Codec::Pcmu], "speech-8k.wav", 8000, 4).await;
    assert_eq!(codec, Codec::Pcmu);
    let reference = samples("speech-8k.wav");
    assert_heard(&reference, &a, 8000);
    assert_heard(&reference, &b, 8000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_speech_crosses_loopback_resampled_to_the_sink() {
    // The source is 8 kHz, Opus runs at 48 kHz, the sinks take 8 kHz again.
    let (a, _, codec) = call(vec![Codec::Opus, Codec::Pcmu], "speech-8k.wav", 8000, 4).await;
    assert_eq!(codec, Codec::Opus);
    assert_heard(&samples("speech-8k.wav"), &a, 8000);
}

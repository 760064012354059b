//! Calls with real audio against baresip through kamailio: speech both ways, compared with
//! what was sent after the far end's decoding and our jitter buffer; DTMF both ways.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use ringdesk_media::analysis;
use ringdesk_media::audio::{resample, MemorySink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::sdp::Direction;
use ringdesk_media::session::MediaEvent;
use ringdesk_sip::flow::Transport;
use ringdesk_sip::ua::CallEvent;
use support::{aor, phone, phone_over, user, Baresip, BaresipAudio};

const SECS: Duration = Duration::from_secs(15);

fn speech_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/audio/speech-8k.wav")
}

fn speech() -> Vec<i16> {
    WavSource::open(&speech_path()).unwrap().samples().to_vec()
}

/// To 8 kHz, like the reference.
fn resampled(samples: &[i16], rate: u32) -> Vec<i16> {
    resample(samples, rate, 8000).unwrap()
}

/// Half a second of the speech from 1.5 s in (after the jitter buffer has settled from its
/// cautious start, which may drop a silent frame), found in what was heard.
fn similarity(heard: &[i16]) -> (usize, f64) {
    let reference = speech();
    analysis::align(&reference[12_000..16_000], heard, 40_000)
}

/// A call to baresip with speech and DTMF; `encrypted`: we signal over TLS and both sides
/// require SRTP.
async fn call_with_speech(codec: Codec, theirs: &'static str, n: u32, encrypted: bool) {
    let mut bob = Baresip::start_with(
        &user(n),
        true,
        Some(BaresipAudio {
            play: speech_path(),
            codec: theirs,
            srtp: encrypted,
        }),
    );
    let (mut phone, mut events) = if encrypted {
        phone_over(&user(n + 1), Transport::Tls).await
    } else {
        phone(&user(n + 1), None).await
    };
    let heard = MemorySink::new(8000);
    let source = WavSource::open(&speech_path()).unwrap();
    let mut media = CallMedia::new(
        "127.0.0.1".parse().unwrap(),
        vec![codec],
        encrypted,
        Box::new(source),
        Box::new(heard.clone()),
    )
    .await
    .unwrap();
    let offer = media.offer(Direction::SendRecv);
    assert_eq!(
        String::from_utf8_lossy(&offer).contains("a=crypto:"),
        encrypted
    );
    let call = phone.call(aor(&user(n)), offer).await.unwrap();
    let CallEvent::Established { sdp, .. } = events
        .call(&mut phone, |e| matches!(e, CallEvent::Established { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        String::from_utf8_lossy(&sdp).contains("RTP/SAVP"),
        encrypted
    );
    if let Err(e) = media.answered(&sdp) {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&sdp), bob.log_text());
    }
    assert_eq!(media.negotiated().unwrap().codec, codec);
    bob.wait_event("\"type\":\"CALL_ESTABLISHED\"", SECS).await;

    // DTMF both ways once the compared stretch of speech (1–2 s) has played: key presses
    // replace the audio while they last.
    let give_up = tokio::time::Instant::now() + SECS;
    while heard.len() < 3 * 8000 {
        assert!(tokio::time::Instant::now() < give_up, "no speech heard");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(media.press("19#").await, "{:?}", media.negotiated());
    bob.command("sndcode", "5");
    // A person's pace between two keys (baresip sends each for as long as it is held).
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.command("sndcode", "0");
    let mut digits = String::new();
    while digits.len() < 2 {
        match tokio::time::timeout_at(give_up + SECS, media.events().unwrap().recv()).await {
            Ok(Some(MediaEvent::Dtmf(d))) => digits.push(d),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    // …and our three have reached baresip.
    while bob.count("\"type\":\"CALL_DTMF_START\"") < 3 {
        assert!(
            tokio::time::Instant::now() < give_up + SECS,
            "{}",
            bob.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(phone.hangup(call).await.unwrap());
    events
        .call(&mut phone, |e| matches!(e, CallEvent::Ended { .. }))
        .await;
    let report = media.stop().await.unwrap();
    bob.wait_event("\"type\":\"CALL_CLOSED\"", SECS).await;

    assert_eq!(digits, "50", "keys pressed on baresip");
    let heard_keys: String = bob
        .log
        .iter()
        .filter(|e| e.contains("\"type\":\"CALL_DTMF_START\""))
        .filter_map(|e| e.split("\"param\":\"").nth(1)?.chars().next())
        .collect();
    assert_eq!(heard_keys, "19#", "keys baresip heard");
    let ours = similarity(&heard.samples());
    let (rate, decoded) = bob.decoded();
    let theirs = similarity(&resampled(&decoded, rate));
    println!(
        "{codec:?}: we heard baresip with correlation {:.3} (lag {} ms), baresip heard us with {:.3}; {report:?}",
        ours.1,
        ours.0 / 8,
        theirs.1
    );
    assert!(ours.1 > 0.85, "we heard {ours:?}");
    assert!(theirs.1 > 0.85, "baresip heard {theirs:?}");
    assert_eq!(report.stats.jitter.concealed, 0, "{report:?}");
}

#[tokio::test]
#[ignore = "needs kamailio and baresip: run through scripts/test.sh"]
async fn speech_and_dtmf_both_ways_with_baresip_over_pcmu() {
    call_with_speech(Codec::Pcmu, "PCMU", 60, false).await;
}

#[tokio::test]
#[ignore = "needs kamailio and baresip: run through scripts/test.sh"]
async fn speech_and_dtmf_both_ways_with_baresip_over_opus() {
    call_with_speech(Codec::Opus, "opus/48000/2", 62, false).await;
}

#[tokio::test]
#[ignore = "needs kamailio and baresip: run through scripts/test.sh"]
async fn speech_and_dtmf_both_ways_with_baresip_over_g722() {
    call_with_speech(Codec::G722, "G722", 66, false).await;
}

#[tokio::test]
#[ignore = "needs kamailio and baresip: run through scripts/test.sh"]
async fn encrypted_speech_and_dtmf_with_baresip_when_signalling_is_tls() {
    call_with_speech(Codec::Pcmu, "PCMU", 64, true).await;
}

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
    let (call, sdp) = events.established(&mut phone, aor(&user(n)), offer).await;
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

/// A call recorded as the app records it: baresip sends the speech, we send it backwards, and
/// the file holds each on its own side (ours left, theirs right) — readable while the call
/// goes on, complete once it ends.
#[tokio::test]
#[ignore = "needs kamailio and baresip: run through scripts/test.sh"]
async fn a_recorded_call_keeps_each_side_on_its_own_channel() {
    use ringdesk_media::recording;
    let n = 68;
    let mut bob = Baresip::start_with(
        &user(n),
        true,
        Some(BaresipAudio {
            play: speech_path(),
            codec: "PCMU",
            srtp: false,
        }),
    );
    let (mut phone, mut events) = phone(&user(n + 1), None).await;
    let forward = speech();
    let backward: Vec<i16> = forward.iter().rev().copied().collect();
    let heard = MemorySink::new(8000);
    let mut media = CallMedia::new(
        "127.0.0.1".parse().unwrap(),
        vec![Codec::Pcmu],
        false,
        Box::new(WavSource::from_samples(8000, backward.clone())),
        Box::new(heard.clone()),
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("ringdesk-recorded-{}", support::seed()));
    let file = dir.join("call.opus");
    // Asked before the call is up: the recording starts with the audio.
    media.record(Some(file.clone()));
    let offer = media.offer(Direction::SendRecv);
    let (call, sdp) = events.established(&mut phone, aor(&user(n)), offer).await;
    media.answered(&sdp).unwrap();
    // The recording notice, as the app plays it when recording starts.
    media.beep();
    let give_up = tokio::time::Instant::now() + SECS;
    while heard.len() < 4 * 8000 {
        assert!(tokio::time::Instant::now() < give_up, "no speech heard");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Mid-call, the file already plays: whole pages of what was said so far.
    let so_far = recording::decode(&file).unwrap();
    assert!(!so_far.complete);
    assert!(
        so_far.left.len() >= 2 * recording::RATE as usize,
        "{} samples readable mid-call",
        so_far.left.len()
    );
    assert!(phone.hangup(call).await.unwrap());
    events
        .call(&mut phone, |e| matches!(e, CallEvent::Ended { .. }))
        .await;
    let report = media.stop().await.unwrap();
    bob.wait_event("\"type\":\"CALL_CLOSED\"", SECS).await;
    let summary = report.recording.expect("the call was recorded");
    assert!(summary.failure.is_none(), "{summary:?}");
    assert!(summary.duration >= Duration::from_secs(4), "{summary:?}");
    let kept = recording::decode(&file).unwrap();
    assert!(kept.complete);
    let (ours, theirs) = (
        resampled(&kept.left, recording::RATE),
        resampled(&kept.right, recording::RATE),
    );
    // Half a second from 1.5 s into each signal, found on its own side and not on the other.
    let piece = |s: &[i16]| s[12_000..16_000].to_vec();
    let left_ours = analysis::align(&piece(&backward), &ours, 40_000);
    let right_theirs = analysis::align(&piece(&forward), &theirs, 40_000);
    let left_theirs = analysis::align(&piece(&forward), &ours, 40_000);
    let right_ours = analysis::align(&piece(&backward), &theirs, 40_000);
    println!(
        "recording of {:?} ({} bytes): left ours {left_ours:?}, right theirs {right_theirs:?}; crosstalk {:.3}/{:.3}",
        summary.duration, summary.bytes, left_theirs.1, right_ours.1
    );
    assert!(left_ours.1 > 0.8, "our side on the left: {left_ours:?}");
    assert!(
        right_theirs.1 > 0.8,
        "their side on the right: {right_theirs:?}"
    );
    assert!(
        left_theirs.1 < 0.5 && right_ours.1 < 0.5,
        "each side only on its own channel: {left_theirs:?} {right_ours:?}"
    );
    // The notice reached the far end, and is on both sides of the recording.
    let (rate, decoded) = bob.decoded();
    let strongest = |s: &[i16], rate: u32| -> f64 {
        s.chunks(rate as usize / 10)
            .map(|w| analysis::tone_share(w, rate, 1400.0))
            .fold(0.0, f64::max)
    };
    let tones = (
        strongest(&decoded, rate),
        strongest(&kept.left, recording::RATE),
        strongest(&kept.right, recording::RATE),
    );
    println!(
        "recording notice (1400 Hz share): baresip heard {:.2}, left {:.2}, right {:.2}",
        tones.0, tones.1, tones.2
    );
    assert!(tones.0 > 0.5 && tones.1 > 0.5 && tones.2 > 0.5, "{tones:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

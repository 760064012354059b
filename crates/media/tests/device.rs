//! Sound devices through cpal against a headless PulseAudio (scripts/headless.sh makes a null
//! sink the default output and its monitor the default input): what we play comes back.

use std::path::Path;
use std::time::{Duration, Instant};

use ringdesk_media::analysis;
use ringdesk_media::audio::{AudioSink, AudioSource, Resampler, WavSource};
use ringdesk_media::device::{self, DeviceSink, DeviceSource};
use ringdesk_media::voice::VoiceProcessor;

/// One sound server, one null sink: tests that play into it take turns.
static SOUND: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn speech() -> Vec<i16> {
    WavSource::open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/audio/speech-8k.wav"))
        .unwrap()
        .samples()
        .to_vec()
}

#[test]
#[ignore = "needs PulseAudio with a null sink: run through scripts/test.sh"]
fn speech_played_to_the_speaker_is_captured_from_its_monitor() {
    let _turn = SOUND.lock().unwrap_or_else(|e| e.into_inner());
    let list = device::devices();
    assert!(
        !list.outputs.is_empty() && !list.inputs.is_empty(),
        "{list:?}"
    );
    let mut speaker = DeviceSink::open(None).unwrap();
    let mut microphone = DeviceSource::open(None).unwrap();
    let level = microphone.level();
    let mut up = Resampler::new(8000, speaker.sample_rate()).unwrap();
    let mut down = Resampler::new(microphone.sample_rate(), 8000).unwrap();
    let reference = speech();
    let mut captured = Vec::new();
    let mut frame = vec![0i16; down.input_frame()];
    wait_for_sound(&mut microphone, &mut frame);
    let mut loudest = -100f32;
    // Three seconds at the device's pace, one 20 ms frame each way per tick.
    let start = Instant::now();
    for (k, chunk) in reference[..48_000].chunks(160).enumerate() {
        let mut out = Vec::new();
        up.process(chunk, &mut out);
        speaker.write(&out);
        // Paced like the call driver: every 20 ms on average, without drift.
        let next = start + Duration::from_millis(20 * (k as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let n = microphone.read(&mut frame);
        frame[n..].fill(0);
        down.process(&frame, &mut captured);
        loudest = loudest.max(level.dbfs());
    }
    let (lag, c) = analysis::align(&reference[8000..16_000], &captured, 24_000);
    println!(
        "captured {} samples; correlation {c:.3} at {} ms; loudest {loudest:.1} dBFS",
        captured.len(),
        lag / 8
    );
    assert!(c > 0.8, "correlation {c:.3} at lag {lag}");
    assert!(loudest > -40.0, "the meter saw {loudest} dBFS");
    // Each device's callback thread asked for real-time scheduling and said what it got.
    for (device, got) in [
        ("speaker", speaker.scheduling()),
        ("microphone", microphone.scheduling()),
    ] {
        println!("{device}: {got:?}");
        assert!(got.is_some(), "the {device} reported its scheduling");
    }
}

/// A suspended PulseAudio sink takes a moment to start delivering; calls open devices before
/// they ring for the same reason.
fn wait_for_sound(microphone: &mut DeviceSource, frame: &mut [i16]) {
    let warm_up = Instant::now();
    while microphone.read(frame) == 0 {
        assert!(
            warm_up.elapsed() < Duration::from_secs(10),
            "the microphone never delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("devices running after {:?}", warm_up.elapsed());
}

fn energy(samples: &[i16]) -> f64 {
    samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

#[test]
#[ignore = "needs PulseAudio with a null sink: run through scripts/test.sh"]
fn the_far_end_is_cancelled_from_a_live_microphone_that_hears_the_speaker() {
    // The worst room there is: the microphone is the speaker's monitor, so it hears the far
    // end's voice at full level, after the real device buffers' delay, and nothing else.
    // Paced like the call driver: per 20 ms tick, a frame of the far end (8 kHz, G.711)
    // played and rendered to the canceller at the speaker's rate, and a frame captured and
    // cleaned at the microphone's, then taken to the codec's rate.
    let _turn = SOUND.lock().unwrap_or_else(|e| e.into_inner());
    let mut speaker = DeviceSink::open(None).unwrap();
    let mut microphone = DeviceSource::open(None).unwrap();
    let mic_rate = microphone.sample_rate();
    let mut up = Resampler::new(8000, speaker.sample_rate()).unwrap();
    let (mut down_heard, mut down_sent) = (
        Resampler::new(mic_rate, 8000).unwrap(),
        Resampler::new(mic_rate, 8000).unwrap(),
    );
    let mut voice = VoiceProcessor::new(mic_rate, speaker.sample_rate()).unwrap();
    let far_end = speech();
    // From second 8 the agent talks too (double talk): another voice (the 48 kHz sample) is
    // added to what the microphone hears, and must come through.
    const FRAMES: usize = 550;
    const DOUBLE_TALK: usize = 400;
    let agent = ringdesk_media::audio::resample(
        WavSource::open(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/audio/speech-48k.wav"),
        )
        .unwrap()
        .samples(),
        48_000,
        mic_rate,
    )
    .unwrap();
    let mut frame = vec![0i16; down_heard.input_frame()];
    let n_frame = frame.len();
    wait_for_sound(&mut microphone, &mut frame);
    let (mut heard, mut sent) = (Vec::new(), Vec::new());
    let start = Instant::now();
    // Eleven seconds: the sample, looped.
    for (k, chunk) in far_end.chunks_exact(160).cycle().take(FRAMES).enumerate() {
        let mut out = Vec::new();
        up.process(chunk, &mut out);
        voice.render(&out);
        speaker.write(&out);
        let next = start + Duration::from_millis(20 * (k as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let n = microphone.read(&mut frame);
        frame[n..].fill(0);
        down_heard.process(&frame, &mut heard);
        if k >= DOUBLE_TALK {
            let said = &agent[(k - DOUBLE_TALK) * n_frame..][..n_frame];
            for (c, s) in frame.iter_mut().zip(said) {
                *c = c.saturating_add(*s / 2);
            }
        }
        voice.capture(&mut frame);
        down_sent.process(&frame, &mut sent);
    }
    // Far end alone, once the canceller has had four seconds to find the delay and converge.
    let single = 4 * 8000..DOUBLE_TALK * 160;
    let (echo, left) = (energy(&heard[single.clone()]), energy(&sent[single]));
    let reduction = 10.0 * (echo / left.max(1.0)).log10();
    let (lag, c) = analysis::align(&far_end[8000..16_000], &heard, 16_000);
    let said = ringdesk_media::audio::resample(&agent, mic_rate, 8000).unwrap();
    let (_, kept) = analysis::align(&said[..20_000], &sent[DOUBLE_TALK * 160 - 800..], 1600);
    println!(
        "echo path {} ms (correlation {c:.2}); echo reduced by {reduction:.1} dB (ERLE {:?}); \
         the agent's voice in double talk: correlation {kept:.2}",
        lag.saturating_sub(8000) / 8,
        voice.erle()
    );
    assert!(echo > 1e5, "the microphone did not hear the speaker");
    assert!(reduction > 20.0, "echo reduced by only {reduction:.1} dB");
    assert!(
        kept > 0.4,
        "the agent's voice was lost in double talk ({kept:.2})"
    );
}

#[test]
fn a_device_that_is_not_there_is_a_clear_error() {
    let Err(e) = DeviceSink::open(Some("no such headset")) else {
        panic!("opened a device that does not exist");
    };
    assert!(
        e.to_string().contains("“no such headset” is not connected")
            || e.to_string().contains("sound device"),
        "{e}"
    );
}

//! Sound devices through cpal against a headless PulseAudio (scripts/headless.sh makes a null
//! sink the default output and its monitor the default input): what we play comes back.

use std::path::Path;
use std::time::{Duration, Instant};

use ringdesk_media::analysis;
use ringdesk_media::audio::{AudioSink, AudioSource, Resampler, WavSource};
use ringdesk_media::device::{self, DeviceSink, DeviceSource};

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
    // A suspended PulseAudio sink takes a moment to start delivering; calls open devices
    // before they ring for the same reason.
    let warm_up = Instant::now();
    while microphone.read(&mut frame) == 0 {
        assert!(
            warm_up.elapsed() < Duration::from_secs(10),
            "the microphone never delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("devices running after {:?}", warm_up.elapsed());
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

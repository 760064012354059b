//! The ringtone: rings the ringer device while an inbound call waits for an answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringdesk_media::audio::AudioSink;
use ringdesk_media::device::DeviceSink;

use crate::audio::{self, AudioPreferences};

/// The ringtone playing on the ringer device; dropping it stops the ringing.
pub struct Ringing {
    stop: Arc<AtomicBool>,
}

impl Drop for Ringing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Rings on the ringer role's device (chosen from `preferences` on the ringer's own thread:
/// listing devices is slow and must not delay the call's popup) until the returned handle is
/// dropped: the North American pattern, 440 + 480 Hz, 2 s on, 4 s off. A ringer that cannot
/// open is logged, not fatal: the popup and the notification still show the call.
pub fn start_ringing(preferences: AudioPreferences) -> Ringing {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let device = audio::view(&preferences).ringer;
        let mut sink = match DeviceSink::open(device.as_deref()) {
            Ok(sink) => sink,
            Err(e) => {
                tracing::warn!(error = %e, "no ringer device: ringing silently");
                return;
            }
        };
        let rate = sink.sample_rate() as usize;
        let frame = rate / 50;
        let period = rate * 6;
        let mut n = 0usize;
        let mut buffer = vec![0i16; frame];
        while !stopped.load(Ordering::Relaxed) {
            for (i, s) in buffer.iter_mut().enumerate() {
                let k = (n + i) % period;
                *s = if k < rate * 2 {
                    let t = k as f32 / rate as f32;
                    let tone = (t * 440.0 * std::f32::consts::TAU).sin()
                        + (t * 480.0 * std::f32::consts::TAU).sin();
                    (tone * 5000.0) as i16
                } else {
                    0
                };
            }
            sink.write(&buffer);
            n += frame;
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    Ringing { stop }
}

//! Call-progress tones on a sound device: the ringtone on the ringer device while an inbound
//! call waits for the agent, ringback on the speaker while the far end of an outbound call
//! rings, the call-waiting tone on the call's speaker while a second call rings. All are loops
//! in assets/audio (scripts/make_tones.py says what they are).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringdesk_media::audio::{resample, AudioError, AudioSink, AudioSource, WavSource};
use ringdesk_media::device::DeviceSink;

/// Each tone's loop per device rate.
type Loops = HashMap<(Tone, u32), Arc<Vec<i16>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// What rings the agent: British double ring, warbled.
    Ringtone,
    /// What the agent hears while the far end rings: 440 + 480 Hz, 2 s on, 4 s off.
    Ringback,
    /// A second call rings during a call: 440 Hz for 300 ms every 10 s.
    CallWaiting,
}

impl Tone {
    fn wav(self) -> &'static [u8] {
        match self {
            Tone::Ringtone => include_bytes!("../../../assets/audio/ringtone.wav"),
            Tone::Ringback => include_bytes!("../../../assets/audio/ringback.wav"),
            Tone::CallWaiting => include_bytes!("../../../assets/audio/callwaiting.wav"),
        }
    }

    /// One loop at `rate`, resampled once per rate: a call must not wait for it.
    fn cached(self, rate: u32) -> Result<Arc<Vec<i16>>, AudioError> {
        static LOOPS: OnceLock<Mutex<Loops>> = OnceLock::new();
        let loops = LOOPS.get_or_init(Default::default);
        if let Some(found) = loops
            .lock()
            .ok()
            .and_then(|l| l.get(&(self, rate)).cloned())
        {
            return Ok(found);
        }
        let made = Arc::new(self.samples(rate)?);
        if let Ok(mut l) = loops.lock() {
            l.insert((self, rate), made.clone());
        }
        Ok(made)
    }

    /// One loop of the tone at `rate`.
    pub fn samples(self, rate: u32) -> Result<Vec<i16>, AudioError> {
        let wav = WavSource::from_bytes(self.wav())?;
        resample(wav.samples(), wav.sample_rate(), rate)
    }
}

/// A tone playing; dropping it stops it.
pub struct Playing {
    stop: Arc<AtomicBool>,
}

impl Drop for Playing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Plays `tone` in a loop on the device `device` names (None: the system default) until the
/// handle is dropped. `device` runs on the tone's own thread: choosing the ringer from the
/// preferences lists the devices, which is slow and must not delay the call's popup. A
/// device that cannot open is logged, not fatal: the call goes on without the tone.
pub fn play(tone: Tone, device: impl FnOnce() -> Option<String> + Send + 'static) -> Playing {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let device = device();
        let mut sink = match DeviceSink::open(device.as_deref()) {
            Ok(sink) => sink,
            Err(e) => {
                tracing::warn!(?tone, error = %e, "no device for the tone: playing nothing");
                return;
            }
        };
        let samples = match tone.cached(sink.sample_rate()) {
            Ok(samples) if !samples.is_empty() => samples,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(?tone, error = %e, "cannot prepare the tone");
                return;
            }
        };
        tracing::info!(
            ?tone,
            ready_ms = started.elapsed().as_millis() as u64,
            "tone playing"
        );
        let frame = (sink.sample_rate() / 50) as usize;
        let mut tone_loop = samples.iter().copied().cycle();
        let mut buffer = vec![0i16; frame];
        // Paced by the clock, not by sleeps adding up: the device never runs dry.
        let mut next = Instant::now();
        while !stopped.load(Ordering::Relaxed) {
            buffer
                .iter_mut()
                .for_each(|s| *s = tone_loop.next().unwrap_or(0));
            sink.write(&buffer);
            next += Duration::from_millis(20);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    Playing { stop }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Power of `f` Hz in `x` (Goertzel), relative to the signal's total power.
    fn share(x: &[i16], rate: u32, f: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * f / f64::from(rate);
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
        let total: f64 =
            x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() * x.len() as f64 / 2.0;
        power / total.max(1.0)
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    #[test]
    fn ringback_is_440_and_480_hz_two_seconds_on_four_off_at_any_device_rate() {
        for rate in [44_100, 48_000] {
            let tone = Tone::Ringback.samples(rate).unwrap();
            let at = |s: f64| (s * f64::from(rate)) as usize;
            assert!(
                (tone.len() as i64 - at(6.0) as i64).abs() <= 2 * (rate as i64 / 50),
                "{}",
                tone.len()
            );
            let on = &tone[at(0.1)..at(1.9)];
            let off = &tone[at(2.1)..at(5.9)];
            assert!(rms(on) > 2000.0, "on: {}", rms(on));
            assert!(rms(off) < 10.0, "off: {}", rms(off));
            let tones = share(on, rate, 440.0) + share(on, rate, 480.0);
            assert!(tones > 0.95, "440 + 480 Hz carry {tones:.3} of the power");
        }
    }

    #[test]
    fn the_ringtone_rings_twice_then_pauses_so_it_is_never_taken_for_ringback() {
        let rate = 48_000;
        let tone = Tone::Ringtone.samples(rate).unwrap();
        let at = |s: f64| (s * f64::from(rate)) as usize;
        let loud = |a: f64, b: f64| rms(&tone[at(a)..at(b)]);
        assert!(loud(0.05, 0.35) > 1000.0);
        assert!(loud(0.45, 0.55) < 10.0);
        assert!(loud(0.65, 0.95) > 1000.0);
        assert!(loud(1.1, 2.9) < 10.0);
        assert!((tone.len() as f64 / f64::from(rate) - 3.0).abs() < 0.05);
    }

    #[test]
    fn call_waiting_is_one_short_440_hz_beep_every_ten_seconds() {
        let rate = 48_000;
        let tone = Tone::CallWaiting.samples(rate).unwrap();
        let at = |s: f64| (s * f64::from(rate)) as usize;
        let on = &tone[at(0.02)..at(0.28)];
        assert!(rms(on) > 2000.0, "on: {}", rms(on));
        assert!(share(on, rate, 440.0) > 0.95);
        assert!(rms(&tone[at(0.35)..at(9.9)]) < 10.0, "then quiet");
        assert!((tone.len() as f64 / f64::from(rate) - 10.0).abs() < 0.05);
    }
}

//! Sound devices through cpal: a microphone as an [`AudioSource`], a speaker (or ringer) as an
//! [`AudioSink`], the device lists, the choice among them from a preferred list, and an input
//! level meter.
//!
//! A cpal stream may not leave the thread that made it, and its callback runs on the audio
//! thread, which must never wait: each stream lives on a small thread of its own until it is
//! dropped, and samples cross over through a lock-free ring buffer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::HeapRb;

use crate::audio::{AudioError, AudioSink, AudioSource};
use crate::realtime::{self, Scheduling};

/// Buffered between the device and the call: enough for scheduling hiccups, small enough
/// not to add audible delay.
const RING_MS: u32 = 200;
/// Playback starts (and restarts after an underrun) once this much is queued, so the call's
/// 20 ms ticks, which jitter, never starve the device; capture likewise, so the device's
/// bursts never leave a frame short.
const PREBUFFER_MS: u32 = 40;
/// Capture keeps at most this much queued; older audio is dropped so delay cannot build up.
const MAX_QUEUED_MS: u32 = 100;

/// The sound devices of the default host, with its defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioDevices {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub default_input: Option<String>,
    pub default_output: Option<String>,
}

/// The sound host, its libraries' own messages routed to the log first.
fn host() -> cpal::Host {
    crate::native_logs::route_once();
    cpal::default_host()
}

pub fn devices() -> AudioDevices {
    let host = host();
    let names = |list: Option<Vec<cpal::Device>>| -> Vec<String> {
        list.unwrap_or_default()
            .iter()
            .filter_map(|d| d.name().ok())
            .collect()
    };
    AudioDevices {
        inputs: names(host.input_devices().ok().map(Iterator::collect)),
        outputs: names(host.output_devices().ok().map(Iterator::collect)),
        default_input: host.default_input_device().and_then(|d| d.name().ok()),
        default_output: host.default_output_device().and_then(|d| d.name().ok()),
    }
}

/// The device to use: the first of the user's preferred devices that is present (so a headset
/// plugged in takes over, and the built-in one returns when it is pulled), else the default.
pub fn choose(
    preferred: &[String],
    available: &[String],
    default: Option<&String>,
) -> Option<String> {
    preferred
        .iter()
        .find(|p| available.contains(p))
        .or(default)
        .cloned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

fn find(direction: Direction, name: Option<&str>) -> Result<cpal::Device, AudioError> {
    let host = host();
    let default = match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    };
    let Some(name) = name else {
        return default.ok_or_else(|| AudioError::Device("no default sound device".into()));
    };
    let mut list = match direction {
        Direction::Input => host.input_devices(),
        Direction::Output => host.output_devices(),
    }
    .map_err(|e| AudioError::Device(e.to_string()))?;
    list.find(|d| d.name().is_ok_and(|n| n == name))
        .ok_or_else(|| AudioError::Device(format!("“{name}” is not connected")))
}

/// Input level of the last buffer, in dBFS (−∞ to 0), readable from any thread.
#[derive(Debug, Clone, Default)]
pub struct LevelMeter(Arc<AtomicU32>);

impl LevelMeter {
    fn update(&self, samples: &[i16]) {
        if samples.is_empty() {
            return;
        }
        let power = samples
            .iter()
            .map(|s| f64::from(*s) * f64::from(*s))
            .sum::<f64>()
            / samples.len() as f64;
        let rms = (power.sqrt() / 32768.0) as f32;
        self.0.store(rms.to_bits(), Ordering::Relaxed);
    }

    /// RMS level in dBFS; −100 for silence.
    pub fn dbfs(&self) -> f32 {
        let rms = f32::from_bits(self.0.load(Ordering::Relaxed));
        if rms <= 1e-5 {
            -100.0
        } else {
            20.0 * rms.log10()
        }
    }
}

/// Keeps a stream alive on its own thread until dropped.
struct StreamThread {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StreamThread {
    /// Builds the stream on a new thread with `build`, plays it, and reports the device's rate
    /// or why it could not.
    fn spawn(
        build: impl FnOnce() -> Result<(cpal::Stream, u32), AudioError> + Send + 'static,
    ) -> Result<(StreamThread, u32), AudioError> {
        StreamThread::keep(move || {
            let (stream, rate) = build()?;
            stream
                .play()
                .map_err(|e| AudioError::Device(e.to_string()))?;
            Ok((stream, rate))
        })
    }

    /// Makes what `build` gives on a new thread and keeps it there until dropped.
    fn keep<S: 'static>(
        build: impl FnOnce() -> Result<(S, u32), AudioError> + Send + 'static,
    ) -> Result<(StreamThread, u32), AudioError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ringdesk-audio".into())
            .spawn(move || {
                let kept = match build() {
                    Ok((kept, rate)) => {
                        let _ = ready_tx.send(Ok(rate));
                        kept
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = stop_rx.recv();
                drop(kept);
            })
            .map_err(|e| AudioError::Device(e.to_string()))?;
        let rate = ready_rx
            .recv()
            .map_err(|_| AudioError::Device("the audio thread ended".into()))??;
        Ok((
            StreamThread {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            rate,
        ))
    }
}

impl Drop for StreamThread {
    /// Stops the stream. Closing a device can take a while (ALSA, PulseAudio): on an async
    /// runtime's worker the wait goes to its blocking pool, so the calls and timers that
    /// worker runs are not held up; elsewhere the device is closed when this returns.
    fn drop(&mut self) {
        self.stop.take();
        let Some(thread) = self.thread.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || {
                    let _ = thread.join();
                });
            }
            Err(_) => {
                let _ = thread.join();
            }
        }
    }
}

fn mono_i16<T: Copy>(data: &[T], channels: usize, convert: impl Fn(T) -> f32, out: &mut Vec<i16>) {
    out.clear();
    out.extend(data.chunks(channels.max(1)).map(|frame| {
        let sum: f32 = frame.iter().map(|s| convert(*s)).sum();
        ((sum / frame.len() as f32) * 32767.0).clamp(-32768.0, 32767.0) as i16
    }));
}

/// The output side of the ring, with its prebuffering state.
struct Playout {
    ring: ringbuf::HeapCons<i16>,
    mono: Vec<i16>,
    prebuffer: usize,
    playing: bool,
}

/// The output callback: mono from the ring to every channel; silence while prebuffering and
/// on underrun (never the last samples again). Allocates only while the device's buffer grows.
fn fill<T: Copy>(data: &mut [T], channels: usize, p: &mut Playout, convert: impl Fn(i16) -> T) {
    let channels = channels.max(1);
    let frames = data.len() / channels;
    if p.mono.len() < frames {
        p.mono.resize(frames, 0);
    }
    if !p.playing && p.ring.occupied_len() >= p.prebuffer {
        p.playing = true;
    }
    let n = match p.mono.get_mut(..frames) {
        Some(mono) if p.playing => p.ring.pop_slice(mono),
        _ => 0,
    };
    if n < frames {
        p.playing = false;
    }
    let mono = &mut p.mono;
    if let Some(rest) = mono.get_mut(n..frames) {
        rest.fill(0);
    }
    for (frame, s) in data.chunks_mut(channels).zip(mono.iter()) {
        frame.fill(convert(*s));
    }
}

/// Device buffers of about 20 ms (callbacks every ~10 ms) where the device allows it: its
/// default can be 100 ms or more (PulseAudio through ALSA), all of it added to the call's delay.
fn small_buffers(supported: &cpal::SupportedStreamConfig) -> cpal::StreamConfig {
    let mut config = supported.config();
    // ALSA's PulseAudio plugin takes powers of two; it calls back every half buffer.
    let wanted = (config.sample_rate.0 / 50).next_power_of_two();
    if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
        config.buffer_size = cpal::BufferSize::Fixed(wanted.clamp(*min, *max));
    }
    config
}

fn stream_error(e: cpal::StreamError) {
    tracing::warn!(error = %e, "sound device error");
}

/// A microphone.
pub struct DeviceSource {
    rate: u32,
    ring: ringbuf::HeapCons<i16>,
    primed: bool,
    level: LevelMeter,
    scheduling: Arc<OnceLock<Scheduling>>,
    _stream: StreamThread,
}

impl DeviceSource {
    /// Opens `name`, or the default input when None.
    pub fn open(name: Option<&str>) -> Result<DeviceSource, AudioError> {
        let name = name.map(str::to_string);
        let level = LevelMeter::default();
        let meter = level.clone();
        let scheduling = Arc::new(OnceLock::new());
        let reported = scheduling.clone();
        let (ring_tx, ring_rx) = mpsc::channel();
        let (stream, rate) = StreamThread::spawn(move || {
            let device = find(Direction::Input, name.as_deref())?;
            let supported = device
                .default_input_config()
                .map_err(|e| AudioError::Device(e.to_string()))?;
            let config = small_buffers(&supported);
            let rate = config.sample_rate.0;
            let channels = usize::from(config.channels);
            let (mut producer, consumer) =
                HeapRb::<i16>::new((rate * RING_MS / 1000) as usize).split();
            let _ = ring_tx.send(consumer);
            let mut mono = Vec::new();
            let mut push = move |mono: &[i16]| {
                // The first callback says how its thread runs (one system call, once).
                reported.get_or_init(realtime::promote_callback_thread);
                meter.update(mono);
                producer.push_slice(mono);
            };
            let stream = match supported.sample_format() {
                cpal::SampleFormat::F32 => device.build_input_stream(
                    &config,
                    move |data: &[f32], _| {
                        mono_i16(data, channels, |s| s, &mut mono);
                        push(&mono);
                    },
                    stream_error,
                    None,
                ),
                cpal::SampleFormat::I16 => device.build_input_stream(
                    &config,
                    move |data: &[i16], _| {
                        mono_i16(data, channels, |s| f32::from(s) / 32768.0, &mut mono);
                        push(&mono);
                    },
                    stream_error,
                    None,
                ),
                other => {
                    return Err(AudioError::Device(format!(
                        "unsupported sample format {other}"
                    )))
                }
            }
            .map_err(|e| AudioError::Device(e.to_string()))?;
            Ok((stream, rate))
        })?;
        let ring = ring_rx
            .recv()
            .map_err(|_| AudioError::Device("the audio thread ended".into()))?;
        Ok(DeviceSource {
            rate,
            ring,
            primed: false,
            level,
            scheduling,
            _stream: stream,
        })
    }

    pub fn level(&self) -> LevelMeter {
        self.level.clone()
    }
}

impl AudioSource for DeviceSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn is_microphone(&self) -> bool {
        true
    }

    fn available(&self) -> Option<usize> {
        Some(self.ring.occupied_len())
    }

    fn scheduling(&self) -> Option<Scheduling> {
        self.scheduling.get().cloned()
    }

    fn read(&mut self, out: &mut [i16]) -> usize {
        // Devices deliver in bursts: start (and restart after running dry) with some queued,
        // so that a frame read between two bursts is never cut short.
        if !self.primed {
            if self.ring.occupied_len() < (self.rate * PREBUFFER_MS / 1000) as usize {
                return 0;
            }
            self.primed = true;
        }
        // Keep latency bounded: if the call fell behind the device, skip to newer audio.
        let limit = (self.rate * MAX_QUEUED_MS / 1000) as usize;
        let excess = self
            .ring
            .occupied_len()
            .saturating_sub(limit.max(out.len()));
        if excess > 0 {
            self.ring.skip(excess);
        }
        let n = self.ring.pop_slice(out);
        if n < out.len() {
            self.primed = false;
        }
        n
    }
}

/// A speaker or headset (or the ringer device).
pub struct DeviceSink {
    rate: u32,
    ring: ringbuf::HeapProd<i16>,
    scheduling: Arc<OnceLock<Scheduling>>,
    _stream: StreamThread,
}

impl DeviceSink {
    /// Opens `name`, or the default output when None.
    pub fn open(name: Option<&str>) -> Result<DeviceSink, AudioError> {
        let name = name.map(str::to_string);
        let (ring_tx, ring_rx) = mpsc::channel();
        let scheduling = Arc::new(OnceLock::new());
        let reported = scheduling.clone();
        let (stream, rate) = StreamThread::spawn(move || {
            let device = find(Direction::Output, name.as_deref())?;
            let supported = device
                .default_output_config()
                .map_err(|e| AudioError::Device(e.to_string()))?;
            let config = small_buffers(&supported);
            let rate = config.sample_rate.0;
            let channels = usize::from(config.channels);
            let (producer, consumer) = HeapRb::<i16>::new((rate * RING_MS / 1000) as usize).split();
            let _ = ring_tx.send(producer);
            let mut playout = Playout {
                ring: consumer,
                mono: Vec::new(),
                prebuffer: (rate * PREBUFFER_MS / 1000) as usize,
                playing: false,
            };
            let stream = match supported.sample_format() {
                cpal::SampleFormat::F32 => device.build_output_stream(
                    &config,
                    move |data: &mut [f32], _| {
                        reported.get_or_init(realtime::promote_callback_thread);
                        fill(data, channels, &mut playout, |s| f32::from(s) / 32768.0)
                    },
                    stream_error,
                    None,
                ),
                cpal::SampleFormat::I16 => device.build_output_stream(
                    &config,
                    move |data: &mut [i16], _| {
                        reported.get_or_init(realtime::promote_callback_thread);
                        fill(data, channels, &mut playout, |s| s)
                    },
                    stream_error,
                    None,
                ),
                other => {
                    return Err(AudioError::Device(format!(
                        "unsupported sample format {other}"
                    )))
                }
            }
            .map_err(|e| AudioError::Device(e.to_string()))?;
            Ok((stream, rate))
        })?;
        let ring = ring_rx
            .recv()
            .map_err(|_| AudioError::Device("the audio thread ended".into()))?;
        Ok(DeviceSink {
            rate,
            ring,
            scheduling,
            _stream: stream,
        })
    }
}

impl AudioSink for DeviceSink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn write(&mut self, samples: &[i16]) {
        // A full ring means the device is slower than the call: drop what does not fit.
        self.ring.push_slice(samples);
    }

    fn queued(&self) -> Option<usize> {
        Some(self.ring.occupied_len())
    }

    fn prebuffer(&self) -> usize {
        (self.rate * PREBUFFER_MS / 1000) as usize
    }

    fn scheduling(&self) -> Option<Scheduling> {
        self.scheduling.get().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Something whose closing takes a while, as a sound device's can.
    struct SlowToClose(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Drop for SlowToClose {
        fn drop(&mut self) {
            std::thread::sleep(std::time::Duration::from_millis(300));
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn closing_a_stream_on_an_async_worker_does_not_wait_there() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = closed.clone();
        runtime.block_on(async move {
            let (thread, _) = StreamThread::keep(move || Ok((SlowToClose(flag), 48_000))).unwrap();
            let worker = tokio::spawn(async move { drop(thread) });
            worker.await.unwrap();
        });
        assert!(
            !closed.load(Ordering::SeqCst),
            "the worker went on before the stream had closed"
        );
        // Off a runtime, dropping waits for it.
        drop(runtime);
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = closed.clone();
        let (thread, _) = StreamThread::keep(move || Ok((SlowToClose(flag), 48_000))).unwrap();
        drop(thread);
        assert!(closed.load(Ordering::SeqCst));
    }

    #[test]
    fn the_first_preferred_device_present_wins() {
        let available = vec!["Built-in".to_string(), "USB headset".to_string()];
        let default = "Built-in".to_string();
        let preferred = vec!["Bluetooth".to_string(), "USB headset".to_string()];
        assert_eq!(
            choose(&preferred, &available, Some(&default)).as_deref(),
            Some("USB headset")
        );
        assert_eq!(
            choose(&preferred, &available[..1], Some(&default)).as_deref(),
            Some("Built-in"),
            "headset unplugged"
        );
        assert_eq!(choose(&[], &[], None), None);
    }

    #[test]
    fn the_level_meter_reads_dbfs() {
        let m = LevelMeter::default();
        assert_eq!(m.dbfs(), -100.0);
        m.update(&[16384; 160]);
        assert!((m.dbfs() + 6.0).abs() < 0.1, "{}", m.dbfs());
    }
}

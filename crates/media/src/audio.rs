//! Where a call's audio comes from and goes to: one trait pair for sound devices, WAV files
//! (tests, recordings) and memory, and the resampling between their rate and the codec's.

use std::path::Path;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// Mono 16-bit audio coming in at its own rate.
pub trait AudioSource: Send {
    fn sample_rate(&self) -> u32;
    /// Fills `out` as far as it can and returns how many samples it wrote; fewer than asked
    /// means nothing more is available now (the rest is played as silence).
    fn read(&mut self, out: &mut [i16]) -> usize;
    /// A live microphone, which hears the room and the speaker: its audio gets echo
    /// cancellation, noise suppression and gain control. Files are clean already.
    fn is_microphone(&self) -> bool {
        false
    }
    /// Samples ready to read now, for a source with a clock of its own (a device): its frames
    /// pace the call. None for sources read on a schedule (files, memory).
    fn available(&self) -> Option<usize> {
        None
    }
    /// How the thread producing this audio is scheduled, once it has said (devices).
    fn scheduling(&self) -> Option<crate::realtime::Scheduling> {
        None
    }
}

/// Mono 16-bit audio going out at its own rate.
pub trait AudioSink: Send {
    fn sample_rate(&self) -> u32;
    fn write(&mut self, samples: &[i16]);
    /// The call ended: flush what is buffered.
    fn finish(&mut self) {}
    /// Samples written and not played yet, for a sink with a clock of its own (a device): it
    /// is fed as it plays. None for sinks written on a schedule (files, memory).
    fn queued(&self) -> Option<usize> {
        None
    }
    /// What a clocked sink holds back before it starts playing.
    fn prebuffer(&self) -> usize {
        0
    }
    /// How the thread playing this audio is scheduled, once it has said (devices).
    fn scheduling(&self) -> Option<crate::realtime::Scheduling> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("{0} is not 16-bit PCM")]
    Format(String),
    #[error("resampler: {0}")]
    Resampler(String),
    #[error("sound device: {0}")]
    Device(String),
}

/// A WAV file played once, then silence. Stereo files are mixed down.
pub struct WavSource {
    rate: u32,
    samples: Vec<i16>,
    position: usize,
}

impl WavSource {
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        Self::decode(hound::WavReader::open(path)?, &path.display().to_string())
    }

    /// A WAV file held in memory (assets built into the binary).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AudioError> {
        Self::decode(
            hound::WavReader::new(std::io::Cursor::new(bytes))?,
            "WAV data",
        )
    }

    fn decode<R: std::io::Read>(
        reader: hound::WavReader<R>,
        name: &str,
    ) -> Result<Self, AudioError> {
        let spec = reader.spec();
        if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(AudioError::Format(name.to_string()));
        }
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
        let samples = interleaved
            .chunks(channels)
            .map(|c| (c.iter().map(|s| i32::from(*s)).sum::<i32>() / c.len() as i32) as i16)
            .collect();
        Ok(WavSource {
            rate: spec.sample_rate,
            samples,
            position: 0,
        })
    }

    pub fn from_samples(rate: u32, samples: Vec<i16>) -> Self {
        WavSource {
            rate,
            samples,
            position: 0,
        }
    }

    /// The whole file, mono.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    pub fn finished(&self) -> bool {
        self.position >= self.samples.len()
    }
}

impl AudioSource for WavSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn read(&mut self, out: &mut [i16]) -> usize {
        let left = self.samples.get(self.position..).unwrap_or_default();
        let n = out.len().min(left.len());
        for (o, s) in out.iter_mut().zip(left) {
            *o = *s;
        }
        self.position += n;
        n
    }
}

/// Writes everything played to a mono WAV file.
pub struct WavSink {
    rate: u32,
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
}

impl WavSink {
    pub fn create(path: &Path, rate: u32) -> Result<Self, AudioError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(WavSink {
            rate,
            writer: Some(hound::WavWriter::create(path, spec)?),
        })
    }
}

impl AudioSink for WavSink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn write(&mut self, samples: &[i16]) {
        if let Some(w) = self.writer.as_mut() {
            for s in samples {
                if let Err(e) = w.write_sample(*s) {
                    tracing::warn!(error = %e, "cannot write the WAV sink; recording stops");
                    self.writer = None;
                    return;
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(w) = self.writer.take() {
            if let Err(e) = w.finalize() {
                tracing::warn!(error = %e, "cannot finish the WAV sink");
            }
        }
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Plays to nowhere.
pub struct NullSink(pub u32);

impl AudioSink for NullSink {
    fn sample_rate(&self) -> u32 {
        self.0
    }

    fn write(&mut self, _samples: &[i16]) {}
}

/// Keeps what was played in memory (tests), and whether it was finished — and written to
/// after that, which a call must never do to a speaker it let go.
#[derive(Clone, Default)]
pub struct MemorySink {
    rate: u32,
    state: std::sync::Arc<std::sync::Mutex<Memory>>,
}

#[derive(Default)]
struct Memory {
    samples: Vec<i16>,
    finished: bool,
    written_after_finish: bool,
}

impl MemorySink {
    pub fn new(rate: u32) -> Self {
        MemorySink {
            rate,
            state: Default::default(),
        }
    }

    pub fn samples(&self) -> Vec<i16> {
        self.state
            .lock()
            .map(|s| s.samples.clone())
            .unwrap_or_default()
    }

    /// How much has been played, in samples.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.samples.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (finished, written to after it was)
    pub fn finished(&self) -> (bool, bool) {
        self.state
            .lock()
            .map(|s| (s.finished, s.written_after_finish))
            .unwrap_or((false, false))
    }
}

impl AudioSink for MemorySink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn write(&mut self, samples: &[i16]) {
        if let Ok(mut s) = self.state.lock() {
            s.written_after_finish |= s.finished;
            s.samples.extend_from_slice(samples);
        }
    }

    fn finish(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            s.finished = true;
        }
    }
}

/// A whole recording from `from` Hz to `to` Hz, frame by frame.
pub fn resample(samples: &[i16], from: u32, to: u32) -> Result<Vec<i16>, AudioError> {
    let mut resampler = Resampler::new(from, to)?;
    let frame = resampler.input_frame();
    let mut out = Vec::with_capacity(samples.len() * to as usize / from.max(1) as usize + frame);
    for chunk in samples.chunks(frame) {
        resampler.process(chunk, &mut out);
    }
    Ok(out)
}

/// Converts 20 ms frames between two rates (rubato's FFT resampler; a no-op at equal rates).
pub struct Resampler {
    inner: Option<Fft<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
    frame_out: usize,
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let frame_in = (from / 50) as usize;
        let frame_out = (to / 50) as usize;
        let inner = if from == to {
            None
        } else {
            Some(
                Fft::<f32>::new(from as usize, to as usize, frame_in, 1, FixedSync::Both)
                    .map_err(|e| AudioError::Resampler(e.to_string()))?,
            )
        };
        Ok(Resampler {
            inner,
            input: vec![0.0; frame_in],
            output: vec![0.0; frame_out],
            frame_out,
        })
    }

    pub fn input_frame(&self) -> usize {
        self.input.len()
    }

    /// One 20 ms frame at the input rate in, one at the output rate appended to `out`.
    pub fn process(&mut self, frame: &[i16], out: &mut Vec<i16>) {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(frame);
            return;
        };
        for (dst, src) in self
            .input
            .iter_mut()
            .zip(frame.iter().chain(std::iter::repeat(&0)))
        {
            *dst = f32::from(*src) / 32768.0;
        }
        let frames_in = self.input.len();
        let result = InterleavedSlice::new(&self.input[..], 1, frames_in).and_then(|input| {
            let mut output = InterleavedSlice::new_mut(&mut self.output[..], 1, self.frame_out)?;
            Ok(inner.process_into_buffer(&input, &mut output, None))
        });
        match result {
            Ok(Ok(_)) => out.extend(
                self.output
                    .iter()
                    .map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16),
            ),
            _ => out.resize(out.len() + self.frame_out, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_files_round_trip_and_end_in_silence() {
        let dir = std::env::temp_dir().join(format!("ringdesk-wav-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.wav");
        let mut sink = WavSink::create(&path, 8000).unwrap();
        sink.write(&[1, -2, 3]);
        sink.finish();
        let mut source = WavSource::open(&path).unwrap();
        assert_eq!(source.sample_rate(), 8000);
        let mut buf = [9i16; 5];
        assert_eq!(source.read(&mut buf), 3);
        assert_eq!(&buf[..3], &[1, -2, 3]);
        assert!(source.finished());
        assert!(matches!(
            WavSource::open(&dir.join("missing.wav")),
            Err(AudioError::Wav(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resampling_keeps_a_tone_and_frame_sizes() {
        let mut up = Resampler::new(8000, 48000).unwrap();
        let mut down = Resampler::new(48000, 8000).unwrap();
        assert_eq!(up.input_frame(), 160);
        let tone: Vec<i16> = (0..8000)
            .map(|i| {
                ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 10000.0) as i16
            })
            .collect();
        let mut wide = Vec::new();
        for f in tone.chunks(160) {
            up.process(f, &mut wide);
        }
        assert_eq!(wide.len(), 48000);
        let mut back = Vec::new();
        for f in wide.chunks(960) {
            down.process(f, &mut back);
        }
        assert_eq!(back.len(), 8000);
        let peak = back[4000..].iter().map(|s| s.abs()).max().unwrap();
        assert!((9000..=11000).contains(&peak), "peak {peak}");
    }
}

//! Voice processing for the microphone: acoustic echo cancellation, noise suppression,
//! automatic gain and a high-pass filter — WebRTC's audio processing module (Debian's
//! libwebrtc-audio-processing 0.3, through the `webrtc-audio-processing` crate).
//!
//! The module works on 10 ms frames at 48 kHz. What the speaker plays goes in as the *render*
//! stream, what the microphone hears as the *capture* stream, and the echo of the one is taken
//! out of the other. Both arrive here at their device's rate, in 20 ms frames: a 48 kHz
//! headset (the usual) needs no resampling at all, so processing adds no delay to the call,
//! and the canceller sees exactly what the speaker was given.

use webrtc_audio_processing::{
    Config, EchoCancellation, EchoCancellationSuppressionLevel, GainControl, GainControlMode,
    InitializationConfig, NoiseSuppression, NoiseSuppressionLevel, Processor,
    NUM_SAMPLES_PER_FRAME,
};

use crate::audio::{AudioError, Resampler};

const RATE: u32 = 48_000;

pub struct VoiceProcessor {
    inner: Processor,
    render_up: Resampler,
    capture_up: Resampler,
    capture_down: Resampler,
    wide: Vec<i16>,
    frame: Vec<f32>,
}

impl VoiceProcessor {
    /// For a microphone at `capture_rate` and a speaker at `render_rate`, in 20 ms frames.
    pub fn new(capture_rate: u32, render_rate: u32) -> Result<VoiceProcessor, AudioError> {
        let mut inner = Processor::new(&InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..Default::default()
        })
        .map_err(|e| AudioError::Device(format!("voice processing: {e:?}")))?;
        inner.set_config(Config {
            echo_cancellation: Some(EchoCancellation {
                suppression_level: EchoCancellationSuppressionLevel::High,
                enable_extended_filter: true,
                // The delay between speaker and microphone is unknown (device buffers differ):
                // let the canceller find it.
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            noise_suppression: Some(NoiseSuppression {
                suppression_level: NoiseSuppressionLevel::Moderate,
            }),
            gain_control: Some(GainControl {
                mode: GainControlMode::AdaptiveDigital,
                target_level_dbfs: 3,
                compression_gain_db: 9,
                enable_limiter: true,
            }),
            enable_high_pass_filter: true,
            ..Default::default()
        });
        Ok(VoiceProcessor {
            inner,
            render_up: Resampler::new(render_rate, RATE)?,
            capture_up: Resampler::new(capture_rate, RATE)?,
            capture_down: Resampler::new(RATE, capture_rate)?,
            wide: Vec::with_capacity(RATE as usize / 50),
            frame: vec![0.0; NUM_SAMPLES_PER_FRAME as usize],
        })
    }

    /// What the speaker is about to play (the far end's voice, as the echo will contain it):
    /// whole 20 ms frames at the render rate.
    pub fn render(&mut self, played: &[i16]) {
        self.wide.clear();
        for frame in played.chunks(self.render_up.input_frame()) {
            self.render_up.process(frame, &mut self.wide);
        }
        for chunk in self.wide.chunks(NUM_SAMPLES_PER_FRAME as usize) {
            to_float(chunk, &mut self.frame);
            if let Err(e) = self.inner.process_render_frame(&mut self.frame) {
                tracing::debug!(error = ?e, "voice processing: render frame refused");
            }
        }
    }

    /// A captured 20 ms frame at the capture rate, cleaned in place.
    pub fn capture(&mut self, captured: &mut [i16]) {
        self.wide.clear();
        self.capture_up.process(captured, &mut self.wide);
        for chunk in self.wide.chunks_mut(NUM_SAMPLES_PER_FRAME as usize) {
            to_float(chunk, &mut self.frame);
            if let Err(e) = self.inner.process_capture_frame(&mut self.frame) {
                tracing::debug!(error = ?e, "voice processing: capture frame refused");
            }
            for (s, f) in chunk.iter_mut().zip(&self.frame) {
                *s = (f * 32768.0).clamp(-32768.0, 32767.0) as i16;
            }
        }
        let mut narrow = Vec::with_capacity(captured.len());
        self.capture_down.process(&self.wide, &mut narrow);
        narrow.resize(captured.len(), 0);
        captured.copy_from_slice(&narrow);
    }

    /// Echo return loss enhancement the canceller reports, in dB.
    pub fn erle(&self) -> Option<f64> {
        self.inner.get_stats().echo_return_loss_enhancement
    }
}

fn to_float(samples: &[i16], frame: &mut [f32]) {
    for (f, s) in frame
        .iter_mut()
        .zip(samples.iter().chain(std::iter::repeat(&0)))
    {
        *f = f32::from(*s) / 32768.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech() -> Vec<i16> {
        crate::audio::WavSource::open(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/audio/speech-48k.wav"
        )))
        .unwrap()
        .samples()
        .to_vec()
    }

    fn energy(samples: &[i16]) -> f64 {
        samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
    }

    #[test]
    fn the_far_ends_voice_is_taken_out_of_the_microphone() {
        // The far end talks; the microphone hears it back from the speaker 40 ms later at half
        // the level, and nothing else.
        let far = speech();
        let delay = 48 * 40;
        let mut processor = VoiceProcessor::new(48_000, 48_000).unwrap();
        let (mut echo_in, mut echo_out) = (Vec::new(), Vec::new());
        for (k, frame) in far.chunks_exact(960).enumerate() {
            processor.render(frame);
            let start = (k * 960).saturating_sub(delay);
            let mut captured: Vec<i16> = (0..960)
                .map(|i| {
                    if k * 960 + i < delay {
                        0
                    } else {
                        far[start + i] / 2
                    }
                })
                .collect();
            let before = captured.clone();
            processor.capture(&mut captured);
            // Judge after two seconds, once the canceller has converged.
            if k >= 100 {
                echo_in.extend(before);
                echo_out.extend(captured);
            }
        }
        let reduction = 10.0 * (energy(&echo_in) / energy(&echo_out).max(1.0)).log10();
        println!(
            "echo reduced by {reduction:.1} dB (canceller reports ERLE {:?})",
            processor.erle()
        );
        assert!(reduction > 15.0, "echo reduced by only {reduction:.1} dB");
    }

    #[test]
    fn near_end_speech_without_echo_passes() {
        let near = speech();
        let mut processor = VoiceProcessor::new(48_000, 48_000).unwrap();
        let mut out = Vec::new();
        for frame in near.chunks_exact(960) {
            processor.render(&[0; 960]);
            let mut captured = frame.to_vec();
            processor.capture(&mut captured);
            out.extend(captured);
        }
        // Gain control may change the level; the voice must still be there.
        let kept = energy(&out[48_000..]) / energy(&near[48_000..near.len().min(out.len())]);
        assert!(
            kept > 0.1,
            "near-end speech kept at {kept:.2} of its energy"
        );
    }
}

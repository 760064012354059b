//! Voice activity on decoded audio, for the one decision that needs it: whether the jitter
//! buffer may drop a frame to shrink. Dropping speech is heard, so "silence" here is strict:
//! a frame is silence only when it is near the stream's noise floor (the quietest frames of
//! the last two seconds) or below an absolute level, *and* no speech came in the last
//! `HANGOVER_FRAMES` — quiet syllables and the tails of words sit inside that hangover. It
//! reads what the decoder produced, so it works for every codec and for any peer's DTX or
//! comfort noise, whatever size their packets are.

use std::collections::VecDeque;

/// A frame this far above the noise floor is speech (in energy: 4× = 6 dB).
const ABOVE_FLOOR: f64 = 4.0;
/// Below this mean square (−60 dBFS of full scale 32768) a frame is silence whatever the floor.
const ABSOLUTE_SILENCE: f64 = 32768.0 * 32768.0 * 1e-6;
/// …and above this (−30 dBFS) it is speech whatever the floor (a loud noise floor).
const ABSOLUTE_SPEECH: f64 = 32768.0 * 32768.0 * 1e-3;
/// Frames after speech still treated as speech (200 ms of 20 ms frames).
const HANGOVER_FRAMES: u32 = 5;
/// The floor is the quietest frame of this many blocks of `BLOCK` frames (2 s).
const BLOCKS: usize = 4;
const BLOCK: u32 = 25;

#[derive(Debug, Clone)]
pub struct Vad {
    blocks: VecDeque<f64>,
    block_min: f64,
    in_block: u32,
    since_speech: u32,
}

impl Default for Vad {
    fn default() -> Self {
        Vad {
            blocks: VecDeque::with_capacity(BLOCKS),
            block_min: f64::INFINITY,
            in_block: 0,
            // Nothing heard yet: not in a hangover.
            since_speech: HANGOVER_FRAMES,
        }
    }
}

impl Vad {
    /// Judges one decoded frame (and learns from it); true when it is silence.
    pub fn silent(&mut self, pcm: &[i16]) -> bool {
        let energy = if pcm.is_empty() {
            0.0
        } else {
            pcm.iter()
                .map(|s| f64::from(*s) * f64::from(*s))
                .sum::<f64>()
                / pcm.len() as f64
        };
        // Until a block is learnt the floor is unknown: only near-digital silence is silence.
        let floor = if self.blocks.is_empty() {
            f64::INFINITY
        } else {
            self.blocks
                .iter()
                .copied()
                .fold(self.block_min, f64::min)
                .max(ABSOLUTE_SILENCE)
        };
        self.learn(energy);
        let speech = energy > ABSOLUTE_SPEECH
            || (energy > ABSOLUTE_SILENCE && (!floor.is_finite() || energy > floor * ABOVE_FLOOR));
        if speech {
            self.since_speech = 0;
            return false;
        }
        self.since_speech = self.since_speech.saturating_add(1);
        self.since_speech > HANGOVER_FRAMES
    }

    fn learn(&mut self, energy: f64) {
        self.block_min = self.block_min.min(energy);
        self.in_block += 1;
        if self.in_block == BLOCK {
            if self.blocks.len() == BLOCKS {
                self.blocks.pop_front();
            }
            self.blocks.push_back(self.block_min);
            self.block_min = f64::INFINITY;
            self.in_block = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(level_dbfs: f64, n: usize, phase: usize) -> Vec<i16> {
        let amplitude = 32768.0 * 10f64.powf(level_dbfs / 20.0) * std::f64::consts::SQRT_2;
        (phase..phase + n)
            .map(|i| (amplitude * (i as f64 * 0.37).sin()) as i16)
            .collect()
    }

    fn noise(level_dbfs: f64, n: usize, seed: &mut u64) -> Vec<i16> {
        let amplitude = 32768.0 * 10f64.powf(level_dbfs / 20.0) * 3f64.sqrt();
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let u = (*seed >> 11) as f64 / (1u64 << 53) as f64;
                (amplitude * (2.0 * u - 1.0)) as i16
            })
            .collect()
    }

    #[test]
    fn digital_silence_is_silence_and_speech_level_is_not() {
        let mut vad = Vad::default();
        assert!(vad.silent(&[0; 160]));
        assert!(!vad.silent(&tone(-20.0, 160, 0)));
    }

    #[test]
    fn quiet_speech_over_a_quiet_line_is_never_silence() {
        let mut vad = Vad::default();
        let mut seed = 1;
        // Two seconds of line noise at −65 dBFS, then a sentence at −35 dBFS whose syllables
        // are 100 ms apart: no frame of it, nor of its pauses, may be dropped.
        for _ in 0..100 {
            assert!(vad.silent(&noise(-65.0, 160, &mut seed)));
        }
        // It ends on a syllable.
        for k in 0..95 {
            let frame = if (k / 5) % 2 == 0 {
                tone(-35.0, 160, k * 160)
            } else {
                noise(-65.0, 160, &mut seed)
            };
            assert!(!vad.silent(&frame), "frame {k} of the sentence");
        }
        // After the hangover, the line noise is silence again.
        let after: Vec<bool> = (0..20)
            .map(|_| vad.silent(&noise(-65.0, 160, &mut seed)))
            .collect();
        assert!(after[..HANGOVER_FRAMES as usize].iter().all(|s| !s));
        assert!(after[HANGOVER_FRAMES as usize + 1..].iter().all(|s| *s));
    }

    #[test]
    fn a_noisy_line_learns_its_floor() {
        let mut vad = Vad::default();
        let mut seed = 2;
        // Background at −45 dBFS: speech-like at first (above the absolute silence, no floor
        // known), then recognised as the floor.
        let judged: Vec<bool> = (0..150)
            .map(|_| vad.silent(&noise(-45.0, 160, &mut seed)))
            .collect();
        assert!(judged[120..].iter().all(|s| *s), "{judged:?}");
        assert!(!vad.silent(&tone(-35.0, 160, 0)), "10 dB over the noise");
    }
}

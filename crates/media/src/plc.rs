//! Packet-loss concealment for codecs without their own (G.711), after G.711 Appendix I:
//! a lost frame is filled by repeating the last pitch period of what was played, faded out
//! over 60 ms, and the first frame after a loss is cross-faded into the synthetic signal so
//! neither edge clicks.

const HISTORY_MS: usize = 40;
const MIN_PITCH_HZ: usize = 66; // 15 ms
const MAX_PITCH_HZ: usize = 400; // 2.5 ms
const FULL_GAIN_MS: usize = 10;
const SILENT_AFTER_MS: usize = 60;
const CROSSFADE_MS: usize = 4;

#[derive(Debug)]
pub struct Plc {
    rate: usize,
    history: Vec<i16>,
    /// One pitch period of the signal before the loss, repeated while concealing.
    period: Vec<i16>,
    phase: usize,
    /// Samples concealed in the current loss; 0 once real audio is back.
    concealed: usize,
}

impl Plc {
    pub fn new(rate: u32) -> Self {
        let rate = rate as usize;
        Plc {
            rate,
            history: Vec::with_capacity(rate * HISTORY_MS / 1000),
            period: Vec::new(),
            phase: 0,
            concealed: 0,
        }
    }

    /// A frame that arrived: recorded as history, its start blended with the concealment it ends.
    pub fn good(&mut self, frame: &mut [i16]) {
        if self.concealed > 0 && !self.period.is_empty() {
            let fade = (self.rate * CROSSFADE_MS / 1000).min(frame.len());
            let gain = self.gain(self.concealed);
            for (i, sample) in frame.iter_mut().take(fade).enumerate() {
                let synthetic = f32::from(self.next_synthetic()) * gain;
                let w = (i + 1) as f32 / (fade + 1) as f32;
                *sample = (synthetic * (1.0 - w) + f32::from(*sample) * w) as i16;
            }
        }
        self.concealed = 0;
        self.remember(frame);
    }

    /// Fills `out` in place of a lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.concealed == 0 {
            self.period = self.pitch_period();
            self.phase = 0;
        }
        for sample in out.iter_mut() {
            let gain = self.gain(self.concealed);
            *sample = if self.period.is_empty() || gain == 0.0 {
                0
            } else {
                (f32::from(self.next_synthetic()) * gain) as i16
            };
            self.concealed += 1;
        }
        let concealed = out.to_vec();
        self.remember(&concealed);
    }

    fn next_synthetic(&mut self) -> i16 {
        let len = self.period.len().max(1);
        let s = self.period.get(self.phase % len).copied().unwrap_or(0);
        self.phase = (self.phase + 1) % len;
        s
    }

    fn gain(&self, concealed: usize) -> f32 {
        let full = self.rate * FULL_GAIN_MS / 1000;
        let silent = self.rate * SILENT_AFTER_MS / 1000;
        if concealed <= full {
            1.0
        } else if concealed >= silent {
            0.0
        } else {
            1.0 - (concealed - full) as f32 / (silent - full) as f32
        }
    }

    fn remember(&mut self, frame: &[i16]) {
        let keep = self.rate * HISTORY_MS / 1000;
        self.history.extend_from_slice(frame);
        if self.history.len() > keep {
            let excess = self.history.len() - keep;
            self.history.drain(..excess);
        }
    }

    /// The lag with the highest normalised autocorrelation over the recent history.
    fn pitch_period(&self) -> Vec<i16> {
        let h = &self.history;
        let min_lag = self.rate / MAX_PITCH_HZ;
        let max_lag = self.rate / MIN_PITCH_HZ;
        let window = self.rate * 10 / 1000;
        if h.len() < max_lag + window {
            return h.iter().rev().take(min_lag.max(1)).rev().copied().collect();
        }
        let end = h.len();
        let tail = h.get(end - window..).unwrap_or_default();
        let mut best = (min_lag, f64::MIN);
        for lag in min_lag..=max_lag {
            let earlier = h.get(end - window - lag..end - lag).unwrap_or_default();
            let (mut dot, mut energy) = (0f64, 0f64);
            for (a, b) in tail.iter().zip(earlier) {
                dot += f64::from(*a) * f64::from(*b);
                energy += f64::from(*b) * f64::from(*b);
            }
            let score = if energy > 0.0 {
                dot / energy.sqrt()
            } else {
                0.0
            };
            if score > best.1 {
                best = (lag, score);
            }
        }
        h.get(end - best.0..).unwrap_or_default().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: usize, hz: f32, start: usize, n: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn a_lost_frame_of_a_tone_continues_the_tone() {
        let mut plc = Plc::new(8000);
        for k in 0..5 {
            let mut f = tone(8000, 200.0, k * 160, 160);
            plc.good(&mut f);
        }
        let mut lost = vec![0i16; 160];
        plc.conceal(&mut lost);
        let expected = tone(8000, 200.0, 5 * 160, 160);
        let err: f64 = lost
            .iter()
            .zip(&expected)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum::<f64>()
            / 160.0;
        let power: f64 = expected.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / 160.0;
        assert!(
            err < power * 0.05,
            "concealment error {err} vs power {power}"
        );
    }

    #[test]
    fn a_long_loss_fades_to_silence_and_recovers() {
        let mut plc = Plc::new(8000);
        for k in 0..5 {
            let mut f = tone(8000, 300.0, k * 160, 160);
            plc.good(&mut f);
        }
        let mut out = vec![0i16; 160];
        for _ in 0..4 {
            plc.conceal(&mut out);
        }
        assert!(out.iter().all(|s| *s == 0), "silent after 60 ms");
        let mut back = tone(8000, 300.0, 0, 160);
        let original = back.clone();
        plc.good(&mut back);
        assert_eq!(back[40..], original[40..]);
    }

    #[test]
    fn concealing_with_no_history_is_silence() {
        let mut plc = Plc::new(48000);
        let mut out = vec![1i16; 960];
        plc.conceal(&mut out);
        assert!(out.iter().all(|s| *s == 0));
    }
}

//! Comparing what was sent with what was played, for tests and benchmarks: the delay between
//! them and how alike they are once aligned; and changing RTP headers on the way, to play the
//! far ends that renumber, restamp or switch their streams.

use webrtc_util::marshal::{Marshal, Unmarshal};

/// Normalised cross-correlation of `a` and `b` over their common length (1.0 = same shape).
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut dot, mut ea, mut eb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        ea += x * x;
        eb += y * y;
    }
    if ea == 0.0 || eb == 0.0 {
        return 0.0;
    }
    dot / (ea * eb).sqrt()
}

/// How much of `samples`' power is at `hz` (0 to about 1; Goertzel over the whole slice, so
/// pick a length that holds a whole number of periods for a clean figure).
pub fn tone_share(samples: &[i16], rate: u32, hz: f32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(rate);
    let (mut a, mut b) = (0.0, 0.0);
    for &x in samples {
        let c = f64::from(x) + 2.0 * w.cos() * a - b;
        b = a;
        a = c;
    }
    let n = samples.len() as f64;
    let mean_square = samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / n.max(1.0);
    if mean_square == 0.0 {
        return 0.0;
    }
    // A sine of amplitude A gives |X|² ≈ (n·A/2)², and a mean square of A²/2.
    let power = a * a + b * b - 2.0 * w.cos() * a * b;
    power / (n * n / 4.0) / (2.0 * mean_square)
}

/// Where `reference` appears in `received`: the lag (in samples, `received` later) with the
/// highest correlation, searched up to `max_lag` among the lags where all of `reference`
/// fits, and that correlation.
pub fn align(reference: &[i16], received: &[i16], max_lag: usize) -> (usize, f64) {
    let Some(last) = received.len().checked_sub(reference.len()) else {
        return (0, 0.0);
    };
    (0..=max_lag.min(last))
        .map(|lag| {
            (
                lag,
                correlation(reference, received.get(lag..).unwrap_or_default()),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

/// `received` cut to `reference`'s span, for scoring one against the other (PESQ wants them
/// aligned): found by the reference's seconds 1–3 (`rate` samples a second) within the first
/// four seconds of lag; None when that part is not there at all (correlation under 0.2).
pub fn cut_aligned(reference: &[i16], received: &[i16], rate: u32) -> Option<Vec<i16>> {
    let r = rate as usize;
    let (lag, c) = align(reference.get(r..3 * r)?, received, 4 * r);
    if c < 0.2 {
        return None;
    }
    let mut cut: Vec<i16> = received
        .iter()
        .skip(lag.saturating_sub(r))
        .take(reference.len())
        .copied()
        .collect();
    cut.resize(reference.len(), 0);
    Some(cut)
}

/// `datagram` (plain RTP) with its header changed by `change`; None if it is not RTP.
pub fn rewrite_rtp(
    datagram: &[u8],
    change: impl FnOnce(&mut rtp::header::Header),
) -> Option<Vec<u8>> {
    let mut packet = rtp::packet::Packet::unmarshal(&mut &datagram[..]).ok()?;
    change(&mut packet.header);
    packet.marshal().ok().map(|b| b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_delayed_copy() {
        let signal: Vec<i16> = (0..2000)
            .map(|i| ((i * 7919 % 2001) as i16) - 1000)
            .collect();
        let mut delayed = vec![0i16; 123];
        delayed.extend(&signal);
        let (lag, c) = align(&signal[..1000], &delayed, 500);
        assert_eq!(lag, 123);
        assert!(c > 0.999);
        assert_eq!(correlation(&[0, 0], &[1, 2]), 0.0);
        assert_eq!(
            align(&signal, &signal[..10], 5),
            (0, 0.0),
            "too short to hold it"
        );
    }
}

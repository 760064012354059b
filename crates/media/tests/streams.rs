//! What real far ends do to their streams, on simulated time through a real `MediaSession`
//! pair: timestamps that step (off and on the frame grid, forwards and backwards), a new SSRC
//! mid-call, sequence numbers that wrap, duplicated and reordered bursts, a payload type
//! switched without a new offer (with key presses between), silences with and without the
//! marker bit, a sender clock 1 % off for ten minutes. After each, the speech sent must be
//! heard again within 200 ms, and the reported quality must say what was played.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringdesk_media::analysis::{self, rewrite_rtp};
use ringdesk_media::audio::{resample, WavSource};
use ringdesk_media::codec::Codec;
use ringdesk_media::jitter::JitterConfig;
use ringdesk_media::quality::Quality;
use ringdesk_media::sdp::{Direction, Negotiated, Receivable};
use ringdesk_media::session::{MediaEvent, MediaSession, SessionStart, SessionStats};

const FRAME_MS: u64 = 20;

fn speech_8k() -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/audio/speech-8k.wav");
    WavSource::open(&path).unwrap().samples().to_vec()
}

/// The speech at `rate`, looped to `frames` frames of 20 ms.
fn speech(rate: u32, frames: usize) -> Vec<i16> {
    static AT: OnceLock<Mutex<HashMap<u32, Vec<i16>>>> = OnceLock::new();
    let mut cache = AT.get_or_init(Default::default).lock().unwrap();
    let one = cache
        .entry(rate)
        .or_insert_with(|| resample(&speech_8k(), 8000, rate).unwrap());
    one.iter()
        .cycle()
        .take(frames * rate as usize / 50)
        .copied()
        .collect()
}

fn agreed(codec: Codec, also: &[(u8, Codec)]) -> Negotiated {
    let address: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    Negotiated {
        codec,
        payload_type: codec.static_payload_type().unwrap_or(111),
        receivable: Receivable::new(also.iter().copied()),
        dtmf_payload_type: Some(101),
        dtmf_clock_rate: 8000,
        remote_rtp: address,
        remote_rtcp: address,
        direction: Direction::SendRecv,
        srtp: None,
    }
}

fn session(agreed: Negotiated, t0: Instant, seed: u64) -> MediaSession {
    MediaSession::new(
        agreed,
        JitterConfig::default(),
        SessionStart::fixed(t0, seed),
    )
    .unwrap()
}

const PEER: &str = "198.51.100.7:30000";

/// What the far end did, and what we played.
struct Run {
    /// What was sent, at our playout rate, by send time (silence where nothing was sent).
    sent: Vec<i16>,
    played: Vec<i16>,
    rate: u32,
    quality: Quality,
    stats: SessionStats,
    digits: String,
}

impl Run {
    fn samples(&self, ms: u64) -> usize {
        (ms * u64::from(self.rate) / 1000) as usize
    }

    /// The correlation of what was sent from `from_ms` for `for_ms` with what was played,
    /// at the best lag up to 400 ms, and that lag in ms. Compared at 8 kHz: the speech is
    /// narrowband, and a search at 48 kHz costs 36 times as much.
    fn heard(&self, from_ms: u64, for_ms: u64) -> (f64, u64) {
        let step = (self.rate / 8000) as usize;
        let (a, b) = (self.samples(from_ms), self.samples(from_ms + for_ms));
        let narrow = |s: &[i16]| s.iter().step_by(step).copied().collect::<Vec<_>>();
        let reference = narrow(&self.sent[a..b]);
        let played = narrow(&self.played[a.min(self.played.len())..]);
        let (lag, c) = analysis::align(&reference, &played, 8 * 400);
        (c, lag as u64 / 8)
    }

    /// Speech sent from 200 ms after `event_ms` is heard, as it was sent.
    fn assert_heard_after(&self, event_ms: u64, least: f64, what: &str) {
        let (c, lag) = self.heard(event_ms + 200, 1000);
        assert!(
            c > least,
            "{what}: speech sent 200 ms after the event not heard (correlation {c:.3} at {lag} ms); {:?}",
            self.stats
        );
        assert!(
            !self.quality.stalled,
            "{what}: reported stalled: {:?}",
            self.quality
        );
    }
}

/// A far end that sends frame `i` (if any) at `i`·20 ms (`interval_ms` of our clock apart),
/// its packets crossing `wire` (copies and their delays in ms; none: lost); we play every
/// 20 ms at 10 ms past the frame. `far` gives frame `i`'s datagram and the audio it carries
/// at our playout rate.
fn simulate(
    ours: Negotiated,
    frames: usize,
    interval_ms: f64,
    mut far: impl FnMut(usize, Instant) -> Option<(Vec<u8>, Vec<i16>)>,
    mut wire: impl FnMut(usize, Vec<u8>) -> Vec<(f64, Vec<u8>)>,
) -> Run {
    let t0 = Instant::now();
    let mut receiver = session(ours, t0, 1000);
    let rate = receiver.sample_rate();
    let mut on_the_way: BTreeMap<(u64, u64), Vec<u8>> = BTreeMap::new();
    let (mut sent, mut played, mut digits) = (Vec::new(), Vec::new(), String::new());
    let mut n = 0u64;
    let span_ms = (frames as f64 * interval_ms) as u64 + 1000;
    let mut next_send = 0usize;
    for tick in 0..span_ms / FRAME_MS {
        let now_us = tick * FRAME_MS * 1000 + 10_000;
        // Everything the far end sent up to now.
        while next_send < frames && (next_send as f64 * interval_ms * 1000.0) as u64 <= now_us {
            let at_us = (next_send as f64 * interval_ms * 1000.0) as u64;
            let at = t0 + Duration::from_micros(at_us);
            // Silence where nothing was sent; a clock running fast overlaps by a sample or two.
            sent.resize(at_us as usize * rate as usize / 1_000_000, 0);
            if let Some((datagram, audio)) = far(next_send, at) {
                sent.extend_from_slice(&audio);
                for (delay, copy) in wire(next_send, datagram) {
                    on_the_way.insert((at_us + (delay * 1000.0) as u64, n), copy);
                    n += 1;
                }
            }
            next_send += 1;
        }
        while let Some(entry) = on_the_way.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let ((arrival, _), datagram) = entry.remove_entry();
            let at = t0 + Duration::from_micros(arrival);
            receiver.receive_rtp(PEER.parse().unwrap(), &datagram, at);
        }
        let now = t0 + Duration::from_micros(now_us);
        receiver.play(now, &mut played);
        let _ = receiver.poll_rtcp(now);
        while let Some(event) = receiver.poll_event() {
            if let MediaEvent::Dtmf(d) = event {
                digits.push(d);
            }
        }
    }
    sent.resize(played.len().max(sent.len()), 0);
    Run {
        sent,
        played,
        rate,
        quality: receiver.quality(),
        stats: receiver.stats(),
        digits,
    }
}

/// A far end speaking `codec` whose packets `change` may rewrite (frame index, header).
fn speaker(
    codec: Codec,
    frames: usize,
    playout_rate: u32,
    mut change: impl FnMut(usize, &mut rtp::header::Header) -> bool,
) -> impl FnMut(usize, Instant) -> Option<(Vec<u8>, Vec<i16>)> {
    let t0 = Instant::now();
    let mut far = session(agreed(codec, &[]), t0, 7);
    let words = speech(codec.sample_rate(), frames);
    let heard = speech(playout_rate, frames);
    let (n, m) = (codec.frame_samples(), playout_rate as usize / 50);
    move |i, at| {
        let t = far.send_audio(&words[i * n..(i + 1) * n], at)?;
        let mut keep = true;
        let data = rewrite_rtp(&t.data, |h| keep = change(i, h))?;
        keep.then(|| (data, heard[i * m..(i + 1) * m].to_vec()))
    }
}

fn clean(_: usize, datagram: Vec<u8>) -> Vec<(f64, Vec<u8>)> {
    vec![(5.0, datagram)]
}

const EVENT: usize = 150;
const EVENT_MS: u64 = EVENT as u64 * FRAME_MS;

fn least(codec: Codec) -> f64 {
    // Opus is not a waveform coder: it matches what was sent less closely.
    if codec == Codec::Opus {
        0.8
    } else {
        0.95
    }
}

#[test]
fn timestamp_steps_of_every_size_are_followed() {
    for codec in [Codec::Pcmu, Codec::Opus] {
        let ticks_per_ms = i64::from(codec.rtp_clock_rate()) / 1000;
        for step_ms in [7, 13, 20, 47, 60, 1000, 3_600_000, -7, -20, -47, -1000] {
            let far = speaker(codec, 400, codec.sample_rate(), move |i, h| {
                if i >= EVENT {
                    h.timestamp = (i64::from(h.timestamp) + step_ms * ticks_per_ms) as u32;
                }
                true
            });
            let run = simulate(agreed(codec, &[]), 400, 20.0, far, clean);
            let what = format!("{codec:?}, timestamps step {step_ms} ms");
            run.assert_heard_after(EVENT_MS, least(codec), &what);
            assert!(
                run.quality.concealed_percent < 1.0,
                "{what}: {:?} {:?}",
                run.quality,
                run.stats
            );
        }
    }
}

#[test]
fn a_hold_and_resume_with_wall_clock_timestamps_is_followed() {
    // The far end sends nothing for a second (hold), then goes on with its sequence numbers
    // and timestamps moved by the time that passed and a little more: 40–70 ms jumps off
    // the 20 ms grid, as a widely used softphone does.
    for codec in [Codec::Pcmu, Codec::Opus] {
        let ticks_per_ms = i64::from(codec.rtp_clock_rate()) / 1000;
        for extra_ms in [7, 27, 47] {
            let far = speaker(codec, 450, codec.sample_rate(), move |i, h| {
                if (EVENT..EVENT + 50).contains(&i) {
                    return false;
                }
                if i >= EVENT + 50 {
                    h.sequence_number = h.sequence_number.wrapping_sub(50);
                    h.timestamp = (i64::from(h.timestamp) + extra_ms * ticks_per_ms) as u32;
                }
                true
            });
            let run = simulate(agreed(codec, &[]), 450, 20.0, far, clean);
            let what = format!("{codec:?}, resumed with a {extra_ms} ms extra step");
            run.assert_heard_after(EVENT_MS + 1000, least(codec), &what);
            assert!(
                run.quality.concealed_percent < 1.0,
                "{what}: {:?}",
                run.quality
            );
        }
    }
}

#[test]
fn a_new_ssrc_mid_call_is_a_new_stream() {
    let far = speaker(Codec::Pcmu, 400, 8000, |i, h| {
        if i >= EVENT {
            h.ssrc ^= 0x5a5a_5a5a;
            h.sequence_number = h.sequence_number.wrapping_add(12_345);
            h.timestamp = h.timestamp.wrapping_add(987_654_321);
        }
        true
    });
    let run = simulate(agreed(Codec::Pcmu, &[]), 400, 20.0, far, clean);
    run.assert_heard_after(EVENT_MS, 0.95, "new SSRC");
    assert_eq!(run.stats.jitter.resets, 1, "{:?}", run.stats);
}

#[test]
fn sequence_numbers_wrap_without_a_glitch() {
    let mut first = None;
    let far = speaker(Codec::Pcmu, 400, 8000, move |i, h| {
        let base = *first.get_or_insert(h.sequence_number);
        // Wraps at the event.
        h.sequence_number =
            (65_536 - EVENT as u32 + u32::from(h.sequence_number.wrapping_sub(base))) as u16;
        let _ = i;
        true
    });
    let run = simulate(agreed(Codec::Pcmu, &[]), 400, 20.0, far, clean);
    run.assert_heard_after(EVENT_MS, 0.95, "sequence wrap");
    assert_eq!(run.stats.jitter.concealed, 0, "{:?}", run.stats);
    assert_eq!(run.stats.jitter.resets + run.stats.jitter.reanchored, 0);
}

#[test]
fn duplicated_and_reordered_bursts_play_once_in_order() {
    let far = speaker(Codec::Pcmu, 400, 8000, |_, _| true);
    let wire = |i: usize, datagram: Vec<u8>| {
        if (EVENT..EVENT + 10).contains(&i) {
            // A burst held up and released backwards, each packet twice.
            let delay = 5.0 + (EVENT + 10 - i) as f64 * 3.0 + 20.0;
            vec![(delay, datagram.clone()), (delay + 1.0, datagram)]
        } else if i.is_multiple_of(10) {
            vec![(5.0, datagram.clone()), (8.0, datagram)]
        } else {
            vec![(5.0, datagram)]
        }
    };
    let run = simulate(agreed(Codec::Pcmu, &[]), 400, 20.0, far, wire);
    run.assert_heard_after(EVENT_MS, 0.95, "duplicates and reordering");
    assert!(run.stats.jitter.duplicates >= 20, "{:?}", run.stats);
    assert_eq!(
        run.stats.jitter.concealed + run.stats.jitter.late,
        0,
        "{:?}",
        run.stats
    );
}

#[test]
fn a_payload_type_switch_without_a_new_offer_is_followed_with_keys_between() {
    // We offered Opus and PCMU; the far end answers both and switches at will, one SSRC.
    let frames = 500;
    let t0 = Instant::now();
    let mut opus = session(agreed(Codec::Opus, &[]), t0, 7);
    let mut pcmu = session(agreed(Codec::Pcmu, &[]), t0, 8);
    let (words_48, words_8) = (speech(48_000, frames), speech(8000, frames));
    let heard = speech(48_000, frames);
    let mut seq: u16 = 40_000;
    let far = move |i: usize, at: Instant| {
        // Opus, PCMU from the event (with keys pressed), Opus again at 350.
        let on_pcmu = (EVENT..350).contains(&i);
        // Keys replace the audio while they last: pressed after the stretch compared.
        if i == 250 {
            pcmu.press("5#");
        }
        let t = if on_pcmu {
            let _ = opus.send_audio(&words_48[i * 960..(i + 1) * 960], at);
            pcmu.send_audio(&words_8[i * 160..(i + 1) * 160], at)?
        } else {
            let _ = pcmu.send_audio(&words_8[i * 160..(i + 1) * 160], at);
            opus.send_audio(&words_48[i * 960..(i + 1) * 960], at)?
        };
        let data = rewrite_rtp(&t.data, |h| {
            h.ssrc = 0xfeed_f00d;
            h.sequence_number = seq;
        })?;
        seq = seq.wrapping_add(1);
        Some((data, heard[i * 960..(i + 1) * 960].to_vec()))
    };
    let ours = agreed(Codec::Opus, &[(0, Codec::Pcmu)]);
    let run = simulate(ours, frames, 20.0, far, clean);
    // PCMU is narrowband: against the wideband original it matches less.
    run.assert_heard_after(EVENT_MS, 0.7, "switched to PCMU");
    run.assert_heard_after(350 * FRAME_MS, 0.8, "back to Opus");
    assert_eq!(run.digits, "5#");
}

#[test]
fn silences_with_and_without_the_marker_bit_wait_for_the_talk_spurt() {
    for marker in [true, false] {
        // Silence suppression: nothing for 3 s, sequence numbers go on, timestamps skip
        // the silence; the first packet of the next talk spurt has the marker bit (or not).
        let far = speaker(Codec::Pcmu, 550, 8000, move |i, h| {
            if (EVENT..EVENT + 150).contains(&i) {
                return false;
            }
            if i >= EVENT + 150 {
                h.sequence_number = h.sequence_number.wrapping_sub(150);
                h.marker = marker && i == EVENT + 150;
            }
            true
        });
        let run = simulate(agreed(Codec::Pcmu, &[]), 550, 20.0, far, clean);
        let what = format!("talk spurt after 3 s, marker {marker}");
        run.assert_heard_after(EVENT_MS + 3000, 0.95, &what);
        // The silence is not loss.
        assert_eq!(
            run.stats.jitter.concealed + run.stats.jitter.late,
            0,
            "{what}"
        );
        assert!(
            run.quality.concealed_percent < 0.5,
            "{what}: {:?}",
            run.quality
        );
        // And the talk spurt plays no later than the speech before the silence did.
        let (_, before) = run.heard(1000, 1000);
        let (_, after) = run.heard(EVENT_MS + 3200, 1000);
        assert!(
            after <= before + 20,
            "{what}: {before} ms before, {after} ms after"
        );
    }
}

#[test]
fn a_sender_clock_one_percent_off_for_ten_minutes_neither_drifts_nor_loses_speech() {
    let frames = 30_000;
    let words = speech(8000, frames);
    for interval in [19.8, 20.2] {
        let far = speaker(Codec::Pcmu, frames, 8000, |_, _| true);
        let run = simulate(agreed(Codec::Pcmu, &[]), frames, interval, far, clean);
        let what = format!("a frame every {interval} ms");
        // The far end's own samples, sent by its clock: in the last minute, each second of
        // them is found where our clock played it, no later than 250 ms after it was sent.
        for k in (frames - 3000..frames - 100).step_by(50) {
            let reference = &words[k * 160..(k + 25) * 160];
            let sent_at = (k as f64 * interval * 8.0) as usize;
            let (lag, c) = analysis::align(reference, &run.played[sent_at..], 4000);
            let energy: f64 = reference.iter().map(|s| f64::from(*s).powi(2)).sum();
            if energy < 1e9 {
                // Mostly silence: nothing to recognise.
                continue;
            }
            assert!(c > 0.9, "{what}: frames {k}…: correlation {c:.3} at {lag}");
            assert!(lag < 2000, "{what}: the delay grew to {} ms", lag / 8);
        }
        let jitter = run.stats.jitter;
        assert_eq!(
            jitter.concealed + jitter.late + jitter.dropped_speech,
            0,
            "{what}: {jitter:?}"
        );
        assert!(
            run.quality.concealed_percent < 0.1,
            "{what}: {:?}",
            run.quality
        );
    }
}

#[test]
fn reported_quality_matches_what_was_played_on_a_lossy_path() {
    let far = speaker(Codec::Pcmu, 1000, 8000, |_, _| true);
    // Every 25th packet lost: 4 %.
    let wire = |i: usize, datagram: Vec<u8>| {
        if i % 25 == 12 {
            vec![]
        } else {
            vec![(5.0, datagram)]
        }
    };
    let run = simulate(agreed(Codec::Pcmu, &[]), 1000, 20.0, far, wire);
    let q = run.quality;
    assert!((q.loss_percent - 4.0).abs() < 0.5, "{q:?}");
    assert!((q.concealed_percent - 4.0).abs() < 0.5, "{q:?}");
    assert!(q.mos < 4.2 && !q.stalled, "{q:?}");
}

#[test]
fn quiet_speech_is_never_shortened_to_shrink_the_buffer() {
    // A far end whose whole stream is speech at about −35 dBFS, arriving jittery at first (the
    // buffer starts deep and would like to shrink): no frame of it may be dropped for silence.
    let t0 = Instant::now();
    let mut far = session(agreed(Codec::Pcmu, &[]), t0, 7);
    let quiet: Vec<i16> = speech(8000, 600).iter().map(|s| s / 16).collect();
    let heard = quiet.clone();
    let far = move |i: usize, at: Instant| {
        let t = far.send_audio(&quiet[i * 160..(i + 1) * 160], at)?;
        Some((t.data, heard[i * 160..(i + 1) * 160].to_vec()))
    };
    let wire = |i: usize, datagram: Vec<u8>| {
        // The first 30 packets spread over 60 ms, the rest steady.
        let delay = if i < 30 {
            5.0 + (i % 4) as f64 * 20.0
        } else {
            5.0
        };
        vec![(delay, datagram)]
    };
    let run = simulate(agreed(Codec::Pcmu, &[]), 600, 20.0, far, wire);
    let jitter = run.stats.jitter;
    assert_eq!(jitter.dropped_speech, 0, "{jitter:?}");
    // Only the real silences of the speech (between sentences) may have been dropped.
    assert!(jitter.dropped <= 30, "{jitter:?}");
    let (c, _) = run.heard(3000, 1000);
    assert!(c > 0.9, "quiet speech heard: {c:.3}");
}

#[test]
fn a_peers_silence_is_recognised_however_large_its_packets() {
    // Opus "silence" that is low-level noise, not digital zero, makes packets of 60–90 bytes
    // (baresip's): the buffer, deep after a jittery start, still shrinks in it.
    let t0 = Instant::now();
    let mut far = session(agreed(Codec::Opus, &[]), t0, 7);
    let mut seed: u64 = 5;
    let hiss: Vec<i16> = (0..960 * 500)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((seed >> 33) % 9) as i16 - 4
        })
        .collect();
    // Larger than a packet-size rule (under 64 bytes) would call silence.
    let mut encoder = Codec::Opus.encoder().unwrap();
    let mut sizes: Vec<usize> = hiss
        .chunks(960)
        .take(100)
        .map(|frame| {
            let mut out = Vec::new();
            encoder.encode(frame, &mut out).unwrap();
            out.len()
        })
        .collect();
    sizes.sort_unstable();
    assert!(sizes[50] > 64, "median packet {} bytes", sizes[50]);
    let far = move |i: usize, at: Instant| {
        let t = far.send_audio(&hiss[i * 960..(i + 1) * 960], at)?;
        Some((t.data, vec![0; 960]))
    };
    let wire = |i: usize, datagram: Vec<u8>| {
        let delay = if i < 30 {
            5.0 + (i % 4) as f64 * 20.0
        } else {
            5.0
        };
        vec![(delay, datagram)]
    };
    let run = simulate(agreed(Codec::Opus, &[]), 500, 20.0, far, wire);
    let jitter = run.stats.jitter;
    assert!(
        jitter.dropped >= 3,
        "the buffer shrank in the silence: {jitter:?}"
    );
    assert_eq!(jitter.dropped_speech, 0, "{jitter:?}");
    assert!(
        run.quality.buffer_delay < Duration::from_millis(100),
        "{:?}",
        run.quality
    );
}

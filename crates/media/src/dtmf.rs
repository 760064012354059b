//! DTMF as RTP telephone-events (RFC 4733 §2.3): the 4-byte payload, a sender that spreads
//! one key press over a marked first packet, updates and three end packets, and a receiver
//! that reports each key once however many copies arrive.

use std::collections::VecDeque;

/// A key press lasts this long on the wire.
const TONE_MS: u32 = 100;
/// Packets carrying the same event, every frame while the key is down.
const END_REPEATS: usize = 3;
const VOLUME: u8 = 10; // −10 dBm0

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn encode(&self) -> [u8; 4] {
        let [hi, lo] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            hi,
            lo,
        ]
    }

    pub fn decode(payload: &[u8]) -> Option<TelephoneEvent> {
        let [event, flags, hi, lo] = *payload.get(..4)?.first_chunk::<4>()?;
        Some(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([hi, lo]),
        })
    }
}

pub fn event_of(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

pub fn digit_of(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// One RTP packet's worth of a key press: `marker` and `new_timestamp` on the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    pub payload: [u8; 4],
    pub marker: bool,
    /// The first packet of an event takes the stream's current timestamp; the rest keep it.
    pub new_timestamp: bool,
}

/// Queues key presses and hands out one packet per frame while any is pending.
#[derive(Debug)]
pub struct DtmfSender {
    clock_rate: u32,
    frame: u32,
    queue: VecDeque<u8>,
    current: Option<(u8, u32, usize)>, // event, duration so far, end packets sent
}

impl DtmfSender {
    pub fn new(clock_rate: u32, frame_samples: u32) -> Self {
        DtmfSender {
            clock_rate,
            frame: frame_samples,
            queue: VecDeque::new(),
            current: None,
        }
    }

    /// Queues the keys of `digits`; returns false (queuing nothing) if any is not a DTMF key.
    pub fn press(&mut self, digits: &str) -> bool {
        let Some(events) = digits.chars().map(event_of).collect::<Option<Vec<_>>>() else {
            return false;
        };
        self.queue.extend(events);
        true
    }

    pub fn busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// The packet for this frame, if a key is being sent (audio is paused meanwhile).
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        let total = self.clock_rate * TONE_MS / 1000;
        let (event, duration, ends, first) = match self.current {
            Some((event, duration, ends)) => (event, duration, ends, false),
            None => (self.queue.pop_front()?, 0, 0, true),
        };
        let duration = (duration + self.frame).min(total);
        let end = duration >= total;
        let ends = ends + usize::from(end);
        self.current = if ends >= END_REPEATS {
            None
        } else {
            Some((event, duration, ends))
        };
        Some(DtmfPacket {
            payload: TelephoneEvent {
                event,
                end,
                volume: VOLUME,
                duration: duration.min(u32::from(u16::MAX)) as u16,
            }
            .encode(),
            marker: first,
            new_timestamp: first,
        })
    }
}

/// Reports each event once: a new RTP timestamp is a new key press.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last: Option<u32>,
}

impl DtmfReceiver {
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::decode(payload)?;
        if self.last == Some(timestamp) {
            return None;
        }
        self.last = Some(timestamp);
        digit_of(event.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_rfc4733_layout() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.encode(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::decode(&e.encode()), Some(e));
        assert_eq!(TelephoneEvent::decode(&[1, 2]), None);
    }

    #[test]
    fn digits_map_both_ways() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(digit_of(event_of(d).unwrap()), Some(d));
        }
        assert_eq!(event_of('x'), None);
        assert_eq!(digit_of(16), None);
    }

    #[test]
    fn a_key_press_is_marked_then_ends_three_times() {
        let mut s = DtmfSender::new(8000, 160);
        assert!(!s.press("1x"));
        assert!(s.press("5"));
        let packets: Vec<_> = std::iter::from_fn(|| s.next_packet()).collect();
        assert_eq!(packets.len(), 5 + 2, "4 updates, the end, 2 more ends");
        assert!(packets[0].marker && packets[0].new_timestamp);
        assert!(packets[1..].iter().all(|p| !p.marker && !p.new_timestamp));
        let decoded: Vec<_> = packets
            .iter()
            .map(|p| TelephoneEvent::decode(&p.payload).unwrap())
            .collect();
        assert_eq!(decoded[0].duration, 160);
        assert!(decoded[4..].iter().all(|e| e.end && e.duration == 800));
        assert!(!s.busy());
    }

    #[test]
    fn the_receiver_reports_each_press_once() {
        let mut r = DtmfReceiver::default();
        let start = TelephoneEvent {
            event: 3,
            end: false,
            volume: 10,
            duration: 160,
        }
        .encode();
        assert_eq!(r.receive(100, &start), Some('3'));
        assert_eq!(r.receive(100, &start), None);
        assert_eq!(r.receive(900, &start), Some('3'));
        assert_eq!(r.receive(1700, &[200, 0, 0, 1]), None);
    }
}

//! User agents pumped into each other on simulated time, with latency and seeded loss — zero
//! sockets, zero sleeping (quinn-proto's and str0m's harnesses are the model). Messages are
//! routed like a tiny network: requests to the Request-URI's port, responses to the top Via's.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ringdesk_sip::header::Via;
use ringdesk_sip::message::{Limits, Message, StartLine};
use ringdesk_sip::ua::{CallEvent, CallId, EndReason, UaConfig, UserAgent};
use ringdesk_sip::Uri;

const BASE_PORT: u16 = 5000;

struct World {
    uas: Vec<UserAgent>,
    events: Vec<Vec<CallEvent>>,
    now: Instant,
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    latency: Duration,
    loss: f64,
    rng: StdRng,
    delivered: usize,
    dropped: usize,
    /// Every message sent (lost ones too), in order.
    sent: Vec<Vec<u8>>,
}

fn config(name: &str, port: u16) -> UaConfig {
    UaConfig {
        display_name: Some(name.to_string()),
        ..UaConfig::udp(
            Uri::parse(&format!("sip:{name}@127.0.0.1")).unwrap(),
            "pw",
            "127.0.0.1",
            port,
        )
    }
}

impl World {
    fn new(names: &[&str], latency: Duration, loss: f64, seed: u64) -> World {
        let now = Instant::now();
        World {
            uas: names
                .iter()
                .enumerate()
                .map(|(i, n)| UserAgent::new(config(n, BASE_PORT + i as u16), seed + i as u64))
                .collect(),
            events: names.iter().map(|_| Vec::new()).collect(),
            now,
            in_flight: Vec::new(),
            latency,
            loss,
            rng: StdRng::seed_from_u64(seed),
            delivered: 0,
            dropped: 0,
            sent: Vec::new(),
        }
    }

    fn uri(&self, i: usize) -> Uri {
        let name = ["alice", "bob", "carol"][i];
        Uri::parse(&format!("sip:{name}@127.0.0.1:{}", BASE_PORT + i as u16)).unwrap()
    }

    fn route(bytes: &[u8]) -> usize {
        let m = Message::parse_datagram(bytes, &Limits::default()).expect("UAs send valid SIP");
        let port = match &m.start {
            StartLine::Request { uri, .. } => uri.port.unwrap(),
            StartLine::Response { .. } => Via::parse(m.headers.get_all("Via")[0])
                .unwrap()
                .port
                .unwrap(),
        };
        (port - BASE_PORT) as usize
    }

    /// Takes what the user agents want to send (dropping and delaying it) and what they report.
    fn drain(&mut self) {
        for i in 0..self.uas.len() {
            while let Some(bytes) = self.uas[i].poll_transmit() {
                self.sent.push(bytes.clone());
                if self.rng.gen_bool(self.loss) {
                    self.dropped += 1;
                    continue;
                }
                // Jitter up to the latency again, so packets can overtake each other.
                let jitter = self.latency.mul_f64(self.rng.gen_range(0.0..1.0));
                let to = Self::route(&bytes);
                self.in_flight
                    .push((self.now + self.latency + jitter, to, bytes));
            }
            while let Some(e) = self.uas[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Moves packets and time forward by one step; false when nothing is left to happen.
    fn step(&mut self) -> bool {
        self.drain();
        let next_packet = self.in_flight.iter().map(|(t, ..)| *t).min();
        let next_timer = self.uas.iter().filter_map(|u| u.poll_timeout()).min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(t, ..)| *t <= self.now);
        self.in_flight = later;
        for (_, to, bytes) in due {
            self.delivered += 1;
            self.uas[to].handle_bytes(&bytes, self.now);
        }
        for ua in &mut self.uas {
            if ua.poll_timeout().is_some_and(|t| t <= self.now) {
                ua.handle_timeout(self.now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `done` holds (panics after `limit` of simulated time).
    fn run_until(&mut self, limit: Duration, done: impl Fn(&World) -> bool) {
        let until = self.now + limit;
        while !done(self) {
            assert!(
                self.step(),
                "the world went quiet before the condition held: {:?}",
                self.events
            );
            assert!(
                self.now <= until,
                "not done within {limit:?}: {:?}",
                self.events
            );
        }
    }

    fn has(&self, ua: usize, f: impl Fn(&CallEvent) -> bool) -> bool {
        self.events[ua].iter().any(f)
    }

    fn incoming(&self, ua: usize) -> Option<CallId> {
        self.events[ua].iter().find_map(|e| match e {
            CallEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
    }

    fn ended(&self, ua: usize) -> Option<EndReason> {
        self.events[ua].iter().find_map(|e| match e {
            CallEvent::Ended { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }
}

fn established(w: &World, ua: usize) -> bool {
    w.has(ua, |e| matches!(e, CallEvent::Established { .. }))
}

/// Alice calls Bob, Bob answers: returns (alice's call, bob's call).
fn connect(w: &mut World) -> (CallId, CallId) {
    let target = w.uri(1);
    let a = w.uas[0].call(target, b"v=0 offer".to_vec(), w.now);
    // Answering only once Alice hears ringing, so the 200 cannot overtake the 180.
    w.run_until(Duration::from_secs(40), |w| {
        w.incoming(1).is_some() && w.has(0, |e| matches!(e, CallEvent::Ringing { .. }))
    });
    let b = w.incoming(1).unwrap();
    w.uas[1].answer(b, b"v=0 answer".to_vec(), w.now);
    w.run_until(Duration::from_secs(40), |w| {
        established(w, 0) && established(w, 1)
    });
    (a, b)
}

#[test]
fn call_answer_and_hang_up_from_either_side() {
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 1);
    let (a, _b) = connect(&mut w);
    assert!(w.has(0, |e| matches!(e, CallEvent::Ringing { .. })));
    assert!(w.has(
        0,
        |e| matches!(e, CallEvent::Established { sdp, .. } if sdp == b"v=0 answer")
    ));
    assert!(w.has(1, |e| matches!(e, CallEvent::Incoming { sdp, from, .. } if sdp == b"v=0 offer" && from.contains("alice"))));
    w.uas[0].hangup(a, w.now);
    w.run_until(Duration::from_secs(5), |w| {
        w.ended(0).is_some() && w.ended(1).is_some()
    });
    assert_eq!(w.ended(0), Some(EndReason::Local));
    assert_eq!(w.ended(1), Some(EndReason::Remote));

    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 2);
    let (_a, b) = connect(&mut w);
    w.uas[1].hangup(b, w.now);
    w.run_until(Duration::from_secs(5), |w| {
        w.ended(0).is_some() && w.ended(1).is_some()
    });
    assert_eq!(w.ended(0), Some(EndReason::Remote));
}

#[test]
fn cancel_while_ringing() {
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 3);
    let target = w.uri(1);
    let a = w.uas[0].call(target, b"offer".to_vec(), w.now);
    // Hanging up before any provisional: the CANCEL waits for the 180.
    w.uas[0].hangup(a, w.now);
    w.run_until(Duration::from_secs(40), |w| {
        w.ended(0).is_some() && w.ended(1).is_some()
    });
    assert_eq!(w.ended(1), Some(EndReason::Cancelled));
    assert_eq!(w.ended(0), Some(EndReason::Local));
}

#[test]
fn busy_and_decline() {
    for (status, expected) in [(486, EndReason::Busy), (603, EndReason::Declined)] {
        let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 4);
        let target = w.uri(1);
        w.uas[0].call(target, b"offer".to_vec(), w.now);
        w.run_until(Duration::from_secs(5), |w| w.incoming(1).is_some());
        let b = w.incoming(1).unwrap();
        w.uas[1].reject(b, status, w.now);
        w.run_until(Duration::from_secs(5), |w| w.ended(0).is_some());
        assert_eq!(w.ended(0), Some(expected));
        assert_eq!(w.ended(1), Some(EndReason::Local));
        // The final response is retransmitted until the ACK arrives, then stops.
        w.run_until(Duration::from_secs(40), |w| {
            w.uas.iter().all(|u| u.poll_timeout().is_none())
        });
    }
}

#[test]
fn hold_and_resume_with_reinvite() {
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 5);
    let (a, b) = connect(&mut w);
    for (offer, answer) in [
        (&b"a=sendonly"[..], &b"a=recvonly"[..]),
        (b"a=sendrecv", b"a=sendrecv"),
    ] {
        w.events.iter_mut().for_each(Vec::clear);
        assert!(w.uas[0].reinvite(a, offer.to_vec(), w.now));
        w.run_until(Duration::from_secs(5), |w| {
            w.has(1, |e| matches!(e, CallEvent::Reoffer { .. }))
        });
        assert!(w.has(
            1,
            |e| matches!(e, CallEvent::Reoffer { sdp, .. } if sdp == offer)
        ));
        assert!(w.uas[1].answer_reoffer(b, answer.to_vec(), w.now));
        w.run_until(Duration::from_secs(5), |w| {
            w.has(0, |e| matches!(e, CallEvent::ReofferAnswered { .. }))
        });
        assert!(w.has(
            0,
            |e| matches!(e, CallEvent::ReofferAnswered { sdp, .. } if sdp == answer)
        ));
    }
}

/// The messages sent whose first line starts with `start`.
fn sent_starting(w: &World, start: &str) -> Vec<Message> {
    w.sent
        .iter()
        .filter(|b| b.starts_with(start.as_bytes()))
        .map(|b| Message::parse_datagram(b, &Limits::default()).unwrap())
        .collect()
}

#[test]
fn a_reoffer_that_cannot_be_followed_gets_488_and_the_call_goes_on() {
    // Lossy: the 488 is repeated until its ACK comes, and a repeated re-INVITE gets it again.
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.2, 21);
    let (a, b) = connect(&mut w);
    w.events.iter_mut().for_each(Vec::clear);
    assert!(w.uas[0].reinvite(a, b"m=audio 4000 RTP/AVP 3".to_vec(), w.now));
    w.run_until(Duration::from_secs(40), |w| {
        w.has(1, |e| matches!(e, CallEvent::Reoffer { .. }))
    });
    assert!(w.uas[1].reject_reoffer(b, 488, "no codec in common (they offer GSM/8000)", w.now));
    assert!(
        !w.uas[1].answer_reoffer(b, b"late".to_vec(), w.now),
        "answered once"
    );
    w.run_until(Duration::from_secs(40), |w| {
        w.has(0, |e| {
            matches!(e, CallEvent::ReofferFailed { status: 488, .. })
        })
    });
    let refusal = &sent_starting(&w, "SIP/2.0 488")[0];
    assert_eq!(
        refusal.headers.get("Warning"),
        Some("305 ringdesk \"no codec in common (they offer GSM/8000)\"")
    );
    // Nothing retransmits forever, and the call is still up: the next offer is answered.
    w.run_until(Duration::from_secs(40), |w| {
        w.uas.iter().all(|u| u.poll_timeout().is_none())
    });
    assert!(w.ended(0).is_none() && w.ended(1).is_none());
    w.events.iter_mut().for_each(Vec::clear);
    assert!(w.uas[0].reinvite(a, b"a=sendonly".to_vec(), w.now));
    w.run_until(Duration::from_secs(40), |w| {
        w.has(1, |e| matches!(e, CallEvent::Reoffer { .. }))
    });
    assert!(w.uas[1].answer_reoffer(b, b"a=recvonly".to_vec(), w.now));
    w.run_until(Duration::from_secs(40), |w| {
        w.has(0, |e| matches!(e, CallEvent::ReofferAnswered { .. }))
    });
}

#[test]
fn a_cancelled_reinvite_gets_487_and_the_call_goes_on() {
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 22);
    let (a, b) = connect(&mut w);
    w.events.iter_mut().for_each(Vec::clear);
    assert!(w.uas[0].reinvite(a, b"a=sendonly".to_vec(), w.now));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(1, |e| matches!(e, CallEvent::Reoffer { .. }))
    });
    // Alice gives up on it before Bob answers: a CANCEL with the re-INVITE's branch.
    let reinvite = sent_starting(&w, "INVITE").pop().unwrap();
    let StartLine::Request { uri, .. } = &reinvite.start else {
        unreachable!()
    };
    let mut cancel = Message::request(ringdesk_sip::message::Method::Cancel, uri.clone());
    for h in ["Via", "From", "To", "Call-ID"] {
        cancel.headers.push(h, reinvite.headers.get(h).unwrap());
    }
    let seq = reinvite
        .headers
        .get("CSeq")
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    cancel.headers.push("CSeq", format!("{seq} CANCEL"));
    cancel.headers.push("Max-Forwards", "70");
    w.uas[1].handle_bytes(&cancel.to_bytes(), w.now);
    w.run_until(Duration::from_secs(5), |w| {
        w.has(0, |e| {
            matches!(e, CallEvent::ReofferFailed { status: 487, .. })
        })
    });
    assert!(w.has(1, |e| matches!(e, CallEvent::ReofferCancelled { .. })));
    assert_eq!(
        sent_starting(&w, "SIP/2.0 200 OK")
            .last()
            .unwrap()
            .headers
            .get("CSeq"),
        Some(format!("{seq} CANCEL").as_str())
    );
    assert!(!w.uas[1].answer_reoffer(b, b"too late".to_vec(), w.now));
    // A CANCEL after the answer changes nothing (and is still answered 200).
    w.events.iter_mut().for_each(Vec::clear);
    assert!(w.uas[0].reinvite(a, b"a=sendrecv".to_vec(), w.now));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(1, |e| matches!(e, CallEvent::Reoffer { .. }))
    });
    assert!(w.uas[1].answer_reoffer(b, b"a=sendrecv".to_vec(), w.now));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(0, |e| matches!(e, CallEvent::ReofferAnswered { .. }))
    });
    assert!(w.ended(0).is_none() && w.ended(1).is_none());
}

#[test]
fn blind_transfer_with_refer_and_notify() {
    let mut w = World::new(
        &["alice", "bob", "carol"],
        Duration::from_millis(20),
        0.0,
        6,
    );
    let (a, b) = connect(&mut w);
    let carol = w.uri(2);
    assert!(w.uas[0].refer(a, &carol, w.now));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(1, |e| matches!(e, CallEvent::TransferRequested { .. }))
    });
    assert!(w.has(1, |e| matches!(e, CallEvent::TransferRequested { target, .. } if target == "sip:carol@127.0.0.1:5002")));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(0, |e| {
            matches!(e, CallEvent::TransferProgress { status: 202, .. })
        })
    });
    // Bob calls Carol and reports the outcome.
    let carol = w.uri(2);
    w.uas[1].call(carol, b"offer".to_vec(), w.now);
    w.run_until(Duration::from_secs(5), |w| w.incoming(2).is_some());
    let c = w.incoming(2).unwrap();
    w.uas[2].answer(c, b"answer".to_vec(), w.now);
    w.run_until(Duration::from_secs(5), |w| established(w, 2));
    assert!(w.uas[1].notify_transfer(b, 200, "OK", w.now));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(0, |e| {
            matches!(e, CallEvent::TransferProgress { status: 200, .. })
        })
    });
}

#[test]
fn attended_transfer_replaces_the_consultation_call() {
    // Alice talks to Bob (call 1) and to Carol (call 2); she tells Bob to replace her call with Carol.
    let mut w = World::new(
        &["alice", "bob", "carol"],
        Duration::from_millis(20),
        0.0,
        7,
    );
    let (a1, _b1) = connect(&mut w);
    let carol = w.uri(2);
    let a2 = w.uas[0].call(carol, b"offer".to_vec(), w.now);
    w.run_until(Duration::from_secs(5), |w| w.incoming(2).is_some());
    let c2 = w.incoming(2).unwrap();
    w.uas[2].answer(c2, b"answer".to_vec(), w.now);
    w.run_until(Duration::from_secs(5), |w| established(w, 2));
    assert!(w.uas[0].refer_replacing(a1, a2, w.now));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(1, |e| matches!(e, CallEvent::TransferRequested { .. }))
    });
    let target = w.events[1]
        .iter()
        .find_map(|e| match e {
            CallEvent::TransferRequested { target, .. } => Some(target.clone()),
            _ => None,
        })
        .unwrap();
    assert!(target.contains("?Replaces="), "{target}");
    // Bob dials the Refer-To with its Replaces header; Carol's UA matches it to call 2.
    let uri = Uri::parse(&target).unwrap();
    let value = uri
        .embedded_header("Replaces")
        .expect("a decodable Replaces");
    let mut plain = uri.clone();
    plain.headers = None;
    w.uas[1].call_with_headers(plain, b"offer".to_vec(), &[("Replaces", &value)], w.now);
    w.run_until(Duration::from_secs(5), |w| {
        w.events[2]
            .iter()
            .filter(|e| matches!(e, CallEvent::Incoming { .. }))
            .count()
            == 2
    });
    let replaced = w.events[2].iter().find_map(|e| match e {
        CallEvent::Incoming {
            replaces: Some(old),
            ..
        } => Some(*old),
        _ => None,
    });
    assert_eq!(replaced, Some(c2));
}

#[test]
fn info_and_options() {
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(20), 0.0, 8);
    let (a, _b) = connect(&mut w);
    assert!(w.uas[0].info(
        a,
        "application/dtmf-relay",
        b"Signal=5\r\nDuration=160\r\n".to_vec(),
        w.now
    ));
    w.run_until(Duration::from_secs(5), |w| {
        w.has(1, |e| matches!(e, CallEvent::Info { .. }))
    });
    assert!(w.has(1, |e| matches!(e, CallEvent::Info { content_type: Some(ct), body, .. } if ct == "application/dtmf-relay" && body.starts_with(b"Signal=5"))));
}

#[test]
fn calls_survive_heavy_loss_and_reordering() {
    let mut completed = 0;
    for seed in 0..20 {
        let mut w = World::new(
            &["alice", "bob"],
            Duration::from_millis(80),
            0.3,
            100 + seed,
        );
        let target = w.uri(1);
        let a = w.uas[0].call(target, b"offer".to_vec(), w.now);
        w.run_until(Duration::from_secs(64), |w| {
            w.incoming(1).is_some() || w.ended(0).is_some()
        });
        let Some(b) = w.incoming(1) else { continue };
        w.uas[1].answer(b, b"answer".to_vec(), w.now);
        w.run_until(Duration::from_secs(64), |w| {
            (established(w, 0) && established(w, 1)) || w.ended(0).is_some() || w.ended(1).is_some()
        });
        if !(established(&w, 0) && established(&w, 1)) {
            continue;
        }
        w.uas[0].hangup(a, w.now);
        w.run_until(Duration::from_secs(64), |w| {
            w.ended(0).is_some() && w.ended(1).is_some()
        });
        completed += 1;
        assert!(w.dropped > 0 || seed > 0);
    }
    // With 30 % loss each way, retransmissions carry nearly every call through.
    assert!(completed >= 18, "only {completed}/20 calls completed");
}

#[test]
fn hostile_and_stray_requests_get_answers_not_panics() {
    let mut w = World::new(&["alice", "bob"], Duration::from_millis(10), 0.0, 9);
    let now = w.now;
    let bob = &mut w.uas[1];
    for garbage in [
        &b"\x00\x01\x02"[..],
        b"INVITE",
        b"SIP/2.0 200 OK\r\n\r\n",
        &[0xff; 2000][..],
    ] {
        bob.handle_bytes(garbage, now);
    }
    assert!(
        bob.poll_transmit().is_none(),
        "nothing addressable, nothing sent"
    );
    let base = "Via: SIP/2.0/UDP 127.0.0.1:5000;branch=z9hG4bKx1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c1\r\n";
    let expect = |bob: &mut UserAgent, raw: String, status: u16| {
        bob.handle_bytes(raw.as_bytes(), now);
        let out = bob.poll_transmit().expect("an answer");
        let m = Message::parse_datagram(&out, &Limits::default()).unwrap();
        assert_eq!(m.status(), Some(status), "{raw}");
    };
    expect(bob, format!("FROBNICATE sip:bob@127.0.0.1:5001 SIP/2.0\r\n{base}CSeq: 1 FROBNICATE\r\nContent-Length: 0\r\n\r\n"), 501);
    expect(
        bob,
        format!(
            "BYE sip:bob@127.0.0.1:5001 SIP/2.0\r\n{}CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            base.replace("z9hG4bKx1", "z9hG4bKx2")
        ),
        481,
    );
    expect(bob, format!("OPTIONS sip:bob@127.0.0.1:5001 SIP/2.0\r\n{}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", base.replace("z9hG4bKx1", "z9hG4bKx3")), 200);
    expect(bob, format!("OPTIONS sip:bob@127.0.0.1:5001 SIP/2.0\r\n{}CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", base.replace("z9hG4bKx1", "z9hG4bKx4")), 400);
    expect(bob, format!("INVITE sip:bob@127.0.0.1:5001 SIP/2.0\r\n{}CSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nv=0", base.replace("z9hG4bKx1", "z9hG4bKx5")), 400);
    expect(bob, format!("REGISTER sip:bob@127.0.0.1:5001 SIP/2.0\r\n{}CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", base.replace("z9hG4bKx1", "z9hG4bKx6")), 405);
    // Retransmitted request: same answer again, no second event.
    expect(bob, format!("OPTIONS sip:bob@127.0.0.1:5001 SIP/2.0\r\n{}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", base.replace("z9hG4bKx1", "z9hG4bKx3")), 200);
}

#[test]
fn an_ipv6_agent_sends_and_answers() {
    let now = Instant::now();
    let config = |user: &str, port| {
        UaConfig::udp(
            Uri::parse(&format!("sip:{user}@[2001:db8::1]")).unwrap(),
            "pw",
            "[2001:db8::1]",
            port,
        )
    };
    let mut alice = UserAgent::new(config("alice", 5060), 1);
    let mut bob = UserAgent::new(config("bob", 5062), 2);
    alice.call(
        Uri::parse("sip:bob@[2001:db8::1]:5062").unwrap(),
        b"offer".to_vec(),
        now,
    );
    let invite = alice.poll_transmit().expect("an INVITE goes out");
    let text = String::from_utf8_lossy(&invite);
    assert!(
        text.contains("Via: SIP/2.0/UDP [2001:db8::1]:5060;"),
        "{text}"
    );
    bob.handle_bytes(&invite, now);
    assert!(
        std::iter::from_fn(|| bob.poll_event()).any(|e| matches!(e, CallEvent::Incoming { .. }))
    );
    assert!(bob.poll_transmit().is_some(), "bob answers over IPv6 too");
}

#[test]
fn a_reinvite_survives_loss_both_ways() {
    // The re-INVITE's 200 is repeated until the ACK, and a repeated re-INVITE gets the same
    // answer again, so hold goes through even when packets are lost.
    let mut held = 0;
    for seed in 0..10 {
        let mut w = World::new(
            &["alice", "bob"],
            Duration::from_millis(40),
            0.0,
            200 + seed,
        );
        let (a, b) = connect(&mut w);
        w.loss = 0.3;
        w.events.iter_mut().for_each(Vec::clear);
        assert!(w.uas[0].reinvite(a, b"a=sendonly".to_vec(), w.now));
        w.run_until(Duration::from_secs(40), |w| {
            w.has(1, |e| matches!(e, CallEvent::Reoffer { .. }))
                || w.has(0, |e| matches!(e, CallEvent::ReofferFailed { .. }))
        });
        if !w.has(1, |e| matches!(e, CallEvent::Reoffer { .. })) {
            continue;
        }
        assert!(w.uas[1].answer_reoffer(b, b"a=recvonly".to_vec(), w.now));
        w.run_until(Duration::from_secs(40), |w| {
            w.has(0, |e| {
                matches!(
                    e,
                    CallEvent::ReofferAnswered { .. } | CallEvent::ReofferFailed { .. }
                )
            })
        });
        if w.has(0, |e| matches!(e, CallEvent::ReofferAnswered { .. })) {
            held += 1;
        }
        // Nothing retransmits forever: the world goes quiet.
        w.run_until(Duration::from_secs(80), |w| {
            w.in_flight.is_empty() && w.uas.iter().all(|u| u.poll_timeout().is_none())
        });
    }
    assert!(held >= 8, "only {held}/10 holds went through");
}

//! The call controller on simulated time: phones (a user agent, a controller and media that
//! keeps strings) pumped into each other over a tiny lossless network with latency — every
//! path of several calls and transfers without sockets, devices or sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ringdesk_phone::{
    apply, Action, CallError, Change, Command, Config, Controller, Ending, LegId, LegState, Media,
    Tone, TransferKind, TransferOutcome,
};
use ringdesk_sip::header::Via;
use ringdesk_sip::message::{Limits, Message, StartLine};
use ringdesk_sip::ua::{CallEvent, UaConfig, UserAgent};
use ringdesk_sip::Uri;

const BASE_PORT: u16 = 5000;
const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];

#[derive(Default)]
struct FakeMedia {
    open: BTreeSet<LegId>,
    muted: BTreeMap<LegId, bool>,
    /// Every re-offer from the far end is refused (it cannot be followed).
    refuse_reoffers: bool,
    /// The sound device cannot be opened.
    fail_open: bool,
}

impl Media for FakeMedia {
    fn offer(&mut self, leg: LegId, held: bool) -> Option<Vec<u8>> {
        self.open
            .contains(&leg)
            .then(|| format!("offer {leg} held={held}").into_bytes())
    }
    fn answer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String> {
        if offer.starts_with(b"bad") {
            return Err("no codec in common".into());
        }
        Ok(format!("answer {leg}").into_bytes())
    }
    fn answered(&mut self, _leg: LegId, _answer: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn reoffer(&mut self, leg: LegId, _offer: &[u8]) -> Result<Vec<u8>, String> {
        if self.refuse_reoffers {
            return Err("cannot follow that offer".into());
        }
        Ok(format!("reanswer {leg}").into_bytes())
    }
    fn offer_refused(&mut self, _leg: LegId) {}
    fn mute(&mut self, leg: LegId, muted: bool) {
        self.muted.insert(leg, muted);
    }
}

struct Phone {
    ua: UserAgent,
    ctrl: Controller,
    media: FakeMedia,
    changes: Vec<Change>,
    actions: Vec<Action>,
    /// Answers every call that rings here.
    auto_answer: bool,
    /// Takes no notice of REFERs (a far end that accepts a transfer and never says more).
    ignore_refer: bool,
}

struct World {
    phones: Vec<Phone>,
    now: Instant,
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    latency: Duration,
}

impl World {
    fn new(count: usize, config: Config) -> World {
        let phones = (0..count)
            .map(|i| {
                let name = NAMES[i];
                let aor = Uri::parse(&format!("sip:{name}@127.0.0.1")).expect("an address");
                let ua_config = UaConfig {
                    display_name: Some(name.to_string()),
                    ..UaConfig::udp(aor, "pw", "127.0.0.1", BASE_PORT + i as u16)
                };
                Phone {
                    ua: UserAgent::new(ua_config, 40 + i as u64),
                    ctrl: Controller::new(config),
                    media: FakeMedia::default(),
                    changes: Vec::new(),
                    actions: Vec::new(),
                    auto_answer: false,
                    ignore_refer: false,
                }
            })
            .collect();
        World {
            phones,
            now: Instant::now(),
            in_flight: Vec::new(),
            latency: Duration::from_millis(20),
        }
    }

    fn uri(i: usize) -> Uri {
        Uri::parse(&format!(
            "sip:{}@127.0.0.1:{}",
            NAMES[i],
            BASE_PORT + i as u16
        ))
        .expect("an address")
    }

    fn route(bytes: &[u8]) -> usize {
        let m = Message::parse_datagram(bytes, &Limits::default()).expect("UAs send valid SIP");
        let port = match &m.start {
            StartLine::Request { uri, .. } => uri.port.expect("a port"),
            StartLine::Response { .. } => Via::parse(m.headers.get_all("Via")[0])
                .expect("a Via")
                .port
                .expect("a port"),
        };
        (port - BASE_PORT) as usize
    }

    /// Does what phone `i`'s controller asks, feeds it its user agent's events, until both
    /// are quiet.
    fn settle(&mut self, i: usize) {
        let now = self.now;
        let p = &mut self.phones[i];
        loop {
            let mut busy = false;
            while let Some(action) = p.ctrl.poll_action() {
                busy = true;
                p.actions.push(action.clone());
                match apply(&action, &mut p.ua, now) {
                    Some(outcome) => p.ctrl.applied(&action, Some(outcome), &mut p.media),
                    None => match action {
                        Action::OpenMedia(leg) => {
                            let opened = if p.media.fail_open {
                                Err("no sound device".to_string())
                            } else {
                                p.media.open.insert(leg);
                                Ok(())
                            };
                            p.ctrl.media_opened(leg, opened, &mut p.media);
                        }
                        Action::CloseMedia(leg) => {
                            p.media.open.remove(&leg);
                        }
                        _ => {}
                    },
                }
            }
            while let Some(event) = p.ua.poll_event() {
                busy = true;
                if p.ignore_refer && matches!(event, CallEvent::TransferRequested { .. }) {
                    continue;
                }
                p.ctrl.sip_event(event, &mut p.media);
            }
            while let Some(change) = p.ctrl.poll_change() {
                busy = true;
                if let (Change::Ringing { leg, .. }, true) = (&change, p.auto_answer) {
                    let _ = p.ctrl.command(Command::Answer(*leg), &mut p.media, now);
                }
                p.changes.push(change);
            }
            if !busy {
                break;
            }
        }
        while let Some(bytes) = p.ua.poll_transmit() {
            let to = Self::route(&bytes);
            self.in_flight.push((now + self.latency, to, bytes));
        }
    }

    fn settle_all(&mut self) {
        for i in 0..self.phones.len() {
            self.settle(i);
        }
    }

    /// Moves packets and time forward by one step; false when nothing is left to happen.
    fn step(&mut self) -> bool {
        self.settle_all();
        let next_packet = self.in_flight.iter().map(|(t, ..)| *t).min();
        let next_timer = self
            .phones
            .iter()
            .flat_map(|p| [p.ua.poll_timeout(), p.ctrl.poll_timeout()])
            .flatten()
            .min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(t, ..)| *t <= self.now);
        self.in_flight = later;
        for (_, to, bytes) in due {
            self.phones[to].ua.handle_bytes(&bytes, self.now);
        }
        let now = self.now;
        for p in &mut self.phones {
            if p.ua.poll_timeout().is_some_and(|t| t <= now) {
                p.ua.handle_timeout(now);
            }
            if p.ctrl.poll_timeout().is_some_and(|t| t <= now) {
                p.ctrl.handle_timeout(now);
            }
        }
        self.settle_all();
        true
    }

    /// Runs until `done` holds (panics after `limit` of simulated time or when all is quiet).
    fn run_until(&mut self, limit: Duration, done: impl Fn(&World) -> bool) {
        let until = self.now + limit;
        self.settle_all();
        while !done(self) {
            assert!(self.step(), "the world went quiet first: {}", self.story());
            assert!(
                self.now <= until,
                "not done within {limit:?}: {}",
                self.story()
            );
        }
    }

    /// Lets every timer and packet run out (the user agents' transactions finish).
    fn run_out(&mut self, limit: Duration) {
        let until = self.now + limit;
        while self.now <= until && self.step() {}
    }

    fn story(&self) -> String {
        self.phones
            .iter()
            .enumerate()
            .map(|(i, p)| format!("\n{}: {:?}", NAMES[i], p.changes))
            .collect()
    }

    fn command(&mut self, i: usize, command: Command) -> Result<Option<LegId>, CallError> {
        let now = self.now;
        let p = &mut self.phones[i];
        let result = p.ctrl.command(command, &mut p.media, now);
        self.settle(i);
        result
    }

    fn dial(&mut self, from: usize, to: usize) -> LegId {
        let target = Self::uri(to);
        self.command(
            from,
            Command::Dial {
                remote: target.to_string(),
                target,
            },
        )
        .expect("dialled")
        .expect("a new call")
    }

    fn state(&self, i: usize, leg: LegId) -> Option<LegState> {
        self.phones[i].ctrl.call(leg).map(|c| c.state)
    }

    fn confirmed(&self, i: usize, leg: LegId) -> bool {
        self.phones[i].ctrl.call(leg).is_some_and(|c| c.confirmed)
    }

    fn ringing(&self, i: usize) -> Option<LegId> {
        self.phones[i]
            .ctrl
            .calls()
            .iter()
            .find(|c| c.state == LegState::Ringing)
            .map(|c| c.leg)
    }

    fn has(&self, i: usize, f: impl Fn(&Change) -> bool) -> bool {
        self.phones[i].changes.iter().any(f)
    }

    fn ending(&self, i: usize, leg: LegId) -> Option<Ending> {
        self.phones[i].changes.iter().find_map(|c| match c {
            Change::Ended { leg: l, ending } if *l == leg => Some(ending.clone()),
            _ => None,
        })
    }

    fn last_tone(&self, i: usize) -> Option<Tone> {
        self.phones[i]
            .actions
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::Tone(t) => Some(*t),
                _ => None,
            })
            .flatten()
    }

    /// `from` calls `to`, who answers: the caller's and the callee's call.
    fn connect(&mut self, from: usize, to: usize) -> (LegId, LegId) {
        let out = self.dial(from, to);
        self.run_until(Duration::from_secs(5), |w| w.ringing(to).is_some());
        let inbound = self.ringing(to).expect("ringing");
        self.command(to, Command::Answer(inbound))
            .expect("answered");
        self.run_until(Duration::from_secs(5), |w| {
            w.confirmed(from, out) && w.confirmed(to, inbound)
        });
        (out, inbound)
    }

    fn transfer(&mut self, i: usize, leg: LegId, to: usize, kind: TransferKind) -> Option<LegId> {
        self.command(
            i,
            Command::Transfer {
                leg,
                target: Self::uri(to),
                kind,
            },
        )
        .expect("transfer started")
    }

    fn transfer_outcome(&self, i: usize) -> Option<TransferOutcome> {
        self.transfer_result(i).map(|(o, _)| o)
    }

    /// The last settled transfer's outcome and why.
    fn transfer_result(&self, i: usize) -> Option<(TransferOutcome, Option<String>)> {
        self.phones[i].changes.iter().rev().find_map(|c| match c {
            Change::Transfer {
                outcome, detail, ..
            } if *outcome != TransferOutcome::Started => Some((*outcome, detail.clone())),
            _ => None,
        })
    }
}

const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;
const DAVE: usize = 3;
const SECS: Duration = Duration::from_secs(10);

#[test]
fn a_second_call_waits_answering_it_holds_the_first_and_swap_goes_back() {
    let mut w = World::new(3, Config { max_calls: 2 });
    let (_, bob_alice) = w.connect(ALICE, BOB);
    assert_eq!(w.last_tone(BOB), None, "no tone once answered");

    w.dial(CAROL, BOB);
    w.run_until(SECS, |w| w.ringing(BOB).is_some());
    let bob_carol = w.ringing(BOB).expect("rings");
    assert!(w.has(
        BOB,
        |c| matches!(c, Change::Ringing { leg, waiting: true } if *leg == bob_carol)
    ));
    assert_eq!(w.last_tone(BOB), Some(Tone::CallWaiting));
    w.run_until(SECS, |w| {
        matches!(w.last_tone(CAROL), Some(Tone::Ringback(_)))
    });

    w.command(BOB, Command::Answer(bob_carol))
        .expect("answered");
    w.run_until(SECS, |w| {
        w.state(BOB, bob_alice) == Some(LegState::Held)
            && w.state(BOB, bob_carol) == Some(LegState::Active)
    });
    assert_eq!(w.phones[BOB].media.muted.get(&bob_alice), Some(&true));
    assert_eq!(w.last_tone(BOB), None);
    assert_eq!(w.phones[BOB].ctrl.active(), Some(bob_carol));

    w.command(BOB, Command::Swap).expect("swapped");
    w.run_until(SECS, |w| {
        w.state(BOB, bob_alice) == Some(LegState::Active)
            && w.state(BOB, bob_carol) == Some(LegState::Held)
    });
    assert_eq!(w.phones[BOB].media.muted.get(&bob_alice), Some(&false));
    assert_eq!(w.phones[BOB].media.muted.get(&bob_carol), Some(&true));

    // Keys and mute go to the call talked to.
    w.command(BOB, Command::Dtmf("12#".into())).expect("keys");
    assert!(w.phones[BOB].actions.contains(&Action::Dtmf {
        leg: bob_alice,
        digits: "12#".into()
    }));

    w.command(BOB, Command::Hangup(bob_alice)).expect("hung up");
    w.run_until(SECS, |w| w.ending(BOB, bob_alice).is_some());
    assert_eq!(w.ending(BOB, bob_alice), Some(Ending::HungUp));
    assert_eq!(w.state(BOB, bob_carol), Some(LegState::Held), "stays held");
    assert_eq!(w.phones[BOB].ctrl.active(), None);
    w.command(BOB, Command::Hold(bob_carol, false))
        .expect("resumed");
    w.run_until(SECS, |w| w.state(BOB, bob_carol) == Some(LegState::Active));
}

#[test]
fn a_call_beyond_the_limit_or_under_do_not_disturb_is_refused_busy() {
    let mut w = World::new(3, Config { max_calls: 1 });
    w.connect(ALICE, BOB);
    let carol = w.dial(CAROL, BOB);
    w.run_until(SECS, |w| w.ending(CAROL, carol).is_some());
    assert_eq!(w.ending(CAROL, carol), Some(Ending::Busy));
    assert!(w.has(
        BOB,
        |c| matches!(c, Change::Refused { why, .. } if why == "on another call")
    ));
    assert_eq!(
        w.command(
            BOB,
            Command::Dial {
                target: World::uri(CAROL),
                remote: "carol".into()
            }
        ),
        Err(CallError::Busy)
    );

    // Room for two, but do not disturb: a second call does not ring either.
    let mut w = World::new(3, Config { max_calls: 2 });
    w.connect(ALICE, BOB);
    w.phones[BOB].ctrl.set_do_not_disturb(true);
    let carol = w.dial(CAROL, BOB);
    w.run_until(SECS, |w| w.ending(CAROL, carol).is_some());
    assert_eq!(w.ending(CAROL, carol), Some(Ending::Busy));
    assert!(w.has(
        BOB,
        |c| matches!(c, Change::Refused { why, .. } if why == "do not disturb")
    ));
    assert_eq!(w.last_tone(BOB), None, "never rang");
}

#[test]
fn a_refused_hold_leaves_the_call_audible_and_says_so() {
    let mut w = World::new(2, Config::default());
    let (_, bob_alice) = w.connect(ALICE, BOB);
    w.phones[ALICE].media.refuse_reoffers = true;
    w.command(BOB, Command::Hold(bob_alice, true))
        .expect("asked");
    assert_eq!(
        w.phones[BOB].media.muted.get(&bob_alice),
        Some(&true),
        "paused at once"
    );
    w.run_until(SECS, |w| {
        w.has(BOB, |c| matches!(c, Change::HoldRefused { .. }))
    });
    assert!(w.has(BOB, |c| matches!(
        c,
        Change::HoldRefused { status: 488, .. }
    )));
    assert_eq!(w.state(BOB, bob_alice), Some(LegState::Active));
    assert_eq!(
        w.phones[BOB].media.muted.get(&bob_alice),
        Some(&false),
        "audible again"
    );
    assert!(!w.phones[BOB].ctrl.call(bob_alice).expect("up").hold_pending);
    // And a later hold can be asked again.
    w.phones[ALICE].media.refuse_reoffers = false;
    w.command(BOB, Command::Hold(bob_alice, true))
        .expect("asked");
    w.run_until(SECS, |w| w.state(BOB, bob_alice) == Some(LegState::Held));
}

#[test]
fn a_blind_transfer_passes_the_caller_on_and_ends_our_part() {
    let mut w = World::new(3, Config::default());
    let (alice_bob, bob_alice) = w.connect(ALICE, BOB);
    w.phones[CAROL].auto_answer = true;
    assert_eq!(w.transfer(BOB, bob_alice, CAROL, TransferKind::Blind), None);
    assert!(w.has(BOB, |c| matches!(
        c,
        Change::Transfer {
            outcome: TransferOutcome::Started,
            kind: TransferKind::Blind,
            ..
        }
    )));
    w.run_until(SECS, |w| w.ending(BOB, bob_alice).is_some());
    assert_eq!(w.transfer_outcome(BOB), Some(TransferOutcome::Succeeded));
    assert!(matches!(
        w.ending(BOB, bob_alice),
        Some(Ending::Transferred { to }) if to.contains("carol")
    ));
    // Alice now talks to Carol; her call with Bob ended from his side.
    w.run_until(SECS, |w| w.ending(ALICE, alice_bob).is_some());
    assert_eq!(w.ending(ALICE, alice_bob), Some(Ending::RemoteHungUp));
    let calls = w.phones[ALICE].ctrl.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].state, LegState::Active);
    assert!(calls[0].remote.contains("carol"));
    let carol = w.phones[CAROL].ctrl.calls();
    assert_eq!(carol.len(), 1);
    assert_eq!(carol[0].state, LegState::Active);
    assert_eq!(
        carol[0].transferred_by.as_deref(),
        Some("<sip:bob@127.0.0.1:5001>"),
        "Referred-By names who passed the caller on"
    );
}

#[test]
fn a_blind_transfer_the_target_declines_leaves_the_call_with_the_agent() {
    let mut w = World::new(3, Config::default());
    let (alice_bob, bob_alice) = w.connect(ALICE, BOB);
    w.transfer(BOB, bob_alice, CAROL, TransferKind::Blind);
    w.run_until(SECS, |w| w.ringing(CAROL).is_some());
    let carol = w.ringing(CAROL).expect("rings");
    w.command(CAROL, Command::Decline(carol)).expect("declined");
    w.run_until(SECS, |w| w.transfer_outcome(BOB).is_some());
    assert!(
        matches!(w.transfer_result(BOB), Some((TransferOutcome::Failed, Some(why))) if why.contains("603")),
        "{}",
        w.story()
    );
    assert_eq!(w.state(BOB, bob_alice), Some(LegState::Active));
    assert!(w.phones[BOB]
        .ctrl
        .call(bob_alice)
        .expect("up")
        .transfer
        .is_none());
    // Alice, who had put Bob on hold to call Carol, is back with him.
    w.run_until(SECS, |w| {
        w.state(ALICE, alice_bob) == Some(LegState::Active)
    });
}

#[test]
fn a_transfer_nobody_reports_on_fails_after_its_timeout() {
    let mut w = World::new(3, Config::default());
    let (_, bob_alice) = w.connect(ALICE, BOB);
    w.phones[ALICE].ignore_refer = true;
    w.transfer(BOB, bob_alice, CAROL, TransferKind::Blind);
    w.run_until(Duration::from_secs(40), |w| {
        w.transfer_outcome(BOB).is_some()
    });
    assert!(w.transfer_outcome(BOB) == Some(TransferOutcome::Failed));
    assert_eq!(w.state(BOB, bob_alice), Some(LegState::Active));
}

#[test]
fn an_attended_transfer_hands_the_caller_to_the_colleague() {
    let mut w = World::new(3, Config::default());
    let (alice_bob, bob_alice) = w.connect(ALICE, BOB);
    let consult = w
        .transfer(BOB, bob_alice, CAROL, TransferKind::Attended)
        .expect("a consultation call");
    w.run_until(SECS, |w| {
        w.state(BOB, bob_alice) == Some(LegState::Held) && w.ringing(CAROL).is_some()
    });
    assert_eq!(
        w.command(BOB, Command::CompleteTransfer(bob_alice)),
        Err(CallError::NotNow(
            "the colleague has not taken the call yet".into()
        ))
    );
    let carol_bob = w.ringing(CAROL).expect("rings");
    w.command(CAROL, Command::Answer(carol_bob))
        .expect("answered");
    w.run_until(SECS, |w| w.confirmed(BOB, consult));
    assert_eq!(
        w.phones[BOB].ctrl.call(consult).expect("up").consult_of,
        Some(bob_alice)
    );

    w.command(BOB, Command::CompleteTransfer(bob_alice))
        .expect("completing");
    w.run_until(SECS, |w| {
        w.ending(BOB, bob_alice).is_some() && w.ending(BOB, consult).is_some()
    });
    assert_eq!(w.transfer_outcome(BOB), Some(TransferOutcome::Succeeded));
    assert!(matches!(
        w.ending(BOB, bob_alice),
        Some(Ending::Transferred { .. })
    ));
    assert!(matches!(
        w.ending(BOB, consult),
        Some(Ending::Transferred { .. })
    ));
    assert!(w.phones[BOB].ctrl.calls().is_empty());
    // Carol's call with Bob was replaced by Alice's, answered without ringing.
    w.run_until(SECS, |w| {
        w.ending(CAROL, carol_bob).is_some() && w.ending(ALICE, alice_bob).is_some()
    });
    assert_eq!(w.ending(CAROL, carol_bob), Some(Ending::Replaced));
    let carol = w.phones[CAROL].ctrl.calls();
    assert_eq!(carol.len(), 1, "{carol:?}");
    assert_eq!(carol[0].state, LegState::Active);
    assert!(carol[0].remote.contains("alice"));
    let alice = w.phones[ALICE].ctrl.calls();
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(alice[0].state, LegState::Active);
    assert!(alice[0].remote.contains("carol"));
    assert_eq!(
        w.phones[CAROL]
            .changes
            .iter()
            .filter(|c| matches!(c, Change::Ringing { .. }))
            .count(),
        1,
        "the replacing call does not ring"
    );
}

#[test]
fn an_abandoned_attended_transfer_goes_back_to_the_caller() {
    let mut w = World::new(3, Config::default());
    let (_, bob_alice) = w.connect(ALICE, BOB);
    w.phones[CAROL].auto_answer = true;
    let consult = w
        .transfer(BOB, bob_alice, CAROL, TransferKind::Attended)
        .expect("a consultation call");
    w.run_until(SECS, |w| w.confirmed(BOB, consult));
    w.command(BOB, Command::CancelTransfer(bob_alice))
        .expect("cancelled");
    w.run_until(SECS, |w| {
        w.ending(BOB, consult).is_some() && w.state(BOB, bob_alice) == Some(LegState::Active)
    });
    assert_eq!(w.ending(BOB, consult), Some(Ending::HungUp));
    assert_eq!(w.transfer_outcome(BOB), Some(TransferOutcome::Cancelled));
    assert_eq!(w.phones[BOB].media.muted.get(&bob_alice), Some(&false));
}

#[test]
fn the_colleague_hanging_up_mid_consultation_fails_the_transfer_and_keeps_the_caller() {
    let mut w = World::new(3, Config::default());
    let (_, bob_alice) = w.connect(ALICE, BOB);
    w.phones[CAROL].auto_answer = true;
    let consult = w
        .transfer(BOB, bob_alice, CAROL, TransferKind::Attended)
        .expect("a consultation call");
    w.run_until(SECS, |w| w.confirmed(BOB, consult));
    let carol_bob = w.phones[CAROL].ctrl.active().expect("up");
    w.command(CAROL, Command::Hangup(carol_bob))
        .expect("hung up");
    w.run_until(SECS, |w| w.ending(BOB, consult).is_some());
    assert_eq!(w.ending(BOB, consult), Some(Ending::RemoteHungUp));
    assert!(w.transfer_outcome(BOB) == Some(TransferOutcome::Failed));
    assert_eq!(
        w.state(BOB, bob_alice),
        Some(LegState::Held),
        "still waiting"
    );
    w.command(BOB, Command::Hold(bob_alice, false))
        .expect("resumed");
    w.run_until(SECS, |w| w.state(BOB, bob_alice) == Some(LegState::Active));
}

#[test]
fn a_call_whose_audio_cannot_start_ends_with_why() {
    let mut w = World::new(2, Config::default());
    w.phones[BOB].media.fail_open = true;
    let alice = w.dial(ALICE, BOB);
    w.run_until(SECS, |w| w.ringing(BOB).is_some());
    let bob = w.ringing(BOB).expect("rings");
    w.command(BOB, Command::Answer(bob)).expect("asked");
    w.run_until(SECS, |w| w.ending(ALICE, alice).is_some());
    assert!(matches!(w.ending(BOB, bob), Some(Ending::Failed(why)) if why.contains("sound")));
    assert!(matches!(w.ending(ALICE, alice), Some(Ending::Failed(why)) if why.starts_with("500")));
}

/// Every command, in whatever state the calls are, on four phones that call, answer, hold,
/// swap and transfer each other at random: nothing panics, each call ends, and when everyone
/// hangs up every phone is idle and every transaction finishes.
#[test]
fn random_commands_in_every_state_never_panic_or_hang() {
    let mut reached = BTreeMap::<&str, usize>::new();
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut w = World::new(4, Config { max_calls: 3 });
        for p in &mut w.phones {
            p.media.refuse_reoffers = rng.gen_bool(0.1);
        }
        // Dave takes every call: transfers to him can come through.
        w.phones[DAVE].auto_answer = true;
        for _ in 0..60 {
            let i = rng.gen_range(0..4);
            let legs: Vec<LegId> = w.phones[i].ctrl.calls().iter().map(|c| c.leg).collect();
            // Also calls that ended, and ones never seen.
            let leg = if legs.is_empty() || rng.gen_bool(0.1) {
                rng.gen_range(1..8)
            } else {
                legs[rng.gen_range(0..legs.len())]
            };
            let other = rng.gen_range(0..4);
            let kind = if rng.gen_bool(0.5) {
                TransferKind::Blind
            } else {
                TransferKind::Attended
            };
            let command = match rng.gen_range(0..12) {
                0 | 1 => Command::Dial {
                    target: World::uri(other),
                    remote: NAMES[other].into(),
                },
                2 | 3 => Command::Answer(leg),
                4 => Command::Decline(leg),
                5 => Command::Hangup(leg),
                6 => Command::Hold(leg, rng.gen_bool(0.5)),
                7 => Command::Swap,
                8 => Command::Mute(rng.gen_bool(0.5)),
                9 => Command::Transfer {
                    leg,
                    target: World::uri(other),
                    kind,
                },
                10 => Command::CompleteTransfer(leg),
                _ => Command::CancelTransfer(leg),
            };
            let _ = w.command(i, command);
            let steps = rng.gen_range(0..30);
            for _ in 0..steps {
                if !w.step() {
                    break;
                }
            }
        }
        // Everyone hangs up everything (a call may still be on its way in: again until idle).
        for _ in 0..5 {
            for i in 0..4 {
                for c in w.phones[i].ctrl.calls() {
                    let _ = w.command(i, Command::Hangup(c.leg));
                }
            }
            w.run_out(Duration::from_secs(5));
        }
        w.run_out(Duration::from_secs(60));
        for c in w.phones.iter().flat_map(|p| &p.changes) {
            let what = match c {
                Change::Answered { .. } => "answered",
                Change::Ringing { waiting: true, .. } => "waiting",
                Change::Held { held: true, .. } => "held",
                Change::HoldRefused { .. } => "hold refused",
                Change::Transfer {
                    outcome: TransferOutcome::Succeeded,
                    kind: TransferKind::Blind,
                    ..
                } => "blind transfer",
                Change::Transfer {
                    outcome: TransferOutcome::Succeeded,
                    kind: TransferKind::Attended,
                    ..
                } => "attended transfer",
                Change::Transfer {
                    outcome: TransferOutcome::Failed,
                    ..
                } => "transfer failed",
                Change::Refused { .. } => "refused",
                _ => continue,
            };
            *reached.entry(what).or_default() += 1;
        }
        for (i, p) in w.phones.iter().enumerate() {
            assert!(
                p.ctrl.calls().is_empty(),
                "seed {seed}: {} still has {:?}",
                NAMES[i],
                p.ctrl.calls()
            );
            assert!(
                p.ua.live_calls().is_empty(),
                "seed {seed}: {}'s user agent has calls",
                NAMES[i]
            );
            assert!(
                p.media.open.is_empty(),
                "seed {seed}: {} left media open",
                NAMES[i]
            );
            assert_eq!(
                w.last_tone(i),
                None,
                "seed {seed}: {} still sounds a tone",
                NAMES[i]
            );
        }
    }
    // The walk reaches the states that matter, or it proves little.
    for what in [
        "answered",
        "waiting",
        "held",
        "hold refused",
        "blind transfer",
        "transfer failed",
        "refused",
    ] {
        assert!(
            reached.get(what).is_some_and(|n| *n > 0),
            "never {what}: {reached:?}"
        );
    }
    eprintln!("reached: {reached:?}");
}

#[test]
fn a_dialled_address_sends_only_its_extension_headers_and_a_named_call_is_known_by_that_name() {
    let mut w = World::new(2, Config::default());
    // What a provider's `<Sip>sip:…?X-Ringdesk-Call=…</Sip>` asks, with a header no typed or
    // linked address may make us send.
    let target = Uri::parse(&format!(
        "{}?X-Ringdesk-Call=CA42&X-Ringdesk-Queue=Sales%20EMEA&Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2&%E2%82%ACx=1&X-Bad=a%0D%0AVia%3A%20evil",
        World::uri(BOB)
    ))
    .expect("an address with headers");
    w.command(
        ALICE,
        Command::Dial {
            remote: World::uri(BOB).to_string(),
            target,
        },
    )
    .expect("dialled");
    w.settle_all();
    let invite = w
        .in_flight
        .iter()
        .map(|(_, _, bytes)| String::from_utf8_lossy(bytes).to_string())
        .find(|m| m.starts_with("INVITE "))
        .expect("an INVITE on its way");
    let request_line = invite.lines().next().unwrap_or_default();
    assert!(!request_line.contains('?'), "{request_line}");
    assert!(invite.contains("\r\nX-Ringdesk-Call: CA42\r\n"), "{invite}");
    assert!(!invite.contains("Replaces:"), "{invite}");
    assert!(
        !invite.contains("X-Bad") && !invite.contains("evil"),
        "{invite}"
    );

    w.run_until(SECS, |w| w.ringing(BOB).is_some());
    let leg = w.ringing(BOB).expect("rings");
    let view = w.phones[BOB].ctrl.call(leg).expect("a call");
    assert_eq!(view.provider_call.as_deref(), Some("CA42"));
    assert_eq!(
        view.queue.as_deref(),
        Some("Sales EMEA"),
        "the queue it came through"
    );
    // A call nobody named has no name.
    let alice = w.phones[ALICE].ctrl.calls();
    assert_eq!(alice[0].provider_call, None);
}

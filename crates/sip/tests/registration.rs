//! Registration on simulated time against a scripted registrar that really checks digests:
//! no sockets, no sleeping.

use std::time::{Duration, Instant};

use ringdesk_sip::digest::{authorization, DigestRequest};
use ringdesk_sip::header::{Challenge, Via};
use ringdesk_sip::message::{Limits, Message, Method};
use ringdesk_sip::registration::{
    Registration, RegistrationConfig, RegistrationEvent, RegistrationState,
};
use ringdesk_sip::transaction::Timers;
use ringdesk_sip::Uri;

fn config(password: &str) -> RegistrationConfig {
    RegistrationConfig {
        registrar: Uri::parse("sip:pbx.example.com").unwrap(),
        aor: Uri::parse("sip:alice@pbx.example.com").unwrap(),
        auth_username: "alice".into(),
        password: password.into(),
        transport: "UDP".into(),
        local_host: "192.168.1.20".into(),
        local_port: 5070,
        expires: 300,
        user_agent: "Ringdesk test".into(),
        reliable: false,
        timers: Timers::default(),
    }
}

/// A registrar that challenges, checks the digest answer with the real algorithm, and records
/// bindings. It answers from the source address it "saw" (for rport/received).
struct Registrar {
    password: String,
    nonce: String,
    seen_from: (String, u16),
    min_expires: Option<u32>,
    stale_once: bool,
    always_stale: bool,
    binding: Option<(String, u32)>,
    registers: usize,
}

impl Registrar {
    fn new(password: &str) -> Self {
        Registrar {
            password: password.into(),
            nonce: "n0nce1".into(),
            seen_from: ("192.168.1.20".into(), 5070),
            min_expires: None,
            stale_once: false,
            always_stale: false,
            binding: None,
            registers: 0,
        }
    }

    fn answer(&mut self, bytes: &[u8]) -> Vec<u8> {
        let req = Message::parse_datagram(bytes, &Limits::default()).unwrap();
        assert_eq!(req.method(), Some(&Method::Register));
        self.registers += 1;
        let via = Via::parse(req.headers.get_all("Via")[0]).unwrap();
        let resp = |status: u16, reason: &str| {
            let mut r = Message::response(status, reason);
            let mut v = via.clone();
            v.params.set("received", Some(&self.seen_from.0));
            v.params.set("rport", Some(&self.seen_from.1.to_string()));
            r.headers.push("Via", v.to_string());
            for h in ["From", "To", "Call-ID", "CSeq"] {
                r.headers.push(h, req.headers.get(h).unwrap());
            }
            r
        };
        let challenge = |nonce: &str, stale: bool| {
            format!("Digest realm=\"pbx.example.com\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5{}", if stale { ", stale=true" } else { "" })
        };
        let Some(auth) = req.headers.get("Authorization") else {
            let mut r = resp(401, "Unauthorized");
            r.headers
                .push("WWW-Authenticate", challenge(&self.nonce, false));
            return r.to_bytes();
        };
        let field = |name: &str| {
            let start = auth.find(&format!("{name}=")).unwrap() + name.len() + 1;
            let rest = &auth[start..];
            if let Some(q) = rest.strip_prefix('"') {
                q[..q.find('"').unwrap()].to_string()
            } else {
                rest.split([',', ' ']).next().unwrap().to_string()
            }
        };
        if field("nonce") != self.nonce {
            let mut r = resp(401, "Unauthorized");
            r.headers
                .push("WWW-Authenticate", challenge(&self.nonce, true));
            return r.to_bytes();
        }
        if self.always_stale {
            self.nonce = format!("{}x", self.nonce);
            let mut r = resp(401, "Unauthorized");
            r.headers
                .push("WWW-Authenticate", challenge(&self.nonce, true));
            return r.to_bytes();
        }
        if self.stale_once {
            self.stale_once = false;
            self.nonce = "n0nce2".into();
            let mut r = resp(401, "Unauthorized");
            r.headers
                .push("WWW-Authenticate", challenge(&self.nonce, true));
            return r.to_bytes();
        }
        let c = Challenge::parse(&challenge(&self.nonce, false)).unwrap();
        let nc = u32::from_str_radix(&field("nc"), 16).unwrap();
        let expected = authorization(
            &c,
            &DigestRequest {
                username: "alice",
                password: &self.password,
                method: "REGISTER",
                uri: &field("uri"),
                body: b"",
                cnonce: &field("cnonce"),
                nonce_count: nc,
            },
        )
        .unwrap();
        if !expected.contains(&format!("response=\"{}\"", field("response"))) {
            return resp(403, "Forbidden").to_bytes();
        }
        let expires: u32 = req.headers.get("Expires").unwrap().parse().unwrap();
        if let Some(min) = self.min_expires.filter(|m| expires != 0 && expires < *m) {
            let mut r = resp(423, "Interval Too Brief");
            r.headers.push("Min-Expires", min.to_string());
            return r.to_bytes();
        }
        let contact = req
            .headers
            .get("Contact")
            .unwrap()
            .trim_matches(['<', '>'])
            .to_string();
        let mut r = resp(200, "OK");
        if expires == 0 {
            self.binding = None;
        } else {
            let granted = expires.min(3600);
            r.headers
                .push("Contact", format!("<{contact}>;expires={granted}"));
            self.binding = Some((contact, granted));
        }
        r.to_bytes()
    }
}

/// Pumps messages between the two until the UA has nothing to send; returns its events.
fn pump(reg: &mut Registration, registrar: &mut Registrar, now: Instant) -> Vec<RegistrationEvent> {
    while let Some(bytes) = reg.poll_transmit() {
        let answer = registrar.answer(&bytes);
        let msg = Message::parse_datagram(&answer, &Limits::default()).unwrap();
        assert!(reg.handle_message(msg, now));
    }
    std::iter::from_fn(|| reg.poll_event()).collect()
}

#[test]
fn registers_through_a_digest_challenge_and_refreshes_before_expiry() {
    let t0 = Instant::now();
    let mut registrar = Registrar::new("s3cret");
    let mut reg = Registration::new(config("s3cret"), 7);
    reg.start(t0);
    let events = pump(&mut reg, &mut registrar, t0);
    assert_eq!(
        events,
        vec![RegistrationEvent::Registered {
            expires: 300,
            contact: "sip:alice@192.168.1.20:5070".into()
        }]
    );
    assert_eq!(reg.state(), RegistrationState::Registered);
    assert_eq!(registrar.registers, 2);

    // Timer K keeps the finished transaction 5 s to absorb retransmitted answers.
    let k = reg.poll_timeout().unwrap();
    assert_eq!(k - t0, Duration::from_secs(5));
    reg.handle_timeout(k);
    assert!(reg.poll_transmit().is_none());
    // The refresh comes 32 s before expiry, and goes through a fresh challenge round.
    let refresh = reg.poll_timeout().unwrap();
    assert_eq!(refresh - t0, Duration::from_secs(268));
    reg.handle_timeout(refresh);
    let events = pump(&mut reg, &mut registrar, refresh);
    assert!(matches!(
        events.as_slice(),
        [RegistrationEvent::Registered { expires: 300, .. }]
    ));

    // Unregistering removes the binding.
    reg.stop(refresh);
    let events = pump(&mut reg, &mut registrar, refresh);
    assert_eq!(events, vec![RegistrationEvent::Unregistered]);
    assert!(registrar.binding.is_none());
}

#[test]
fn a_wrong_password_fails_clearly_and_retries_with_backoff() {
    let t0 = Instant::now();
    let mut registrar = Registrar::new("right");
    let mut reg = Registration::new(config("wrong"), 7);
    reg.start(t0);
    let events = pump(&mut reg, &mut registrar, t0);
    assert_eq!(
        events,
        vec![RegistrationEvent::Failed {
            status: Some(403),
            reason: "wrong username or password, or this account may not register".into(),
            retry_in: Some(Duration::from_secs(15)),
        }]
    );
    assert_eq!(reg.state(), RegistrationState::Failing);
    let retry = reg.poll_timeout().unwrap();
    reg.handle_timeout(retry);
    let events = pump(&mut reg, &mut registrar, retry);
    assert!(
        matches!(events.as_slice(), [RegistrationEvent::Failed { retry_in: Some(d), .. }] if *d == Duration::from_secs(30))
    );
}

#[test]
fn stale_nonces_423_and_nat_rewrite() {
    let t0 = Instant::now();
    let mut registrar = Registrar::new("pw");
    registrar.min_expires = Some(600);
    registrar.stale_once = true;
    registrar.seen_from = ("203.0.113.7".into(), 40123);
    let mut reg = Registration::new(config("pw"), 9);
    reg.start(t0);
    let events = pump(&mut reg, &mut registrar, t0);
    assert_eq!(
        events,
        vec![RegistrationEvent::Registered {
            expires: 600,
            contact: "sip:alice@203.0.113.7:40123".into()
        }]
    );
    assert_eq!(
        registrar.binding.as_ref().unwrap().0,
        "sip:alice@203.0.113.7:40123"
    );
}

#[test]
fn silence_from_the_registrar_times_out_after_64_t1() {
    let t0 = Instant::now();
    let mut reg = Registration::new(config("pw"), 1);
    reg.start(t0);
    let mut sent = 0;
    let mut now = t0;
    let events = loop {
        while reg.poll_transmit().is_some() {
            sent += 1;
        }
        let events: Vec<_> = std::iter::from_fn(|| reg.poll_event()).collect();
        if !events.is_empty() {
            break events;
        }
        now = reg.poll_timeout().unwrap();
        reg.handle_timeout(now);
    };
    assert_eq!(now - t0, Duration::from_secs(32));
    assert_eq!(sent, 11, "the first send and ten retransmissions");
    assert!(
        matches!(&events[0], RegistrationEvent::Failed { status: None, reason, .. } if reason == "the registrar did not answer")
    );
}

#[test]
fn foreign_responses_are_ignored() {
    let t0 = Instant::now();
    let mut reg = Registration::new(config("pw"), 1);
    reg.start(t0);
    let raw = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.20:5070;branch=z9hG4bKnotours\r\nCSeq: 1 REGISTER\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";
    let msg = Message::parse_datagram(raw.as_bytes(), &Limits::default()).unwrap();
    assert!(!reg.handle_message(msg, t0));
    assert_eq!(reg.poll_event(), None);
}

#[test]
fn keepalives_prove_the_flow_and_a_silent_registrar_means_registering_again() {
    let t0 = Instant::now();
    let mut registrar = Registrar::new("pw");
    let mut reg = Registration::new(config("pw"), 3);
    reg.set_keepalive(Duration::from_secs(30));
    reg.start(t0);
    pump(&mut reg, &mut registrar, t0);
    assert_eq!(reg.state(), RegistrationState::Registered);

    // 30 s on, an OPTIONS to the registrar; any answer (here 200) schedules the next.
    let mut now;
    let options = loop {
        now = reg.poll_timeout().unwrap();
        reg.handle_timeout(now);
        if let Some(bytes) = reg.poll_transmit() {
            break Message::parse_datagram(&bytes, &Limits::default()).unwrap();
        }
    };
    assert_eq!(options.method(), Some(&Method::Options));
    assert_eq!(now - t0, Duration::from_secs(30));
    let mut ok = Message::response(200, "OK");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        ok.headers.push(h, options.headers.get(h).unwrap());
    }
    assert!(reg.owns(&ok));
    assert!(reg.handle_message(ok, now));
    assert!(std::iter::from_fn(|| reg.poll_event()).next().is_none());

    // The next one goes unanswered: after 64*T1 the registration starts again.
    let mut events = Vec::new();
    let mut registers = 0;
    while events.is_empty() {
        now = reg.poll_timeout().unwrap();
        reg.handle_timeout(now);
        while let Some(bytes) = reg.poll_transmit() {
            let m = Message::parse_datagram(&bytes, &Limits::default()).unwrap();
            registers += usize::from(m.method() == Some(&Method::Register));
        }
        events.extend(std::iter::from_fn(|| reg.poll_event()));
    }
    assert_eq!(
        events,
        vec![RegistrationEvent::Failed {
            status: None,
            reason: "the registrar stopped answering; registering again".into(),
            retry_in: Some(Duration::ZERO),
        }]
    );
    assert_eq!(now - t0, Duration::from_secs(60 + 32));
    assert_eq!(registers, 1, "a new REGISTER went out at once");
    assert_eq!(reg.state(), RegistrationState::Registering);
    assert!(
        reg.take_flow_suspect(),
        "the driver is told to open a new flow"
    );
    assert!(!reg.take_flow_suspect());
}

#[test]
fn a_registrar_that_keeps_saying_stale_is_not_followed_forever() {
    let t0 = Instant::now();
    let mut registrar = Registrar::new("pw");
    registrar.always_stale = true;
    let mut reg = Registration::new(config("pw"), 5);
    reg.start(t0);
    let events = pump(&mut reg, &mut registrar, t0);
    assert!(
        matches!(events.as_slice(), [RegistrationEvent::Failed { status: Some(401), reason, .. }] if reason == "the registrar keeps asking for credentials"),
        "{events:?}"
    );
    assert_eq!(
        registrar.registers, 4,
        "the first REGISTER and three answers, then no more"
    );
}

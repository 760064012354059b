//! RFC 4475's torture messages (exact bytes in tests/torture/, checked by SHA256SUMS): the
//! parser accepts every valid one, and the user agent answers each the way RFC 4475 asks of
//! an endpoint — or, where it leaves a choice, the way we chose (noted inline).

use std::time::Instant;

use ringdesk_sip::message::{Limits, Message, StartLine};
use ringdesk_sip::ua::{CallEvent, UaConfig, UserAgent};
use ringdesk_sip::Uri;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A final answer with this status.
    Answer(u16),
    /// A new call: 100 Trying, 180 Ringing and an Incoming event.
    Incoming,
    /// Nothing: a response no transaction of ours is waiting for.
    Silent,
}
use Expect::*;

/// (file, must parse, what the user agent does)
const CASES: &[(&str, bool, Expect)] = &[
    // 3.1.1: valid messages.
    ("wsinv", true, Answer(481)), // it carries a To tag: no such dialog here
    ("intmeth", true, Answer(501)),
    ("esc01", true, Incoming),
    ("escnull", true, Answer(405)), // REGISTER to a user agent
    ("esc02", true, Answer(501)),   // RE%47IST%45R is not REGISTER
    ("lwsdisp", true, Answer(200)),
    ("longreq", true, Incoming),
    ("dblreq", true, Answer(405)),
    ("semiuri", true, Answer(200)),
    ("transports", true, Answer(200)),
    ("mpart01", true, Answer(405)), // MESSAGE is not for us
    ("unreason", true, Silent),
    ("noreason", true, Silent),
    // 3.1.2: invalid messages.
    ("badinv01", true, Answer(400)),
    ("clerr", false, Answer(400)),
    ("ncl", false, Answer(400)),
    ("scalar02", true, Answer(400)),
    ("scalarlg", true, Silent),
    ("quotbal", true, Answer(400)),
    ("ltgtruri", false, Answer(400)),
    ("lwsruri", false, Answer(400)),
    ("lwsstart", false, Answer(400)),
    ("trws", false, Answer(400)),
    ("escruri", true, Incoming), // liberal, as allowed: the escaped Route is never applied
    ("baddate", true, Incoming), // liberal, as allowed: we never read Date
    ("regbadct", true, Answer(405)),
    ("badaspec", true, Answer(200)), // liberal, as allowed
    ("baddn", false, Answer(400)),
    ("badvers", false, Answer(505)),
    ("mismatch01", true, Answer(400)),
    ("mismatch02", true, Answer(400)), // 501 preferred, 400 allowed
    ("bigcode", false, Silent),
    // 3.2, 3.3, 3.4
    ("badbranch", true, Answer(200)),
    ("insuf", true, Answer(400)),
    ("unkscm", false, Answer(416)),
    ("novelsc", false, Answer(416)),
    ("unksm2", true, Answer(405)),
    ("bext01", true, Answer(420)),
    ("invut", true, Answer(415)),
    ("regaut01", true, Answer(405)),
    ("multi01", true, Answer(400)),
    ("mcl01", false, Answer(400)),
    ("bcast", true, Silent),
    ("zeromf", true, Answer(200)), // an endpoint processes Max-Forwards: 0
    ("cparam01", true, Answer(405)),
    ("cparam02", true, Answer(405)),
    ("regescrt", true, Answer(405)),
    ("sdp01", true, Answer(406)),
    // RFC 2543 compatibility is not kept: no branch, no tags, no Content-Length.
    ("inv2543", true, Answer(400)),
];

fn read(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/torture/{name}.sip", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn agent() -> UserAgent {
    UserAgent::new(
        UaConfig::udp(
            Uri::parse("sip:j.user@example.com").unwrap(),
            "x",
            "192.0.2.10",
            5060,
        ),
        4475,
    )
}

#[test]
fn every_torture_message_is_covered() {
    let dir = format!("{}/tests/torture", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".sip").map(str::to_string))
        .collect();
    files.sort();
    let mut cases: Vec<String> = CASES.iter().map(|(n, ..)| n.to_string()).collect();
    cases.sort();
    assert_eq!(files, cases);
    assert_eq!(files.len(), 49);
}

#[test]
fn the_parser_and_the_user_agent_handle_each_as_rfc_4475_asks() {
    let limits = Limits::default();
    let mut failures = Vec::new();
    for &(name, parses, expect) in CASES {
        let bytes = read(name);
        let parsed = Message::parse_datagram(&bytes, &limits);
        if parsed.is_ok() != parses {
            failures.push(format!("{name}: parse {parsed:?}"));
        }
        let mut ua = agent();
        ua.handle_bytes(&bytes, Instant::now());
        let sent: Vec<Message> = std::iter::from_fn(|| ua.poll_transmit())
            .map(|b| Message::parse_datagram(&b, &limits).expect("we send valid SIP"))
            .collect();
        let statuses: Vec<u16> = sent.iter().filter_map(Message::status).collect();
        let incoming =
            std::iter::from_fn(|| ua.poll_event()).any(|e| matches!(e, CallEvent::Incoming { .. }));
        let ok = match expect {
            Answer(status) => statuses == [status] && !incoming,
            Incoming => statuses == [100, 180] && incoming,
            Silent => statuses.is_empty() && !incoming,
        };
        if !ok {
            failures.push(format!(
                "{name}: expected {expect:?}, sent {statuses:?}, incoming {incoming}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn details_the_rfc_points_out() {
    let limits = Limits::default();
    let parse = |name| Message::parse_datagram(&read(name), &limits).unwrap();
    // dblreq: the octets after Content-Length: 0 are not part of the REGISTER.
    assert!(parse("dblreq").body.is_empty());
    // semiuri: ';par=u%40example.net' belongs to the user part, not the URI's parameters.
    let StartLine::Request { uri, .. } = parse("semiuri").start else {
        panic!()
    };
    assert_eq!(uri.user.as_deref(), Some("user;par=u%40example.net"));
    // mpart01: a binary body framed by Content-Length only.
    assert_eq!(parse("mpart01").body.len(), 553);
    // unreason: the reason phrase is UTF-8 for humans.
    let StartLine::Response { reason, .. } = parse("unreason").start else {
        panic!()
    };
    assert!(reason.contains('Д') || !reason.is_ascii(), "{reason}");
    // bext01: the answer lists what we do not support.
    let mut ua = agent();
    ua.handle_bytes(&read("bext01"), Instant::now());
    let answer = Message::parse_datagram(&ua.poll_transmit().unwrap(), &limits).unwrap();
    let unsupported = answer.headers.get("Unsupported").unwrap();
    assert!(
        unsupported.contains("nothingSupportsThis")
            && unsupported.contains("nothingSupportsThisEither")
    );
    // invut: the 415 says what we accept.
    let mut ua = agent();
    ua.handle_bytes(&read("invut"), Instant::now());
    let answer = Message::parse_datagram(&ua.poll_transmit().unwrap(), &limits).unwrap();
    assert_eq!(answer.headers.get("Accept"), Some("application/sdp"));
}

//! Any bytes into the SIP parser (datagram and stream framing) and into a user agent, which
//! must answer or drop them without panicking. Seed corpus: crates/sip/tests/torture/.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use ringdesk_sip::message::{Limits, Message};
use ringdesk_sip::ua::{UaConfig, UserAgent};
use ringdesk_sip::Uri;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(message) = Message::parse_datagram(data, &limits) {
        // Whatever parses must serialise and parse again.
        let again = message.to_bytes();
        assert!(Message::parse_datagram(&again, &limits).is_ok());
    }
    let _ = Message::parse_stream(data, &limits);
    let Ok(aor) = Uri::parse("sip:bob@127.0.0.1") else { return };
    let mut ua = UserAgent::new(
        UaConfig::udp(aor, "pw", "127.0.0.1", 5060),
        0,
    );
    ua.handle_bytes(data, Instant::now());
    while ua.poll_transmit().is_some() {}
    while ua.poll_event().is_some() {}
});

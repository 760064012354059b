//! `cargo bench -p ringdesk-sip --bench call_setup` with kamailio running (scripts/test.sh's
//! environment: RINGDESK_KAMAILIO): call set-up time, INVITE sent → 200 OK received, to an
//! auto-answering baresip through kamailio on loopback, including kamailio's 407 round.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ringdesk_media::sdp::Direction;
use ringdesk_sip::ua::CallEvent;
use support::{aor, offer, phone, user, Baresip};

const CALLS: usize = 30;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if std::env::var("RINGDESK_KAMAILIO").is_err() {
        println!("call_setup: skipped — start kamailio first (see scripts/sip-peers.sh)");
        return;
    }
    let mut bob = Baresip::start(&user(90), true);
    let (mut phone, mut events) = phone(&user(91), None).await;
    let mut setups = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        events.seen.clear();
        let started = Instant::now();
        let call = phone
            .call(aor(&user(90)), offer(Direction::SendRecv))
            .await
            .unwrap();
        events
            .call(
                &mut phone,
                |e| matches!(e, CallEvent::Established { call: c, .. } if *c == call),
            )
            .await;
        setups.push(started.elapsed());
        phone.hangup(call).await.unwrap();
        events
            .call(
                &mut phone,
                |e| matches!(e, CallEvent::Ended { call: c, .. } if *c == call),
            )
            .await;
        bob.wait_event("\"type\":\"CALL_CLOSED\"", Duration::from_secs(10))
            .await;
        bob.log.clear();
    }
    setups.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "call setup to baresip via kamailio (INVITE → 407 → INVITE → 100/180 → 200), {CALLS} calls: \
         min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(setups[0]),
        ms(setups[CALLS / 2]),
        ms(setups[CALLS * 9 / 10]),
        ms(setups[CALLS - 1])
    );
    phone.stop(Duration::from_secs(5)).await;
}

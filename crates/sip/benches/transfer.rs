//! `cargo bench -p ringdesk-sip --bench transfer` with kamailio running (scripts/test.sh's
//! environment: RINGDESK_KAMAILIO): blind transfer time, REFER sent → the transfer target's
//! INVITE received, through kamailio on loopback. The transferee is baresip (it follows the
//! REFER, including kamailio's 407 round on its new INVITE); the target is a second Ringdesk
//! user agent in this process, so both ends of the interval are read on one clock.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ringdesk_media::sdp::Direction;
use ringdesk_sip::ua::CallEvent;
use support::{aor, offer, phone, user, Baresip};

const TRANSFERS: usize = 20;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if std::env::var("RINGDESK_KAMAILIO").is_err() {
        println!("transfer: skipped — start kamailio first (see scripts/sip-peers.sh)");
        return;
    }
    let mut bob = Baresip::start(&user(94), true);
    let (mut agent, mut agent_events) = phone(&user(95), None).await;
    let (mut carol, mut carol_events) = phone(&user(96), None).await;
    let mut times = Vec::with_capacity(TRANSFERS);
    for _ in 0..TRANSFERS {
        agent_events.seen.clear();
        carol_events.seen.clear();
        let call = agent
            .call(aor(&user(94)), offer(Direction::SendRecv))
            .await
            .unwrap();
        agent_events
            .call(
                &mut agent,
                |e| matches!(e, CallEvent::Established { call: c, .. } if *c == call),
            )
            .await;
        bob.wait_event("\"type\":\"CALL_ESTABLISHED\"", Duration::from_secs(10))
            .await;
        let pressed = Instant::now();
        assert!(agent.refer(call, aor(&user(96))).await.unwrap());
        let incoming = carol_events
            .call(&mut carol, |e| matches!(e, CallEvent::Incoming { .. }))
            .await;
        times.push(pressed.elapsed());
        // The target is busy: the transfer fails, and the call is ended by us.
        if let CallEvent::Incoming { call: c, .. } = incoming {
            carol.reject(c, 486).await.unwrap();
        }
        agent_events
            .call(
                &mut agent,
                |e| matches!(e, CallEvent::TransferProgress { status, .. } if *status >= 300),
            )
            .await;
        agent.hangup(call).await.unwrap();
        agent_events
            .call(
                &mut agent,
                |e| matches!(e, CallEvent::Ended { call: c, .. } if *c == call),
            )
            .await;
        bob.wait_event("\"type\":\"CALL_CLOSED\"", Duration::from_secs(10))
            .await;
        bob.log.clear();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "blind transfer via kamailio (REFER → 202 → baresip's INVITE → 407 → INVITE at the target), \
         {TRANSFERS} transfers: min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(times[0]),
        ms(times[TRANSFERS / 2]),
        ms(times[TRANSFERS * 9 / 10]),
        ms(times[TRANSFERS - 1])
    );
    agent.stop(Duration::from_secs(5)).await;
    carol.stop(Duration::from_secs(5)).await;
}

//! A call that was live when Ringdesk died is closed as interrupted at the next start, never
//! lost and never left "in progress".

mod support;

use ringdesk_app::Ringdesk;
use ringdesk_core::{Call, CallDirection, CallEndReason, CallFilter, CallStatus};
use ringdesk_store::Store;
use time::OffsetDateTime;

#[tokio::test]
async fn live_calls_are_closed_as_interrupted_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(dir.path(), &support::keyring());
    // What a killed Ringdesk leaves behind: one call talking, one ringing, one finished.
    let store = Store::open(&config.database_path()).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let mut talking = Call::new(
        CallDirection::Outbound,
        "a".into(),
        "+14155552671".into(),
        now,
    );
    talking.answer(now);
    let ringing = Call::new(
        CallDirection::Inbound,
        "+14155552671".into(),
        "b".into(),
        now,
    );
    let mut finished = Call::new(CallDirection::Inbound, "c".into(), "d".into(), now);
    finished.end(CallEndReason::Declined, None, now);
    for call in [&talking, &ringing, &finished] {
        store.calls().save(call).await.unwrap();
    }
    store.close().await;

    let ringdesk = Ringdesk::open(config.clone()).await.unwrap();
    let calls = ringdesk.calls(&CallFilter::default()).await.unwrap();
    let find = |id| calls.iter().find(|c| c.id == id).unwrap();
    assert_eq!(find(talking.id).status, CallStatus::Completed);
    assert_eq!(
        find(talking.id).end_reason,
        Some(CallEndReason::Interrupted)
    );
    assert_eq!(find(ringing.id).status, CallStatus::Failed);
    assert_eq!(
        find(ringing.id).end_reason,
        Some(CallEndReason::Interrupted)
    );
    assert_eq!(find(finished.id).end_reason, Some(CallEndReason::Declined));
    assert!(ringdesk.live_calls().is_empty());
    ringdesk.close().await;

    // A second start finds nothing more to close.
    let again = Ringdesk::open(config).await.unwrap();
    let calls = again.calls(&CallFilter::default()).await.unwrap();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.end_reason == Some(CallEndReason::Interrupted))
            .count(),
        2
    );
    again.close().await;
}

#[tokio::test]
async fn an_unknown_caller_saved_as_a_contact_takes_their_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(dir.path(), &support::keyring());
    let store = Store::open(&config.database_path()).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let mut first = Call::new(
        CallDirection::Inbound,
        "+14155550177".into(),
        "+12125550100".into(),
        now,
    );
    first.end(CallEndReason::Missed, None, now);
    let mut back = Call::new(
        CallDirection::Outbound,
        "+12125550100".into(),
        "+14155550177".into(),
        now,
    );
    back.end(CallEndReason::NoAnswer, None, now);
    let mut other = Call::new(
        CallDirection::Inbound,
        "+14155550999".into(),
        "+12125550100".into(),
        now,
    );
    other.end(CallEndReason::Missed, None, now);
    for call in [&first, &back, &other] {
        store.calls().save(call).await.unwrap();
    }
    store.close().await;

    let ringdesk = Ringdesk::open(config).await.unwrap();
    assert!(
        ringdesk.save_caller(first.id, " ").await.is_err(),
        "a name is needed"
    );
    let contact = ringdesk
        .save_caller(first.id, "Katherine Johnson")
        .await
        .unwrap();
    assert_eq!(contact.phones[0].number.as_str(), "+14155550177");
    let theirs = ringdesk
        .calls(&CallFilter {
            contact_id: Some(contact.id),
            ..CallFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(theirs.len(), 2, "both calls with that number");
    assert!(theirs
        .iter()
        .all(|c| c.contact_name.as_deref() == Some("Katherine Johnson")));
    ringdesk.close().await;
}

#[tokio::test]
async fn missed_calls_are_counted_until_the_agent_has_seen_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(dir.path(), &support::keyring());
    let store = Store::open(&config.database_path()).await.unwrap();
    let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let call = |direction, reason| {
        let mut c = Call::new(direction, "+14155550177".into(), "+12125550100".into(), now);
        c.end(reason, None, now);
        c
    };
    // Two missed; a declined call and an outbound no-answer are not "missed".
    for c in [
        call(CallDirection::Inbound, CallEndReason::Missed),
        call(CallDirection::Inbound, CallEndReason::Missed),
        call(CallDirection::Inbound, CallEndReason::Declined),
        call(CallDirection::Outbound, CallEndReason::NoAnswer),
    ] {
        store.calls().save(&c).await.unwrap();
    }
    store.close().await;

    let ringdesk = Ringdesk::open(config.clone()).await.unwrap();
    assert_eq!(ringdesk.missed_calls().await.unwrap(), 2);
    ringdesk.missed_calls_seen().await.unwrap();
    assert_eq!(ringdesk.missed_calls().await.unwrap(), 0);
    ringdesk.close().await;

    // Seen stays seen across a restart; a new missed call counts again.
    let store = Store::open(&config.database_path()).await.unwrap();
    let mut later = Call::new(
        CallDirection::Inbound,
        "+14155550178".into(),
        "+12125550100".into(),
        OffsetDateTime::now_utc() + time::Duration::seconds(1),
    );
    later.end(CallEndReason::Missed, None, OffsetDateTime::now_utc());
    store.calls().save(&later).await.unwrap();
    store.close().await;
    let again = Ringdesk::open(config).await.unwrap();
    assert_eq!(again.missed_calls().await.unwrap(), 1);
    again.close().await;
}

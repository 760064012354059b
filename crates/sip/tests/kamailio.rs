//! Registration through the tokio UDP driver against a real kamailio (started by
//! scripts/test.sh with tests/sip/kamailio.cfg): digest auth, wrong password, unregister.

use std::time::Duration;

mod support;

use ringdesk_sip::account::Phone;
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::registration::RegistrationEvent;

/// The registrations kamailio holds (scripts/test.sh gives its control socket).
fn bindings() -> String {
    let socket = std::env::var("RINGDESK_KAMCMD").expect("RINGDESK_KAMCMD is not set");
    support::ul_dump(&socket)
}

async fn start(user: &str, password: &str) -> Phone {
    let mut account = support::account(user, &support::kamailio());
    account.domain = None;
    account.password = password.into();
    account.start(support::seed()).await.unwrap()
}

async fn next(phone: &mut Phone) -> RegistrationEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), phone.events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the driver is alive");
        if let EndpointEvent::Registration(r) = event {
            return r;
        }
    }
}

fn registration_events(events: Vec<EndpointEvent>) -> Vec<RegistrationEvent> {
    events
        .into_iter()
        .filter_map(|e| match e {
            EndpointEvent::Registration(r) => Some(r),
            EndpointEvent::Call(_) => None,
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
async fn registers_with_digest_auth_and_unregisters() {
    let mut handle = start("alice", "alicepw").await;
    match next(&mut handle).await {
        RegistrationEvent::Registered { expires, contact } => {
            assert_eq!(expires, 60);
            assert!(contact.starts_with("sip:alice@127.0.0.1:"), "{contact}");
            let dump = bindings();
            assert!(
                dump.contains(&contact),
                "kamailio holds our binding: {dump}"
            );
        }
        other => panic!("expected Registered, got {other:?}"),
    }
    assert_eq!(
        registration_events(handle.stop(Duration::from_secs(10)).await),
        vec![RegistrationEvent::Unregistered]
    );
    let dump = bindings();
    assert!(!dump.contains("AoR: alice"), "the binding is gone: {dump}");
}

#[tokio::test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
async fn a_wrong_password_is_reported_as_such() {
    let mut handle = start("bob", "not-bobs-password").await;
    match next(&mut handle).await {
        RegistrationEvent::Failed {
            status,
            reason,
            retry_in,
        } => {
            assert_eq!(status, Some(403));
            assert!(reason.starts_with("wrong username or password"), "{reason}");
            assert!(retry_in.is_some());
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(
        registration_events(handle.stop(Duration::from_secs(10)).await),
        vec![RegistrationEvent::Unregistered]
    );
}

#[tokio::test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
async fn the_binding_is_refreshed_before_it_expires() {
    // kamailio's smallest expiry here is 10 s: the refresh comes after half of it.
    let mut account = support::account(&support::user(40), &support::kamailio());
    account.expires = 10;
    let mut phone = account.start(support::seed()).await.unwrap();
    let started = std::time::Instant::now();
    for round in 0..2 {
        match next(&mut phone).await {
            RegistrationEvent::Registered { expires, .. } => assert_eq!(expires, 10),
            other => panic!("round {round}: expected Registered, got {other:?}"),
        }
    }
    let refreshed_after = started.elapsed();
    assert!(
        refreshed_after >= Duration::from_secs(4) && refreshed_after < Duration::from_secs(10),
        "refreshed after {refreshed_after:?}"
    );
    assert!(bindings().contains(&support::user(40)));
    registration_events(phone.stop(Duration::from_secs(10)).await);
}

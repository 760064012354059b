//! The team server over real HTTP, a real SQLite database and Twilio's spec mock (Prism):
//! an admin's desktop joins with an invite, adds the team's Twilio account (its keys sealed,
//! never answered back), syncs its numbers, adds an agent who joins from another desktop,
//! routes a number to her and makes her softphone login; then Twilio's signed voice requests
//! are answered by where she is: her softphone while her desktop says she is available, her
//! forwarding number on Do not disturb, and once her desktop falls silent past the grace
//! period. Invites work once and expire; an agent cannot do an admin's work; a revoked
//! desktop is refused at once; call events reach the team journal once each.

mod common;

use std::time::Duration;

use common::*;
use ringdesk_core::{CallDirection, CallFilter, UserInput, UserSettings};
use ringdesk_providers::Endpoints;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn a_team_routes_calls_to_its_agents_wherever_they_are() {
    let prism = std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh");
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());
    let logs = capture_logs();
    let running = start(endpoints).await;
    let (status, _) = running.call("GET", "/readyz", None, None).await;
    assert_eq!(status, 200);
    let admin = first_admin(&running).await;

    // The team's Twilio account: created, answered without its keys.
    let (status, provider) = running
        .call(
            "POST",
            "/api/v1/providers",
            Some(&admin),
            Some(json!({"kind": "twilio", "name": "Team Twilio", "credentials": {"accountSid": SID, "authToken": TOKEN}, "defaultCallerId": "+1 212 555 0100"})),
        )
        .await;
    assert_eq!(status, 201, "{provider}");
    let provider_id = provider["id"].as_str().unwrap().to_string();
    let (status, _) = running
        .call(
            "POST",
            &format!("/api/v1/providers/{provider_id}/activate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, report) = running
        .call(
            "POST",
            &format!("/api/v1/providers/{provider_id}/numbers/sync"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let (_, numbers) = running
        .call("GET", "/api/v1/numbers", Some(&admin), None)
        .await;
    let number = numbers[0].clone();
    let number_id = number["id"].as_str().unwrap().to_string();
    let e164 = number["phoneNumber"].as_str().unwrap().to_string();

    // Bea, an agent, invited; her desktop joins.
    let (status, added) = running
        .call(
            "POST",
            "/api/v1/agents",
            Some(&admin),
            Some(json!({"name": "Bea", "email": null, "isMe": true, "assignedNumbers": [number_id], "primaryNumber": number_id, "forwardingNumber": "+1 415 555 0199", "settings": {"receiveCallsInApp": true, "forwardWhenOffline": true, "voicemailEnabled": false, "dndEnabled": false}})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["user"]["isMe"], false, "nobody is 'me' on the server");
    let bea_id = added["user"]["id"].as_str().unwrap().to_string();
    let code = added["invite"]["code"].as_str().unwrap().to_string();
    let (status, joined) = running
        .call(
            "POST",
            "/api/v1/join",
            None,
            Some(json!({"code": code, "deviceName": "Bea's desktop"})),
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    let bea = joined["token"].as_str().unwrap().to_string();
    let bea_device = joined["device"]["id"].as_str().unwrap().to_string();
    assert_eq!(joined["device"]["role"], "agent");

    // The invite is spent; a forged one is nothing.
    for code in [code.as_str(), "rdi_forged"] {
        let (status, refused) = running
            .call(
                "POST",
                "/api/v1/join",
                None,
                Some(json!({"code": code, "deviceName": "again"})),
            )
            .await;
        assert_eq!(status, 401, "{refused}");
    }

    // An agent reads the team but changes nothing of it.
    let (status, agents) = running
        .call("GET", "/api/v1/agents", Some(&bea), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(agents.as_array().unwrap().len(), 2);
    for (method, path) in [
        ("POST", "/api/v1/agents".to_string()),
        ("POST", "/api/v1/providers".to_string()),
        ("GET", "/api/v1/devices".to_string()),
        ("DELETE", format!("/api/v1/devices/{bea_device}")),
        ("PUT", format!("/api/v1/numbers/{number_id}/route")),
        ("POST", format!("/api/v1/agents/{bea_id}/softphone")),
        ("POST", format!("/api/v1/providers/{provider_id}/activate")),
        (
            "POST",
            format!("/api/v1/providers/{provider_id}/numbers/sync"),
        ),
        ("PUT", format!("/api/v1/agents/{bea_id}")),
        ("POST", format!("/api/v1/agents/{bea_id}/invites")),
    ] {
        let (status, refused) = running
            .call_direct(method, &path, Some(&bea), Some(json!({})))
            .await;
        assert_eq!(status, 403, "{method} {path}: {refused}");
    }
    let (status, _) = running.call("GET", "/api/v1/me", None, None).await;
    assert_eq!(status, 401, "no token");

    // The number goes to Bea; the server makes her softphone login on Twilio.
    let (status, routed) = running
        .call(
            "PUT",
            &format!("/api/v1/numbers/{number_id}/route"),
            Some(&admin),
            Some(json!({"type": "user", "userId": bea_id})),
        )
        .await;
    assert_eq!(status, 200, "{routed}");
    let (status, login) = running
        .call(
            "POST",
            &format!("/api/v1/agents/{bea_id}/softphone"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let sip_user = login["sipUser"].as_str().unwrap().to_string();
    let domain = login["sipDomain"].as_str().unwrap().to_string();
    let (status, mine) = running
        .call("GET", "/api/v1/me/softphone", Some(&bea), None)
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["username"], sip_user.as_str());
    assert!(!mine["password"].as_str().unwrap().is_empty());
    // Olga got hers when the provider was made active: her own, never Bea's.
    let (status, olgas) = running
        .call("GET", "/api/v1/me/softphone", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{olgas}");
    assert_ne!(
        olgas["username"],
        sip_user.as_str(),
        "nobody else's is handed out"
    );

    // A caller rings the number: Bea's desktop has just said it is there.
    let (status, _) = running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&bea),
            Some(json!({"presence": "available"})),
        )
        .await;
    assert_eq!(status, 204);
    let inbound = format!(
        "CallSid=CA100&From=%2B14155552671&To={}&Direction=inbound",
        url::form_urlencoded::byte_serialize(e164.as_bytes()).collect::<String>()
    );
    let (status, twiml) = running.voice(&provider_id, &inbound).await;
    assert_eq!(status, 200, "{twiml}");
    // The softphone is told which of the provider's calls it takes.
    assert!(
        twiml.contains(&format!(
            "<Sip>sip:{sip_user}@{domain}?X-Ringdesk-Call=CA100</Sip>"
        )),
        "{twiml}"
    );

    // Her softphone calls out: with her primary number.
    let out = format!("CallSid=CA101&From=sip%3A{sip_user}%40{domain}&To=sip%3A4155552671%40{domain}&Direction=inbound");
    let (_, twiml) = running.voice(&provider_id, &out).await;
    assert!(
        twiml.contains(&format!("callerId=\"{e164}\""))
            && twiml.contains("<Number>+14155552671</Number>"),
        "{twiml}"
    );
    let stranger = format!("CallSid=CA102&From=sip%3Amallory%40{domain}&To=sip%3A4155552671%40{domain}&Direction=inbound");
    let (_, twiml) = running.voice(&provider_id, &stranger).await;
    assert!(twiml.contains("This SIP login is not Ringdesk"), "{twiml}");

    // Do not disturb: forwarded, as she asked.
    let (status, _) = running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&bea),
            Some(json!({"presence": "dnd"})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, twiml) = running.voice(&provider_id, &inbound).await;
    assert!(twiml.contains("<Number>+14155550199</Number>"), "{twiml}");
    let (_, agents) = running
        .call("GET", "/api/v1/agents", Some(&admin), None)
        .await;
    let bea_seen = agents
        .as_array()
        .unwrap_or_else(|| panic!("{agents}"))
        .iter()
        .find(|a| a["id"] == bea_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(bea_seen["presence"], "dnd");

    // Back, then silent: past the grace period she is offline and forwarded.
    running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&bea),
            Some(json!({"presence": "available"})),
        )
        .await;
    let (_, twiml) = running.voice(&provider_id, &inbound).await;
    assert!(twiml.contains("<Sip"), "{twiml}");
    tokio::time::sleep(Duration::from_millis(GRACE * 1000 + 300)).await;
    let (_, twiml) = running.voice(&provider_id, &inbound).await;
    assert!(twiml.contains("<Number>+14155550199</Number>"), "{twiml}");

    // Routed to a queue (queues come later): answered plainly; to an outside number: forwarded.
    for (route, expected) in [
        (
            json!({"type": "queue", "queue": "Sales"}),
            "Sorry, nobody can take your call",
        ),
        (
            json!({"type": "external", "number": "+1 212 555 0123"}),
            "<Number>+12125550123</Number>",
        ),
    ] {
        let (status, _) = running
            .call(
                "PUT",
                &format!("/api/v1/numbers/{number_id}/route"),
                Some(&admin),
                Some(route),
            )
            .await;
        assert_eq!(status, 200);
        let (_, twiml) = running.voice(&provider_id, &inbound).await;
        assert!(twiml.contains(expected), "{twiml}");
    }

    // An invite not used in time is refused.
    let (_, late) = running
        .call(
            "POST",
            &format!("/api/v1/agents/{bea_id}/invites"),
            Some(&admin),
            Some(json!({"role": "agent"})),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(GRACE * 1000 + 300)).await;
    let (status, _) = running
        .call(
            "POST",
            "/api/v1/join",
            None,
            Some(json!({"code": late["code"], "deviceName": "late"})),
        )
        .await;
    assert_eq!(status, 401, "expired");

    // The calls routing put through are in the team journal as their agent's — the one rung
    // in and the one her softphone made (with the number it showed); the refused stranger's
    // is nobody's. Call events reach the journal once each, whoever is signed in.
    let ringing = "CallSid=CA100&CallStatus=ringing&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber=0";
    for _ in 0..2 {
        let (status, body) = running
            .twilio(&format!("/webhooks/{provider_id}"), ringing)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let calls = running
        .server
        .store
        .calls()
        .list(&CallFilter::default())
        .await
        .unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let journaled = |sid: &str| {
        calls
            .iter()
            .find(|c| c.provider_call_id.as_deref() == Some(sid))
            .unwrap_or_else(|| panic!("{sid}: {calls:?}"))
    };
    let (rung, made) = (journaled("CA100"), journaled("CA101"));
    assert_eq!(
        (rung.direction, rung.from.as_str(), rung.to.as_str()),
        (CallDirection::Inbound, "+14155552671", e164.as_str())
    );
    assert_eq!(
        (made.direction, made.from.as_str(), made.to.as_str()),
        (CallDirection::Outbound, e164.as_str(), "+14155552671")
    );
    for call in [rung, made] {
        assert_eq!(call.user_id.map(|u| u.to_string()), Some(bea_id.clone()));
    }

    // Revoked: Bea's desktop is refused at once.
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/devices/{bea_device}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = running.call("GET", "/api/v1/me", Some(&bea), None).await;
    assert_eq!(status, 401);

    // The Auth Token was never answered back or logged, and is not in the database in the
    // clear; nor is Bea's softphone password logged.
    assert!(!running.seen.lock().unwrap().contains(TOKEN));
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        logged.contains("voice request answered"),
        "the logs were captured"
    );
    for secret in [TOKEN, mine["password"].as_str().unwrap()] {
        assert!(!logged.contains(secret), "a secret in the server's log");
    }
    running.server.store.close().await;
    for entry in std::fs::read_dir(running.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "{} holds the Auth Token",
            path.display()
        );
    }
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_then_a_graceful_stop() {
    let running = start(Endpoints::all_at("http://127.0.0.1:9").unwrap()).await;
    assert_eq!(running.call("GET", "/healthz", None, None).await.0, 200);
    assert_eq!(running.call("GET", "/readyz", None, None).await.0, 200);
    // A webhook for a provider the team does not have: 404, nothing else.
    let (status, _) = running
        .twilio(
            "/webhooks/7d3c1f7e-0000-4000-8000-000000000000/voice",
            "CallSid=CA1",
        )
        .await;
    assert_eq!(status, 404);
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

fn closed() -> Endpoints {
    Endpoints::all_at("http://127.0.0.1:9").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_mid_call_loses_nothing_and_redeliveries_apply_once() {
    let running = start(closed()).await;
    let provider = add_twilio(&running).await;
    let events = format!("/webhooks/{}", provider.id);
    let ringing = "CallSid=CA1&CallStatus=ringing&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber=0";
    assert_eq!(running.twilio(&events, ringing).await.0, 200);

    // The server stops mid-call and comes back on the same folder (its sealed keys open
    // again with the same key file); Twilio redelivers what it sent, then goes on.
    let dir = running.stop().await;
    let running = start_in(dir, closed()).await;
    let answered = "CallSid=CA1&CallStatus=in-progress&Direction=inbound&SequenceNumber=1";
    let completed =
        "CallSid=CA1&CallStatus=completed&Direction=inbound&CallDuration=42&SequenceNumber=2";
    for form in [ringing, answered, answered, completed, ringing] {
        let (status, body) = running.twilio(&events, form).await;
        assert_eq!(status, 200, "{form}: {body}");
    }
    let calls = running
        .server
        .store
        .calls()
        .list(&CallFilter::default())
        .await
        .unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].answered_at.is_some(), "{:?}", calls[0]);
    assert_eq!(calls[0].status, ringdesk_core::CallStatus::Completed);
    running.stop().await;
}

/// The next event on a live link, within a few seconds.
async fn next(link: &mut ringdesk_team::LiveLink) -> Option<ringdesk_team::LinkEvent> {
    tokio::time::timeout(Duration::from_secs(10), link.next())
        .await
        .expect("the live link said nothing for 10 s")
        .expect("the live link failed")
}

/// Events until `ready` (what a reconnecting desktop missed).
async fn until_ready(link: &mut ringdesk_team::LiveLink) -> (Vec<TeamEvent>, i64) {
    let mut seen = Vec::new();
    loop {
        match next(link).await {
            Some(LinkEvent::Ready(cursor)) => return (seen, cursor),
            Some(LinkEvent::Event(_, e)) => seen.push(e),
            None => panic!("the link ended before it was ready"),
        }
    }
}

/// The next event and its cursor.
async fn next_event(link: &mut ringdesk_team::LiveLink) -> (i64, TeamEvent) {
    match next(link).await {
        Some(LinkEvent::Event(cursor, e)) => (cursor, e),
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Waits for `expected`, passing over presence news of others (desktops come and go on
/// their own time: a join is a first word, silence turns offline); any other news fails.
async fn wait_for(link: &mut ringdesk_team::LiveLink, expected: &TeamEvent) -> i64 {
    passing(link, expected).await.0
}

/// …and says what it passed over.
async fn passing(
    link: &mut ringdesk_team::LiveLink,
    expected: &TeamEvent,
) -> (i64, Vec<TeamEvent>) {
    let mut passed = Vec::new();
    loop {
        let (cursor, event) = next_event(link).await;
        if &event == expected {
            return (cursor, passed);
        }
        assert!(
            matches!(event, TeamEvent::Presence { .. }),
            "expected {expected:?}, got {event:?}"
        );
        passed.push(event);
    }
}

fn not_presence(events: Vec<TeamEvent>) -> Vec<TeamEvent> {
    events
        .into_iter()
        .filter(|e| !matches!(e, TeamEvent::Presence { .. }))
        .collect()
}

use ringdesk_core::team::{Presence, TeamEvent};
use ringdesk_team::{LinkEvent, TeamClient};

#[tokio::test(flavor = "multi_thread")]
async fn the_live_link_tells_desktops_what_changed_and_catches_them_up() {
    let running = start(closed()).await;
    let admin = first_admin(&running).await;
    let (status, added) = running
        .call(
            "POST",
            "/api/v1/agents",
            Some(&admin),
            Some(json!({"name": "Bea", "isMe": false, "assignedNumbers": [],
                        "settings": {"receiveCallsInApp": true, "forwardWhenOffline": false,
                                     "voicemailEnabled": false, "dndEnabled": false}})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let bea_id: ringdesk_core::UserId =
        serde_json::from_value(added["user"]["id"].clone()).unwrap();
    let client = TeamClient::new(running.address.parse().unwrap()).unwrap();
    let joined = client
        .join(added["invite"]["code"].as_str().unwrap(), "Bea's desktop")
        .await
        .unwrap();
    let bea = secrecy::SecretString::from(joined.token);
    let olga: ringdesk_core::UserId = {
        let (_, me) = running.call("GET", "/api/v1/me", Some(&admin), None).await;
        serde_json::from_value(me["user"]["id"].clone()).unwrap()
    };

    // From now on: ready at once, then what happens.
    let mut link = client.events(&bea, None).await.unwrap();
    let (missed, _) = until_ready(&mut link).await;
    assert!(not_presence(missed.clone()).is_empty(), "{missed:?}");
    let (status, _) = running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&admin),
            Some(json!({"presence": "dnd"})),
        )
        .await;
    assert_eq!(status, 204);
    let dnd = TeamEvent::Presence {
        user_id: olga,
        presence: Some(Presence::Dnd),
    };
    wait_for(&mut link, &dnd).await;
    // The same word again is no news; a change is.
    running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&admin),
            Some(json!({"presence": "dnd"})),
        )
        .await;
    running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&admin),
            Some(json!({"presence": "available"})),
        )
        .await;
    let available = TeamEvent::Presence {
        user_id: olga,
        presence: Some(Presence::Available),
    };
    let (seen_up_to, passed) = passing(&mut link, &available).await;
    assert!(
        passed.iter().all(|e| e != &dnd),
        "the same word twice is no news: {passed:?}"
    );

    // Bea's desktop loses its link; meanwhile the admin changes an agent and a call of
    // Bea's is journaled (a call of someone else's is not hers to see).
    drop(link);
    let (status, _) = running
        .call(
            "PUT",
            &format!("/api/v1/agents/{bea_id}"),
            Some(&admin),
            Some(
                json!({"name": "Bea Jones", "isMe": false, "assignedNumbers": [],
                        "settings": {"receiveCallsInApp": true, "forwardWhenOffline": false,
                                     "voicemailEnabled": false, "dndEnabled": false}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let call_of = |user| {
        let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut call = ringdesk_core::Call::new(
            ringdesk_core::CallDirection::Inbound,
            "+14155552671".into(),
            "+12125550100".into(),
            at,
        );
        call.user_id = Some(user);
        TeamEvent::Call {
            call: Box::new(call),
        }
    };
    let hers = call_of(bea_id);
    let team = &running.server.team;
    team.live.publish(&call_of(olga)).await.unwrap();
    team.live.publish(&hers).await.unwrap();

    // Back with its cursor: what it missed, in order, then ready.
    let mut link = client.events(&bea, Some(seen_up_to)).await.unwrap();
    let (missed, cursor) = until_ready(&mut link).await;
    assert_eq!(
        not_presence(missed.clone()),
        vec![TeamEvent::Agents, hers],
        "{missed:?}"
    );

    // The admin's desktop falls silent: past the grace period the team hears she is offline.
    let offline = TeamEvent::Presence {
        user_id: olga,
        presence: None,
    };
    wait_for(&mut link, &offline).await;

    // A cursor this server never gave (another server's, or pruned): read everything again.
    let mut stale = client.events(&bea, Some(cursor + 1000)).await.unwrap();
    wait_for(&mut stale, &TeamEvent::Resync).await;
    drop(stale);

    // Revoked: the open link says so and ends; the token opens no other.
    let devices = running
        .call("GET", "/api/v1/devices", Some(&admin), None)
        .await
        .1;
    let bea_device = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Bea's desktop")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/devices/{bea_device}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let device_id = ringdesk_core::team::DeviceId(bea_device.parse().unwrap());
    wait_for(&mut link, &TeamEvent::Revoked { device_id }).await;
    assert_eq!(
        next(&mut link).await,
        None,
        "the revoked desktop's link ended"
    );
    assert!(matches!(
        client.events(&bea, None).await.err(),
        Some(ringdesk_team::TeamError::Refused(why)) if why.starts_with("401")
    ));

    // A link left open does not hold up the server's stop.
    let mut open = client.events(&admin.clone().into(), None).await.unwrap();
    until_ready(&mut open).await;
    tokio::time::timeout(Duration::from_secs(10), running.stop())
        .await
        .expect("the server stopped with a live link open");
    assert_eq!(next(&mut open).await, None);
}

fn agent_input(name: &str, forwarding: Option<&str>) -> UserInput {
    UserInput {
        name: name.into(),
        email: None,
        is_me: false,
        assigned_numbers: vec![],
        primary_number: None,
        forwarding_number: forwarding.map(str::to_string),
        settings: UserSettings::default(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_desktop_changes_the_team_through_the_client_and_an_agent_cannot() {
    use secrecy::ExposeSecret;
    let running = start(closed()).await;
    let admin = secrecy::SecretString::from(first_admin(&running).await);
    let client = TeamClient::new(running.address.parse().unwrap()).unwrap();

    // A new agent comes with the invite her desktop joins with.
    let (dan, invite) = client
        .save_agent(&admin, None, &agent_input("Dan", None))
        .await
        .unwrap();
    let invite = invite.expect("a new agent's invite");
    assert!(
        invite.link.starts_with("ringdesk://join?server="),
        "{}",
        invite.link
    );
    // A refused value names its field, for the form to mark.
    match client
        .save_agent(&admin, Some(dan.id), &agent_input("Dan", Some("12")))
        .await
    {
        Err(ringdesk_team::TeamError::Invalid { field, .. }) => {
            assert_eq!(field, "forwardingNumber")
        }
        other => panic!("{other:?}"),
    }
    let (changed, none) = client
        .save_agent(
            &admin,
            Some(dan.id),
            &agent_input("Dan Park", Some("+14155550123")),
        )
        .await
        .unwrap();
    assert_eq!((changed.name.as_str(), none.is_none()), ("Dan Park", true));
    let again = client.invite(&admin, dan.id).await.unwrap();
    assert_ne!(again.code, invite.code);
    // Dan has no desktop yet: offline, which the contract allows (null presence).
    let (status, agents) = running
        .call("GET", "/api/v1/agents", Some(admin.expose_secret()), None)
        .await;
    assert_eq!(status, 200, "{agents}");
    let dan_seen = agents
        .as_array()
        .unwrap_or_else(|| panic!("{agents}"))
        .iter()
        .find(|a| a["name"] == "Dan Park")
        .unwrap_or_else(|| panic!("{agents}"));
    assert_eq!(dan_seen["presence"], Value::Null, "{agents}");

    // The admin's desktop adds the team's Twilio account: the keys go to the server, and
    // nothing of them comes back; made active, it is the team's (the agents' logins it would
    // make fail here — no Twilio behind — and the activation stands).
    let mut keys = ringdesk_core::ProviderCredentials::default();
    keys.set(
        ringdesk_core::CredentialField::AccountSid,
        Some(secrecy::SecretString::from(SID)),
    );
    keys.set(
        ringdesk_core::CredentialField::AuthToken,
        Some(secrecy::SecretString::from(TOKEN)),
    );
    let new = ringdesk_core::NewProvider {
        kind: ringdesk_core::ProviderKind::Twilio,
        name: "Team Twilio".into(),
        credentials: keys,
        default_caller_id: None,
        record_calls: false,
        sip: None,
    };
    let added = client.add_provider(&admin, &new).await.unwrap();
    assert!(added.credentials.auth_token && added.credentials.account_sid);
    let shown = serde_json::to_string(&client.providers(&admin).await.unwrap()).unwrap();
    assert!(!shown.contains(TOKEN), "{shown}");
    let active = client.activate_provider(&admin, added.id).await.unwrap();
    assert!(active.is_active);

    // Dan's desktop joins with the first invite; as an agent it reads but changes nothing.
    let joined = client.join(&invite.code, "Dan's desktop").await.unwrap();
    let dan_token = secrecy::SecretString::from(joined.token);
    assert!(client.numbers(&dan_token).await.unwrap().is_empty());
    assert_eq!(client.providers(&dan_token).await.unwrap().len(), 1);
    let names: Vec<String> = client
        .agents(&dan_token)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.user.name)
        .collect();
    assert_eq!(names, ["Dan Park", "Olga"], "by name");
    for refused in [
        client
            .save_agent(&dan_token, Some(dan.id), &agent_input("Dan", None))
            .await
            .map(|_| ()),
        client.invite(&dan_token, dan.id).await.map(|_| ()),
        client.delete_agent(&dan_token, dan.id).await,
        client.add_provider(&dan_token, &new).await.map(|_| ()),
        client
            .activate_provider(&dan_token, added.id)
            .await
            .map(|_| ()),
        client
            .provision_softphone(&dan_token, dan.id)
            .await
            .map(|_| ()),
        client
            .set_route(&dan_token, ringdesk_core::PhoneNumberId::new(), None)
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(&refused, Err(ringdesk_team::TeamError::Refused(why)) if why.starts_with("403")),
            "{refused:?}"
        );
    }
    assert!(matches!(
        client.set_route(&admin, ringdesk_core::PhoneNumberId::new(), None).await,
        Err(ringdesk_team::TeamError::Refused(why)) if why.starts_with("404")
    ));

    // Removing Dan signs his desktop out: its live link hears so and ends, its token is dead.
    let mut link = client.events(&dan_token, None).await.unwrap();
    until_ready(&mut link).await;
    client.delete_agent(&admin, dan.id).await.unwrap();
    wait_for(
        &mut link,
        &TeamEvent::Revoked {
            device_id: joined.device.id,
        },
    )
    .await;
    assert_eq!(next(&mut link).await, None);
    assert!(client.me(&dan_token).await.unwrap_err().is_signed_out());
    let left = client.agents(&admin).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    running.stop().await;
}

/// Vonage asks its application's `answer_url` (GET, the call in the query, signed with a JWT
/// whose `payload_hash` covers the query): the server answers in NCCO.
#[tokio::test(flavor = "multi_thread")]
async fn vonage_calls_are_answered_in_ncco() {
    let running = start(closed()).await;
    let mut credentials = ringdesk_core::ProviderCredentials::default();
    for (field, value) in [
        (ringdesk_core::CredentialField::ApiKey, "abcd1234"),
        (ringdesk_core::CredentialField::ApiSecret, "api-secret-9"),
        (ringdesk_core::CredentialField::WebhookSecret, VONAGE_SECRET),
    ] {
        credentials.set(field, Some(secrecy::SecretString::from(value)));
    }
    let provider = running
        .server
        .team
        .providers
        .create(ringdesk_core::NewProvider {
            kind: ringdesk_core::ProviderKind::Vonage,
            name: "Vonage".into(),
            credentials,
            default_caller_id: None,
            record_calls: false,
            sip: None,
        })
        .await
        .unwrap();
    let ask = |query: &str, hashed: &str| {
        let token = vonage_jwt(hashed);
        reqwest::Client::new()
            .get(format!(
                "{}/webhooks/{}/voice?{query}",
                running.address, provider.id
            ))
            .bearer_auth(token)
    };
    let query = "to=12125550100&from=14155552671&uuid=u1&conversation_uuid=CON-1";
    let canonical =
        r#"{"to":"12125550100","from":"14155552671","uuid":"u1","conversation_uuid":"CON-1"}"#;
    let answer = ask(query, canonical).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let ncco: Value = answer.json().await.unwrap();
    // Nobody has that number: the caller hears why, in Vonage's words.
    assert_eq!(ncco[0]["action"], "talk", "{ncco}");
    assert!(
        ncco[0]["text"].as_str().unwrap().starts_with("Sorry"),
        "{ncco}"
    );
    // A caller changed on the way: refused before anything is decided.
    let forged = ask(
        "to=12125550100&from=19005550000&uuid=u1&conversation_uuid=CON-1",
        canonical,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    running.stop().await;
}

/// The team's Twilio account (recording its calls), at the API the server was started with.
async fn add_twilio(running: &Running) -> ringdesk_core::Provider {
    let mut credentials = ringdesk_core::ProviderCredentials::default();
    credentials.set(
        ringdesk_core::CredentialField::AccountSid,
        Some(secrecy::SecretString::from(SID)),
    );
    credentials.set(
        ringdesk_core::CredentialField::AuthToken,
        Some(secrecy::SecretString::from(TOKEN)),
    );
    running
        .server
        .team
        .providers
        .create(ringdesk_core::NewProvider {
            kind: ringdesk_core::ProviderKind::Twilio,
            name: "Twilio".into(),
            credentials,
            default_caller_id: None,
            record_calls: true,
            sip: None,
        })
        .await
        .unwrap()
}

/// An MP3 file's first bytes and some more.
fn mp3(tag: u8) -> Vec<u8> {
    let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    bytes.extend(std::iter::repeat_n(tag, 4000));
    bytes
}

async fn call_of(running: &Running, provider_call: &str) -> ringdesk_core::Call {
    let provider = running.server.team.providers.list().await.unwrap()[0].id;
    running
        .server
        .store
        .calls()
        .find_by_provider_call(provider, provider_call)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_recordings_are_copied_at_once_linked_served_and_found_again_when_lost() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let api = MockServer::start().await;
    let running = start(Endpoints::all_at(&api.uri()).unwrap()).await;
    let provider = add_twilio(&running).await;
    let events = format!("/webhooks/{}", provider.id);
    let recordings = format!("/2010-04-01/Accounts/{SID}/Recordings");
    // Twilio's media, only with the account's Basic auth (media auth on).
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{SID}:{TOKEN}")
        )
    );
    Mock::given(method("GET"))
        .and(path(format!("{recordings}/RE1.mp3")))
        .and(header("authorization", basic.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(mp3(1)))
        .expect(1)
        .mount(&api)
        .await;
    for form in [
        "CallSid=CA1&CallStatus=ringing&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber=0",
        "CallSid=CA2&CallStatus=ringing&Direction=inbound&From=%2B14155552672&To=%2B12125550100&SequenceNumber=0",
        "CallSid=CA3&CallStatus=ringing&Direction=inbound&From=%2B14155552673&To=%2B12125550100&SequenceNumber=0",
    ] {
        assert_eq!(running.twilio(&events, form).await.0, 200);
    }
    // CA1 is Bea's (routing put it through to her).
    let bea = running
        .server
        .team
        .agents
        .save_user(None, agent_input("Bea", None))
        .await
        .unwrap();
    let mut hers = call_of(&running, "CA1").await;
    hers.user_id = Some(bea.id);
    running.server.store.calls().save(&hers).await.unwrap();
    // The recording is ready: copied at once, linked with its length; Twilio's redelivery
    // changes nothing (one download).
    let ready = format!(
        "CallSid=CA1&RecordingSid=RE1&RecordingStatus=completed&RecordingDuration=7&RecordingUrl={}",
        url::form_urlencoded::byte_serialize(format!("{}{recordings}/RE1", api.uri()).as_bytes())
            .collect::<String>()
    );
    let sent = std::time::Instant::now();
    for _ in 0..2 {
        assert_eq!(running.twilio(&events, &ready).await.0, 200);
    }
    let link = format!(
        "{PUBLIC}/api/v1/calls/{}/recording",
        call_of(&running, "CA1").await.id
    );
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while call_of(&running, "CA1").await.recording_url.as_deref() != Some(link.as_str()) {
        assert!(
            std::time::Instant::now() < end,
            "not copied: {:?}",
            call_of(&running, "CA1").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A figure for the closing note (a local stand-in for Twilio's media host), not a timed
    // assertion.
    println!(
        "figure: recording-ready event → copied and linked on the server: {} ms",
        sent.elapsed().as_millis()
    );
    let call = call_of(&running, "CA1").await;
    assert_eq!(call.recording_secs, Some(7));
    // Bea's desktop hears of it on the live link: the copy, linked.
    let told = || async {
        running
            .server
            .team
            .repo
            .events_after(0, bea.id, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|(_, body)| {
                serde_json::from_str::<ringdesk_core::team::TeamEvent>(&body).ok()
            })
            .any(|e| {
                matches!(e, ringdesk_core::team::TeamEvent::Call { call }
                    if call.recording_url.as_deref() == Some(link.as_str()))
            })
    };
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !told().await {
        assert!(
            std::time::Instant::now() < end,
            "Bea was not told of her call's recording"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = running
        .dir
        .path()
        .join("recordings")
        .join(format!("{}.mp3", call.id));
    assert_eq!(std::fs::read(&kept).unwrap(), mp3(1));

    // Served to an admin's desktop (not to strangers).
    let admin = first_admin(&running).await;
    let get = |token: Option<&str>| {
        let mut request = reqwest::Client::new().get(format!(
            "{}/api/v1/calls/{}/recording",
            running.address, call.id
        ));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    let served = get(Some(&admin)).await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "audio/mpeg");
    assert_eq!(served.bytes().await.unwrap().to_vec(), mp3(1));
    assert_eq!(get(None).await.unwrap().status(), 401);

    // CA2's event never came; CA3's link was dead by the time it was fetched. The reconcile
    // pass reads Twilio's list and copies both (and leaves CA1's copy alone).
    Mock::given(method("GET"))
        .and(path(format!("{recordings}/RE3.mp3")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&api)
        .await;
    let dead = format!(
        "CallSid=CA3&RecordingSid=RE3&RecordingStatus=completed&RecordingUrl={}",
        url::form_urlencoded::byte_serialize(format!("{}{recordings}/RE3", api.uri()).as_bytes())
            .collect::<String>()
    );
    assert_eq!(running.twilio(&events, &dead).await.0, 200);
    let listed = json!({
        "recordings": [
            { "sid": "RE1", "call_sid": "CA1", "duration": "7", "status": "completed" },
            { "sid": "RE2", "call_sid": "CA2", "duration": "12", "status": "completed" },
            { "sid": "RE4", "call_sid": "CA3", "duration": "3", "status": "completed" },
            { "sid": "RE5", "call_sid": "CA9", "duration": "3", "status": "completed" },
            { "sid": "RE6", "call_sid": "CA2", "duration": null, "status": "in-progress" }
        ],
        "next_page_uri": null
    });
    Mock::given(method("GET"))
        .and(path(format!("{recordings}.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .mount(&api)
        .await;
    for (sid, tag) in [("RE2", 2), ("RE4", 4)] {
        Mock::given(method("GET"))
            .and(path(format!("{recordings}/{sid}.mp3")))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(mp3(tag)))
            .expect(1)
            .mount(&api)
            .await;
    }
    let copied = running
        .server
        .recordings
        .reconcile(time::OffsetDateTime::now_utc())
        .await;
    assert_eq!(copied, 2);
    for (sid, tag, secs) in [("CA2", 2, 12), ("CA3", 4, 3)] {
        let call = call_of(&running, sid).await;
        assert_eq!(
            call.recording_url.as_deref(),
            Some(format!("{PUBLIC}/api/v1/calls/{}/recording", call.id).as_str())
        );
        assert_eq!(call.recording_secs, Some(secs), "{sid}");
        let file = running
            .dir
            .path()
            .join("recordings")
            .join(format!("{}.mp3", call.id));
        assert_eq!(std::fs::read(file).unwrap(), mp3(tag), "{sid}");
    }
    // A second pass finds nothing left to do.
    assert_eq!(
        running
            .server
            .recordings
            .reconcile(time::OffsetDateTime::now_utc())
            .await,
        0
    );

    // A share link (what the CRM's activity carries) plays with no login; changed, out of
    // date or to another call, it is nothing.
    let (status, shared) = running
        .call(
            "POST",
            &format!("/api/v1/calls/{}/recording/link", call.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shared}");
    let link = shared["url"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{PUBLIC}/recordings/{}?expires=", call.id)),
        "{link}"
    );
    let (status, _) = running
        .call(
            "POST",
            &format!("/api/v1/calls/{}/recording/link", call.id),
            None,
            None,
        )
        .await;
    assert_eq!(status, 401);
    let open = |url: String| {
        let path = url.trim_start_matches(PUBLIC).to_string();
        let address = running.address.clone();
        async move {
            let answer = reqwest::get(format!("{address}{path}")).await.unwrap();
            (
                answer.status().as_u16(),
                answer.bytes().await.unwrap().to_vec(),
            )
        }
    };
    assert_eq!(open(link.clone()).await, (200, mp3(1)));
    let other = call_of(&running, "CA2").await;
    let now = time::OffsetDateTime::now_utc();
    for forged in [
        link.replace("sig=", "sig=x"),
        link.replace(&call.id.to_string(), &other.id.to_string()),
        running
            .server
            .recordings
            .share_link(call.id, now - time::Duration::minutes(1)),
    ] {
        assert_eq!(open(forged.clone()).await.0, 404, "{forged}");
    }

    // An admin deletes it: the file, the journal's link and every share link go, and Bea hears.
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/calls/{}/recording", call.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(!kept.exists());
    assert_eq!(call_of(&running, "CA1").await.recording_url, None);
    assert_eq!(open(link).await.0, 404);
    assert_eq!(get(Some(&admin)).await.unwrap().status(), 404);
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/calls/{}/recording", call.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 404, "nothing left to delete");
    let last = running
        .server
        .team
        .repo
        .events_after(0, bea.id, 1000)
        .await
        .unwrap()
        .pop()
        .and_then(|(_, body)| serde_json::from_str::<ringdesk_core::team::TeamEvent>(&body).ok());
    assert!(
        matches!(&last, Some(ringdesk_core::team::TeamEvent::Call { call: told }) if told.id == call.id && told.recording_url.is_none()),
        "{last:?}"
    );
    running.stop().await;
}

/// A provider that records calls: the server's answers ask for the recording (both sides,
/// from the answer) and for its event at the provider's webhook; Vonage's event, which names
/// only the conversation, finds the call by the leg the server put in its eventUrl.
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_records_calls_asks_for_it_in_every_answer() {
    let running = start(closed()).await;
    let team = &running.server.team;
    let twilio = add_twilio(&running).await;
    let forward = |provider: ringdesk_core::ProviderId, id: &'static str| async move {
        let number = ringdesk_core::E164Number::parse_international("+12125550100").unwrap();
        team.agents
            .numbers
            .sync(
                provider,
                &[ringdesk_core::ports::ProviderNumber {
                    phone_number: number,
                    friendly_name: None,
                    number_type: ringdesk_core::ports::NumberType::Local,
                    country: Some("US".into()),
                    capabilities: Default::default(),
                    provider_number_id: id.into(),
                }],
            )
            .await
            .unwrap();
        let listed = team.agents.numbers.list(Some(provider)).await.unwrap();
        let outside = ringdesk_core::NumberRoute::External {
            number: ringdesk_core::E164Number::parse_international("+14155550199").unwrap(),
        };
        assert!(team
            .agents
            .numbers
            .set_route(listed[0].id, Some(&outside))
            .await
            .unwrap());
    };
    forward(twilio.id, "PN1").await;
    let (status, twiml) = running
        .twilio(
            &format!("/webhooks/{}/voice", twilio.id),
            "CallSid=CA7&From=%2B14155552671&To=%2B12125550100",
        )
        .await;
    assert_eq!(status, 200, "{twiml}");
    assert!(
        twiml.contains(&format!(
            "record=\"record-from-answer-dual\" recordingStatusCallback=\"{PUBLIC}/webhooks/{}\" recordingStatusCallbackMethod=\"POST\" recordingStatusCallbackEvent=\"completed\""
        , twilio.id))
            && twiml.contains("<Number>+14155550199</Number>"),
        "{twiml}"
    );
    // A number's own setting wins over its provider's: never, then always with the provider
    // not recording; back to the provider's (through the API, as an admin's desktop sets it).
    let admin = first_admin(&running).await;
    let number = team.agents.numbers.list(Some(twilio.id)).await.unwrap()[0].clone();
    let recorded = |form: &'static str| {
        let path = format!("/webhooks/{}/voice", twilio.id);
        let running = &running;
        async move {
            let (_, twiml) = running.twilio(&path, form).await;
            twiml.contains("record=\"record-from-answer-dual\"")
        }
    };
    let set = |value: Value| {
        let path = format!("/api/v1/numbers/{}/recording", number.id);
        let (running, admin) = (&running, admin.clone());
        async move {
            let (status, saved) = running
                .call(
                    "PUT",
                    &path,
                    Some(&admin),
                    Some(json!({ "recordCalls": value })),
                )
                .await;
            assert_eq!(status, 200, "{saved}");
            saved["recordCalls"].clone()
        }
    };
    assert_eq!(set(json!(false)).await, json!(false));
    assert!(!recorded("CallSid=CA8&From=%2B14155552671&To=%2B12125550100").await);
    team.providers
        .update(
            twilio.id,
            ringdesk_core::ProviderUpdate {
                record_calls: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(set(json!(true)).await, json!(true));
    assert!(recorded("CallSid=CA9&From=%2B14155552671&To=%2B12125550100").await);
    assert_eq!(set(Value::Null).await, Value::Null);
    assert!(!recorded("CallSid=CA10&From=%2B14155552671&To=%2B12125550100").await);
    team.providers
        .update(
            twilio.id,
            ringdesk_core::ProviderUpdate {
                record_calls: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Vonage, recording too.
    let mut credentials = ringdesk_core::ProviderCredentials::default();
    for (field, value) in [
        (ringdesk_core::CredentialField::ApiKey, "abcd1234"),
        (ringdesk_core::CredentialField::ApiSecret, "api-secret-9"),
        (ringdesk_core::CredentialField::WebhookSecret, VONAGE_SECRET),
    ] {
        credentials.set(field, Some(secrecy::SecretString::from(value)));
    }
    let vonage = team
        .providers
        .create(ringdesk_core::NewProvider {
            kind: ringdesk_core::ProviderKind::Vonage,
            name: "Vonage".into(),
            credentials,
            default_caller_id: None,
            record_calls: true,
            sip: None,
        })
        .await
        .unwrap();
    forward(vonage.id, "vonage-1").await;
    let signed = vonage_jwt;
    let canonical =
        r#"{"to":"12125550100","from":"14155552671","uuid":"u7","conversation_uuid":"CON-7"}"#;
    let ncco: Value = reqwest::Client::new()
        .get(format!(
            "{}/webhooks/{}/voice?to=12125550100&from=14155552671&uuid=u7&conversation_uuid=CON-7",
            running.address, vonage.id
        ))
        .bearer_auth(signed(canonical))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = format!("{PUBLIC}/webhooks/{}?call=u7", vonage.id);
    assert_eq!(ncco[0]["action"], "record", "{ncco}");
    assert_eq!(ncco[0]["eventUrl"], json!([events]), "{ncco}");
    assert_eq!(ncco[0]["split"], "conversation", "{ncco}");
    assert_eq!(ncco[1]["action"], "connect", "{ncco}");
    // The call is journaled by its leg; the recording event comes to that eventUrl.
    let started = r#"{"uuid":"u7","conversation_uuid":"CON-7","status":"started","direction":"inbound","from":"14155552671","to":"12125550100","timestamp":"2026-12-07T10:00:00.000Z"}"#;
    let recorded = r#"{"start_time":"2026-12-07T10:00:05Z","end_time":"2026-12-07T10:00:47Z","recording_url":"https://api.nexmo.com/v1/files/f7","size":12345,"recording_uuid":"r7","conversation_uuid":"CON-7","timestamp":"2026-12-07T10:00:48Z"}"#;
    for (url, body) in [
        (
            format!("{}/webhooks/{}", running.address, vonage.id),
            started,
        ),
        (
            format!("{}/webhooks/{}?call=u7", running.address, vonage.id),
            recorded,
        ),
    ] {
        let answer = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .bearer_auth(signed(body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{body}");
    }
    let call = running
        .server
        .store
        .calls()
        .find_by_provider_call(vonage.id, "u7")
        .await
        .unwrap()
        .expect("journaled by its leg");
    // Not copied here (this Vonage has no application key to fetch with): the provider's link
    // is kept, with its length, for the reconcile pass and a later copy.
    assert_eq!(
        call.recording_url.as_deref(),
        Some("https://api.nexmo.com/v1/files/f7")
    );
    assert_eq!(call.recording_secs, Some(42));
    running.stop().await;
}

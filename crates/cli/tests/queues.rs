//! A team's queue end to end, over real SIP: the provider stand-in plays Twilio toward a real
//! team server (signed voice and step requests, every TwiML verb followed: `<Dial>` with
//! several `<Sip url>` parties rung at once, `<Play>` of the server's hold music, `<Redirect>`,
//! `<Record>` with its status and transcription callbacks, the recording fetched from the
//! "provider's API" with the account's keys); each agent is a `ringdesk-cli team` desktop
//! whose softphone registered through kamailio.
//!
//! Round-robin over three agents across successive calls (one who lets it ring is passed
//! over), ring-all (the first to answer takes it, the others stop ringing), an agent on Do not
//! disturb skipped, two callers waiting served in order, the maximum wait → voicemail (copied
//! to the server, transcribed, in the agents' boxes), nobody signed in → voicemail at once.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, kill_9, speech, Desktop, TeamServer};
use ringdesk_core::queue::{Overflow, Queue, QueueId, Strategy, VoicemailStatus};
use ringdesk_core::team::{AgentLogin, Role};
use ringdesk_core::{
    CallFilter, CredentialField, ProviderCredentials, ProviderKind, RouteInput, UserId, UserInput,
    UserSettings, UserStatus,
};
use ringdesk_providers::Endpoints;
use ringdesk_server::team::Team;
use ringdesk_test_support::carrier::{Carrier, CarrierApi, DialOutcome, Signer, SipSide, Step};
use secrecy::SecretString;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "carrier-auth-token-78";
/// Longer than the desktops' heartbeat (10 s): they stay signed in between calls.
const GRACE: u64 = 15;
const CALLER: &str = "+14155552671";

struct Agent {
    id: UserId,
    sip: String,
    invite: String,
}

async fn agent(team: &Team, provider: ringdesk_core::ProviderId, name: &str, n: u32) -> Agent {
    let kamailio = std::env::var("RINGDESK_KAMAILIO").expect("run scripts/test.sh");
    let user = team
        .agents
        .save_user(
            None,
            UserInput {
                name: name.into(),
                email: None,
                is_me: false,
                assigned_numbers: vec![],
                primary_number: None,
                forwarding_number: None,
                settings: UserSettings::default(),
            },
        )
        .await
        .unwrap();
    // A kamailio account ("<user>pw"), as the provider would have made it.
    let sip = format!("t{:05}{n}", std::process::id() % 100_000);
    team.keep_login(
        &AgentLogin {
            user_id: user.id,
            provider_id: provider,
            sip_user: sip.clone(),
            sip_domain: kamailio.clone(),
            registrar: kamailio,
        },
        &SecretString::from(format!("{sip}pw")),
    )
    .await
    .unwrap();
    let invite = team.invite(user.id, Role::Agent).await.unwrap().link;
    Agent {
        id: user.id,
        sip,
        invite,
    }
}

fn rang(step: &Step) -> (&[String], Option<&str>, &DialOutcome) {
    match step {
        Step::Rang {
            uris,
            answered,
            outcome,
            ..
        } => (uris, answered.as_deref(), outcome),
        other => panic!("not a ring: {other:?}"),
    }
}

fn user_of(uri: &str) -> &str {
    uri.trim_start_matches("sip:")
        .split('@')
        .next()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kamailio and the Prism spec mocks: run through scripts/test.sh"]
async fn a_queue_spreads_callers_over_its_agents_and_takes_messages_when_it_cannot() {
    let kamailio = std::env::var("RINGDESK_KAMAILIO").expect("run scripts/test.sh");
    let prism = std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh");
    // The provider's API: recordings served by the stand-in, the rest by the spec mock.
    let api = CarrierApi::start(&prism, SID, TOKEN).await.unwrap();
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio = api.url.parse().unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());

    let server = TeamServer::start(endpoints, GRACE).await;
    let (public, team, store) = (
        server.public.clone(),
        server.team.clone(),
        server.store.clone(),
    );

    let mut credentials = ProviderCredentials::default();
    credentials.set(CredentialField::AccountSid, Some(SecretString::from(SID)));
    credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
    let provider = server.provider(ProviderKind::Twilio, credentials).await;
    let number = team.agents.numbers().await.unwrap().remove(0);
    let ann = agent(&team, provider.id, "Ann", 51).await;
    let bob = agent(&team, provider.id, "Bob", 52).await;
    let cy = agent(&team, provider.id, "Cy", 53).await;

    let queues = store.queues();
    let mut sales = Queue {
        id: QueueId::new(),
        name: "Sales".into(),
        strategy: Strategy::RoundRobin,
        members: vec![ann.id, bob.id, cy.id],
        ring_timeout_secs: 6,
        max_wait_secs: 60,
        max_size: 10,
        overflow: Overflow::Voicemail,
        greeting: Some("Sales is busy. Leave a message.".into()),
    };
    queues.save(&sales).await.unwrap();
    team.agents
        .set_route(
            number.id,
            Some(RouteInput::Queue {
                queue: sales.id.to_string(),
            }),
        )
        .await
        .unwrap();

    let recordings = tempfile::tempdir().unwrap();
    let carrier = Carrier::new(
        &public,
        &public,
        &provider.id.to_string(),
        SID,
        Signer::Twilio {
            auth_token: TOKEN.into(),
        },
        SipSide {
            cli: env!("CARGO_BIN_EXE_ringdesk-cli").into(),
            registrar: kamailio.clone(),
            user: format!("t{:05}59", std::process::id() % 100_000),
            play: speech(),
            talk: Duration::from_secs(3),
            recordings: recordings.path().to_path_buf(),
        },
    )
    .with_api(api);
    let called = number.phone_number.to_string();

    // Ann and Cy answer at once; Bob lets his phone ring longer than the queue rings him.
    let heard = |who: &str| recordings.path().join(format!("{who}.wav"));
    let mut ann_desk = Desktop::start(&ann.invite, &speech(), &heard("ann"));
    let mut bob_desk = Desktop::start_with(
        &bob.invite,
        &speech(),
        &heard("bob"),
        &["--answer-after", "30"],
    );
    let mut cy_desk = Desktop::start(&cy.invite, &speech(), &heard("cy"));
    for (who, desk, id) in [
        ("Ann", &ann_desk, ann.id),
        ("Bob", &bob_desk, bob.id),
        ("Cy", &cy_desk, cy.id),
    ] {
        eventually(
            &format!("{who} registered and available"),
            Duration::from_secs(20),
            || {
                let registered = desk.said("registered as");
                let team = team.clone();
                async move { registered && team.status_of(id).await.unwrap() == UserStatus::Online }
            },
        )
        .await;
    }
    let everyone = || {
        format!(
            "Ann:\n{}\nBob:\n{}\nCy:\n{}",
            ann_desk.output(),
            bob_desk.output(),
            cy_desk.output()
        )
    };

    // 1. Round-robin across successive calls: Ann, then Bob (who lets it ring: passed over)
    //    and Cy, then Ann again.
    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    let (uris, answered, _) = rang(&steps[0]);
    assert_eq!(uris.len(), 1, "{steps:?}");
    assert_eq!(
        answered.map(user_of),
        Some(ann.sip.as_str()),
        "{steps:?}\n{}",
        everyone()
    );
    assert!(matches!(&steps[1..], [Step::HungUp]), "{steps:?}");
    // Her softphone was told which queue the call came through (an X- header of the INVITE).
    assert!(
        ann_desk.said("through the queue: Sales"),
        "{}",
        ann_desk.output()
    );

    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    assert_eq!(steps.len(), 3, "{steps:?}\n{}", everyone());
    let (uris, answered, outcome) = rang(&steps[0]);
    assert_eq!(user_of(&uris[0]), bob.sip);
    assert_eq!((answered, outcome), (None, &DialOutcome::NoAnswer));
    let (uris, answered, _) = rang(&steps[1]);
    assert_eq!(user_of(&uris[0]), cy.sip);
    assert_eq!(answered.map(user_of), Some(cy.sip.as_str()));

    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    assert_eq!(
        rang(&steps[0]).1.map(user_of),
        Some(ann.sip.as_str()),
        "{steps:?}"
    );

    // Each call is in the team journal as its agent's.
    let calls = store.calls().list(&CallFilter::default()).await.unwrap();
    let mut agents: Vec<Option<UserId>> = calls.iter().map(|c| c.user_id).collect();
    agents.sort_by_key(|a| a.map(|u| u.0));
    let mut expected = vec![Some(ann.id), Some(ann.id), Some(cy.id)];
    expected.sort_by_key(|a| a.map(|u| u.0));
    assert_eq!(agents, expected, "{calls:?}");
    assert!(
        calls.iter().all(|c| c.queue.as_deref() == Some("Sales")),
        "the team journal says which queue: {calls:?}"
    );

    // 2. Ring-all: everyone rings at once; the first to answer takes the call and the
    //    others stop ringing.
    sales.strategy = Strategy::RingAll;
    queues.save(&sales).await.unwrap();
    let bob_ended = bob_desk.count("ended");
    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    let (uris, answered, outcome) = rang(&steps[0]);
    assert_eq!(uris.len(), 3, "{steps:?}");
    assert_eq!(outcome, &DialOutcome::Completed);
    let winner = answered.map(user_of).unwrap().to_string();
    assert!(winner == ann.sip || winner == cy.sip, "{winner}");
    eventually(
        "Bob's phone stopped ringing",
        Duration::from_secs(10),
        || {
            let stopped = bob_desk.count("ended") > bob_ended;
            async move { stopped }
        },
    )
    .await;

    // 3. Do not disturb: Ann is skipped.
    ann_desk.type_in("dnd");
    eventually("Ann on Do not disturb", Duration::from_secs(10), || {
        let team = team.clone();
        async move { team.status_of(ann.id).await.unwrap() == UserStatus::Dnd }
    })
    .await;
    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    let (uris, answered, _) = rang(&steps[0]);
    let mut rung: Vec<&str> = uris.iter().map(|u| user_of(u)).collect();
    rung.sort();
    let mut expected = vec![bob.sip.as_str(), cy.sip.as_str()];
    expected.sort();
    assert_eq!(rung, expected, "{steps:?}");
    assert_eq!(answered.map(user_of), Some(cy.sip.as_str()));

    // 4. Two callers waiting are served in the order they came: Cy alone takes calls; the
    //    second and third hold (music) while she talks to the first.
    sales.members = vec![cy.id];
    sales.strategy = Strategy::RoundRobin;
    queues.save(&sales).await.unwrap();
    let started = Instant::now();
    let call = |delay: u64| {
        let carrier = &carrier;
        let called = called.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let steps = carrier.incoming(CALLER, &called).await.unwrap();
            (steps, started.elapsed())
        }
    };
    let ((first, t1), (second, t2), (third, t3)) = tokio::join!(call(0), call(1000), call(2000));
    for steps in [&first, &second, &third] {
        let answered = steps.iter().rev().find_map(|s| match s {
            Step::Rang { answered, .. } => answered.clone(),
            _ => None,
        });
        assert_eq!(
            answered.as_deref().map(user_of),
            Some(cy.sip.as_str()),
            "{steps:?}"
        );
    }
    assert!(
        second.iter().any(|s| matches!(s, Step::Played { .. })),
        "{second:?}"
    );
    assert!(t1 < t2 && t2 < t3, "served in order: {t1:?} {t2:?} {t3:?}");
    // Each hears their place in line as they start holding.
    let said = |steps: &[Step], what: &str| steps.iter().any(|s| s == &Step::Said(what.into()));
    assert!(
        said(&second, "You are next in line. Thank you for waiting."),
        "{second:?}"
    );
    assert!(
        said(
            &third,
            "You are caller number 2 in line. Thank you for waiting."
        ),
        "{third:?}"
    );
    println!("three callers, one agent: served after {t1:.1?}, {t2:.1?}, {t3:.1?}");

    // 5. The maximum wait: Bob alone lets it ring, the caller holds, then leaves a message.
    sales.members = vec![bob.id];
    sales.ring_timeout_secs = 5;
    sales.max_wait_secs = 12;
    queues.save(&sales).await.unwrap();
    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    assert!(
        matches!(rang(&steps[0]).2, DialOutcome::NoAnswer),
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|s| matches!(s, Step::Played { .. })),
        "{steps:?}"
    );
    assert!(
        steps.windows(2).any(|w| matches!(w, [Step::Said(greeting), Step::Recorded { .. }] if greeting == "Sales is busy. Leave a message.")),
        "{steps:?}"
    );
    assert!(matches!(steps.last(), Some(Step::HungUp)), "{steps:?}");
    let voicemail = queues.voicemails(bob.id, None, None).await.unwrap();
    assert_eq!(voicemail.len(), 1, "{voicemail:?}");
    eventually(
        "the message copied to the server with its text",
        Duration::from_secs(15),
        || {
            let queues = queues.clone();
            async move {
                let v = &queues.voicemails(bob.id, None, None).await.unwrap()[0];
                v.has_audio && v.transcription.is_some()
            }
        },
    )
    .await;
    let message = &queues
        .voicemails(bob.id, None, Some("call me back"))
        .await
        .unwrap()[0];
    assert_eq!(message.status, VoicemailStatus::New);
    assert_eq!(message.caller, CALLER);
    let kept = server_file(server.dir.path(), message.id);
    assert_eq!(
        std::fs::read(kept).unwrap(),
        std::fs::read(speech()).unwrap(),
        "the caller's message, byte for byte"
    );
    assert!(
        queues
            .voicemails(ann.id, None, None)
            .await
            .unwrap()
            .is_empty(),
        "Ann is not in the queue any more: not her box"
    );
    // Bob's desktop (the team client, as the app uses it) finds it by its words, plays it
    // from the server and marks it listened; Ann's gets no audio.
    let as_desktop = |user| {
        let team = team.clone();
        async move {
            let invite = team.invite(user, Role::Agent).await.unwrap();
            let invite = ringdesk_team::parse_invite(&invite.link).unwrap();
            let client = ringdesk_team::TeamClient::new(invite.server).unwrap();
            let joined = client.join(&invite.code, "another desktop").await.unwrap();
            (client, SecretString::from(joined.token))
        }
    };
    let (client, token) = as_desktop(bob.id).await;
    let found = client
        .voicemails(&token, Some(VoicemailStatus::New), Some("call me back"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let audio = client.voicemail_audio(&token, found[0].id).await.unwrap();
    assert_eq!(audio, std::fs::read(speech()).unwrap());
    client
        .set_voicemail_status(&token, found[0].id, VoicemailStatus::Listened)
        .await
        .unwrap();
    assert!(client
        .voicemails(&token, Some(VoicemailStatus::New), None)
        .await
        .unwrap()
        .is_empty());
    let (ann_client, ann_token) = as_desktop(ann.id).await;
    assert!(
        ann_client
            .voicemail_audio(&ann_token, found[0].id)
            .await
            .is_err(),
        "not her message"
    );

    // 6. Nobody signed in: straight to voicemail (no ringing, no hold).
    for desk in [&mut ann_desk, &mut bob_desk, &mut cy_desk] {
        kill_9(&mut desk.child);
    }
    eventually("everyone offline", Duration::from_secs(GRACE + 15), || {
        let team = team.clone();
        async move { team.status_of(bob.id).await.unwrap() == UserStatus::Offline }
    })
    .await;
    let steps = carrier.incoming(CALLER, &called).await.unwrap();
    assert!(
        matches!(
            &steps[..],
            [
                Step::Said(_),
                Step::Recorded { .. },
                Step::Said(_),
                Step::HungUp
            ]
        ),
        "{steps:?}"
    );

    server.stop().await;
}

/// Where the server keeps a message (`<data>/voicemail/<id>.<ext>`).
fn server_file(
    data: &std::path::Path,
    id: ringdesk_core::queue::VoicemailId,
) -> std::path::PathBuf {
    ["wav", "mp3"]
        .iter()
        .map(|ext| data.join("voicemail").join(format!("{id}.{ext}")))
        .find(|p| p.exists())
        .expect("the message on the server's disk")
}

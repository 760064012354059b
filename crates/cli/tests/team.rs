//! A team call end to end, over real SIP: a provider stand-in plays Twilio — and Telnyx's
//! TeXML — toward a real team server (signed voice requests and status callbacks, the
//! answer's TwiML/TeXML followed), and a
//! `<Sip>` leg is a real call through kamailio to the softphone the agent's "desktop" —
//! `ringdesk-cli team`, joined with an invite — registered there. Agent A (the admin who set
//! the team up) has no desktop running. Bea available → her softphone rings, answers, and the
//! carrier hears her; Bea on Do not disturb → her forwarding number; Bea's desktop killed
//! (`kill -9`, no goodbye) → offline once the grace period passes → her forwarding number.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, kill_9, speech, Desktop, TeamServer};

use ringdesk_core::team::{AgentLogin, Role};
use ringdesk_core::{
    CallFilter, CallStatus, CredentialField, ProviderCredentials, ProviderKind, RouteInput,
    UserInput, UserSettings, UserStatus,
};
use ringdesk_media::analysis;
use ringdesk_media::audio::WavSource;
use ringdesk_providers::Endpoints;
use ringdesk_test_support::carrier::{Carrier, DialOutcome, Signer, SipSide, Step};
use secrecy::SecretString;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "carrier-auth-token-77";
const FORWARD: &str = "+14155550199";
/// The server's grace period here: short, so the test does not wait 30 s.
const GRACE: u64 = 3;

#[derive(Clone, Copy)]
enum Flavour {
    Twilio,
    Telnyx,
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kamailio and the Prism spec mocks: run through scripts/test.sh"]
async fn a_team_call_on_twilio_rings_the_agent_wherever_she_is_signed_in() {
    team_call(Flavour::Twilio).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kamailio and the Prism spec mocks: run through scripts/test.sh"]
async fn a_team_call_on_telnyx_texml_rings_the_agent_wherever_she_is_signed_in() {
    team_call(Flavour::Telnyx).await;
}

async fn team_call(flavour: Flavour) {
    let kamailio = std::env::var("RINGDESK_KAMAILIO").expect("run scripts/test.sh");
    let prism = std::env::var(match flavour {
        Flavour::Twilio => "RINGDESK_PRISM_TWILIO",
        Flavour::Telnyx => "RINGDESK_PRISM_TELNYX",
    })
    .expect("run scripts/test.sh");
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());
    // Telnyx signs with the account's Ed25519 key; the server holds its public half.
    let telnyx_key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);

    let server = TeamServer::start(endpoints, GRACE).await;
    let (public, team, store) = (
        server.public.clone(),
        server.team.clone(),
        server.store.clone(),
    );

    // What the admin set up (her desktop is not running now): the team's provider account,
    // its numbers, Bea with a forwarding number, the first number routed to her.
    let mut credentials = ProviderCredentials::default();
    let (kind, signer) = match flavour {
        Flavour::Twilio => {
            credentials.set(CredentialField::AccountSid, Some(SecretString::from(SID)));
            credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
            let signer = Signer::Twilio {
                auth_token: TOKEN.into(),
            };
            (ProviderKind::Twilio, signer)
        }
        Flavour::Telnyx => {
            use base64::Engine;
            let public = base64::engine::general_purpose::STANDARD
                .encode(telnyx_key.verifying_key().to_bytes());
            credentials.set(CredentialField::ApiKey, Some(SecretString::from("KEYteam")));
            credentials.set(
                CredentialField::WebhookSecret,
                Some(SecretString::from(public)),
            );
            (ProviderKind::Telnyx, Signer::Telnyx { key: telnyx_key })
        }
    };
    let provider = server.provider(kind, credentials).await;
    let number = team.agents.numbers().await.unwrap().remove(0);
    let bea = team
        .agents
        .save_user(
            None,
            UserInput {
                name: "Bea".into(),
                email: None,
                is_me: false,
                assigned_numbers: vec![number.id],
                primary_number: Some(number.id),
                forwarding_number: Some(FORWARD.into()),
                settings: UserSettings {
                    receive_calls_in_app: true,
                    forward_when_offline: true,
                    ..UserSettings::default()
                },
            },
        )
        .await
        .unwrap();
    team.agents
        .set_route(number.id, Some(RouteInput::User { user_id: bea.id }))
        .await
        .unwrap();
    // Her softphone login, as the carrier made it: a kamailio account ("<user>pw").
    let pid = std::process::id() % 100_000;
    let bea_sip = format!("t{pid:05}41");
    team.keep_login(
        &AgentLogin {
            user_id: bea.id,
            provider_id: provider.id,
            sip_user: bea_sip.clone(),
            sip_domain: kamailio.clone(),
            registrar: kamailio.clone(),
        },
        &SecretString::from(format!("{bea_sip}pw")),
    )
    .await
    .unwrap();
    let invite = team.invite(bea.id, Role::Agent).await.unwrap();

    let recordings = tempfile::tempdir().unwrap();
    let carrier = Carrier::new(
        &public,
        &public,
        &provider.id.to_string(),
        SID,
        signer,
        SipSide {
            cli: env!("CARGO_BIN_EXE_ringdesk-cli").into(),
            registrar: kamailio.clone(),
            user: format!("t{pid:05}42"),
            play: speech(),
            talk: Duration::from_secs(3),
            recordings: recordings.path().to_path_buf(),
        },
    );
    let caller = "+14155552671";
    let called = number.phone_number.to_string();

    // Bea's desktop joins and registers her softphone.
    let bea_heard = recordings.path().join("bea.wav");
    let mut desktop = Desktop::start(&invite.link, &speech(), &bea_heard);
    eventually(
        "Bea's softphone registered and she is available",
        Duration::from_secs(20),
        || {
            let registered = desktop.said("registered as");
            let team = team.clone();
            async move { registered && team.status_of(bea.id).await.unwrap() == UserStatus::Online }
        },
    )
    .await;

    // 1. Available: her softphone rings over real SIP, answers, and the caller hears her.
    let steps = carrier.incoming(caller, &called).await.unwrap();
    // Answered: over when Bea's call is (no voicemail).
    let [Step::DialledSip {
        uri,
        outcome,
        recording,
    }, Step::HungUp] = &steps[..]
    else {
        panic!("{steps:?}\n{}", desktop.output());
    };
    let calls = store.calls().list(&CallFilter::default()).await.unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    // The softphone is told which of the provider's calls it takes (an X- header of the URI,
    // sent in the INVITE as the provider does): the team journal's row and its own are one.
    let named = calls[0].provider_call_id.clone().unwrap();
    assert_eq!(
        uri,
        &format!("sip:{bea_sip}@{kamailio}?X-Ringdesk-Call={named}")
    );
    assert_eq!(outcome, &DialOutcome::Completed, "{}", desktop.output());
    assert!(desktop.said("incoming call from"), "{}", desktop.output());
    assert!(
        desktop.said(&format!("the provider's call: {named}")),
        "{}",
        desktop.output()
    );
    let heard = WavSource::open(recording.as_ref().unwrap())
        .unwrap()
        .samples()
        .to_vec();
    let reference = WavSource::open(&speech()).unwrap().samples().to_vec();
    let (lag, c) = analysis::align(&reference[8_000..12_000], &heard, 16_000);
    assert!(
        c > 0.9,
        "the caller heard Bea: correlation {c:.3} at lag {lag}"
    );
    let calls = store.calls().list(&CallFilter::default()).await.unwrap();
    assert_eq!(calls[0].status, CallStatus::Completed, "{:?}", calls[0]);
    assert!(calls[0].answered_at.is_some(), "{:?}", calls[0]);

    // 2. Do not disturb (said on her desktop): her forwarding number.
    desktop.type_in("dnd");
    eventually(
        "the server hears Do not disturb",
        Duration::from_secs(10),
        || {
            let team = team.clone();
            async move { team.status_of(bea.id).await.unwrap() == UserStatus::Dnd }
        },
    )
    .await;
    let steps = carrier.incoming(caller, &called).await.unwrap();
    assert!(
        matches!(&steps[..], [Step::DialledNumber { number, .. }] if number == FORWARD),
        "{steps:?}"
    );

    // 3. Available again, then her desktop is killed without a word: the server routes
    //    around it once the grace period has passed since its last heartbeat.
    desktop.type_in("available");
    eventually(
        "the server hears her available",
        Duration::from_secs(10),
        || {
            let team = team.clone();
            async move { team.status_of(bea.id).await.unwrap() == UserStatus::Online }
        },
    )
    .await;
    let killed = Instant::now();
    kill_9(&mut desktop.child);
    eventually(
        "the server sees her offline",
        Duration::from_secs(GRACE + 15),
        || {
            let team = team.clone();
            async move { team.status_of(bea.id).await.unwrap() == UserStatus::Offline }
        },
    )
    .await;
    println!(
        "kill -9 → routed around after {:.1} s (grace {GRACE} s, heartbeat 10 s)",
        killed.elapsed().as_secs_f64()
    );
    let steps = carrier.incoming(caller, &called).await.unwrap();
    assert!(
        matches!(&steps[..], [Step::DialledNumber { number, .. }] if number == FORWARD),
        "{steps:?}"
    );
    let calls = store.calls().list(&CallFilter::default()).await.unwrap();
    assert_eq!(calls.len(), 3, "every call in the team journal: {calls:?}");

    server.stop().await;
}

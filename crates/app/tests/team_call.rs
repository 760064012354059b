//! A team call on the real desktop core, end to end: a provider stand-in plays Twilio toward
//! a real team server (signed voice request, the answer's TwiML followed), the `<Sip>` leg is
//! a real call through kamailio to the softphone of Bea's desktop — a `Ringdesk` joined with
//! an invite, answering as she would. The provider names its call in the INVITE, so the
//! desktop's journal row and the team journal's (Bea's, routing put it through to her) are
//! one call; when the server has the call's recording, the live link tells the desktop,
//! whose journal then plays it from the server (asked of its own server with its token).

mod support;

use std::time::{Duration, Instant};

use ringdesk_app::{CallControl, Ringdesk};
use ringdesk_core::team::{AgentLogin, Role, TeamEvent};
use ringdesk_core::{
    CallFilter, CallStatus, CredentialField, NewProvider, ProviderCredentials, ProviderKind,
    RouteInput, UserInput, UserSettings,
};
use ringdesk_providers::Endpoints;
use ringdesk_server::config::ServerConfig;
use ringdesk_server::Server;
use ringdesk_test_support::carrier::{Carrier, DialOutcome, Signer, SipSide, Step};
use secrecy::SecretString;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "carrier-auth-token-78";

async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never within {within:?}: {what}");
}

/// The CLI the stand-in places its SIP legs with (built with the workspace).
fn cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let cli = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("ringdesk-cli"))
        .unwrap();
    assert!(cli.exists(), "build the workspace first: {}", cli.display());
    cli
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kamailio, a Secret Service session, sound and the Prism spec mocks: run through scripts/test.sh"]
async fn a_team_call_on_the_desktop_is_the_team_journals_call_and_plays_its_recording() {
    let kamailio = std::env::var("RINGDESK_KAMAILIO").expect("run scripts/test.sh");
    let prism = std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh");
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());

    let server_dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: server_dir.path().to_path_buf(),
        ..ServerConfig::default()
    }
    .checked()
    .unwrap();
    let (server, listener) = Server::bind(&config, endpoints).await.unwrap();
    let public = server.base_url.clone();
    let team = server.shared.team.clone();
    let store = server.shared.store.clone();
    let server_recordings = server.shared.recordings.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    // The team's Twilio account, its first number routed to Bea, her login a kamailio account.
    let mut credentials = ProviderCredentials::default();
    credentials.set(CredentialField::AccountSid, Some(SecretString::from(SID)));
    credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
    let provider = team
        .providers
        .create(NewProvider {
            kind: ProviderKind::Twilio,
            name: "The team's account".into(),
            credentials,
            default_caller_id: None,
            record_calls: false,
            sip: None,
        })
        .await
        .unwrap();
    team.providers.activate(provider.id).await.unwrap();
    team.agents
        .sync(&team.providers, provider.id)
        .await
        .unwrap();
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
                forwarding_number: None,
                settings: UserSettings {
                    receive_calls_in_app: true,
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
    let pid = std::process::id() % 100_000;
    let bea_sip = format!("t{pid:05}43");
    team.keep_login(
        &AgentLogin {
            user_id: bea.id,
            provider_id: provider.id,
            sip_user: bea_sip.clone(),
            // A SIP domain is a host; the registrar (kamailio) has the port.
            sip_domain: "127.0.0.1".into(),
            registrar: kamailio.clone(),
        },
        &SecretString::from(format!("{bea_sip}pw")),
    )
    .await
    .unwrap();
    let invite = team.invite(bea.id, Role::Agent).await.unwrap();

    // Bea's desktop joins: its softphone registers with her login, the server hears her.
    let dir = tempfile::tempdir().unwrap();
    let keyring = support::keyring();
    let ringdesk = Ringdesk::open(support::config(dir.path(), &keyring))
        .await
        .unwrap();
    let mut news = ringdesk.subscribe_team_news();
    ringdesk
        .join_team(&invite.link, "Bea's desktop")
        .await
        .unwrap();
    // Her CRM (the contract's own stand-in, checking every body).
    let crm = support::contract_crm(&ringdesk).await;
    eventually("Bea is online", Duration::from_secs(20), || async {
        team.status_of(bea.id).await.unwrap() == ringdesk_core::UserStatus::Online
    })
    .await;
    eventually(
        "the softphone registered",
        Duration::from_secs(20),
        || async {
            ringdesk
                .softphone
                .status()
                .summary()
                .starts_with("Registered")
        },
    )
    .await;

    // A caller rings the number; the desktop rings and Bea answers.
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
            cli: cli(),
            registrar: kamailio.clone(),
            user: format!("t{pid:05}44"),
            play: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../assets/audio/speech-8k.wav"),
            talk: Duration::from_secs(2),
            recordings: recordings.path().to_path_buf(),
        },
    );
    let called = number.phone_number.to_string();
    let ringing = tokio::spawn(async move { carrier.incoming("+14155552671", &called).await });
    eventually("the desktop rings", Duration::from_secs(20), || async {
        ringdesk
            .live_calls()
            .iter()
            .any(|c| c.call.status == CallStatus::Ringing)
    })
    .await;
    ringdesk
        .call_control(None, CallControl::Answer)
        .await
        .unwrap();
    let steps = ringing.await.unwrap().unwrap();
    assert!(
        matches!(
            &steps[..],
            [
                Step::DialledSip {
                    outcome: DialOutcome::Completed,
                    ..
                },
                Step::HungUp
            ]
        ),
        "{steps:?}"
    );

    // One call, two journals: the server's row is Bea's, the desktop's names the same
    // provider call.
    let theirs = store
        .calls()
        .list(&CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(theirs.user_id, Some(bea.id), "{theirs:?}");
    let named = theirs.provider_call_id.clone().unwrap();
    eventually(
        "the desktop journals the call's end",
        Duration::from_secs(10),
        || async {
            ringdesk
                .calls(&CallFilter::default())
                .await
                .unwrap()
                .first()
                .is_some_and(|c| c.status.is_final())
        },
    )
    .await;
    let mine = ringdesk
        .calls(&CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        mine.provider_call_id.as_deref(),
        Some(named.as_str()),
        "{mine:?}"
    );
    assert_eq!(mine.status, CallStatus::Completed, "{mine:?}");
    assert!(mine.answered_at.is_some());
    // Her notes release the call's activity to the CRM (no recording yet).
    ringdesk
        .wrap_up(mine.id, Some("Wants a quote".into()), None)
        .await
        .unwrap();
    eventually(
        "the activity reaches the CRM",
        Duration::from_secs(10),
        || async { crm.lock().unwrap().interactions.len() == 1 },
    )
    .await;

    // The server keeps the call's recording (its copy step has its own tests): linked, and
    // Bea told on the live link, as the copy does.
    let audio = b"ID3\x04\x00\x00\x00\x00\x00\x00 a recording".to_vec();
    let folder = server_dir.path().join("recordings");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(format!("{}.mp3", theirs.id)), &audio).unwrap();
    let mut recorded = store.calls().get(theirs.id).await.unwrap().unwrap();
    recorded.recording_url = Some(format!("{public}/api/v1/calls/{}/recording", theirs.id));
    recorded.recording_secs = Some(2);
    store.calls().save(&recorded).await.unwrap();
    let sent = Instant::now();
    team.live
        .tell(TeamEvent::Call {
            call: Box::new(recorded.clone()),
        })
        .await;
    let told = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let TeamEvent::Call { call } = news.recv().await.unwrap() {
                if call.recording_url.is_some() {
                    return TeamEvent::Call { call };
                }
            }
        }
    })
    .await
    .expect("the live link told the desktop of the recording");
    // What the shell does with each piece of news.
    ringdesk.on_team_news(&told).await;
    // Linked with a share link (what the CRM's activity gets: it plays with no login), and
    // played here through the desktop's own server.
    let linked = ringdesk
        .calls(&CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(linked.id, mine.id);
    let share = linked.recording_url.clone().unwrap();
    assert!(
        share.starts_with(&format!("{public}/recordings/{}?expires=", theirs.id)),
        "{share}"
    );
    assert_eq!(linked.recording_secs, Some(2));
    assert_eq!(
        reqwest::get(&share)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        audio
    );
    assert_eq!(ringdesk.recording_audio(mine.id).await.unwrap(), audio);
    // The CRM's activity is brought up to date with the link, which it can play itself.
    eventually(
        "the CRM activity carries the recording",
        Duration::from_secs(10),
        || async {
            let data = crm.lock().unwrap();
            data.patches
                .iter()
                .any(|(_, body)| body["recordingUrl"].as_str() == Some(share.as_str()))
        },
    )
    .await;
    assert!(
        crm.lock().unwrap().refusals.is_empty(),
        "{:?}",
        crm.lock().unwrap().refusals
    );
    // A copy to keep: in the folder given (the shell gives Downloads), named for the call.
    let downloads = tempfile::tempdir().unwrap();
    let copy = ringdesk
        .save_recording_copy(mine.id, downloads.path())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), audio);
    let name = copy.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("Ringdesk recording ") && name.ends_with(".mp3"),
        "{name}"
    );
    // A figure for the closing note, not a timed assertion.
    println!(
        "figure: the server's copy linked → told on the live link, linked on the desktop and fetched for its player: {} ms",
        sent.elapsed().as_millis()
    );

    // Bea is an agent: the team's copy is not hers to delete. An admin deletes it; her
    // desktop hears and unlinks it.
    let refused = ringdesk.delete_recording(mine.id).await;
    assert!(
        matches!(&refused, Err(ringdesk_app::RecordingError::Team(why)) if why.contains("403")),
        "{refused:?}"
    );
    assert!(server_recordings.delete(theirs.id).await.unwrap());
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let TeamEvent::Call { call } = news.recv().await.unwrap() {
                if call.id == theirs.id && call.recording_url.is_none() {
                    return TeamEvent::Call { call };
                }
            }
        }
    })
    .await
    .expect("the live link told the desktop the recording is gone");
    ringdesk.on_team_news(&gone).await;
    let unlinked = ringdesk
        .calls(&CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(unlinked.recording_url, None);
    assert_eq!(reqwest::get(&share).await.unwrap().status(), 404);

    ringdesk.close().await;
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

//! A desktop in a team: it joins a real team server (in process, its provider on Twilio's
//! spec mock) with an invite link, takes the softphone login the server made for its agent as
//! its active SIP account (the password in the keyring), tells the server how the agent is
//! as it changes, hears the team's news on the live link, and learns at once when an admin
//! revoked it. Hostile links change nothing.

mod support;

use std::time::Duration;

use ringdesk_app::{Availability, Ringdesk, TeamLink};
use ringdesk_core::queue::VoicemailBox;
use ringdesk_core::team::{Presence, Role, TeamEvent};
use ringdesk_core::{
    CallFilter, CredentialField, NewProvider, ProviderCredentials, ProviderKind, UserInput,
    UserSettings,
};
use ringdesk_providers::Endpoints;
use ringdesk_server::config::ServerConfig;
use ringdesk_server::Server;
use secrecy::SecretString;

async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session and the Prism spec mocks: run through scripts/test.sh"]
async fn a_desktop_joins_a_team_takes_its_softphone_and_reports_its_agent() {
    let prism = std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh");
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());

    // The team: a Twilio account and Bea, whose softphone login the server makes.
    let server_dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: server_dir.path().to_path_buf(),
        ..ServerConfig::default()
    };
    let (server, listener) = Server::bind(&config, endpoints).await.unwrap();
    let team = server.shared.team.clone();
    let voicemails = server.shared.voicemails.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let mut credentials = ProviderCredentials::default();
    credentials.set(
        CredentialField::AccountSid,
        Some(SecretString::from("AC0123456789abcdef0123456789abcdef")),
    );
    credentials.set(CredentialField::AuthToken, Some(SecretString::from("tok")));
    let provider = team
        .providers
        .create(NewProvider {
            kind: ProviderKind::Twilio,
            name: "Team Twilio".into(),
            credentials,
            default_caller_id: None,
            record_calls: false,
            sip: None,
        })
        .await
        .unwrap();
    team.providers.activate(provider.id).await.unwrap();
    let bea = team
        .agents
        .save_user(
            None,
            UserInput {
                name: "Bea".into(),
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
    let login = team.provision_softphone(bea.id).await.unwrap();
    let invite = team.invite(bea.id, Role::Agent).await.unwrap();

    // Bea's desktop.
    let dir = tempfile::tempdir().unwrap();
    let keyring = support::keyring();
    let ringdesk = Ringdesk::open(support::config(dir.path(), &keyring))
        .await
        .unwrap();
    for hostile in [
        "ringdesk://join?server=file%3A%2F%2F%2Fetc&code=rdi_x",
        "ringdesk://call?to=%2B15551234567",
        "ringdesk://join?server=http%3A%2F%2F127.0.0.1%3A9&code=rdi_x",
    ] {
        assert!(ringdesk.join_team(hostile, "").await.is_err(), "{hostile}");
        assert!(ringdesk.team().await.unwrap().joined.is_none(), "{hostile}");
    }
    let view = ringdesk
        .join_team(&invite.link, "Bea's laptop")
        .await
        .unwrap();
    let joined = view.joined.unwrap();
    assert_eq!(joined.agent.as_deref(), Some("Bea"));
    assert_eq!(joined.role, Role::Agent);

    // Its softphone is the login the server made.
    let accounts = ringdesk.providers.list().await.unwrap();
    let sip = accounts
        .iter()
        .find(|p| p.kind == ProviderKind::Sip)
        .expect("a SIP account from the team");
    assert!(sip.is_active);
    assert_eq!(sip.settings.sip.as_ref().unwrap().username, login.sip_user);

    // The server hears how Bea is, as it changes.
    eventually("the server hears Bea available", || async {
        team.presence_of(bea.id).await.unwrap() == Some(Presence::Available)
    })
    .await;
    let agents = ringdesk.team_agents().await.unwrap();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(
        (agents[0].user.name.as_str(), agents[0].presence),
        ("Bea", Some(Presence::Available))
    );
    // Settings' numbers and agents are now the team's, from the server: Bea is "me" there,
    // as her desktop says she is; an agent changes nothing.
    let directory = ringdesk.directory().await.unwrap();
    assert!(!directory.editable());
    let users = directory.users().await.unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    assert!(users[0].is_me);
    assert_eq!(users[0].status, ringdesk_core::UserStatus::Online);
    let me = &users[0];
    let refused = directory
        .save_user(
            Some(bea.id),
            UserInput {
                name: "Bea Agent".into(),
                email: None,
                is_me: false,
                assigned_numbers: me.assigned_numbers.clone(),
                primary_number: me.primary_number,
                forwarding_number: None,
                settings: me.settings,
            },
        )
        .await;
    assert!(
        matches!(&refused, Err(ringdesk_app::DirectoryError::Team(e)) if e.to_string().contains("403")),
        "{refused:?}"
    );
    drop(directory);
    let link = ringdesk.subscribe_team();
    let mut news = ringdesk.subscribe_team_news();
    eventually("the desktop's live link is open", || async {
        team.live.links() == 1
    })
    .await;
    ringdesk
        .set_availability(Availability::DoNotDisturb)
        .await
        .unwrap();
    eventually("the server hears Do not disturb", || async {
        team.presence_of(bea.id).await.unwrap() == Some(Presence::Dnd)
    })
    .await;
    // The desktop's own view follows when the server's answer is back: a moment later.
    eventually("the desktop's link says Do not disturb", || async {
        *link.borrow()
            == TeamLink::Connected {
                presence: Presence::Dnd,
            }
    })
    .await;

    // …and the team (this desktop too) hears it on the live link.
    let dnd = TeamEvent::Presence {
        user_id: bea.id,
        presence: Some(Presence::Dnd),
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while news.recv().await.unwrap() != dnd {}
    })
    .await
    .expect("the live link brought Bea's Do not disturb");

    // The server remakes her login (Twilio gives no password back: a new one): the live link
    // tells her desktop, which takes it as its SIP account.
    let sip_account = || async {
        ringdesk
            .providers
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.kind == ProviderKind::Sip)
            .unwrap()
    };
    let before = sip_account().await.updated_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    team.provision_softphone(bea.id).await.unwrap();
    let remade = TeamEvent::Softphone { user_id: bea.id };
    tokio::time::timeout(Duration::from_secs(10), async {
        while news.recv().await.unwrap() != remade {}
    })
    .await
    .expect("the live link said her login was remade");
    ringdesk.on_team_news(&remade).await;
    assert!(
        sip_account().await.updated_at > before,
        "the desktop took the new login"
    );

    // A caller left Bea a message: her desktop writes it to her CRM once its text is there
    // (a queue's message goes through its first member's desktop the same way).
    let crm = support::contract_crm(&ringdesk).await;
    let message = voicemails
        .repo
        .voicemail_for(
            VoicemailBox::User { user_id: bea.id },
            provider.id,
            "CA-left-1",
            "+14155552671",
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    voicemails
        .repo
        .voicemail_audio(message, "m.mp3", Some(9))
        .await
        .unwrap();
    voicemails
        .transcribed(message, Ok("Hi Bea, call me back about the quote"))
        .await;
    let told = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let event @ TeamEvent::Voicemail { .. } = news.recv().await.unwrap() {
                return event;
            }
        }
    })
    .await
    .expect("the live link told Bea of her message");
    assert!(
        matches!(&told, TeamEvent::Voicemail { voicemail, .. } if voicemail.writes_crm),
        "{told:?}"
    );
    ringdesk.on_team_news(&told).await;
    eventually("the CRM has the message", || async {
        crm.lock()
            .unwrap()
            .interactions
            .iter()
            .any(|i| i.body["notes"] == "Voicemail (0:09): Hi Bea, call me back about the quote")
    })
    .await;
    let journal = ringdesk.calls(&CallFilter::default()).await.unwrap();
    let row = journal
        .iter()
        .find(|c| c.provider_call_id.as_deref() == Some("CA-left-1"))
        .expect("a journal row for the message");
    assert_eq!(row.from, "+14155552671");
    assert_eq!(row.end_reason, Some(ringdesk_core::CallEndReason::Missed));
    // Told again (another desktop marked it): nothing new goes to the CRM.
    ringdesk.on_team_news(&told).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(crm.lock().unwrap().interactions.len(), 1);

    // Revoked by an admin: the live link says so at once (no heartbeat needed).
    assert!(team.revoke(joined.device_id).await.unwrap());
    eventually("the desktop learns it was signed out", || {
        let state = ringdesk.subscribe_team().borrow().clone();
        async move { matches!(state, TeamLink::SignedOut { .. }) }
    })
    .await;

    // Leaving forgets the team and its token.
    let view = ringdesk.leave_team().await.unwrap();
    assert!(view.joined.is_none());
    assert_eq!(view.link, TeamLink::Off);
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

//! A SIP account as a provider, end to end below the UI: saved (password in the real Secret
//! Service), tested by registering with kamailio, made active so the softphone registers, a
//! wrong password reported, and deleted so the softphone stops. Needs scripts/test.sh (keyring
//! session and kamailio with tests/sip/kamailio.cfg, whose users t<digits> have "<user>pw").

use std::time::Duration;

use ringdesk_app::{AppConfig, Ringdesk, SoftphoneStatus};
use ringdesk_core::service::ServiceError;
use ringdesk_core::{
    CredentialField, NewProvider, ProviderCredentials, ProviderKind, ProviderStatus,
    ProviderUpdate, SipSettings,
};
use ringdesk_providers::Endpoints;
use secrecy::SecretString;
use tokio::sync::watch;

fn kamailio() -> String {
    std::env::var("RINGDESK_KAMAILIO").expect("RINGDESK_KAMAILIO is not set: run scripts/test.sh")
}

async fn open(dir: &tempfile::TempDir) -> Ringdesk {
    let config = AppConfig {
        data_dir: dir.path().to_path_buf(),
        keyring_service: format!("ringdesk-test-{}", uuid::Uuid::new_v4()),
        endpoints: Endpoints::all_at("http://127.0.0.1:9").unwrap(),
        region: "US".parse().unwrap(),
    };
    Ringdesk::open(config).await.unwrap()
}

fn password(value: &str) -> ProviderCredentials {
    let mut c = ProviderCredentials::default();
    c.set(
        CredentialField::SipPassword,
        Some(SecretString::from(value.to_string())),
    );
    c
}

fn settings(registrar: &str, user: &str) -> SipSettings {
    SipSettings {
        registrar: registrar.into(),
        username: user.into(),
        ..Default::default()
    }
}

async fn until(
    changes: &mut watch::Receiver<SoftphoneStatus>,
    what: &str,
    done: impl Fn(&SoftphoneStatus) -> bool,
) -> SoftphoneStatus {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let status = changes.borrow_and_update().clone();
            if done(&status) {
                return status;
            }
            changes.changed().await.expect("the softphone is alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the softphone never became {what}: {:?}", changes.borrow()))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session and kamailio: run through scripts/test.sh"]
async fn a_sip_account_registers_the_softphone_while_active() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(&dir).await;
    let user = format!("t{:05}66", std::process::id() % 100_000);
    let mut changes = app.softphone.subscribe();
    assert_eq!(app.softphone.status(), SoftphoneStatus::Off);

    let provider = app
        .providers
        .create(NewProvider {
            kind: ProviderKind::Sip,
            name: "Office PBX".into(),
            credentials: password(&format!("{user}pw")),
            default_caller_id: None,
            record_calls: false,
            sip: Some(settings(&kamailio(), &user)),
        })
        .await
        .unwrap();
    assert_eq!(provider.status(), ProviderStatus::Configured);
    assert!(provider.credentials.sip_password);

    let test = app.providers.test_connection(provider.id).await.unwrap();
    assert!(test.ok, "{}", test.message);
    assert!(
        test.message.contains(&format!("sip:{user}@")),
        "{}",
        test.message
    );

    // Registered only once active.
    app.refresh_softphone().await;
    assert_eq!(app.softphone.status(), SoftphoneStatus::Off);
    app.providers.activate(provider.id).await.unwrap();
    app.refresh_softphone().await;
    let registered = until(&mut changes, "registered", |s| {
        matches!(s, SoftphoneStatus::Registered { .. })
    })
    .await;
    // Named as the agent named the account; the generated address stays out of the line.
    assert_eq!(registered.summary(), "Registered: Office PBX");
    assert!(
        matches!(&registered, SoftphoneStatus::Registered { address, .. } if address.contains(&user)),
        "{registered:?}"
    );

    // A wrong password: the softphone says so.
    app.providers
        .update(
            provider.id,
            ProviderUpdate {
                credentials: password("wrong"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.refresh_softphone().await;
    let failing = until(&mut changes, "failing", |s| {
        matches!(s, SoftphoneStatus::Failing { .. })
    })
    .await;
    assert!(
        failing.summary().contains("Wrong username or password"),
        "{failing:?}"
    );
    let test = app.providers.test_connection(provider.id).await.unwrap();
    assert!(!test.ok);
    assert!(
        test.message.starts_with("The provider refused these keys"),
        "{}",
        test.message
    );

    app.providers.delete(provider.id).await.unwrap();
    app.refresh_softphone().await;
    until(&mut changes, "off", |s| *s == SoftphoneStatus::Off).await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn sip_settings_are_checked_at_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(&dir).await;
    let new = |kind, sip| NewProvider {
        kind,
        name: "x".into(),
        credentials: password("pw"),
        default_caller_id: None,
        record_calls: false,
        sip,
    };
    let field_of = |e: ServiceError| match e {
        ServiceError::Invalid { field, .. } => field,
        other => panic!("{other:?}"),
    };
    let cases = [
        (new(ProviderKind::Sip, None), "registrar"),
        (
            new(ProviderKind::Sip, Some(settings("sip:pbx", "a"))),
            "registrar",
        ),
        (
            new(ProviderKind::Sip, Some(settings("pbx", "a b"))),
            "username",
        ),
        (new(ProviderKind::Telnyx, Some(settings("pbx", "a"))), "sip"),
    ];
    for (provider, field) in cases {
        let err = app.providers.create(provider).await.unwrap_err();
        assert_eq!(field_of(err), field);
    }
    assert!(app.providers.list().await.unwrap().is_empty());
}

//! Plants recognisable keys, runs every provider operation the UI can trigger, then searches the
//! SQLite files, everything that was logged (at TRACE, HTTP client included) and everything the
//! commands returned: the keys must be in the keyring and nowhere else.

use std::io::Write;
use std::sync::{Arc, Mutex};

use ringdesk_app::{AppConfig, Ringdesk};
use ringdesk_core::ports::SecretStore;
use ringdesk_core::{
    CredentialField, NewProvider, ProviderCredentials, ProviderKind, ProviderUpdate,
};
use ringdesk_providers::Endpoints;
use ringdesk_secrets::KeyringSecretStore;
use secrecy::{ExposeSecret, SecretString};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARIES: [&str; 4] = [
    "KEYcanaryTelnyx0a1b2c3d",
    "canaryTwilioToken4e5f6a7b",
    "canaryVonageSecret8c9d0e1f",
    "canaryReplacementKey2a3b4c",
];

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn keys(fields: &[(CredentialField, &str)]) -> ProviderCredentials {
    let mut c = ProviderCredentials::default();
    for (f, v) in fields {
        c.set(*f, Some(SecretString::from(v.to_string())));
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn planted_keys_appear_only_in_the_keyring() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // A provider that accepts anything first, then refuses: both paths get exercised.
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"data":{"balance":"1.00","currency":"USD"},"friendly_name":"Acme","status":"active","value":1.0}"#,
            "application/json",
        ))
        .up_to_n_times(3)
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"code":20003,"message":"Authenticate"}"#,
            "application/json",
        ))
        .mount(&mock)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let keyring_service = format!("ringdesk-test-{}", uuid::Uuid::new_v4());
    let app = Ringdesk::open(AppConfig {
        data_dir: dir.path().to_path_buf(),
        keyring_service: keyring_service.clone(),
        endpoints: Endpoints::all_at(&mock.uri()).unwrap(),
        region: "US".parse().unwrap(),
    })
    .await
    .unwrap();
    let service = &app.providers;
    let mut returned = Vec::new();

    let new = [
        (
            ProviderKind::Telnyx,
            vec![(CredentialField::ApiKey, CANARIES[0])],
        ),
        (
            ProviderKind::Twilio,
            vec![
                (
                    CredentialField::AccountSid,
                    "AC0123456789abcdef0123456789abcdef",
                ),
                (CredentialField::AuthToken, CANARIES[1]),
            ],
        ),
        (
            ProviderKind::Vonage,
            vec![
                (CredentialField::ApiKey, "abcd1234"),
                (CredentialField::ApiSecret, CANARIES[2]),
            ],
        ),
    ];
    let mut ids = Vec::new();
    for (kind, fields) in new {
        let p = service
            .create(NewProvider {
                kind,
                name: format!("{kind}"),
                credentials: keys(&fields),
                default_caller_id: None,
                record_calls: false,
                sip: None,
            })
            .await
            .unwrap();
        returned.push(serde_json::to_string(&p).unwrap());
        ids.push(p.id);
    }
    for id in &ids {
        returned.push(serde_json::to_string(&service.test_connection(*id).await.unwrap()).unwrap());
        returned.push(serde_json::to_string(&service.activate(*id).await.unwrap()).unwrap());
        returned.push(serde_json::to_string(&service.get(*id).await.unwrap()).unwrap());
        // A second test hits the 401 path.
        returned.push(serde_json::to_string(&service.test_connection(*id).await.unwrap()).unwrap());
    }
    let updated = service
        .update(
            ids[0],
            ProviderUpdate {
                credentials: keys(&[(CredentialField::ApiKey, CANARIES[3])]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    returned.push(serde_json::to_string(&updated).unwrap());
    returned.push(serde_json::to_string(&service.list().await.unwrap()).unwrap());
    returned.push(format!("{:?}", service.list().await.unwrap()));
    app.close().await;

    // Positive control: the keys are really stored, in the keyring.
    let keyring = KeyringSecretStore::new(keyring_service);
    let stored = keyring.get(&ids[0].secret_key()).await.unwrap().unwrap();
    assert!(stored.expose_secret().contains(CANARIES[3]));
    let stored = keyring.get(&ids[2].secret_key()).await.unwrap().unwrap();
    assert!(stored.expose_secret().contains(CANARIES[2]));

    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logged.contains("provider added"), "the log capture works");
    assert!(
        logged.contains("connection test failed"),
        "the failure path was logged"
    );

    let mut database = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        database.extend(std::fs::read(&path).unwrap());
    }
    assert!(database.len() > 4096, "the database files were read");
    let database = String::from_utf8_lossy(&database);

    for canary in CANARIES {
        assert!(
            !database.contains(canary),
            "{canary} found in the SQLite files"
        );
        assert!(!logged.contains(canary), "{canary} found in the logs");
        for answer in &returned {
            assert!(
                !answer.contains(canary),
                "{canary} returned to the UI: {answer}"
            );
        }
    }

    // Clean up the test's keyring entries.
    for id in ids {
        keyring.delete(&id.secret_key()).await.unwrap();
    }
}

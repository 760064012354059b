//! Provider set-up end to end below the UI: the service over a real SQLite file, the real
//! Secret Service and the real HTTP adapters (against an in-process provider mock).

use ringdesk_app::{AppConfig, Ringdesk};
use ringdesk_core::service::ServiceError;
use ringdesk_core::{
    CredentialField, NewProvider, ProviderCredentials, ProviderKind, ProviderStatus, ProviderUpdate,
};
use ringdesk_providers::Endpoints;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

async fn open(mock: &MockServer, dir: &tempfile::TempDir) -> Ringdesk {
    let config = AppConfig {
        data_dir: dir.path().to_path_buf(),
        keyring_service: format!("ringdesk-test-{}", uuid::Uuid::new_v4()),
        endpoints: Endpoints::all_at(&mock.uri()).unwrap(),
        region: "US".parse().unwrap(),
    };
    Ringdesk::open(config).await.unwrap()
}

fn keys(fields: &[(CredentialField, &str)]) -> ProviderCredentials {
    let mut c = ProviderCredentials::default();
    for (f, v) in fields {
        c.set(*f, Some(SecretString::from(v.to_string())));
    }
    c
}

fn telnyx(name: &str, key: &str) -> NewProvider {
    NewProvider {
        kind: ProviderKind::Telnyx,
        name: name.into(),
        credentials: keys(&[(CredentialField::ApiKey, key)]),
        default_caller_id: Some("(415) 555-2671".into()),
        record_calls: true,
        sip: None,
    }
}

async fn balance_for(mock: &MockServer, key: &str) {
    Mock::given(method("GET"))
        .and(path("/balance"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"balance": "12.00", "currency": "EUR"}})),
        )
        .mount(mock)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn add_test_activate_edit_delete() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/balance"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"Could not understand the provided credentials."}]}"#,
            "application/json",
        ))
        .with_priority(10)
        .mount(&mock)
        .await;
    balance_for(&mock, "KEYfirst").await;
    balance_for(&mock, "KEYsecond").await;
    let dir = tempfile::tempdir().unwrap();
    let app = open(&mock, &dir).await;
    let service = &app.providers;

    let created = service
        .create(telnyx("  Sales  ", "KEYfirst"))
        .await
        .unwrap();
    assert_eq!(created.name, "Sales");
    assert_eq!(created.status(), ProviderStatus::Configured);
    assert_eq!(
        created
            .settings
            .default_caller_id
            .as_ref()
            .unwrap()
            .as_str(),
        "+14155552671"
    );
    assert!(created.credentials.api_key);

    let test = service.test_connection(created.id).await.unwrap();
    assert!(test.ok, "{test:?}");
    assert_eq!(test.message, "Connected to Telnyx — balance 12.00 EUR");

    // Editing without retyping the key keeps the stored key (the mock only answers KEYfirst).
    let renamed = service
        .update(
            created.id,
            ProviderUpdate {
                name: Some("Sales EU".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Sales EU");
    assert!(renamed.credentials.api_key);
    assert!(service.test_connection(created.id).await.unwrap().ok);

    // A new key replaces it; a wrong one is reported in the provider's words.
    service
        .update(
            created.id,
            ProviderUpdate {
                credentials: keys(&[(CredentialField::ApiKey, "KEYsecond")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(service.test_connection(created.id).await.unwrap().ok);
    service
        .update(
            created.id,
            ProviderUpdate {
                credentials: keys(&[(CredentialField::ApiKey, "KEYwrong")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let failed = service.test_connection(created.id).await.unwrap();
    assert!(!failed.ok);
    assert_eq!(
        failed.message,
        "The provider refused these keys: Authentication failed: Could not understand the provided credentials."
    );

    // Exactly one active provider.
    let other = service.create(telnyx("Support", "KEYfirst")).await.unwrap();
    assert!(service.activate(created.id).await.unwrap().is_active);
    assert!(service.activate(other.id).await.unwrap().is_active);
    let list = service.list().await.unwrap();
    assert_eq!(list.iter().filter(|p| p.is_active).count(), 1);
    assert_eq!(list.iter().find(|p| p.is_active).unwrap().id, other.id);
    assert_eq!(
        list.iter().find(|p| p.is_active).unwrap().status(),
        ProviderStatus::Active
    );

    // Deleting removes the row and the keys; the id is gone everywhere.
    service.delete(other.id).await.unwrap();
    assert!(matches!(
        service.get(other.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        service.test_connection(other.id).await,
        Err(ServiceError::NotFound)
    ));
    assert_eq!(service.list().await.unwrap().len(), 1);
    service.delete(created.id).await.unwrap();
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn incomplete_or_malformed_input_is_refused_at_the_field() {
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = open(&mock, &dir).await;
    let service = &app.providers;

    let invalid_field = |r: Result<_, ServiceError>| match r {
        Err(ServiceError::Invalid { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    };
    assert_eq!(
        invalid_field(service.create(telnyx("   ", "KEYx")).await),
        "name"
    );
    let mut bad_caller = telnyx("A", "KEYx");
    bad_caller.default_caller_id = Some("call me maybe".into());
    assert_eq!(
        invalid_field(service.create(bad_caller).await),
        "defaultCallerId"
    );
    let twilio = NewProvider {
        kind: ProviderKind::Twilio,
        name: "Twilio".into(),
        credentials: keys(&[
            (CredentialField::AccountSid, "AC/../../evil"),
            (CredentialField::AuthToken, "t"),
        ]),
        default_caller_id: None,
        record_calls: false,
        sip: None,
    };
    assert_eq!(invalid_field(service.create(twilio).await), "accountSid");
    assert!(
        service.list().await.unwrap().is_empty(),
        "nothing was stored"
    );

    // Saved without its token: Not configured, cannot be made active, test says what is missing.
    let partial = service
        .create(NewProvider {
            kind: ProviderKind::Twilio,
            name: "Twilio".into(),
            credentials: keys(&[(CredentialField::AccountSid, TWILIO_SID)]),
            default_caller_id: None,
            record_calls: false,
            sip: None,
        })
        .await
        .unwrap();
    assert_eq!(partial.status(), ProviderStatus::NotConfigured);
    match service.activate(partial.id).await {
        Err(ServiceError::Invalid { message, .. }) => {
            assert!(message.ends_with("Auth Token"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let test = service.test_connection(partial.id).await.unwrap();
    assert_eq!(test.message, "Missing keys: Auth Token");

    // Switching Twilio to an API key: the token can be cleared, the key pair added.
    let switched = service
        .update(
            partial.id,
            ProviderUpdate {
                credentials: keys(&[
                    (
                        CredentialField::ApiKey,
                        "SK0123456789abcdef0123456789abcdef",
                    ),
                    (CredentialField::ApiSecret, "secret"),
                ]),
                clear_credentials: vec![CredentialField::AuthToken],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(switched.status(), ProviderStatus::Configured);
    assert!(
        switched.credentials.api_key
            && switched.credentials.api_secret
            && !switched.credentials.auth_token
    );
    service.delete(partial.id).await.unwrap();
    app.close().await;
}

fn numbers_page(page: u32, numbers: &[&str]) -> serde_json::Value {
    json!({
        "data": numbers.iter().map(|n| json!({
            "id": format!("id-{n}"), "phone_number": n, "phone_number_type": "local",
            "country_iso_alpha2": "US", "connection_id": "conn-1", "record_type": "phone_number",
        })).collect::<Vec<_>>(),
        "meta": { "page_number": page, "page_size": 2, "total_pages": 2, "total_results": 4 },
    })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn a_provider_failing_half_way_through_its_numbers_changes_nothing() {
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ringdesk = open(&mock, &dir).await;
    let provider = ringdesk
        .providers
        .create(telnyx("Telnyx", "KEYnumbers"))
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/phone_numbers"))
        .and(wiremock::matchers::query_param("page[number]", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(numbers_page(1, &["+14155550101", "+14155550102"])),
        )
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/phone_numbers"))
        .and(wiremock::matchers::query_param("page[number]", "2"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    let failed = ringdesk.sync_numbers(provider.id).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(
        ringdesk.agents.numbers().await.unwrap().is_empty(),
        "nothing half-applied"
    );

    Mock::given(method("GET"))
        .and(path("/phone_numbers"))
        .and(wiremock::matchers::query_param("page[number]", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(numbers_page(2, &["+14155550103", "+14155550104"])),
        )
        .mount(&mock)
        .await;
    let report = ringdesk.sync_numbers(provider.id).await.unwrap();
    assert_eq!(report.added.len(), 4);
    let numbers = ringdesk.agents.numbers().await.unwrap();

    // "Me" with a primary number: it is my caller ID on this provider's calls.
    let me = ringdesk
        .save_user(
            None,
            ringdesk_core::UserInput {
                name: "Ada".into(),
                email: None,
                is_me: true,
                assigned_numbers: vec![numbers[2].id],
                primary_number: Some(numbers[2].id),
                forwarding_number: None,
                settings: Default::default(),
            },
        )
        .await
        .unwrap();
    let (user, caller_id) = ringdesk.agents.me_on(provider.id).await.unwrap();
    assert_eq!(user, Some(me.id));
    assert_eq!(caller_id.unwrap().as_str(), "+14155550103");
    ringdesk.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn the_first_provider_saved_with_its_keys_becomes_active() {
    let mock = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = open(&mock, &dir).await;

    // Keys still missing: nothing to make active yet.
    let mut incomplete = telnyx("Draft", "unused");
    incomplete.credentials = ProviderCredentials::default();
    let draft = app.create_provider(incomplete).await.unwrap();
    assert!(!draft.is_active);

    let first = app
        .create_provider(telnyx("Sales", "KEYfirst"))
        .await
        .unwrap();
    assert!(
        first.is_active,
        "the first complete provider is active at once"
    );
    let second = app
        .create_provider(telnyx("Support", "KEYsecond"))
        .await
        .unwrap();
    assert!(!second.is_active, "a second one waits for Make active");
    let active: Vec<_> = app
        .providers
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.is_active)
        .map(|p| p.id)
        .collect();
    assert_eq!(active, vec![first.id]);
}

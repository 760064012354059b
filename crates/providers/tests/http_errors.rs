//! Each provider failure the specs document — wrong keys, forbidden, rate limits, server errors,
//! time-outs, an unreachable host, unreadable answers — becomes its typed `ProviderError`.
//! Prism does not judge key values, so these use an in-process mock serving the specs' error bodies.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{DecodingKey, Validation};
use ringdesk_core::ports::AdapterFactory;
use ringdesk_core::{CredentialField, ProviderError, ProviderKind};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TELNYX_401: &str = r#"{"errors":[{"code":"10009","detail":"Could not understand the provided credentials.","meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10009"},"title":"Authentication failed"}]}"#;
const TWILIO_401: &str = r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
const VONAGE_BALANCE_401: &str =
    r#"{"error-code":"401","error-code-label":"authentication failed"}"#;
const VONAGE_401: &str = r#"{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials supplied","detail":"You did not provide correct credentials.","instance":"797a8f199c45014ab7b08bfe9cc1c12c"}"#;

async fn serve(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(status).set_body_raw(body.to_owned(), "application/json"),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn telnyx_valid_key_reports_the_balance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/balance"))
        .and(header("authorization", "Bearer KEYtest-telnyx-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "available_credit": "400.00", "balance": "300.00", "credit_limit": "100.00",
            "currency": "USD", "pending": "10.00", "record_type": "balance"}})))
        .expect(1)
        .mount(&server)
        .await;
    let info = telnyx(&server.uri()).validate_credentials().await.unwrap();
    assert_eq!(info.detail.as_deref(), Some("balance 300.00 USD"));
}

#[tokio::test]
async fn wrong_keys_carry_the_providers_words() {
    let err = telnyx(&serve(401, TELNYX_401).await.uri())
        .validate_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::WrongKeys {
            message: "Authentication failed: Could not understand the provided credentials.".into()
        }
    );
    let err = twilio(&serve(401, TWILIO_401).await.uri())
        .validate_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::WrongKeys {
            message: "Authenticate".into()
        }
    );
    let err = vonage(at(&serve(401, VONAGE_BALANCE_401).await.uri()))
        .validate_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::WrongKeys {
            message: "authentication failed".into()
        }
    );
}

#[tokio::test]
async fn forbidden_rate_limited_and_server_errors() {
    let server = serve(403, r#"{"errors":[{"code":"10010","title":"Forbidden","detail":"Insufficient permissions to access balance information"}]}"#).await;
    assert!(matches!(
        telnyx(&server.uri()).validate_credentials().await.unwrap_err(),
        ProviderError::Forbidden { message } if message.contains("Insufficient permissions")
    ));

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_string(r#"{"code":20429,"message":"Too Many Requests"}"#),
        )
        .mount(&server)
        .await;
    assert_eq!(
        twilio(&server.uri())
            .validate_credentials()
            .await
            .unwrap_err(),
        ProviderError::RateLimited {
            retry_after_secs: Some(30)
        }
    );

    for status in [500, 502, 503] {
        let server = serve(status, r#"{"errors":[{"code":"10007","title":"Service unavailable","detail":"Service unavailable"}]}"#).await;
        assert_eq!(
            telnyx(&server.uri())
                .validate_credentials()
                .await
                .unwrap_err(),
            ProviderError::Unavailable {
                status,
                message: "Service unavailable".into()
            }
        );
    }

    let server = serve(422, r#"{"errors":[{"code":"10015","title":"Invalid account","detail":"Invalid or missing account information"}]}"#).await;
    assert_eq!(
        telnyx(&server.uri())
            .validate_credentials()
            .await
            .unwrap_err(),
        ProviderError::Rejected {
            status: 422,
            code: Some("10015".into()),
            message: "Invalid account: Invalid or missing account information".into()
        }
    );
}

#[tokio::test]
async fn time_outs_unreachable_hosts_and_garbage() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(5))
                .set_body_string("{}"),
        )
        .mount(&server)
        .await;
    let mut endpoints = at(&server.uri());
    endpoints.timeout = Duration::from_millis(500);
    let err = adapter(
        endpoints,
        ProviderKind::Telnyx,
        creds(&[(CredentialField::ApiKey, "KEYx")]),
    )
    .validate_credentials()
    .await
    .unwrap_err();
    assert_eq!(err, ProviderError::Timeout { secs: 1 });

    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = vonage(at(&format!("http://{closed}")))
        .validate_credentials()
        .await
        .unwrap_err();
    let ProviderError::Unreachable { reason } = &err else {
        panic!("{err:?}")
    };
    // Vonage's secret rides in the query string: no error may repeat the URL.
    assert!(
        !reason.contains("vonage-api-secret-xyz") && !err.to_string().contains("api_secret"),
        "{reason}"
    );

    let err = telnyx(&serve(200, "<html>maintenance</html>").await.uri())
        .validate_credentials()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn twilio_reads_the_account_and_refuses_suspended_ones() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{TWILIO_SID}.json")))
        // Basic base64("AC…01:twilio-auth-token")
        .and(header(
            "authorization",
            "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTp0d2lsaW8tYXV0aC10b2tlbg==",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sid": TWILIO_SID, "friendly_name": "Acme Sales", "status": "active", "type": "Full"})))
        .mount(&server)
        .await;
    let info = twilio(&server.uri()).validate_credentials().await.unwrap();
    assert_eq!(info.name.as_deref(), Some("Acme Sales"));
    assert_eq!(info.detail.as_deref(), Some("Full account"));

    let server = serve(
        200,
        r#"{"friendly_name":"Old","status":"suspended","type":"Trial"}"#,
    )
    .await;
    assert_eq!(
        twilio(&server.uri())
            .validate_credentials()
            .await
            .unwrap_err(),
        ProviderError::AccountNotUsable {
            reason: "the Twilio account is suspended".into()
        }
    );
}

#[tokio::test]
async fn twilio_api_key_authenticates_with_the_key_pair() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{TWILIO_SID}.json")))
        // Basic base64("SK…02:key-secret")
        .and(header(
            "authorization",
            "Basic U0swMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMjprZXktc2VjcmV0",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"friendly_name": "Acme", "status": "active"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let a = adapter(
        at(&server.uri()),
        ProviderKind::Twilio,
        creds(&[
            (CredentialField::AccountSid, TWILIO_SID),
            (CredentialField::AuthToken, "ignored-when-a-key-exists"),
            (CredentialField::ApiKey, TWILIO_KEY_SID),
            (CredentialField::ApiSecret, "key-secret"),
        ]),
    );
    assert_eq!(
        a.validate_credentials().await.unwrap().name.as_deref(),
        Some("Acme")
    );
}

#[derive(serde::Deserialize)]
struct VonageClaims {
    application_id: String,
    iat: i64,
    exp: i64,
    jti: String,
}

#[tokio::test]
async fn vonage_checks_balance_application_and_a_signed_voice_jwt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/get-balance"))
        .and(query_param("api_key", "abcd1234"))
        .and(query_param("api_secret", "vonage-api-secret-xyz"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": 10.171275, "autoReload": false})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{VONAGE_APP_ID}")))
        .and(header(
            "authorization",
            "Basic YWJjZDEyMzQ6dm9uYWdlLWFwaS1zZWNyZXQteHl6",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": VONAGE_APP_ID, "name": "Ringdesk Voice"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/"))
        .and(query_param("page_size", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 0, "page_size": 1, "record_index": 0})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let info = vonage(at(&server.uri()))
        .validate_credentials()
        .await
        .unwrap();
    assert_eq!(info.name.as_deref(), Some("Ringdesk Voice"));
    assert_eq!(
        info.detail.as_deref(),
        Some("balance 10.17, voice application ready")
    );

    // The Voice API call carried an RS256 JWT that the application's public key verifies.
    let requests = server.received_requests().await.unwrap();
    let calls = requests.iter().find(|r| r.url.path() == "/").unwrap();
    let bearer = calls
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    let token = bearer.strip_prefix("Bearer ").unwrap();
    let key = DecodingKey::from_rsa_pem(vonage_public_key().as_bytes()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp"]);
    let claims = jsonwebtoken::decode::<VonageClaims>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims.application_id, VONAGE_APP_ID);
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
}

#[tokio::test]
async fn vonage_voice_failures_name_the_application() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/get-balance"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": 1.0, "autoReload": false})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{VONAGE_APP_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "App"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(VONAGE_401, "application/json"))
        .mount(&server)
        .await;
    let err = vonage(at(&server.uri()))
        .validate_credentials()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::WrongKeys { message } if message.starts_with("the Voice API refused the application's private key")),
        "{err:?}"
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/get-balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": 1.0})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{VONAGE_APP_ID}")))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            r#"{"title":"Not Found","detail":"ID 'x' does not exist, or you do not have access"}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let err = vonage(at(&server.uri()))
        .validate_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::WrongKeys {
            message: "no application with that Application ID in this account".into()
        }
    );
}

#[tokio::test]
async fn vonage_without_an_application_still_validates_the_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/get-balance"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": 3.5, "autoReload": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let a = adapter(
        at(&server.uri()),
        ProviderKind::Vonage,
        creds(&[
            (CredentialField::ApiKey, "abcd1234"),
            (CredentialField::ApiSecret, "s"),
        ]),
    );
    let info = a.validate_credentials().await.unwrap();
    assert_eq!(
        info.detail.as_deref(),
        Some("balance 3.50, auto-reload on, add an Application ID and private key to place calls")
    );
}

#[test]
fn a_malformed_private_key_is_a_clear_error() {
    let mut fields = vonage_fields();
    fields[3] = (
        CredentialField::PrivateKey,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
    );
    let result = ringdesk_providers::HttpAdapterFactory::new(at("http://127.0.0.1:9")).adapter(
        ProviderKind::Vonage,
        &Default::default(),
        creds(&fields),
    );
    assert_eq!(
        result.err(),
        Some(ProviderError::WrongKeys {
            message: "the private key is not an RSA key in PEM format".into()
        })
    );
}

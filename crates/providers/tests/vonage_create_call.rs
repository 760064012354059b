//! Vonage create-call against an in-process mock that checks the body with the schema of
//! Vonage's own spec (`CreateCallRequestNcco` in voice.yml). Prism cannot serve this endpoint:
//! the spec's `to[]` items are a `oneOf` whose branches overlap, so every phone endpoint
//! matches several and Prism refuses all bodies (providers.md §7). The mock validates with
//! that one `oneOf` read as `anyOf`, which is what Vonage's API accepts.

mod common;

use common::*;
use ringdesk_core::ports::CallRequest;
use ringdesk_core::E164Number;
use serde_json::Value;
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn spec_validator() -> jsonschema::Validator {
    let shared = std::env::var("RINGDESK_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_string());
    let yaml = std::fs::read_to_string(format!("{shared}/provider-specs/vonage/voice.yml"))
        .expect("the Vonage voice spec (../shared/provider-specs)");
    let spec: Value = serde_yaml::from_str(&yaml).unwrap();
    let mut components = spec["components"].clone();
    let to_items = &mut components["schemas"]["CreateCallRequestBase"]["properties"]["to"]["items"];
    let branches = to_items["oneOf"].take();
    *to_items = serde_json::json!({ "anyOf": branches });
    let schema = serde_json::json!({
        "allOf": [{ "$ref": "#/components/schemas/CreateCallRequestNcco" }],
        "components": components,
    });
    jsonschema::validator_for(&schema).expect("the spec's schema compiles")
}

fn request(connect: bool) -> CallRequest {
    CallRequest {
        from: E164Number::parse_international("+14155550100").unwrap(),
        to: E164Number::parse_international("+14155552671").unwrap(),
        connect_to: connect.then(|| E164Number::parse_international("+442079460958").unwrap()),
        webhook_url: Some("https://hooks.example.com/webhooks/v".into()),
        record: false,
    }
}

#[tokio::test]
async fn create_call_body_follows_the_spec_and_returns_the_uuid() {
    let validator = spec_validator();
    // The schema itself refuses what Vonage refuses (no `to`, a `to` that is not a list).
    assert!(!validator.is_valid(&serde_json::json!({ "ncco": [] })));
    assert!(!validator.is_valid(&serde_json::json!({ "to": "14155552671", "ncco": [] })));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header_exists("authorization"))
        .respond_with(move |req: &Request| {
            let body: Value = match serde_json::from_slice(&req.body) {
                Ok(b) => b,
                Err(_) => return ResponseTemplate::new(400),
            };
            let errors: Vec<String> = validator
                .iter_errors(&body)
                .map(|e| e.to_string())
                .collect();
            if errors.is_empty() {
                ResponseTemplate::new(201).set_body_json(serde_json::json!({
                    "uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356",
                    "status": "started",
                    "direction": "outbound",
                    "conversation_uuid": "CON-f972836a-550f-45fa-956c-12a2ab5b7d22",
                }))
            } else {
                ResponseTemplate::new(422).set_body_json(serde_json::json!({
                    "type": "https://developer.nexmo.com/api-errors#unprocessable-entity",
                    "title": "Invalid request body",
                    "detail": errors.join("; "),
                }))
            }
        })
        .mount(&server)
        .await;
    let mut endpoints = at(&server.uri());
    endpoints.vonage_calls = format!("{}/", server.uri()).parse().unwrap();
    let vonage = vonage(endpoints);
    for connect in [true, false] {
        let handle = vonage.make_call(&request(connect)).await.unwrap();
        assert_eq!(
            handle.provider_call_id,
            "63f61863-4a51-4f6b-86e1-46edebcf9356"
        );
    }
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent["to"][0]["number"], "14155552671",
        "no + in Vonage numbers"
    );
    assert_eq!(sent["ncco"][0]["action"], "connect");
    assert_eq!(sent["ncco"][0]["endpoint"][0]["number"], "442079460958");
    assert_eq!(sent["event_url"][0], "https://hooks.example.com/webhooks/v");
}

#[tokio::test]
async fn create_call_without_an_application_is_refused_plainly() {
    let server = MockServer::start().await;
    let adapter = adapter(
        at(&server.uri()),
        ringdesk_core::ProviderKind::Vonage,
        creds(&vonage_fields()[..2]),
    );
    let e = adapter.make_call(&request(true)).await.unwrap_err();
    assert!(e.to_string().contains("Application ID"), "{e}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

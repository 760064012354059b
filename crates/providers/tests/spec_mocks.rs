//! The adapters against mock servers generated from the providers' own OpenAPI specs
//! (`../shared/provider-specs`, served by Prism). scripts/test.sh starts one Prism per spec and
//! passes their addresses; a bare `cargo test` skips these (they are `#[ignore]`d).
//!
//! Prism validates each request against the spec (paths, required query parameters, security
//! headers) and answers with the spec's example, so a pass means the request is what the
//! provider documents and the adapter reads what the provider documents.

mod common;

use common::*;
use ringdesk_providers::Endpoints;

fn mock(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run scripts/test.sh, which starts the Prism mocks")
    })
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn telnyx_balance_from_the_telnyx_spec() {
    let info = telnyx(&mock("RINGDESK_PRISM_TELNYX"))
        .validate_credentials()
        .await
        .unwrap();
    // UserBalance's examples in spec3.yml.
    assert_eq!(info.detail.as_deref(), Some("balance 300.00 USD"));
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn twilio_account_from_the_twilio_spec() {
    let info = twilio(&mock("RINGDESK_PRISM_TWILIO"))
        .validate_credentials()
        .await
        .unwrap();
    assert!(
        info.name.is_some(),
        "the spec's account example has a friendly_name: {info:?}"
    );
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn vonage_account_application_and_voice_from_the_vonage_specs() {
    let mut endpoints = Endpoints::all_at(&mock("RINGDESK_PRISM_VONAGE_ACCOUNT")).unwrap();
    endpoints.vonage_applications = mock("RINGDESK_PRISM_VONAGE_APPLICATIONS").parse().unwrap();
    endpoints.vonage_calls = mock("RINGDESK_PRISM_VONAGE_VOICE").parse().unwrap();
    let info = vonage(endpoints).validate_credentials().await.unwrap();
    // account.yml's balance example and application.v2.yml's application name.
    assert_eq!(info.name.as_deref(), Some("My Application"));
    assert_eq!(
        info.detail.as_deref(),
        Some("balance 10.17, voice application ready")
    );
}

// ----- call control: make_call, hangup, connect (Prism validates each request) -----

fn call_request(connect: bool, webhook: bool) -> ringdesk_core::ports::CallRequest {
    ringdesk_core::ports::CallRequest {
        from: ringdesk_core::E164Number::parse_international("+14155550100").unwrap(),
        to: ringdesk_core::E164Number::parse_international("+14155552671").unwrap(),
        connect_to: connect
            .then(|| ringdesk_core::E164Number::parse_international("+442079460958").unwrap()),
        webhook_url: webhook.then(|| "https://hooks.example.com/webhooks/x".to_string()),
        record: true,
    }
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn twilio_make_call_and_hangup_against_the_twilio_spec() {
    let twilio = twilio(&mock("RINGDESK_PRISM_TWILIO"));
    // Without a status callback: Prism 5 cannot read a repeated form parameter as the array
    // the spec declares (`StatusCallbackEvent`, "each one in a separate parameter" as Twilio
    // documents), so that part is checked in `twilio_call_control.rs` instead.
    let handle = twilio.make_call(&call_request(true, false)).await.unwrap();
    // The spec's call example.
    assert!(handle.provider_call_id.starts_with("CA"), "{handle:?}");
    twilio.hangup(&handle.provider_call_id).await.unwrap();
    // Nothing to do after the answer: the TwiML dials the contact itself.
    let n = ringdesk_core::E164Number::parse_international("+14155550100").unwrap();
    twilio.connect_answered("CA1", &n, &n).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn telnyx_make_call_hangup_and_transfer_against_the_telnyx_spec() {
    let telnyx = telnyx(&mock("RINGDESK_PRISM_TELNYX"));
    // Without a webhook receiver Telnyx cannot be driven: a clear refusal, no request.
    let refused = telnyx
        .make_call(&call_request(true, false))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("webhook"), "{refused}");
    // Lists the Call Control applications, creates Ringdesk's, dials through it.
    let handle = telnyx.make_call(&call_request(true, true)).await.unwrap();
    assert!(!handle.provider_call_id.is_empty());
    let contact = ringdesk_core::E164Number::parse_international("+442079460958").unwrap();
    let from = ringdesk_core::E164Number::parse_international("+14155550100").unwrap();
    telnyx
        .connect_answered(&handle.provider_call_id, &contact, &from)
        .await
        .unwrap();
    telnyx.hangup(&handle.provider_call_id).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn vonage_hangup_against_the_vonage_voice_spec() {
    let mut endpoints = Endpoints::all_at(&mock("RINGDESK_PRISM_VONAGE_ACCOUNT")).unwrap();
    endpoints.vonage_calls = mock("RINGDESK_PRISM_VONAGE_VOICE").parse().unwrap();
    vonage(endpoints)
        .hangup("63f61863-4a51-4f6b-86e1-46edebcf9356")
        .await
        .unwrap();
}

// ----- blind transfer of a live leg (Prism validates each request against the spec) -----

fn numbers() -> (ringdesk_core::E164Number, ringdesk_core::E164Number) {
    (
        ringdesk_core::E164Number::parse_international("+442079460958").unwrap(),
        ringdesk_core::E164Number::parse_international("+14155550100").unwrap(),
    )
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn twilio_transfer_redirects_the_leg_with_new_twiml_against_the_twilio_spec() {
    let (to, from) = numbers();
    twilio(&mock("RINGDESK_PRISM_TWILIO"))
        .transfer("CA0123456789abcdef0123456789abcdef", &to, &from)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn telnyx_transfer_against_the_telnyx_spec() {
    let (to, from) = numbers();
    telnyx(&mock("RINGDESK_PRISM_TELNYX"))
        .transfer("v3:call-control-id", &to, &from)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn vonage_transfer_to_an_inline_ncco_against_the_vonage_voice_spec() {
    let mut endpoints = Endpoints::all_at(&mock("RINGDESK_PRISM_VONAGE_ACCOUNT")).unwrap();
    endpoints.vonage_calls = mock("RINGDESK_PRISM_VONAGE_VOICE").parse().unwrap();
    let (to, from) = numbers();
    vonage(endpoints)
        .transfer("63f61863-4a51-4f6b-86e1-46edebcf9356", &to, &from)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn the_vonage_spec_mock_refuses_a_transfer_that_names_both_an_ncco_and_a_url() {
    // The check above has teeth: the spec's destination is oneOf {ncco} / {url}.
    let both = serde_json::json!({
        "action": "transfer",
        "destination": { "type": "ncco", "ncco": [{ "action": "talk", "text": "x" }], "url": ["https://example.com/ncco"] },
    });
    let response = reqwest::Client::new()
        .put(format!(
            "{}/63f61863-4a51-4f6b-86e1-46edebcf9356",
            mock("RINGDESK_PRISM_VONAGE_VOICE").trim_end_matches('/')
        ))
        .bearer_auth("eyJhbGciOiJIUzI1NiJ9.e30.x")
        .json(&both)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        422,
        "{:?}",
        response.text().await
    );
}

// ----- blind transfer of the contact on a call that rang the agent's phone -----
// The contact's leg is looked up by REST, moved on, and the agent's leg released: every
// request checked by the spec mock; the specs' own examples stand in for the live legs.

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn twilio_transfer_connected_finds_the_dial_child_and_redirects_it_against_the_twilio_spec() {
    let (to, from) = numbers();
    twilio(&mock("RINGDESK_PRISM_TWILIO"))
        .transfer_connected("CA0123456789abcdef0123456789abcdef", &to, &from, None)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn telnyx_transfer_connected_finds_the_other_leg_of_the_session_against_the_telnyx_spec() {
    let (to, from) = numbers();
    let telnyx = telnyx(&mock("RINGDESK_PRISM_TELNYX"));
    // Without the webhook address the Call Control application cannot be found.
    let refused = telnyx
        .transfer_connected("v3:agent-leg", &to, &from, None)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("webhook"), "{refused}");
    telnyx
        .transfer_connected(
            "v3:agent-leg",
            &to,
            &from,
            Some("https://ringdesk.example.com/webhooks/x"),
        )
        .await
        .unwrap();
}

// Vonage's: in vonage_create_call.rs — its spec types `conversation_uuid` as a UUID while real
// ids are `CON-…` (provider facts §6 row 12), so Prism refuses the real lookup.

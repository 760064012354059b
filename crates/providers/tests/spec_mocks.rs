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

//! The HubSpot connector against Prism mocks of HubSpot's own v3 specs (../shared/crm-specs:
//! contacts and calls, one mock each; Prism checks every request against the spec — paths,
//! the bearer token's presence, required body fields and their types — and answers with the
//! spec's example), plus the create body checked with the spec's schema directly.

use std::time::Duration;

use ringdesk_core::{Call, CallDirection, CallEndReason, Disposition};
use ringdesk_crm::hubspot::HubSpotConnector;
use ringdesk_crm::{Activity, CrmConnector};
use secrecy::SecretString;
use serde_json::{json, Value};
use time::OffsetDateTime;

fn mock(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run scripts/test.sh, which starts the Prism mocks")
    })
}

fn activity() -> Activity {
    let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut call = Call::new(
        CallDirection::Inbound,
        "+14155552671".into(),
        "+12125550100".into(),
        t,
    );
    call.answer(t + time::Duration::seconds(3));
    call.end(
        CallEndReason::RemoteHungUp,
        None,
        t + time::Duration::seconds(93),
    );
    call.wrap_up(Some("Asked for pricing"), Some(Disposition::CallBack));
    Activity::of(&call, Some("512".into()))
}

fn connector() -> HubSpotConnector {
    HubSpotConnector::new(
        mock("RINGDESK_PRISM_HUBSPOT_CONTACTS").parse().unwrap(),
        SecretString::from("pat-na1-test"),
        Duration::from_secs(5),
    )
    .unwrap()
    .with_calls_base(mock("RINGDESK_PRISM_HUBSPOT_CALLS").parse().unwrap())
}

#[test]
fn the_call_body_follows_hubspots_schema() {
    let shared = std::env::var("RINGDESK_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_string());
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{shared}/crm-specs/hubspot/Calls/v3/calls.json"))
            .unwrap(),
    )
    .unwrap();
    let schema = json!({
        "allOf": [{ "$ref": "#/components/schemas/SimplePublicObjectInputForCreate" }],
        "components": spec["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let body = HubSpotConnector::call_body(&activity(), "key-1");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // And the schema does refuse what HubSpot refuses: a number where a string belongs.
    let mut wrong = body.clone();
    wrong["properties"]["hs_call_duration"] = json!(90000);
    assert!(!validator.is_valid(&wrong));

    let p = &body["properties"];
    assert_eq!(p["hs_call_duration"], "90000", "milliseconds, as a string");
    assert_eq!(p["hs_call_direction"], "INBOUND");
    assert_eq!(p["hs_call_status"], "COMPLETED");
    assert_eq!(p["hs_call_title"], "Ringdesk call key-1");
    assert_eq!(p["hs_call_body"], "Outcome: call_back\nAsked for pricing");
    assert_eq!(body["associations"][0]["to"]["id"], "512");
    assert_eq!(
        body["associations"][0]["types"][0]["associationTypeId"],
        194
    );
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn hubspot_contacts_search_and_calls_against_the_hubspot_specs() {
    let hubspot = connector();
    assert_eq!(hubspot.test().await.unwrap(), "Connected to HubSpot");
    // The spec's search example comes back; the request itself passed Prism's validation.
    hubspot
        .find_contacts_by_phone("+14155552671")
        .await
        .unwrap();
    let created = hubspot.log_call(&activity(), "key-1").await.unwrap();
    assert!(!created.0.is_empty());
    // The spec's example call is not ours: no false "already logged".
    assert_eq!(hubspot.find_logged_call("key-1").await.unwrap(), None);
}

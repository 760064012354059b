//! The Pipedrive connector against Prism mocks of Pipedrive's own v1 and v2 specs
//! (../shared/crm-specs/pipedrive; Prism checks paths, the `x-api-token` header, and request
//! bodies against the spec — a wrong type or format gets a 400/422 — and answers with the
//! spec's examples), plus the call-log body checked with the spec's schema directly.

use std::time::Duration;

use ringdesk_core::{Call, CallDirection, CallEndReason, Disposition};
use ringdesk_crm::pipedrive::PipedriveConnector;
use ringdesk_crm::{Activity, CrmConnector, CrmError, NewContact};
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
        CallDirection::Outbound,
        "+14155550100".into(),
        "+442079460958".into(),
        t,
    );
    call.answer(t + time::Duration::seconds(5));
    call.end(
        CallEndReason::HungUp,
        None,
        t + time::Duration::seconds(125),
    );
    call.wrap_up(
        Some("Wants <b>pricing</b>\nCall Tuesday"),
        Some(Disposition::CallBack),
    );
    call.recording_url = Some("https://media.example.com/r/1.wav?a=1&b=2".into());
    Activity::of(&call, Some("333".into())).by(Some(ringdesk_crm::Agent {
        name: "Ada <Lovelace>".into(),
        email: None,
    }))
}

fn connector(token: &str) -> PipedriveConnector {
    PipedriveConnector::new(
        "https://acme.pipedrive.com".parse().unwrap(),
        SecretString::from(token.to_string()),
        Duration::from_secs(5),
    )
    .unwrap()
    .with_api_bases(
        mock("RINGDESK_PRISM_PIPEDRIVE_V1").parse().unwrap(),
        mock("RINGDESK_PRISM_PIPEDRIVE_V2").parse().unwrap(),
    )
}

fn spec_v1() -> Value {
    let shared = std::env::var("RINGDESK_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_string());
    serde_yaml::from_str(
        &std::fs::read_to_string(format!("{shared}/crm-specs/pipedrive/upstream/v1.yaml")).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_call_log_follows_pipedrives_schema() {
    let spec = spec_v1();
    let schema = spec["paths"]["/callLogs"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]
        .clone();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let body = PipedriveConnector::call_log_body(&activity(), "key-1");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The schema refuses what Pipedrive refuses: a number where a string belongs.
    let mut wrong = body.clone();
    wrong["duration"] = json!(120);
    assert!(!validator.is_valid(&wrong));

    assert_eq!(
        body["subject"], "Outbound call",
        "Pipedrive has no direction field"
    );
    assert_eq!(body["outcome"], "connected");
    assert_eq!(body["duration"], "120");
    assert_eq!(body["start_time"], "2027-01-15T08:00:05Z");
    assert_eq!(body["end_time"], "2027-01-15T08:02:05Z");
    assert_eq!(body["person_id"], 333);
    let note = body["note"].as_str().unwrap();
    assert!(note.contains("<p>Wants &lt;b&gt;pricing&lt;/b&gt;</p><p>Call Tuesday</p>"));
    assert!(note.contains("<p>Outcome: call back</p>"));
    assert!(note.contains("<p>Agent: Ada &lt;Lovelace&gt;</p>"));
    assert!(note.contains("href=\"https://media.example.com/r/1.wav?a=1&amp;b=2\""));
    assert!(note.ends_with("<p>[ringdesk:key-1]</p>"));
}

#[test]
fn voicemail_and_wrong_number_are_pipedrive_outcomes() {
    let mut a = activity();
    a.disposition = Some("left_voicemail");
    assert_eq!(
        PipedriveConnector::call_log_body(&a, "k")["outcome"],
        "left_voicemail"
    );
    a.disposition = None;
    a.outcome = "missed";
    assert_eq!(
        PipedriveConnector::call_log_body(&a, "k")["outcome"],
        "no_answer"
    );
    a.contact_id = Some("not-a-number".into());
    assert!(PipedriveConnector::call_log_body(&a, "k")
        .get("person_id")
        .is_none());
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn persons_and_call_logs_against_the_pipedrive_specs() {
    let pipedrive = connector("pd-token");
    assert_eq!(
        pipedrive.test().await.unwrap(),
        "Connected to acme.pipedrive.com"
    );
    // The v1 spec validated the body (a wrong time format gets 400); the example comes back.
    let created = pipedrive.log_call(&activity(), "key-1").await.unwrap();
    assert_eq!(created.0, "CAd92b224eb4a39b5ad8fea92ff0e");
    // The spec's example logs carry no Ringdesk marker: no false "already logged".
    assert_eq!(pipedrive.find_logged_call("key-1").await.unwrap(), None);

    // The example persons' phones ("12345") are not callable numbers: no match.
    assert!(pipedrive
        .find_contacts_by_phone("+37255555555")
        .await
        .unwrap()
        .is_empty());

    let page = pipedrive.list_changed_contacts(None).await.unwrap();
    assert_eq!(page.contacts[0].id, "1");
    assert_eq!(page.contacts[0].name, "Person Name");
    assert_eq!(page.contacts[0].phones, ["12345", "54321"]);
    assert_eq!(page.contacts[0].emails[0], "email1@email.com");
    assert!(page.contacts[0].updated_at.is_some());
    assert!(page.more, "the example has a next cursor");
    // The next request carries the cursor and the spec accepts it.
    let next = pipedrive
        .list_changed_contacts(Some(&page.cursor))
        .await
        .unwrap();
    assert!(!next.contacts.is_empty());

    let person = pipedrive
        .create_contact(&NewContact {
            name: "Grace Hopper".into(),
            company: None,
            phones: vec!["+12025550123".into()],
            emails: vec!["grace@example.com".into()],
        })
        .await
        .unwrap();
    assert_eq!(person.id, "1");
    assert_eq!(
        pipedrive
            .contact_url(&person.id)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "https://acme.pipedrive.com/person/1"
    );
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn a_missing_token_is_refused() {
    // Prism answers 401 when the spec's security (x-api-token) is not met.
    let err = PipedriveConnector::new(
        "https://acme.pipedrive.com".parse().unwrap(),
        SecretString::from(String::new()),
        Duration::from_secs(5),
    )
    .unwrap()
    .with_api_bases(
        mock("RINGDESK_PRISM_PIPEDRIVE_V1").parse().unwrap(),
        mock("RINGDESK_PRISM_PIPEDRIVE_V2").parse().unwrap(),
    )
    .test()
    .await;
    assert!(matches!(err, Err(CrmError::Unauthorized(_))), "{err:?}");
}

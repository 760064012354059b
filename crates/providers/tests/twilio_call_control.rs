//! Twilio's create-call form with status callbacks, checked parameter by parameter: Prism
//! cannot read repeated form parameters (see spec_mocks.rs), so this mock reads them the way
//! Twilio documents — one `StatusCallbackEvent` per event.

mod common;

use common::*;
use ringdesk_core::ports::CallRequest;
use ringdesk_core::E164Number;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn create_call_rings_the_agent_then_dials_the_contact_with_callbacks() {
    let server = MockServer::start().await;
    let calls = format!("/2010-04-01/Accounts/{TWILIO_SID}/Calls.json");
    Mock::given(method("POST"))
        .and(path(calls.as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "sid": "CA0123456789abcdef0123456789abcdef", "status": "queued"
        })))
        .mount(&server)
        .await;
    let hangup =
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Calls/CA0123456789abcdef0123456789abcdef.json");
    Mock::given(method("POST"))
        .and(path(hangup.as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "completed"})),
        )
        .mount(&server)
        .await;
    let twilio = twilio(&server.uri());
    let handle = twilio
        .make_call(&CallRequest {
            from: E164Number::parse_international("+14155550100").unwrap(),
            to: E164Number::parse_international("+14155552671").unwrap(),
            connect_to: Some(E164Number::parse_international("+442079460958").unwrap()),
            webhook_url: Some("https://hooks.example.com/webhooks/t".into()),
            record: false,
        })
        .await
        .unwrap();
    assert_eq!(
        handle.provider_call_id,
        "CA0123456789abcdef0123456789abcdef"
    );
    twilio.hangup(&handle.provider_call_id).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    let all = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(all("To"), ["+14155552671"], "the agent's phone rings first");
    assert_eq!(all("From"), ["+14155550100"]);
    assert_eq!(
        all("Twiml"),
        ["<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial answerOnBridge=\"true\" callerId=\"+14155550100\"><Number>+442079460958</Number></Dial></Response>"]
    );
    assert_eq!(
        all("StatusCallback"),
        ["https://hooks.example.com/webhooks/t"]
    );
    assert_eq!(
        all("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    let hangup_form = String::from_utf8_lossy(&requests[1].body).to_string();
    assert_eq!(hangup_form, "Status=completed");
}

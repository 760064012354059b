//! validate_webhook through each adapter as the factory builds it from stored keys, with the
//! providers' published vectors (../shared/docs/providers.md §5): genuine requests pass;
//! forged, tampered and stale ones are refused with WebhookRejected; no key, no trust.

mod common;

use common::{adapter, at, creds, TWILIO_SID};
use ringdesk_core::ports::WebhookRequest;
use ringdesk_core::{CredentialField, ProviderError, ProviderKind};
use time::OffsetDateTime;

fn request(headers: &[(&str, &str)], body: &str, url: &str, at: i64) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
        received_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
    }
}

fn rejected(result: Result<(), ProviderError>) -> bool {
    matches!(result, Err(ProviderError::WebhookRejected { .. }))
}

#[test]
fn twilio_signs_with_the_auth_token() {
    let twilio = adapter(
        at("http://127.0.0.1:9"),
        ProviderKind::Twilio,
        creds(&[
            (CredentialField::AccountSid, TWILIO_SID),
            (CredentialField::AuthToken, "12345"),
        ]),
    );
    let form = "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
    let signed = |signature: &str, body: &str| {
        request(
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Twilio-Signature", signature),
            ],
            body,
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            0,
        )
    };
    assert_eq!(
        twilio.validate_webhook(&signed("RSOYDt4T1cUTdK1PDd93/VVr8B8=", form)),
        Ok(())
    );
    assert!(rejected(twilio.validate_webhook(&signed(
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        &form.replace("CA1234567890ABCDE", "CAforged")
    ))));
    assert!(rejected(twilio.validate_webhook(&signed(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        form
    ))));
}

#[test]
fn telnyx_needs_its_public_key_and_a_fresh_signature() {
    let body = r#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2023-11-14T22:13:20.000000Z","payload":{"call_control_id":"v3:abc","call_leg_id":"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","call_session_id":"428c31b6-abf3-3bc1-b7f4-5013ef9657c1","connection_id":"7267xxxxxxxxxxxxxx","direction":"incoming","from":"+35319605860","to":"+13129457420","state":"parked"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/webhooks"}}"#;
    let headers = [
        (
            "telnyx-signature-ed25519",
            "j4PTeraiU+rA0uw3eiOqzPBO6rzD+PglLVcGUdCabESaS4BXuLujhf8M0BqHlBu4HtT7bqfmPx7685F5wLI4DQ==",
        ),
        ("telnyx-timestamp", "1700000000"),
    ];
    let url = "https://example.com/webhooks";
    let keyless = adapter(
        at("http://127.0.0.1:9"),
        ProviderKind::Telnyx,
        creds(&[(CredentialField::ApiKey, "KEYx")]),
    );
    assert!(matches!(
        keyless.validate_webhook(&request(&headers, body, url, 1_700_000_000)),
        Err(ProviderError::MissingCredentials { .. })
    ));
    let telnyx = adapter(
        at("http://127.0.0.1:9"),
        ProviderKind::Telnyx,
        creds(&[
            (CredentialField::ApiKey, "KEYx"),
            (
                CredentialField::WebhookSecret,
                "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            ),
        ]),
    );
    assert_eq!(
        telnyx.validate_webhook(&request(&headers, body, url, 1_700_000_120)),
        Ok(())
    );
    assert!(rejected(telnyx.validate_webhook(&request(
        &headers,
        body,
        url,
        1_700_000_301
    ))));
    assert!(rejected(telnyx.validate_webhook(&request(
        &headers,
        &body.replace("+35319605860", "+10000000000"),
        url,
        1_700_000_000
    ))));
}

#[test]
fn vonage_checks_the_jwt_and_the_body_hash() {
    let body = r#"{"from":"447700900000","to":"447700900001","uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","status":"answered","direction":"inbound","timestamp":"2023-11-14T22:13:20.000Z"}"#;
    let token = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImY1YjVmYmM5OThhNjM2ZWM2OWFlNTY4OTNkYjFmMzAyYjEwNmI4YmJiMGNlMzQwYmMxMzExZGY4YjRkNjY5NGEiLCJhcGlfa2V5IjoiYWJjZDEyMzQiLCJhcHBsaWNhdGlvbl9pZCI6ImFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.to5xHEnT6gX7N7J0_Pl_JryoSUCpbj-z2B0utJSlYvI";
    let mut fields = common::vonage_fields();
    fields.push((
        CredentialField::WebhookSecret,
        "qwertyuiopasdfghjklzxcvbnm123456",
    ));
    let vonage = adapter(
        at("http://127.0.0.1:9"),
        ProviderKind::Vonage,
        creds(&fields),
    );
    let url = "https://example.com/events";
    assert_eq!(
        vonage.validate_webhook(&request(
            &[("Authorization", token)],
            body,
            url,
            1_700_000_005
        )),
        Ok(())
    );
    assert!(rejected(vonage.validate_webhook(&request(
        &[("Authorization", token)],
        &body.replace("answered", "completed"),
        url,
        1_700_000_005
    ))));
    assert!(rejected(vonage.validate_webhook(&request(
        &[],
        body,
        url,
        1_700_000_005
    ))));
}

/// A TeXML application's voice request: TwiML's form fields, signed as every Telnyx webhook
/// (Ed25519 over `timestamp|body`); answered in TeXML.
#[test]
fn telnyx_texml_voice_requests_are_verified_read_and_answered() {
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};
    use ringdesk_core::ports::{CallParty, DialTarget, VoiceAnswer};
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes());
    let telnyx = adapter(
        at("http://127.0.0.1:9"),
        ProviderKind::Telnyx,
        creds(&[
            (CredentialField::ApiKey, "KEYx"),
            (CredentialField::WebhookSecret, &public),
        ]),
    );
    let body = "AccountSid=00000000-0000-0000-0000-000000000001&CallSid=v3%3Aabc&CallStatus=ringing&Direction=inbound&From=%2B14155552671&To=%2B12125550100";
    let signature = base64::engine::general_purpose::STANDARD
        .encode(key.sign(format!("1700000000|{body}").as_bytes()).to_bytes());
    let headers = [
        ("telnyx-signature-ed25519", signature.as_str()),
        ("telnyx-timestamp", "1700000000"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let url = "https://team.example.com/webhooks/p/voice";
    let signed = request(&headers, body, url, 1_700_000_005);
    assert_eq!(telnyx.validate_webhook(&signed), Ok(()));
    let forged = request(&headers, &body.replace("2671", "0000"), url, 1_700_000_005);
    assert!(rejected(telnyx.validate_webhook(&forged)));

    let asked = telnyx.parse_voice_request(&signed).unwrap();
    assert_eq!(asked.provider_call_id, "v3:abc");
    assert!(matches!(asked.from, CallParty::Number(ref n) if n.as_str() == "+14155552671"));
    let (content_type, texml) = telnyx
        .render_voice_answer(&VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: "gencredabc".into(),
                host: "sip.telnyx.com".into(),
                call: None,
                queue: None,
            },
            caller_id: None,
            transfer_url: None,
            record: None,
        })
        .unwrap();
    assert!(content_type.starts_with("text/xml"));
    assert!(
        texml.contains(
            "<Dial answerOnBridge=\"true\"><Sip>sip:gencredabc@sip.telnyx.com</Sip></Dial>"
        ),
        "{texml}"
    );
}

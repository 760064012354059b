//! Recordings as each provider serves them: the audio fetched with the provider's own
//! authentication and only from its own host (a stub serves the media, which Prism cannot:
//! provider facts §6 #2, #14), and the recording lists read against the spec mocks.

mod common;

use common::*;
use ringdesk_core::ProviderError;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn mp3() -> Vec<u8> {
    let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 1000));
    bytes
}

fn wav() -> Vec<u8> {
    let mut bytes = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 100));
    bytes
}

/// Whether any request the stub saw carried an Authorization header.
async fn saw_authorization(server: &MockServer) -> bool {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|r: &Request| r.headers.contains_key("authorization"))
}

#[tokio::test]
async fn twilio_fetches_with_basic_auth_from_its_own_host_only() {
    let api = MockServer::start().await;
    let recording = format!("/2010-04-01/Accounts/{TWILIO_SID}/Recordings/RE1");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{TWILIO_SID}:twilio-auth-token")
        )
    );
    Mock::given(method("GET"))
        .and(path(format!("{recording}.mp3")))
        .and(header("authorization", basic.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(mp3()))
        .expect(1)
        .mount(&api)
        .await;
    let twilio = twilio(&api.uri());
    // The event's link has no extension: the smaller MP3 is asked for.
    let audio = twilio
        .fetch_recording(&format!("{}{recording}", api.uri()))
        .await
        .unwrap();
    assert_eq!((audio.extension, audio.bytes), ("mp3", mp3()));
    // A link elsewhere gets no keys, and no request at all.
    let elsewhere = MockServer::start().await;
    let refused = twilio
        .fetch_recording(&format!("{}{recording}", elsewhere.uri()))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not on Twilio's API host"),
        "{refused}"
    );
    assert!(elsewhere
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn telnyx_fetches_its_presigned_links_without_the_api_key() {
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bucket/rec.wav"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(wav()),
        )
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/expired.mp3"))
        .respond_with(ResponseTemplate::new(403).set_body_string("<Error>AccessDenied</Error>"))
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/page.html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>not audio</html>"))
        .mount(&storage)
        .await;
    let telnyx = telnyx("http://127.0.0.1:9");
    let audio = telnyx
        .fetch_recording(&format!("{}/bucket/rec.wav", storage.uri()))
        .await
        .unwrap();
    assert_eq!(audio.extension, "wav");
    assert!(!saw_authorization(&storage).await, "the API key stays home");
    // An expired link (after ten minutes) and something that is not audio: clear errors.
    let expired = telnyx
        .fetch_recording(&format!("{}/bucket/expired.mp3", storage.uri()))
        .await
        .unwrap_err();
    assert!(
        matches!(expired, ProviderError::Forbidden { .. }),
        "{expired:?}"
    );
    let html = telnyx
        .fetch_recording(&format!("{}/bucket/page.html", storage.uri()))
        .await
        .unwrap_err();
    assert!(html.to_string().contains("neither MP3 nor WAV"), "{html}");
    assert!(telnyx.fetch_recording("not a url").await.is_err());
}

#[tokio::test]
async fn vonage_fetches_with_the_application_jwt_from_its_own_host_only() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/files/abc"))
        .and(|r: &Request| {
            r.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Bearer ey"))
        })
        .respond_with(ResponseTemplate::new(200).set_body_bytes(mp3()))
        .expect(1)
        .mount(&api)
        .await;
    let vonage = vonage(at(&api.uri()));
    let audio = vonage
        .fetch_recording(&format!("{}/v1/files/abc", api.uri()))
        .await
        .unwrap();
    assert_eq!(audio.extension, "mp3");
    let elsewhere = MockServer::start().await;
    assert!(vonage
        .fetch_recording(&format!("{}/v1/files/abc", elsewhere.uri()))
        .await
        .is_err());
    assert!(elsewhere
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
    // Vonage lists no recordings: the reconcile pass skips it.
    assert!(matches!(
        vonage
            .list_recordings(time::OffsetDateTime::now_utc())
            .await,
        Err(ProviderError::Unsupported { .. })
    ));
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn recording_lists_read_against_the_spec_mocks() {
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let telnyx = telnyx(&std::env::var("RINGDESK_PRISM_TELNYX").unwrap());
    let listed = telnyx.list_recordings(since).await.unwrap();
    assert!(!listed.is_empty(), "the spec's example recording");
    assert!(listed
        .iter()
        .all(|r| !r.provider_call_id.is_empty() && !r.url.is_empty()));
    let twilio = twilio(&std::env::var("RINGDESK_PRISM_TWILIO").unwrap());
    // Prism's example has no completed recording with a call: what matters is that the
    // request is one the spec accepts and the answer reads.
    twilio.list_recordings(since).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn pausing_and_resuming_a_recording_is_what_the_specs_accept() {
    let telnyx = telnyx(&std::env::var("RINGDESK_PRISM_TELNYX").unwrap());
    let twilio = twilio(&std::env::var("RINGDESK_PRISM_TWILIO").unwrap());
    let twilio_call = "CA0123456789abcdef0123456789abcdef";
    for paused in [true, false] {
        telnyx.pause_recording("v3:leg", paused).await.unwrap();
        twilio.pause_recording(twilio_call, paused).await.unwrap();
    }
    // Vonage cannot pause a recording by REST: said plainly.
    let vonage = vonage(at("http://127.0.0.1:9"));
    assert!(matches!(
        vonage.pause_recording("u1", true).await,
        Err(ProviderError::Unsupported { .. })
    ));
}

//! The webhook receiver over real HTTP, a real SQLite journal and the real Secret Service:
//! Twilio callbacks signed with the account's Auth Token (Twilio's published algorithm) make a
//! ringing, answered, completed call with the contact's name; forged, unsigned, tampered and
//! replayed requests change nothing.

use ringdesk_app::{AppConfig, CallNotice, Ringdesk, WebhookSettings};
use ringdesk_core::{
    CallDirection, CallEndReason, CallFilter, CallStatus, ContactInput, CredentialField,
    NewProvider, PhoneInput, ProviderCredentials, ProviderKind,
};
use ringdesk_providers::webhook::{twilio_signature, TwilioAlgorithm};
use ringdesk_providers::Endpoints;
use secrecy::SecretString;

const TOKEN: &str = "12345abcdef";
const PUBLIC: &str = "https://hooks.example.com";

struct Rig {
    ringdesk: Ringdesk,
    url: String,
    signed_url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn post(&self, form: &str, signature: Option<String>) -> u16 {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        if let Some(s) = signature {
            request = request.header("x-twilio-signature", s);
        }
        request.send().await.unwrap().status().as_u16()
    }

    fn sign(&self, form: &str) -> String {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        twilio_signature(
            TOKEN.as_bytes(),
            &self.signed_url,
            &params,
            TwilioAlgorithm::HmacSha1,
        )
    }

    async fn signed(&self, form: &str) -> u16 {
        self.post(form, Some(self.sign(form))).await
    }
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        data_dir: dir.path().to_path_buf(),
        keyring_service: format!("ringdesk-test-{}", uuid::Uuid::new_v4()),
        endpoints: Endpoints::all_at("http://127.0.0.1:9").unwrap(),
        region: "US".parse().unwrap(),
    };
    let ringdesk = Ringdesk::open(config).await.unwrap();
    let mut credentials = ProviderCredentials::default();
    credentials.set(
        CredentialField::AccountSid,
        Some(SecretString::from("AC0123456789abcdef0123456789abcdef")),
    );
    credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
    let provider = ringdesk
        .providers
        .create(NewProvider {
            kind: ProviderKind::Twilio,
            name: "Twilio".into(),
            credentials,
            default_caller_id: None,
            record_calls: false,
            sip: None,
        })
        .await
        .unwrap();
    ringdesk
        .contacts
        .create(&ContactInput {
            name: "Ada Lovelace".into(),
            phones: vec![PhoneInput {
                number: "(415) 555-2671".into(),
                label: None,
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: Some(format!("{PUBLIC}/")),
        })
        .await
        .unwrap();
    assert_eq!(view.base_url, PUBLIC);
    let path = format!("/webhooks/{}", provider.id.0);
    Rig {
        url: format!("http://{}{path}", view.listening.unwrap()),
        signed_url: format!("{PUBLIC}{path}"),
        ringdesk,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

const RINGING: &str = "CallSid=CA1&CallStatus=ringing&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber=0";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn signed_events_make_one_call_and_forgeries_change_nothing() {
    let rig = rig().await;
    let mut notices = rig.ringdesk.softphone.calls.notices.subscribe();
    let all_calls = CallFilter::default();
    let calls = || rig.ringdesk.calls(&all_calls);

    // Refused before anything is read: unsigned, forged, signed for another body, another key.
    assert_eq!(rig.post(RINGING, None).await, 403);
    assert_eq!(
        rig.post(RINGING, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()))
            .await,
        403
    );
    let tampered = RINGING.replace("CA1", "CA2");
    assert_eq!(rig.post(&tampered, Some(rig.sign(RINGING))).await, 403);
    let other_key = twilio_signature(
        b"not-the-token",
        &rig.signed_url,
        &[],
        TwilioAlgorithm::HmacSha1,
    );
    assert_eq!(rig.post(RINGING, Some(other_key)).await, 403);
    assert!(calls().await.unwrap().is_empty(), "nothing stored");
    assert!(notices.try_recv().is_err(), "nothing announced");

    // A verified incoming call: journaled, matched to the contact, announced once.
    assert_eq!(rig.signed(RINGING).await, 200);
    let call = &calls().await.unwrap()[0];
    assert_eq!(call.direction, CallDirection::Inbound);
    assert_eq!(call.status, CallStatus::Ringing);
    assert_eq!(call.from, "+14155552671");
    assert_eq!(call.contact_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(call.provider_call_id.as_deref(), Some("CA1"));
    match notices.recv().await.unwrap() {
        CallNotice::Incoming(c) => assert_eq!(c.contact_name.as_deref(), Some("Ada Lovelace")),
        other => panic!("expected incoming, got {other:?}"),
    }
    // The same delivery again: acknowledged, ignored.
    assert_eq!(rig.signed(RINGING).await, 200);
    assert_eq!(calls().await.unwrap().len(), 1);
    assert!(notices.try_recv().is_err(), "a replay is not announced");

    // Answered, then completed (delivered twice): one completed call.
    let answered = "CallSid=CA1&CallStatus=in-progress&Direction=inbound&SequenceNumber=1";
    assert_eq!(rig.signed(answered).await, 200);
    assert!(matches!(
        notices.recv().await.unwrap(),
        CallNotice::Answered(_)
    ));
    let completed =
        "CallSid=CA1&CallStatus=completed&Direction=inbound&CallDuration=42&SequenceNumber=2";
    assert_eq!(rig.signed(completed).await, 200);
    assert_eq!(rig.signed(completed).await, 200);
    assert!(matches!(
        notices.recv().await.unwrap(),
        CallNotice::Ended(_)
    ));
    assert!(notices.try_recv().is_err());
    let all = calls().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, CallStatus::Completed);
    assert_eq!(all[0].end_reason, Some(CallEndReason::RemoteHungUp));

    // Bad input with a good signature: refused with 400, nothing stored.
    assert_eq!(rig.signed("Hello=world").await, 400);
    // Unknown event types are acknowledged and skipped.
    assert_eq!(
        rig.signed("CallSid=CA9&CallStatus=queued&Direction=inbound")
            .await,
        200
    );
    assert_eq!(calls().await.unwrap().len(), 1);

    // Unknown providers and paths.
    let http = reqwest::Client::new();
    let base = rig.url.rsplit_once("/webhooks/").unwrap().0;
    let missing = format!("{base}/webhooks/{}", uuid::Uuid::new_v4());
    assert_eq!(
        http.post(&missing).send().await.unwrap().status().as_u16(),
        404
    );
    let junk = format!("{base}/webhooks/..%2f..%2fetc");
    assert_eq!(
        http.post(&junk).send().await.unwrap().status().as_u16(),
        404
    );

    // Turned off: the port no longer answers.
    rig.ringdesk
        .set_webhooks(WebhookSettings::default())
        .await
        .unwrap();
    assert!(http.post(&rig.url).send().await.is_err());
    rig.ringdesk.close().await;
}

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

const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// A Ringdesk on a fresh journal with a Twilio provider (its Auth Token signs the webhooks).
async fn with_twilio(
    endpoints: Endpoints,
    caller_id: Option<&str>,
) -> (Ringdesk, ringdesk_core::Provider, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ringdesk = Ringdesk::open(AppConfig {
        data_dir: dir.path().to_path_buf(),
        keyring_service: format!("ringdesk-test-{}", uuid::Uuid::new_v4()),
        endpoints,
        region: "US".parse().unwrap(),
    })
    .await
    .unwrap();
    let mut credentials = ProviderCredentials::default();
    credentials.set(CredentialField::AccountSid, Some(SecretString::from(SID)));
    credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
    let provider = ringdesk
        .providers
        .create(NewProvider {
            kind: ProviderKind::Twilio,
            name: "Twilio".into(),
            credentials,
            default_caller_id: caller_id.map(str::to_string),
            record_calls: false,
            sip: None,
        })
        .await
        .unwrap();
    (ringdesk, provider, dir)
}

async fn rig() -> Rig {
    let (ringdesk, provider, dir) =
        with_twilio(Endpoints::all_at("http://127.0.0.1:9").unwrap(), None).await;
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

/// "Calls ring on: my phone" with Twilio: the agent's phone is rung with TwiML that dials the
/// contact, the call follows Twilio's status callbacks, and hang-up ends it at Twilio.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn calls_through_twilio_ring_the_agents_phone_then_the_contact() {
    use ringdesk_app::{CallControl, CallError, CallRouteInput, CallRouteMode};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let twilio = MockServer::start().await;
    let sid = SID;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{sid}/Calls.json")))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "CAagentleg"})),
        )
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{sid}/Calls/CAagentleg.json"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "completed"})),
        )
        .mount(&twilio)
        .await;
    let (ringdesk, provider, _dir) = with_twilio(
        Endpoints::all_at(&twilio.uri()).unwrap(),
        Some("+1 415 555 0100"),
    )
    .await;
    ringdesk.providers.activate(provider.id).await.unwrap();
    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: None,
        })
        .await
        .unwrap();
    let hook = format!("{}/webhooks/{}", view.base_url, provider.id.0);

    let refused = ringdesk
        .set_call_route(CallRouteInput {
            mode: CallRouteMode::Phone,
            phone: None,
            confirm_links: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, CallError::BadNumber(_)), "{refused}");
    ringdesk
        .set_call_route(CallRouteInput {
            mode: CallRouteMode::Phone,
            phone: Some("(415) 555-2671".into()),
            confirm_links: None,
        })
        .await
        .unwrap();

    let call = ringdesk
        .dial("+44 20 7946 0958".into(), None)
        .await
        .unwrap();
    assert_eq!(call.to, "+442079460958");
    assert_eq!(call.from, "+14155550100");
    assert_eq!(call.provider_call_id.as_deref(), Some("CAagentleg"));
    assert!(!ringdesk.live_calls().is_empty());
    assert!(matches!(
        ringdesk.dial("+44 20 7946 0958".into(), None).await,
        Err(CallError::Busy)
    ));
    let sent = &twilio.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("To"), Some("+14155552671"), "the agent's phone first");
    assert!(get("Twiml")
        .unwrap()
        .contains("<Number>+442079460958</Number>"));
    assert_eq!(get("StatusCallback"), Some(hook.as_str()));

    // Twilio reports the agent answered: the widget's call is in progress.
    assert_eq!(post_signed(&hook, AGENT_ANSWERED).await, 200);
    let active = ringdesk.live_calls().remove(0);
    assert_eq!(active.call.status, CallStatus::InProgress);
    // Mute and the keypad belong to the phone in the agent's hand.
    assert_eq!(
        ringdesk.call_control(None, CallControl::Mute(true)).await,
        Err(CallError::OnYourPhone)
    );
    // Hang up: Twilio is told, the journal completes, the widget goes.
    ringdesk
        .call_control(None, CallControl::Hangup)
        .await
        .unwrap();
    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&requests.last().unwrap().body),
        "Status=completed"
    );
    assert!(ringdesk.live_calls().is_empty());
    let journal = ringdesk.calls(&CallFilter::default()).await.unwrap();
    assert_eq!(journal[0].status, CallStatus::Completed);
    assert_eq!(journal[0].end_reason, Some(CallEndReason::HungUp));

    // Twilio's recording is ready: with no team server to keep it, the desktop copies it into
    // its recordings folder (one download, whatever the redeliveries) and the journal row
    // plays the copy.
    let mut audio = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    audio.extend(std::iter::repeat_n(9u8, 2000));
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{sid}/Recordings/RE1.mp3"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(audio.clone()))
        .expect(1)
        .mount(&twilio)
        .await;
    let ready = format!(
        "CallSid=CAagentleg&RecordingSid=RE1&RecordingStatus=completed&RecordingDuration=9&RecordingUrl={}",
        url::form_urlencoded::byte_serialize(
            format!("{}/2010-04-01/Accounts/{sid}/Recordings/RE1", twilio.uri()).as_bytes()
        )
        .collect::<String>()
    );
    let sent = std::time::Instant::now();
    assert_eq!(post_signed(&hook, &ready).await, 200);
    let kept = until("the recording is kept here", || async {
        let row = ringdesk
            .calls(&CallFilter::default())
            .await
            .unwrap()
            .remove(0);
        row.recording_url
            .as_deref()
            .is_some_and(|u| u.starts_with("file://"))
            .then_some(row)
    })
    .await;
    // A figure for the closing note (a local stand-in for Twilio's media host), not a timed
    // assertion.
    println!(
        "figure: recording-ready event → kept on the desktop and playable: {} ms",
        sent.elapsed().as_millis()
    );
    assert_eq!(post_signed(&hook, &ready).await, 200);
    assert_eq!(kept.recording_secs, Some(9));
    let file = ringdesk.recording_file(kept.id).await.unwrap();
    assert!(file.starts_with(ringdesk.recordings_folder()) && file.extension().unwrap() == "mp3");
    assert_eq!(std::fs::read(&file).unwrap(), audio);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = ringdesk
        .calls(&CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        after.recording_url, kept.recording_url,
        "the redelivery kept the copy"
    );
    ringdesk.close().await;
}

/// Polls `check` (every 50 ms, 10 s at most) until it gives something.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..200 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

const AGENT_ANSWERED: &str =
    "CallSid=CAagentleg&CallStatus=in-progress&Direction=outbound-api&SequenceNumber=1";

/// Posts `form` to `hook` signed with the account's Auth Token, as Twilio does.
async fn post_signed(hook: &str, form: &str) -> u16 {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let signature = twilio_signature(TOKEN.as_bytes(), hook, &params, TwilioAlgorithm::HmacSha1);
    reqwest::Client::new()
        .post(hook)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(form.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn a_call_on_the_agents_phone_is_passed_on_blind_through_twilio() {
    use ringdesk_app::{CallControl, CallError, CallRouteInput, CallRouteMode};
    use ringdesk_core::{TransferKind, TransferOutcome};
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let twilio = MockServer::start().await;
    let calls = format!("/2010-04-01/Accounts/{SID}/Calls.json");
    Mock::given(method("POST"))
        .and(path(calls.as_str()))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "CAagentleg"})),
        )
        .mount(&twilio)
        .await;
    // The contact is the agent leg's `<Dial>` child.
    Mock::given(method("GET"))
        .and(path(calls.as_str()))
        .and(query_param("ParentCallSid", "CAagentleg"))
        .and(query_param("Status", "in-progress"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "calls": [{"sid": "CAcontactleg", "parent_call_sid": "CAagentleg"}],
            "next_page_uri": null,
        })))
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/Calls/CAcontactleg.json"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/Calls/CAagentleg/Recordings/Twilio.CURRENT.json"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&twilio)
        .await;
    let (ringdesk, provider, _dir) = with_twilio(
        Endpoints::all_at(&twilio.uri()).unwrap(),
        Some("+1 415 555 0100"),
    )
    .await;
    ringdesk.providers.activate(provider.id).await.unwrap();
    ringdesk
        .providers
        .update(
            provider.id,
            ringdesk_core::ProviderUpdate {
                record_calls: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: None,
        })
        .await
        .unwrap();
    let hook = format!("{}/webhooks/{}", view.base_url, provider.id.0);
    ringdesk
        .set_call_route(CallRouteInput {
            mode: CallRouteMode::Phone,
            phone: Some("(415) 555-2671".into()),
            confirm_links: None,
        })
        .await
        .unwrap();
    ringdesk
        .dial("+44 20 7946 0958".into(), None)
        .await
        .unwrap();
    let transfer = |target: &str, kind| CallControl::Transfer {
        target: target.into(),
        kind,
    };
    // Not before the agent's phone is answered.
    let early = ringdesk
        .call_control(None, transfer("+44 20 7946 0959", TransferKind::Blind))
        .await
        .unwrap_err();
    assert!(matches!(early, CallError::NotNow(_)), "{early}");
    assert_eq!(post_signed(&hook, AGENT_ANSWERED).await, 200);
    let active = ringdesk.live_calls().remove(0);
    assert!(
        active.connected && active.blind_only.is_some(),
        "{active:?}"
    );
    // Twilio records it (the provider's "Record calls"): Record pauses it for card details,
    // skipping the time, and resumes it — the call in progress named, not its recording's SID.
    assert!(active.provider_recording && active.recording, "{active:?}");
    for on in [false, true] {
        ringdesk
            .call_control(None, CallControl::Record(on))
            .await
            .unwrap();
        let sent = twilio.received_requests().await.unwrap();
        let last = sent.last().unwrap();
        assert_eq!(
            last.url.path(),
            format!("/2010-04-01/Accounts/{SID}/Calls/CAagentleg/Recordings/Twilio.CURRENT.json")
        );
        let body = String::from_utf8_lossy(&last.body).into_owned();
        let expected = if on {
            "Status=in-progress"
        } else {
            "Status=paused&PauseBehavior=skip"
        };
        assert_eq!(body, expected);
        assert_eq!(ringdesk.live_calls()[0].recording, on);
    }
    // The dialog offers only what works: attended is refused with the reason, so is a SIP
    // address; nothing reaches Twilio.
    let before = twilio.received_requests().await.unwrap().len();
    let attended = ringdesk
        .call_control(None, transfer("+44 20 7946 0959", TransferKind::Attended))
        .await
        .unwrap_err();
    assert!(attended.to_string().contains("blind"), "{attended}");
    let sip = ringdesk
        .call_control(None, transfer("sip:ada@example.com", TransferKind::Blind))
        .await
        .unwrap_err();
    assert!(matches!(sip, CallError::BadNumber(_)), "{sip}");
    assert_eq!(twilio.received_requests().await.unwrap().len(), before);

    ringdesk
        .call_control(None, transfer("+44 20 7946 0959", TransferKind::Blind))
        .await
        .unwrap();
    let requests = twilio.received_requests().await.unwrap();
    let redirect = requests.last().unwrap();
    assert_eq!(
        redirect.url.path(),
        format!("/2010-04-01/Accounts/{SID}/Calls/CAcontactleg.json"),
        "the contact's leg is moved, not the agent's"
    );
    let body = String::from_utf8_lossy(&redirect.body).into_owned();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let twiml = &form.iter().find(|(k, _)| k == "Twiml").unwrap().1;
    assert!(twiml.contains("<Number>+442079460959</Number>"), "{twiml}");
    assert!(ringdesk.live_calls().is_empty());
    let journal = ringdesk.calls(&CallFilter::default()).await.unwrap();
    assert_eq!(journal[0].end_reason, Some(CallEndReason::Transferred));
    let kept = &journal[0].transfers;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].kind, TransferKind::Blind);
    assert_eq!(kept[0].outcome, TransferOutcome::Succeeded);
    assert_eq!(kept[0].to, "+442079460959");
    ringdesk.close().await;
}

/// "Set up softphone" with Twilio (Prism serving Twilio's spec checks every request), then
/// Twilio's voice requests as the receiver answers them: the softphone's calls go out with
/// the caller ID, calls to the account's numbers ring the softphone's login, forgeries and
/// strangers get nothing; deleting the provider removes the login.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session and the Prism spec mocks: run through scripts/test.sh"]
async fn twilio_softphone_set_up_then_its_calls_are_answered_with_twiml() {
    use ringdesk_core::{UserInput, UserSettings, UserStatus};

    let prism = std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh");
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    // Nothing registers for real here: the login's registrar is a closed port.
    endpoints.twilio_sip = Some("127.0.0.1:9".into());
    let (ringdesk, provider, _dir) = with_twilio(endpoints, Some("+1 212 555 0100")).await;
    // Ada, at this desktop, with no numbers of her own.
    let ada = |forwarding_number: Option<&str>, settings: UserSettings| UserInput {
        name: "Ada".into(),
        email: None,
        is_me: true,
        assigned_numbers: vec![],
        primary_number: None,
        forwarding_number: forwarding_number.map(str::to_string),
        settings,
    };
    let me = ringdesk
        .save_user(None, ada(None, UserSettings::default()))
        .await
        .unwrap();

    // Without the receiver Twilio could not ask what to do with calls: refused, plainly.
    let refused = ringdesk.setup_softphone(provider.id).await.unwrap_err();
    assert!(
        refused.to_string().contains("webhook receiver"),
        "{refused}"
    );

    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: Some(PUBLIC.into()),
        })
        .await
        .unwrap();
    let account = ringdesk.setup_softphone(provider.id).await.unwrap();
    let sip = account.settings.sip.clone().unwrap();
    let login = format!("ringdesk-{}", &me.id.to_string()[..8]);
    assert_eq!(sip.username, login);
    assert_eq!(
        sip.domain.as_deref(),
        Some("dunder-mifflin-scranton.sip.twilio.com")
    );
    assert!(account.is_active);

    let path = format!("/webhooks/{}/voice", provider.id.0);
    let url = format!("http://{}{path}", view.listening.unwrap());
    let http = reqwest::Client::new();
    let ask = |form: String, signature: Option<String>| {
        let mut request = http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone());
        let signature = signature.unwrap_or_else(|| {
            let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
                .into_owned()
                .collect();
            twilio_signature(
                TOKEN.as_bytes(),
                &format!("{PUBLIC}{path}"),
                &params,
                TwilioAlgorithm::HmacSha1,
            )
        });
        request = request.header("x-twilio-signature", signature);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (status, kind, response.text().await.unwrap())
        }
    };
    let domain = "dunder-mifflin-scranton.sip.twilio.com";

    // The softphone dials a national number: out with the provider's caller ID.
    let (status, kind, twiml) = ask(
        format!("CallSid=CA1&From=sip%3A{login}%40{domain}&To=sip%3A4155552671%40{domain}&Direction=inbound"),
        None,
    )
    .await;
    assert_eq!(
        (status, kind.as_deref()),
        (200, Some("text/xml; charset=utf-8"))
    );
    assert!(
        twiml.contains("<Dial answerOnBridge=\"true\" callerId=\"+12125550100\"><Number>+14155552671</Number></Dial>"),
        "{twiml}"
    );

    // A caller rings one of the account's numbers while the softphone is not registered
    // (its registrar is a closed port): I am offline, so nobody, then my forwarding number.
    let inbound = || {
        ask(
            "CallSid=CA2&From=%2B14155552671&To=%2B12125550100&Direction=inbound".into(),
            None,
        )
    };
    for _ in 0..100 {
        let users = ringdesk.agents.users().await.unwrap();
        if users[0].status == UserStatus::Offline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _, twiml) = inbound().await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("<Say>Sorry, nobody can take your call"),
        "{twiml}"
    );
    ringdesk
        .save_user(
            Some(me.id),
            ada(
                Some("(415) 555-0199"),
                UserSettings {
                    forward_when_offline: true,
                    ..UserSettings::default()
                },
            ),
        )
        .await
        .unwrap();
    let (_, _, twiml) = inbound().await;
    assert!(
        twiml.contains("<Dial answerOnBridge=\"true\"><Number>+14155550199</Number></Dial>"),
        "{twiml}"
    );

    // Another login on the domain is not ours; a forged request gets nothing at all.
    let (_, _, twiml) = ask(
        format!("CallSid=CA3&From=sip%3Amallory%40{domain}&To=sip%3A%2B14155552671%40{domain}"),
        None,
    )
    .await;
    assert!(twiml.contains("<Say>") && twiml.contains("<Hangup/>") && !twiml.contains("<Dial"));
    let (status, _, body) = ask(
        format!("CallSid=CA4&From=sip%3A{login}%40{domain}&To=sip%3A%2B14155552671%40{domain}"),
        Some("forged".into()),
    )
    .await;
    assert_eq!(status, 403);
    assert!(!body.contains("Dial"));

    // The login is listed as part of its provider (one card), and while it is the active one
    // the provider still serves calls on the agent's phone (Twilio's Calls API, by Prism).
    let listed = ringdesk.list_providers().await.unwrap();
    let (_, softphone) = listed.iter().find(|(p, _)| p.id == provider.id).unwrap();
    assert_eq!(*softphone, Some(account.id));
    // The receiver off: no status callback, whose repeated StatusCallbackEvent Prism 5 cannot
    // read as the array Twilio's spec declares (see the spec-mock tests).
    ringdesk
        .set_webhooks(WebhookSettings {
            enabled: false,
            bind: "127.0.0.1:0".into(),
            public_url: Some(PUBLIC.into()),
        })
        .await
        .unwrap();
    ringdesk
        .set_call_route(ringdesk_app::CallRouteInput {
            mode: ringdesk_app::CallRouteMode::Phone,
            phone: Some("(415) 555-2671".into()),
            confirm_links: None,
        })
        .await
        .unwrap();
    let placed = ringdesk
        .dial("+44 20 7946 0958".into(), None)
        .await
        .unwrap();
    assert_eq!(placed.provider_id, Some(provider.id));

    // The provider goes, and with it the SIP account made from it.
    ringdesk.delete_provider(provider.id).await.unwrap();
    assert!(ringdesk.providers.get(account.id).await.is_err());
    ringdesk.close().await;
}

/// A provider that takes forever to answer holds nothing up: while Twilio sits on the hang-up
/// request, the agent's next command is answered at once and the webhooks are applied (the
/// call slot and the receiver's lock are never held across a request to the provider).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn a_provider_that_does_not_answer_blocks_neither_the_agent_nor_the_webhooks() {
    use ringdesk_app::{CallControl, CallError, CallRouteInput, CallRouteMode};
    use std::time::Duration;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let twilio = MockServer::start().await;
    let sid = SID;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{sid}/Calls.json")))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "CAslow"})),
        )
        .mount(&twilio)
        .await;
    // The hang-up is never answered (within the test).
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{sid}/Calls/CAslow.json"
        )))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&twilio)
        .await;
    let (ringdesk, provider, _dir) = with_twilio(
        Endpoints::all_at(&twilio.uri()).unwrap(),
        Some("+1 415 555 0100"),
    )
    .await;
    ringdesk.providers.activate(provider.id).await.unwrap();
    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: None,
        })
        .await
        .unwrap();
    let hook = format!("{}/webhooks/{}", view.base_url, provider.id.0);
    ringdesk
        .set_call_route(CallRouteInput {
            mode: CallRouteMode::Phone,
            phone: Some("(415) 555-2671".into()),
            confirm_links: None,
        })
        .await
        .unwrap();
    ringdesk
        .dial("+44 20 7946 0958".into(), None)
        .await
        .unwrap();
    let ringdesk = std::sync::Arc::new(ringdesk);
    let hanging_up = {
        let ringdesk = ringdesk.clone();
        tokio::spawn(async move { ringdesk.call_control(None, CallControl::Hangup).await })
    };
    // The hang-up request has reached Twilio and waits there.
    while twilio.received_requests().await.unwrap().len() < 2 {
        tokio::task::yield_now().await;
    }
    // The agent can still ask for things…
    assert!(matches!(
        ringdesk.dial("+44 20 7946 0958".into(), None).await,
        Err(CallError::Busy)
    ));
    // …and Twilio's events are applied: the agent's leg answered, a new call ringing.
    let sign = |form: &str| {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        twilio_signature(TOKEN.as_bytes(), &hook, &params, TwilioAlgorithm::HmacSha1)
    };
    for form in [
        "CallSid=CAslow&CallStatus=in-progress&Direction=outbound-api&SequenceNumber=1",
        RINGING,
    ] {
        let status = reqwest::Client::new()
            .post(&hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sign(form))
            .body(form)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{form}");
    }
    assert!(!hanging_up.is_finished(), "Twilio still has the hang-up");
    let journal = ringdesk.calls(&CallFilter::default()).await.unwrap();
    assert!(journal.iter().any(|c| c.status == CallStatus::InProgress));
    assert!(journal.iter().any(|c| c.status == CallStatus::Ringing));
    hanging_up.abort();
}

/// A Vonage request or event as Vonage signs it.
fn vonage_signed(secret: &str, body: &str) -> String {
    ringdesk_test_support::carrier::vonage_signature(secret, body)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn a_call_on_the_agents_phone_through_vonage_is_recorded_and_kept_here() {
    use ringdesk_app::{CallRouteInput, CallRouteMode};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    const SECRET: &str = "vonage-signature-secret-0123456789";
    let audio = b"ID3\x04\x00\x00\x00\x00\x00\x00 a Vonage recording".to_vec();

    // Vonage's API: the call placed, the recording's file (on its own host, with the JWT).
    let vonage = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "uuid": "V-AGENT", "status": "started", "direction": "outbound",
            "conversation_uuid": "CON-9",
        })))
        .mount(&vonage)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/files/REC1"))
        .and(wiremock::matchers::header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(audio.clone()))
        .expect(1)
        .mount(&vonage)
        .await;
    let mut endpoints = Endpoints::all_at(&vonage.uri()).unwrap();
    endpoints.vonage_calls = format!("{}/v1/calls", vonage.uri()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ringdesk = Ringdesk::open(AppConfig {
        data_dir: dir.path().to_path_buf(),
        keyring_service: format!("ringdesk-test-{}", uuid::Uuid::new_v4()),
        endpoints,
        region: "US".parse().unwrap(),
    })
    .await
    .unwrap();
    let mut credentials = ProviderCredentials::default();
    for (field, value) in [
        (CredentialField::ApiKey, "abcd1234"),
        (CredentialField::ApiSecret, "vonage-api-secret-xyz"),
        (
            CredentialField::ApplicationId,
            "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        ),
        (
            CredentialField::PrivateKey,
            include_str!("../../providers/tests/fixtures/vonage_test_private.pem"),
        ),
        (CredentialField::WebhookSecret, SECRET),
    ] {
        credentials.set(field, Some(SecretString::from(value)));
    }
    let provider = ringdesk
        .providers
        .create(NewProvider {
            kind: ProviderKind::Vonage,
            name: "Vonage".into(),
            credentials,
            default_caller_id: Some("+1 415 555 0100".into()),
            record_calls: true,
            sip: None,
        })
        .await
        .unwrap();
    ringdesk.providers.activate(provider.id).await.unwrap();
    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: None,
        })
        .await
        .unwrap();
    let hook = format!("{}/webhooks/{}", view.base_url, provider.id.0);
    ringdesk
        .set_call_route(CallRouteInput {
            mode: CallRouteMode::Phone,
            phone: Some("(415) 555-2671".into()),
            confirm_links: None,
        })
        .await
        .unwrap();

    // Placed with this desktop as its answer: Vonage starts a recording only from an NCCO.
    let call = ringdesk
        .dial("+44 20 7946 0958".into(), None)
        .await
        .unwrap();
    assert_eq!(call.provider_call_id.as_deref(), Some("V-AGENT"));
    let placed: serde_json::Value =
        serde_json::from_slice(&vonage.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(placed["answer_url"][0], format!("{hook}/voice").as_str());
    assert_eq!(
        placed["to"][0]["number"], "14155552671",
        "the agent's phone"
    );
    assert!(
        ringdesk.live_calls()[0].recording,
        "recorded from the answer"
    );

    // The agent picks up; Vonage asks what next: record (this leg in the event's URL), then
    // the contact. A request for another leg is not this call's.
    let post = |url: String, body: String| async move {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .bearer_auth(vonage_signed(SECRET, &body))
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let asked =
        r#"{"uuid":"V-AGENT","conversation_uuid":"CON-9","from":"14155550100","to":"14155552671"}"#;
    let ncco: serde_json::Value = post(format!("{hook}/voice"), asked.into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ncco[0]["action"], "record", "{ncco}");
    assert_eq!(
        ncco[0]["eventUrl"],
        serde_json::json!([format!("{hook}?call=V-AGENT")]),
        "{ncco}"
    );
    assert_eq!(ncco[1]["action"], "connect", "{ncco}");
    assert_eq!(ncco[1]["from"], "14155550100", "{ncco}");
    assert_eq!(ncco[1]["endpoint"][0]["number"], "442079460958", "{ncco}");

    // The recording is ready: kept here, linked, playable; the provider's link never plays.
    let answered = r#"{"uuid":"V-AGENT","conversation_uuid":"CON-9","status":"answered","direction":"outbound","from":"14155550100","to":"14155552671","timestamp":"2026-12-07T10:00:03.000Z"}"#;
    assert_eq!(post(hook.clone(), answered.into()).await.status(), 200);
    let ready = format!(
        r#"{{"start_time":"2026-12-07T10:00:05Z","end_time":"2026-12-07T10:00:47Z","recording_url":"{}/v1/files/REC1","size":27,"recording_uuid":"r9","conversation_uuid":"CON-9","timestamp":"2026-12-07T10:00:48Z"}}"#,
        vonage.uri()
    );
    assert_eq!(
        post(format!("{hook}?call=V-AGENT"), ready).await.status(),
        200
    );
    let kept = until("the recording kept here", || async {
        let row = ringdesk
            .calls(&CallFilter::default())
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.id == call.id)?;
        row.recording_url
            .as_deref()
            .is_some_and(|u| u.starts_with("file://"))
            .then_some(row)
    })
    .await;
    assert_eq!(ringdesk.recording_audio(kept.id).await.unwrap(), audio);
}

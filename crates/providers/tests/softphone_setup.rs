//! Softphone set-up through Telnyx's and Twilio's APIs: against Prism serving each spec
//! (every request checked: filters, bodies, the numbers' updates), and against an in-process
//! server for what the specs' single examples cannot show — creating the resources, reusing
//! them on a second run, and removing exactly what was created.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ringdesk_core::ports::{ProvisionedResource, SoftphoneRequest};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn request(numbers: &[&str]) -> SoftphoneRequest {
    SoftphoneRequest {
        label: "ringdesk-0a1b2c3d".into(),
        group: None,
        numbers: numbers.iter().map(|n| n.to_string()).collect(),
        voice_url: Some(VOICE_URL.into()),
    }
}

const VOICE_URL: &str = "https://ringdesk.example.com/webhooks/4b1c/voice";

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn telnyx_setup_requests_follow_the_telnyx_spec() {
    let telnyx = telnyx(&std::env::var("RINGDESK_PRISM_TELNYX").expect("run scripts/test.sh"));
    let login = telnyx
        .provision_softphone(&request(&["1293384261075731499"]))
        .await
        .unwrap();
    // The spec's example credential (found by tag, so reused).
    assert_eq!(login.username, "gencrednCvHU5IYpSBPPsXI2iQsDX");
    assert_eq!(
        login.password.expose_secret(),
        "a92dbcfb60184a8cb330b0acb2f7617b"
    );
    assert_eq!(login.registrar, "sip.telnyx.com");
    telnyx.remove_provisioned(&login.created).await.unwrap();
}

/// A team's set-up: the agent's credential on the shared connection, the numbers on the
/// team's TeXML application whose voice URL is the team server (requests checked by Prism).
#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn telnyx_team_setup_requests_follow_the_telnyx_spec() {
    let telnyx = telnyx(&std::env::var("RINGDESK_PRISM_TELNYX").expect("run scripts/test.sh"));
    let login = telnyx
        .provision_softphone(&SoftphoneRequest {
            label: "ringdesk-0a1b2c3d".into(),
            group: Some("ringdesk-team".into()),
            numbers: vec!["1293384261075731499".into()],
            voice_url: Some(VOICE_URL.into()),
        })
        .await
        .unwrap();
    assert_eq!(login.username, "gencrednCvHU5IYpSBPPsXI2iQsDX");
    assert!(
        login.created.iter().any(|r| r.kind == "texml_application"),
        "{:?}",
        login.created
    );
    telnyx.remove_provisioned(&login.created).await.unwrap();
}

#[tokio::test]
async fn telnyx_setup_creates_once_reuses_after_and_removes_only_its_own() {
    let server = MockServer::start().await;
    let connections: Arc<Mutex<Vec<Value>>> = Arc::default();
    let credentials: Arc<Mutex<Vec<Value>>> = Arc::default();
    let deleted: Arc<Mutex<Vec<String>>> = Arc::default();
    let patched: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();

    let list = connections.clone();
    Mock::given(method("GET"))
        .and(path("/credential_connections"))
        .and(query_param(
            "filter[connection_name][contains]",
            "Ringdesk softphones",
        ))
        .respond_with(move |_: &Request| {
            ResponseTemplate::new(200).set_body_json(json!({ "data": *list.lock().unwrap() }))
        })
        .mount(&server)
        .await;
    let made = connections.clone();
    Mock::given(method("POST"))
        .and(path("/credential_connections"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            assert!(body["user_name"].as_str().unwrap().len() >= 4 && body["password"].is_string());
            let c = json!({ "id": "conn-1", "connection_name": body["connection_name"] });
            made.lock().unwrap().push(c.clone());
            ResponseTemplate::new(201).set_body_json(json!({ "data": c }))
        })
        .mount(&server)
        .await;
    let creds = credentials.clone();
    Mock::given(method("GET"))
        .and(path("/telephony_credentials"))
        .and(query_param("filter[tag]", "ringdesk-0a1b2c3d"))
        .respond_with(move |_: &Request| {
            ResponseTemplate::new(200).set_body_json(json!({ "data": *creds.lock().unwrap() }))
        })
        .mount(&server)
        .await;
    let creds = credentials.clone();
    Mock::given(method("POST"))
        .and(path("/telephony_credentials"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(body["connection_id"], "conn-1");
            assert_eq!(body["tag"], "ringdesk-0a1b2c3d");
            let c = json!({ "id": "cred-1", "sip_username": "gencredAAA", "sip_password": "s3cret", "expired": false });
            creds.lock().unwrap().push(c.clone());
            ResponseTemplate::new(201).set_body_json(json!({ "data": c }))
        })
        .mount(&server)
        .await;
    // 111 was on the team's PBX connection, 222 on none.
    Mock::given(method("GET"))
        .and(path("/phone_numbers/111"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "id": "111", "connection_id": "pbx-7" } })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/phone_numbers/222"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "id": "222", "connection_id": null } })),
        )
        .mount(&server)
        .await;
    let numbers = patched.clone();
    Mock::given(method("PATCH"))
        .and(wiremock::matchers::path_regex("^/phone_numbers/[0-9]+$"))
        .respond_with(move |req: &Request| {
            numbers.lock().unwrap().push((
                req.url.path().to_string(),
                serde_json::from_slice(&req.body).unwrap(),
            ));
            ResponseTemplate::new(200).set_body_json(json!({ "data": {} }))
        })
        .mount(&server)
        .await;
    let gone = deleted.clone();
    Mock::given(method("DELETE"))
        .respond_with(move |req: &Request| {
            gone.lock().unwrap().push(req.url.path().to_string());
            ResponseTemplate::new(200).set_body_json(json!({ "data": {} }))
        })
        .mount(&server)
        .await;

    let telnyx = telnyx(&server.uri());
    let first = telnyx
        .provision_softphone(&request(&["111", "222"]))
        .await
        .unwrap();
    assert_eq!(
        (first.username.as_str(), first.password.expose_secret()),
        ("gencredAAA", "s3cret")
    );
    let number = |id: &str, was: &str| ProvisionedResource {
        kind: "number_connection".into(),
        id: id.into(),
        restore: Some(was.into()),
    };
    assert_eq!(
        first.created,
        [
            ProvisionedResource::created("credential_connection", "conn-1"),
            ProvisionedResource::created("telephony_credential", "cred-1"),
            number("111", "pbx-7"),
            number("222", ""),
        ]
    );
    assert_eq!(
        *patched.lock().unwrap(),
        [
            (
                "/phone_numbers/111".to_string(),
                json!({ "connection_id": "conn-1" })
            ),
            (
                "/phone_numbers/222".to_string(),
                json!({ "connection_id": "conn-1" })
            ),
        ]
    );

    // Again: everything is found, nothing new is made.
    let second = telnyx.provision_softphone(&request(&[])).await.unwrap();
    assert!(second.created.is_empty());
    assert_eq!(second.username, "gencredAAA");
    assert_eq!(connections.lock().unwrap().len(), 1);
    assert_eq!(credentials.lock().unwrap().len(), 1);

    // Removal: the numbers back where they were, the credential, then its connection;
    // nothing else.
    patched.lock().unwrap().clear();
    telnyx.remove_provisioned(&first.created).await.unwrap();
    assert_eq!(
        *patched.lock().unwrap(),
        [
            (
                "/phone_numbers/111".to_string(),
                json!({ "connection_id": "pbx-7" })
            ),
            (
                "/phone_numbers/222".to_string(),
                json!({ "connection_id": "" })
            ),
        ]
    );
    assert_eq!(
        *deleted.lock().unwrap(),
        [
            "/telephony_credentials/cred-1",
            "/credential_connections/conn-1"
        ]
    );
}

#[tokio::test]
async fn vonage_says_plainly_it_has_no_softphone_login() {
    let err = vonage(at("http://127.0.0.1:9"))
        .provision_softphone(&request(&[]))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Vonage does not support setting up a softphone login"),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn twilio_setup_requests_follow_the_twilio_spec() {
    let twilio = twilio(&std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh"));
    let login = twilio
        .provision_softphone(&request(&["PN0123456789abcdef0123456789abcdef"]))
        .await
        .unwrap();
    // The domain is the spec's example; the login is ours (Twilio never returns passwords).
    assert_eq!(
        login.domain.as_deref(),
        Some("dunder-mifflin-scranton.sip.twilio.com")
    );
    assert_eq!(login.registrar, "dunder-mifflin-scranton.sip.twilio.com");
    assert_eq!(login.username, "ringdesk-0a1b2c3d");
    assert_eq!(login.password.expose_secret().len(), 32);
    let kinds: Vec<&str> = login.created.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["sip_credential_list", "sip_domain", "number_routing"]
    );
    // The spec's example number had no voice URL; putting that back sends an empty one, which
    // Twilio takes as "clear" but the spec's `format: uri` refuses — so the spec checks the
    // put-back of a number that had a URL, and the rest as made.
    let mut made = login.created.clone();
    made.retain(|r| r.kind != "number_routing");
    made.push(ProvisionedResource {
        kind: "number_routing".into(),
        id: "PN0123456789abcdef0123456789abcdef".into(),
        restore: Some(
            r#"[["VoiceUrl","https://pbx.example.com/voice"],["VoiceMethod","GET"]]"#.into(),
        ),
    });
    twilio.remove_provisioned(&made).await.unwrap();
}

#[tokio::test]
async fn twilio_setup_needs_the_webhook_receiver() {
    let mut no_receiver = request(&[]);
    no_receiver.voice_url = None;
    let err = twilio("http://127.0.0.1:9")
        .provision_softphone(&no_receiver)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("turn the receiver on"), "{err}");
}

type Form = Vec<(String, String)>;

/// A Twilio account as far as the SIP set-up sees it.
#[derive(Default)]
struct TwilioAccount {
    lists: Vec<Value>,
    credentials: Vec<Value>,
    domains: Vec<Value>,
    mappings: Vec<(String, String)>,
    /// Numbers whose calls go to the voice URL now.
    pointed: Vec<&'static str>,
    /// (method, path, form) of every write.
    writes: Vec<(String, String, Form)>,
}

fn form(req: &Request) -> Form {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// A stateful fake of the account's SIP resources behind `server`.
async fn fake_twilio(server: &MockServer) -> Arc<Mutex<TwilioAccount>> {
    let account: Arc<Mutex<TwilioAccount>> = Arc::default();
    let base = format!("/2010-04-01/Accounts/{TWILIO_SID}/SIP");
    let state = account.clone();
    let prefix = base.clone();
    Mock::given(wiremock::matchers::path_regex("^/2010-04-01/Accounts/AC[0-9]+/"))
        .respond_with(move |req: &Request| {
            let mut a = state.lock().unwrap();
            let route = req.url.path().strip_prefix(&prefix).unwrap_or(req.url.path()).to_string();
            let page = req.url.query_pairs().find(|(k, _)| k == "Page").map(|(_, v)| v.into_owned());
            let json = |v: Value| ResponseTemplate::new(200).set_body_json(v);
            if req.method.as_str() == "GET" {
                return match route.as_str() {
                    // Someone else's list on page 1, ours (if any) on page 2.
                    "/CredentialLists.json" if page.is_none() => json(json!({
                        "credential_lists": [{ "sid": "CLother", "friendly_name": "Front desk" }],
                        "next_page_uri": format!("{prefix}/CredentialLists.json?Page=1&PageToken=PA1"),
                    })),
                    "/CredentialLists.json" => json(json!({ "credential_lists": a.lists, "next_page_uri": null })),
                    "/CredentialLists/CL1/Credentials.json" => json(json!({ "credentials": a.credentials })),
                    "/Domains.json" => json(json!({ "domains": a.domains })),
                    // PN1 went to the team's own URL; PN2 to a TwiML app (which would win
                    // over any URL). Once pointed, both go to the voice URL.
                    r if r.contains("/IncomingPhoneNumbers/") => {
                        let pn = if r.ends_with("PN1.json") { "PN1" } else { "PN2" };
                        json(if a.pointed.contains(&pn) {
                            json!({ "voice_url": VOICE_URL, "voice_method": "POST", "voice_application_sid": "", "trunk_sid": null })
                        } else if pn == "PN1" {
                            json!({ "voice_url": "https://pbx.example.com/voice", "voice_method": "GET", "voice_application_sid": "", "trunk_sid": null })
                        } else {
                            json!({ "voice_url": null, "voice_method": "POST", "voice_application_sid": "AP0123456789abcdef0123456789abcdef", "trunk_sid": null })
                        })
                    }
                    r => {
                        let scope = r.split('/').nth(4).unwrap_or_default().to_string();
                        let contents: Vec<Value> = a.mappings.iter().filter(|(s, _)| *s == scope)
                            .map(|(_, l)| json!({ "sid": l })).collect();
                        json(json!({ "contents": contents }))
                    }
                };
            }
            let body = form(req);
            a.writes.push((req.method.to_string(), route.clone(), body.clone()));
            let created = |v: Value| ResponseTemplate::new(201).set_body_json(v);
            match (req.method.as_str(), route.as_str()) {
                ("POST", "/CredentialLists.json") => {
                    let l = json!({ "sid": "CL1", "friendly_name": field(&body, "FriendlyName") });
                    a.lists.push(l.clone());
                    created(l)
                }
                ("POST", "/CredentialLists/CL1/Credentials.json") => {
                    let c = json!({ "sid": "CR1", "username": field(&body, "Username") });
                    a.credentials.push(c.clone());
                    created(c)
                }
                ("POST", "/Domains.json") => {
                    let d = json!({ "sid": "SD1", "domain_name": field(&body, "DomainName"), "friendly_name": field(&body, "FriendlyName") });
                    a.domains.push(d.clone());
                    created(d)
                }
                ("POST", "/Domains/SD1.json") => json(a.domains[0].clone()),
                ("POST", r) if r.ends_with("CredentialListMappings.json") => {
                    let scope = r.split('/').nth(4).unwrap_or_default().to_string();
                    a.mappings.push((scope, field(&body, "CredentialListSid").to_string()));
                    created(json!({ "sid": field(&body, "CredentialListSid") }))
                }
                ("DELETE", _) => ResponseTemplate::new(204),
                ("POST", r) if r.contains("/IncomingPhoneNumbers/") => {
                    let pn = if r.ends_with("PN1.json") { "PN1" } else { "PN2" };
                    if field(&body, "VoiceUrl") == VOICE_URL {
                        a.pointed.push(pn);
                    } else {
                        a.pointed.retain(|p| *p != pn);
                    }
                    json(json!({ "sid": pn }))
                }
                _ => json(json!({ "sid": "X" })),
            }
        })
        .mount(server)
        .await;
    account
}

#[tokio::test]
async fn twilio_setup_creates_once_reuses_after_and_removes_only_its_own() {
    let server = MockServer::start().await;
    let account = fake_twilio(&server).await;

    let twilio = twilio(&server.uri());
    let first = twilio
        .provision_softphone(&request(&["PN1", "PN2"]))
        .await
        .unwrap();
    let domain = first.domain.clone().unwrap();
    assert!(
        domain.starts_with("ringdesk-0a1b2c3d-") && domain.ends_with(".sip.twilio.com"),
        "{domain}"
    );
    assert_eq!(
        (first.registrar.as_str(), first.username.as_str()),
        (domain.as_str(), "ringdesk-0a1b2c3d")
    );
    let number = |id: &str, restore: &str| ProvisionedResource {
        kind: "number_routing".into(),
        id: id.into(),
        restore: Some(restore.into()),
    };
    assert_eq!(
        first.created,
        [
            ProvisionedResource::created("sip_credential_list", "CL1"),
            ProvisionedResource::created("sip_domain", "SD1"),
            number(
                "PN1",
                r#"[["VoiceUrl","https://pbx.example.com/voice"],["VoiceMethod","GET"]]"#
            ),
            number(
                "PN2",
                r#"[["VoiceUrl",""],["VoiceMethod","POST"],["VoiceApplicationSid","AP0123456789abcdef0123456789abcdef"]]"#
            ),
        ]
    );
    {
        let a = account.lock().unwrap();
        let writes: Vec<(&str, &str)> = a
            .writes
            .iter()
            .map(|(m, p, _)| (m.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            writes,
            [
                ("POST", "/CredentialLists.json"),
                ("POST", "/CredentialLists/CL1/Credentials.json"),
                ("POST", "/Domains.json"),
                ("POST", "/Domains/SD1/Auth/Registrations/CredentialListMappings.json"),
                ("POST", "/Domains/SD1/Auth/Calls/CredentialListMappings.json"),
                ("POST", "/2010-04-01/Accounts/AC00000000000000000000000000000001/IncomingPhoneNumbers/PN1.json"),
                ("POST", "/2010-04-01/Accounts/AC00000000000000000000000000000001/IncomingPhoneNumbers/PN2.json"),
            ]
        );
        let credential = &a.writes[1].2;
        assert_eq!(
            field(credential, "Password"),
            first.password.expose_secret()
        );
        let domain_form = &a.writes[2].2;
        assert_eq!(field(domain_form, "SipRegistration"), "true");
        assert_eq!(field(domain_form, "VoiceUrl"), VOICE_URL);
        assert_eq!(
            field(domain_form, "FriendlyName"),
            "Ringdesk softphone ringdesk-0a1b2c3d"
        );
        assert_eq!(field(&a.writes[5].2, "VoiceUrl"), VOICE_URL);
        // The TwiML app on PN2 is detached, or Twilio would never ask the voice URL.
        assert!(!a.writes[5]
            .2
            .iter()
            .any(|(k, _)| k == "VoiceApplicationSid"));
        assert_eq!(
            a.writes[6]
                .2
                .iter()
                .find(|(k, _)| k == "VoiceApplicationSid")
                .map(|(_, v)| v.as_str()),
            Some("")
        );
        assert_eq!(field(&a.writes[5].2, "VoiceMethod"), "POST");
    }

    // Again: all found; the credential gets a new password (Twilio keeps none to give back),
    // the domain is pointed at the receiver again, nothing new is made.
    account.lock().unwrap().writes.clear();
    let second = twilio
        .provision_softphone(&request(&["PN1", "PN2"]))
        .await
        .unwrap();
    assert!(second.created.is_empty(), "{:?}", second.created);
    assert_eq!(second.domain.as_deref(), Some(domain.as_str()));
    assert_ne!(
        second.password.expose_secret(),
        first.password.expose_secret()
    );
    {
        let a = account.lock().unwrap();
        let writes: Vec<(&str, &str)> = a
            .writes
            .iter()
            .map(|(m, p, _)| (m.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            writes,
            [
                ("POST", "/CredentialLists/CL1/Credentials/CR1.json"),
                ("POST", "/Domains/SD1.json"),
            ]
        );
        assert_eq!(
            field(&a.writes[0].2, "Password"),
            second.password.expose_secret()
        );
        assert_eq!(
            (
                a.lists.len(),
                a.credentials.len(),
                a.domains.len(),
                a.mappings.len()
            ),
            (1, 1, 1, 2)
        );
        // The other list was never touched.
        assert!(!a.writes.iter().any(|(_, p, _)| p.contains("CLother")));
    }

    // Removal: the numbers routed as they were, the domain, then the list; nothing else.
    account.lock().unwrap().writes.clear();
    twilio.remove_provisioned(&first.created).await.unwrap();
    let a = account.lock().unwrap();
    let writes: Vec<(&str, &str)> = a
        .writes
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    let numbers = "/2010-04-01/Accounts/AC00000000000000000000000000000001/IncomingPhoneNumbers";
    let (pn1, pn2) = (format!("{numbers}/PN1.json"), format!("{numbers}/PN2.json"));
    assert_eq!(
        writes,
        [
            ("POST", pn1.as_str()),
            ("POST", pn2.as_str()),
            ("DELETE", "/Domains/SD1.json"),
            ("DELETE", "/CredentialLists/CL1.json")
        ]
    );
    assert_eq!(
        field(&a.writes[0].2, "VoiceUrl"),
        "https://pbx.example.com/voice"
    );
    assert_eq!(field(&a.writes[0].2, "VoiceMethod"), "GET");
    assert_eq!(
        field(&a.writes[1].2, "VoiceApplicationSid"),
        "AP0123456789abcdef0123456789abcdef"
    );
}

#[tokio::test]
async fn a_teams_agents_share_one_domain_with_a_login_each() {
    let server = MockServer::start().await;
    let account = fake_twilio(&server).await;
    let twilio = twilio(&server.uri());
    let agent = |label: &str| SoftphoneRequest {
        label: label.into(),
        group: Some("ringdesk-team".into()),
        numbers: vec![],
        voice_url: Some(VOICE_URL.into()),
    };
    let bea = twilio
        .provision_softphone(&agent("ringdesk-bea"))
        .await
        .unwrap();
    let dan = twilio
        .provision_softphone(&agent("ringdesk-dan"))
        .await
        .unwrap();
    let domain = bea.domain.clone().unwrap();
    assert!(domain.starts_with("ringdesk-team-"), "{domain}");
    assert_eq!(dan.domain.as_deref(), Some(domain.as_str()));
    assert_eq!(
        (bea.username.as_str(), dan.username.as_str()),
        ("ringdesk-bea", "ringdesk-dan")
    );
    assert!(
        dan.created.is_empty(),
        "Dan's login made nothing new but his credential: {:?}",
        dan.created
    );
    let a = account.lock().unwrap();
    assert_eq!((a.lists.len(), a.domains.len()), (1, 1));
    let users: Vec<&str> = a
        .credentials
        .iter()
        .filter_map(|c| c["username"].as_str())
        .collect();
    assert_eq!(users, ["ringdesk-bea", "ringdesk-dan"]);
    assert_eq!(
        a.domains[0]["friendly_name"].as_str(),
        Some("Ringdesk softphone ringdesk-team")
    );
}

//! Queues on the team server (not a timed test; run `cargo bench -p ringdesk-server --bench
//! queues`), everything in-process over loopback with Twilio's signed requests:
//! 1. 50 callers waiting across 5 queues (4 agents each, all on calls), then the agents free
//!    up: rounds of every waiting caller's next step (as after a play of hold music; the
//!    first four of each queue ring an agent, the others hold again) until each has been
//!    offered — the latency of the server's decision per step (p50/p99) and of the steps
//!    that rang an agent.
//! 2. Round-robin over 3 agents, 1 000 calls through the real steps (arrive → offered →
//!    answered → over): offers per agent.
//! 3. Voicemail: from the provider's "recording ready" request to the message copied (the
//!    audio fetched from a stand-in of the provider's API) and its box told on the live
//!    link.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ringdesk_core::ports::{NumberCapabilities, NumberType, ProviderNumber};
use ringdesk_core::queue::{Overflow, Queue, QueueId, Strategy};
use ringdesk_core::team::{AgentLogin, Presence, Role};
use ringdesk_core::{
    CredentialField, E164Number, NewProvider, ProviderCredentials, ProviderKind, RouteInput,
    UserId, UserInput, UserSettings,
};
use ringdesk_providers::webhook::{twilio_signature, TwilioAlgorithm};
use ringdesk_providers::Endpoints;
use ringdesk_server::config::ServerConfig;
use ringdesk_server::team::Team;
use ringdesk_server::Server;
use secrecy::SecretString;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "bench-auth-token";
const PUBLIC: &str = "https://team.example.com";

struct Twilio {
    http: reqwest::Client,
    address: String,
}

impl Twilio {
    /// A signed POST to `url` (the server's public URL or a path); the TwiML answered.
    async fn post(&self, url: &str, form: &[(&str, &str)]) -> String {
        let path = url.strip_prefix(PUBLIC).unwrap_or(url);
        let params: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let signature = twilio_signature(
            TOKEN.as_bytes(),
            &format!("{PUBLIC}{path}"),
            &params,
            TwilioAlgorithm::HmacSha1,
        );
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let answer = self
            .http
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.text().await.unwrap()
    }
}

/// `name`="…" of an answer, unescaped.
fn attribute(twiml: &str, name: &str) -> Option<String> {
    let start = twiml.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + twiml[start..].find('"')?;
    Some(twiml[start..end].replace("&amp;", "&"))
}

/// The `<Redirect>` of a hold answer.
fn redirect(twiml: &str) -> Option<String> {
    let start = twiml.find("<Redirect method=\"POST\">")? + 24;
    let end = start + twiml[start..].find('<')?;
    Some(twiml[start..end].replace("&amp;", "&"))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

async fn agent(
    team: &Team,
    provider: ringdesk_core::ProviderId,
    n: usize,
) -> (UserId, ringdesk_core::team::DeviceId) {
    let user = team
        .agents
        .save_user(
            None,
            UserInput {
                name: format!("Agent {n}"),
                email: None,
                is_me: false,
                assigned_numbers: vec![],
                primary_number: None,
                forwarding_number: None,
                settings: UserSettings::default(),
            },
        )
        .await
        .unwrap();
    team.repo
        .save_login(&AgentLogin {
            user_id: user.id,
            provider_id: provider,
            sip_user: format!("ringdesk-{n}"),
            sip_domain: "team.sip.twilio.com".into(),
            registrar: "team.sip.twilio.com".into(),
        })
        .await
        .unwrap();
    let invite = team.invite(user.id, Role::Agent).await.unwrap();
    let (_, device) = team.join(&invite.code, "bench").await.unwrap().unwrap();
    (user.id, device.id)
}

fn queue(name: &str, strategy: Strategy, members: Vec<UserId>) -> Queue {
    Queue {
        id: QueueId::new(),
        name: name.into(),
        strategy,
        members,
        ring_timeout_secs: 20,
        max_wait_secs: 3600,
        max_size: 1000,
        overflow: Overflow::Voicemail,
        greeting: None,
    }
}

/// A stand-in of Twilio's API that serves any recording asked for.
async fn recordings_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let wav = include_bytes!("../../../assets/audio/speech-8k.wav");
    let app = axum::Router::new()
        .fallback(move || async move { ([("content-type", "audio/wav")], wav.as_slice()) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        public_url: Some(PUBLIC.into()),
        data_dir: dir.path().to_path_buf(),
        presence_grace_secs: 3600,
        ..ServerConfig::default()
    }
    .checked()
    .unwrap();
    let mut endpoints = Endpoints::all_at("http://127.0.0.1:9").unwrap();
    let api = recordings_api().await;
    endpoints.twilio = api.parse().unwrap();
    let (server, listener) = Server::bind(&config, endpoints).await.unwrap();
    let twilio = Twilio {
        http: reqwest::Client::new(),
        address: format!("http://{}", listener.local_addr().unwrap()),
    };
    let team = server.shared.team.clone();
    let store = server.shared.store.clone();
    tokio::spawn(server.serve(listener, std::future::pending()));

    let mut credentials = ProviderCredentials::default();
    credentials.set(CredentialField::AccountSid, Some(SecretString::from(SID)));
    credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
    let provider = team
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
    let numbers: Vec<ProviderNumber> = (0..6)
        .map(|i| ProviderNumber {
            phone_number: E164Number::parse_international(&format!("+1212555010{i}")).unwrap(),
            friendly_name: None,
            number_type: NumberType::Local,
            country: Some("US".into()),
            capabilities: NumberCapabilities::default(),
            provider_number_id: format!("PN{i}"),
        })
        .collect();
    store.numbers().sync(provider.id, &numbers).await.unwrap();
    let mut numbers = team.agents.numbers().await.unwrap();
    numbers.sort_by_key(|n| n.phone_number.to_string());
    let queues = store.queues();
    let voice = format!("/webhooks/{}/voice", provider.id);

    // 1. Five queues of four agents, all on calls; ten callers waiting in each.
    let mut devices = Vec::new();
    for (q, number) in numbers.iter().take(5).enumerate() {
        let mut members = Vec::new();
        for a in 0..4 {
            let (user, device) = agent(&team, provider.id, q * 4 + a).await;
            team.set_presence(device, Presence::OnCall).await.unwrap();
            members.push(user);
            devices.push(device);
        }
        let sales = queue(&format!("Queue {q}"), Strategy::RoundRobin, members);
        queues.save(&sales).await.unwrap();
        team.agents
            .set_route(
                number.id,
                Some(RouteInput::Queue {
                    queue: sales.id.to_string(),
                }),
            )
            .await
            .unwrap();
    }
    let mut waiting = Vec::new();
    for i in 0..50 {
        let to = numbers[i % 5].phone_number.to_string();
        let sid = format!("CA{i:032}");
        let answer = twilio
            .post(
                &voice,
                &[("CallSid", &sid), ("From", "+14155552671"), ("To", &to)],
            )
            .await;
        waiting.push((sid, redirect(&answer).expect("every caller holds")));
    }
    for device in &devices {
        team.set_presence(*device, Presence::Available)
            .await
            .unwrap();
    }
    let mut steps = Vec::new();
    let mut rang = Vec::new();
    // In rounds: every waiting caller's next step (those ahead take the free agents, the others
    // hold again), then the calls offered are answered and end, freeing their agents.
    while !waiting.is_empty() {
        let mut still = Vec::new();
        let mut offered = Vec::new();
        for (sid, next) in waiting {
            let begun = Instant::now();
            let answer = twilio.post(&next, &[("CallSid", &sid)]).await;
            let took = begun.elapsed();
            steps.push(took);
            match attribute(&answer, "url") {
                Some(answered) => {
                    rang.push(took);
                    offered.push((sid, answered, attribute(&answer, "action").unwrap()));
                }
                None => still.push((sid, redirect(&answer).expect("holds again"))),
            }
        }
        for (sid, answered, after) in offered {
            twilio.post(&answered, &[("CallSid", "CAleg")]).await;
            twilio
                .post(
                    &after,
                    &[("CallSid", &sid), ("DialCallStatus", "completed")],
                )
                .await;
        }
        waiting = still;
    }
    steps.sort();
    rang.sort();
    println!(
        "50 callers waiting across 5 queues, agents freed: {} steps, p50 {:.2?} p99 {:.2?}; the {} that rang an agent p50 {:.2?} p99 {:.2?}",
        steps.len(),
        percentile(&steps, 50),
        percentile(&steps, 99),
        rang.len(),
        percentile(&rang, 50),
        percentile(&rang, 99),
    );

    // 2. Round-robin fairness over 1 000 calls.
    let mut trio = Vec::new();
    for a in 0..3 {
        let (user, device) = agent(&team, provider.id, 100 + a).await;
        team.set_presence(device, Presence::Available)
            .await
            .unwrap();
        trio.push(user);
    }
    let fair = queue("Fair", Strategy::RoundRobin, trio.clone());
    queues.save(&fair).await.unwrap();
    team.agents
        .set_route(
            numbers[5].id,
            Some(RouteInput::Queue {
                queue: fair.id.to_string(),
            }),
        )
        .await
        .unwrap();
    let mut offers: HashMap<String, usize> = HashMap::new();
    let to = numbers[5].phone_number.to_string();
    let started = Instant::now();
    for i in 0..1000 {
        let sid = format!("CB{i:032}");
        let answer = twilio
            .post(
                &voice,
                &[("CallSid", &sid), ("From", "+14155552671"), ("To", &to)],
            )
            .await;
        let answered = attribute(&answer, "url").expect("an agent is free");
        let who = answered
            .split("agent=")
            .nth(1)
            .and_then(|a| a.split('&').next())
            .unwrap()
            .to_string();
        *offers.entry(who).or_default() += 1;
        twilio.post(&answered, &[("CallSid", "CBleg")]).await;
        let after = attribute(&answer, "action").unwrap();
        twilio
            .post(
                &after,
                &[("CallSid", &sid), ("DialCallStatus", "completed")],
            )
            .await;
    }
    let mut counts: Vec<usize> = offers.values().copied().collect();
    counts.sort();
    println!(
        "round robin over 3 agents, 1000 calls through the steps ({:.1?}): offers per agent {counts:?}",
        started.elapsed()
    );

    // 3. Voicemail: "recording ready" → copied, and the box's agent told. Her desktop is
    //    not signed in, so the queue takes a message at once.
    let absent = team
        .agents
        .save_user(
            None,
            UserInput {
                name: "Absent".into(),
                email: None,
                is_me: false,
                assigned_numbers: vec![],
                primary_number: None,
                forwarding_number: None,
                settings: UserSettings::default(),
            },
        )
        .await
        .unwrap();
    let lonely = queue("Nobody", Strategy::RingAll, vec![absent.id]);
    queues.save(&lonely).await.unwrap();
    team.agents
        .set_route(
            numbers[5].id,
            Some(RouteInput::Queue {
                queue: lonely.id.to_string(),
            }),
        )
        .await
        .unwrap();
    let mut told = Vec::new();
    for i in 0..20 {
        let sid = format!("CC{i:032}");
        let answer = twilio
            .post(
                &voice,
                &[("CallSid", &sid), ("From", "+14155552671"), ("To", &to)],
            )
            .await;
        let ready = attribute(&answer, "recordingStatusCallback").expect("a message is taken");
        let recording = format!("{api}/2010-04-01/Accounts/{SID}/Recordings/RE{i:032}");
        let begun = Instant::now();
        twilio
            .post(
                &ready,
                &[
                    ("CallSid", &sid),
                    ("RecordingUrl", &recording),
                    ("RecordingDuration", "4"),
                    ("RecordingStatus", "completed"),
                ],
            )
            .await;
        // Her desktop is told in the same step that marks the message copied.
        loop {
            let listed = queues.voicemails(absent.id, None, None).await.unwrap();
            if listed
                .iter()
                .any(|v| v.provider_call_id == sid && v.has_audio)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        told.push(begun.elapsed());
    }
    told.sort();
    println!(
        "voicemail, recording ready → copied to the server and its agent told (20 messages): p50 {:.2?} p99 {:.2?}",
        percentile(&told, 50),
        percentile(&told, 99)
    );
}

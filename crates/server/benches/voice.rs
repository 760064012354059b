//! The team server under load (not a timed test; run `cargo bench -p ringdesk-server --bench
//! voice`): Twilio voice requests, each signed with the account's Auth Token and verified by
//! the server, sent open-loop at 200 a second over loopback — the decision's latency at the
//! server's door (p50/p99) — then call-event webhooks from 16 senders at once as fast as the
//! server takes them (events a second, each applied to the team journal once), and the
//! process's memory. Everything in-process on this machine; no provider is reached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringdesk_core::ports::{NumberCapabilities, NumberType, ProviderNumber};
use ringdesk_core::team::{AgentLogin, Presence, Role};
use ringdesk_core::{
    CredentialField, E164Number, NewProvider, ProviderCredentials, ProviderKind, RouteInput,
    UserInput, UserSettings,
};
use ringdesk_providers::webhook::{twilio_signature, TwilioAlgorithm};
use ringdesk_providers::Endpoints;
use ringdesk_server::config::ServerConfig;
use ringdesk_server::Server;
use secrecy::SecretString;

const TOKEN: &str = "bench-auth-token";
const PUBLIC: &str = "https://team.example.com";
const RATE: u64 = 200;
const SECONDS: u64 = 15;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn signed(path: &str, form: &str) -> String {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    twilio_signature(
        TOKEN.as_bytes(),
        &format!("{PUBLIC}{path}"),
        &params,
        TwilioAlgorithm::HmacSha1,
    )
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        public_url: Some(PUBLIC.into()),
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    }
    .checked()
    .unwrap();
    let endpoints = Endpoints::all_at("http://127.0.0.1:9").unwrap();
    let (server, listener) = Server::bind(&config, endpoints).await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let team = server.shared.team.clone();
    let store = server.shared.store.clone();
    tokio::spawn(server.serve(listener, std::future::pending()));
    let idle = rss_kib();

    // The team: a Twilio account, one number routed to Bea, her login, her desktop there.
    let mut credentials = ProviderCredentials::default();
    credentials.set(
        CredentialField::AccountSid,
        Some(SecretString::from("AC0123456789abcdef0123456789abcdef")),
    );
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
    let number = E164Number::parse_international("+12125550100").unwrap();
    store
        .numbers()
        .sync(
            provider.id,
            &[ProviderNumber {
                phone_number: number.clone(),
                friendly_name: None,
                number_type: NumberType::Local,
                country: Some("US".into()),
                capabilities: NumberCapabilities::default(),
                provider_number_id: "PN1".into(),
            }],
        )
        .await
        .unwrap();
    let number_id = team.agents.numbers().await.unwrap()[0].id;
    let bea = team
        .agents
        .save_user(
            None,
            UserInput {
                name: "Bea".into(),
                email: None,
                is_me: false,
                assigned_numbers: vec![number_id],
                primary_number: Some(number_id),
                forwarding_number: Some("+14155550199".into()),
                settings: UserSettings::default(),
            },
        )
        .await
        .unwrap();
    team.agents
        .set_route(number_id, Some(RouteInput::User { user_id: bea.id }))
        .await
        .unwrap();
    team.repo
        .save_login(&AgentLogin {
            user_id: bea.id,
            provider_id: provider.id,
            sip_user: "ringdesk-bea".into(),
            sip_domain: "team.sip.twilio.com".into(),
            registrar: "team.sip.twilio.com".into(),
        })
        .await
        .unwrap();
    let invite = team.invite(bea.id, Role::Agent).await.unwrap();
    let (_, device) = team.join(&invite.code, "bench").await.unwrap().unwrap();
    team.set_presence(device.id, Presence::Available)
        .await
        .unwrap();

    // Voice requests, open loop: one every 5 ms whatever the answers do.
    let http = reqwest::Client::new();
    let path = format!("/webhooks/{}/voice", provider.id);
    let started = Instant::now();
    let mut sent = Vec::new();
    for i in 0..RATE * SECONDS {
        let at = started + Duration::from_micros(i * 1_000_000 / RATE);
        tokio::time::sleep_until(at.into()).await;
        let form =
            format!("CallSid=CA{i:032}&From=%2B14155552671&To=%2B12125550100&Direction=inbound");
        let request = http
            .post(format!("{address}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signed(&path, &form))
            .body(form);
        sent.push(tokio::spawn(async move {
            let begun = Instant::now();
            let answer = request.send().await.unwrap();
            let ok = answer.status().is_success() && answer.text().await.unwrap().contains("<Sip");
            (begun.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in sent {
        let (took, ok) = task.await.unwrap();
        latencies.push(took);
        failed += usize::from(!ok);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "voice requests, {RATE}/s for {SECONDS} s (signed, verified, decided): p50 {:.2?}  p99 {:.2?}  max {:.2?}  ({} sent in {elapsed:.1?}, {failed} not ringing Bea)",
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies[latencies.len() - 1],
        latencies.len(),
    );

    // Call events, closed loop from 16 senders: how many the server applies a second.
    let events = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let path = Arc::new(format!("/webhooks/{}", provider.id));
    let until = Instant::now() + Duration::from_secs(5);
    let senders: Vec<_> = (0..16)
        .map(|s| {
            let (http, address, path, events) =
                (http.clone(), address.clone(), path.clone(), events.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < until {
                    let form = format!("CallSid=CB{s:02}{i:030}&CallStatus=ringing&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber=0");
                    let answer = http
                        .post(format!("{address}{path}"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-twilio-signature", signed(&path, &form))
                        .body(form)
                        .send()
                        .await
                        .unwrap();
                    if answer.status().is_success() {
                        events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    let applied = events.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "call events, 16 senders for 5 s (signed, verified, each a new call in the team journal): {} a second ({applied} acknowledged)",
        applied / 5
    );
    println!(
        "memory (whole bench process, server and load generator): idle {} MiB, after the load {} MiB",
        idle / 1024,
        rss_kib() / 1024
    );
}

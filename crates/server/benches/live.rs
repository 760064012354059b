//! The live link under a sales floor's load (not a timed test; run `cargo bench -p
//! ringdesk-server --bench live`): the server binary in its own process (so its memory is its
//! own), 200 agents' desktops signed in — each with its live link open and its heartbeat every
//! 10 s, as the app sends it — then a change made by an admin, timed until every desktop has
//! heard of it. Reports the server's memory idle and with the 200 links, and the fan-out
//! latency (p50/p99/max over every desktop and every change).

use std::process::Stdio;
use std::time::{Duration, Instant};

use ringdesk_core::team::{Presence, TeamEvent};
use ringdesk_core::{UserInput, UserSettings};
use ringdesk_team::{LinkEvent, LiveLink, TeamClient};
use secrecy::SecretString;

const DESKTOPS: usize = 200;
const CHANGES: usize = 20;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn agent(name: &str) -> UserInput {
    UserInput {
        name: name.into(),
        email: None,
        is_me: false,
        assigned_numbers: vec![],
        primary_number: None,
        forwarding_number: None,
        settings: UserSettings::default(),
    }
}

async fn next_change(link: &mut LiveLink) {
    loop {
        match link.next().await {
            Ok(Some(LinkEvent::Event(_, TeamEvent::Agents))) => return,
            Ok(Some(_)) => {}
            other => panic!("a live link ended: {other:?}"),
        }
    }
}

#[tokio::main]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_ringdesk-server");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = [
        ("RINGDESK_SERVER_DATA_DIR", dir.path().display().to_string()),
        ("RINGDESK_SERVER_LISTEN", format!("127.0.0.1:{port}")),
        ("RUST_LOG", "warn".to_string()),
    ];
    let invite = std::process::Command::new(bin)
        .args(["invite", "--admin", "--name", "Admin"])
        .envs(env.clone())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let link = String::from_utf8(invite.stdout).unwrap().trim().to_string();
    let mut server = tokio::process::Command::new(bin)
        .arg("serve")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle = rss_kib(pid);

    let client = TeamClient::new(base.parse().unwrap()).unwrap();
    let code = ringdesk_team::parse_invite(&link).unwrap().code;
    let admin = SecretString::from(client.join(&code, "admin desk").await.unwrap().token);

    // 200 agents, each with a desktop signed in.
    let mut tokens = Vec::new();
    for n in 0..DESKTOPS {
        let (_, invite) = client
            .save_agent(&admin, None, &agent(&format!("Agent {n:03}")))
            .await
            .unwrap();
        let joined = client
            .join(&invite.unwrap().code, &format!("desk {n:03}"))
            .await
            .unwrap();
        tokens.push(SecretString::from(joined.token));
    }
    let joined_rss = rss_kib(pid);

    // Their heartbeats, every 10 s each, spread over the 10 s.
    for (n, token) in tokens.iter().cloned().enumerate() {
        let client = client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50 * n as u64)).await;
            loop {
                let _ = client.set_presence(&token, Presence::Available).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
    }
    // Their live links, each read by its own task (a desktop each).
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let (go_tx, _) = tokio::sync::broadcast::channel::<()>(4);
    let mut ready = Vec::new();
    for token in &tokens {
        let mut link = client.events(token, None).await.unwrap();
        loop {
            if let Ok(Some(LinkEvent::Ready(_))) = link.next().await {
                break;
            }
        }
        let heard_tx = heard_tx.clone();
        let mut go = go_tx.subscribe();
        ready.push(tokio::spawn(async move {
            while go.recv().await.is_ok() {
                next_change(&mut link).await;
                let _ = heard_tx.send(Instant::now());
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(12)).await;
    let linked = rss_kib(pid);

    // An admin's change, heard by every desktop.
    let mut latencies = Vec::new();
    for n in 0..CHANGES {
        let _ = go_tx.send(());
        let asked = Instant::now();
        client
            .save_agent(&admin, None, &agent(&format!("Extra {n:02}")))
            .await
            .unwrap();
        for _ in 0..DESKTOPS {
            let at = heard.recv().await.unwrap();
            latencies.push(at.saturating_duration_since(asked));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!("live link, {DESKTOPS} desktops (server binary, its own process):");
    println!(
        "  server memory: idle {} MiB, {DESKTOPS} agents joined {} MiB, {DESKTOPS} links open + heartbeats {} MiB",
        idle / 1024,
        joined_rss / 1024,
        linked / 1024
    );
    println!(
        "  an admin's change heard by every desktop: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} deliveries)",
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        latencies.len()
    );
    let _ = server.kill().await;
}

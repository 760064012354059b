//! What the team tests share: a team server on a temporary folder with its provider account,
//! an agent's "desktop" (`ringdesk-cli team`), waiting for a condition, the caller's speech.
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An agent's "desktop": the CLI as a team agent, its output collected.
pub struct Desktop {
    pub child: Child,
    said: Arc<Mutex<Vec<String>>>,
}

impl Desktop {
    pub fn start(invite: &str, play: &std::path::Path, record: &std::path::Path) -> Desktop {
        Desktop::start_with(invite, play, record, &[])
    }

    /// …with more `ringdesk-cli team` arguments (`--answer-after 30`).
    pub fn start_with(
        invite: &str,
        play: &std::path::Path,
        record: &std::path::Path,
        more: &[&str],
    ) -> Desktop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringdesk-cli"))
            .args(["team", "--device-name", "Bea's desktop", "--codecs", "pcmu"])
            .arg("--play")
            .arg(play)
            .arg("--record")
            .arg(record)
            .args(more)
            .env("RINGDESK_TEAM_INVITE", invite)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let said = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let lines = said.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Desktop { child, said }
    }
}

impl Desktop {
    pub fn type_in(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn said(&self, what: &str) -> bool {
        self.said.lock().unwrap().iter().any(|l| l.contains(what))
    }

    /// How many lines said `what`.
    pub fn count(&self, what: &str) -> usize {
        self.said
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .count()
    }

    pub fn output(&self) -> String {
        self.said.lock().unwrap().join("\n")
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never within {within:?}: {what}");
}

pub fn speech() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/audio/speech-8k.wav")
}

/// `kill -9` (std sends SIGKILL): no chance to say goodbye — no unregister, no last word.
pub fn kill_9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A team server on a temporary folder, at its own address (which it gives providers and
/// desktops), serving until `stop`.
pub struct TeamServer {
    pub public: String,
    pub team: std::sync::Arc<ringdesk_server::team::Team>,
    pub store: ringdesk_store::Store,
    pub dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TeamServer {
    /// `grace`: how long a silent desktop still counts as signed in.
    pub async fn start(endpoints: ringdesk_providers::Endpoints, grace: u64) -> TeamServer {
        let dir = tempfile::tempdir().unwrap();
        let config = ringdesk_server::config::ServerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            presence_grace_secs: grace,
            ..Default::default()
        }
        .checked()
        .unwrap();
        let (server, listener) = ringdesk_server::Server::bind(&config, endpoints)
            .await
            .unwrap();
        let public = server.base_url.clone();
        let team = server.shared.team.clone();
        let store = server.shared.store.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        TeamServer {
            public,
            team,
            store,
            dir,
            stop,
            serving,
        }
    }

    /// The team's provider account, made active, its numbers read.
    pub async fn provider(
        &self,
        kind: ringdesk_core::ProviderKind,
        credentials: ringdesk_core::ProviderCredentials,
    ) -> ringdesk_core::Provider {
        let team = &self.team;
        let provider = team
            .providers
            .create(ringdesk_core::NewProvider {
                kind,
                name: "The team's account".into(),
                credentials,
                default_caller_id: None,
                record_calls: false,
                sip: None,
            })
            .await
            .unwrap();
        team.providers.activate(provider.id).await.unwrap();
        team.agents
            .sync(&team.providers, provider.id)
            .await
            .unwrap();
        provider
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.serving.await.unwrap().unwrap();
    }
}

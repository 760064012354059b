//! What the team server's tests share: a server on a temporary folder behind a contract proxy
//! (Prism checking every request and answer against docs/server-openapi.yaml), requests as a
//! desktop and as Twilio make them, the first admin.
#![allow(dead_code)]

use std::time::Duration;

use ringdesk_core::team::Role;
use ringdesk_core::{UserInput, UserSettings};
use ringdesk_providers::webhook::{twilio_signature, TwilioAlgorithm};
use ringdesk_providers::Endpoints;
use ringdesk_server::config::ServerConfig;
use ringdesk_server::Server;
use serde_json::{json, Value};

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "team-auth-token-5d1e";
pub const PUBLIC: &str = "https://team.example.com";
/// The presence grace period (and the invites' life) in this test: short, yet longer than a
/// loaded machine takes between a heartbeat and the call that follows it.
pub const GRACE: u64 = 4;

pub struct Running {
    /// The server itself.
    pub address: String,
    /// The server behind a Prism proxy that checks every request and answer against
    /// docs/server-openapi.yaml (a violation is an error answer, which fails the test).
    pub checked: String,
    _proxy: Option<tokio::process::Child>,
    pub server: std::sync::Arc<ringdesk_server::Shared>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub dir: tempfile::TempDir,
    /// Every answer body seen, to look for keys in.
    pub seen: std::sync::Arc<std::sync::Mutex<String>>,
}

pub async fn start(endpoints: Endpoints) -> Running {
    start_in(tempfile::tempdir().unwrap(), endpoints).await
}

/// A server on `dir` (a restart reopens the same one).
pub async fn start_in(dir: tempfile::TempDir, endpoints: Endpoints) -> Running {
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        public_url: Some(PUBLIC.into()),
        data_dir: dir.path().to_path_buf(),
        presence_grace_secs: GRACE,
        invite_ttl_secs: GRACE,
        ..ServerConfig::default()
    }
    .checked()
    .unwrap();
    let (server, listener) = Server::bind(&config, endpoints).await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let shared = server.shared.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let (checked, proxy) = match std::env::var("RINGDESK_PRISM_BIN") {
        Ok(prism) => {
            let (url, child) = contract_proxy(&prism, &address).await;
            (url, Some(child))
        }
        Err(_) => (address.clone(), None),
    };
    Running {
        checked,
        _proxy: proxy,
        address,
        server: shared,
        stop,
        task,
        dir,
        seen: Default::default(),
    }
}

/// `prism proxy` of the server's contract in front of `upstream`, once it answers.
async fn contract_proxy(prism: &str, upstream: &str) -> (String, tokio::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/server-openapi.yaml"
    );
    let child = tokio::process::Command::new(prism)
        .args(["proxy", spec, upstream, "--errors", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{url}/healthz")).await.is_ok() {
            return (url, child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the contract proxy did not start");
}

pub type Answer = (u16, Value);

impl Running {
    /// A request through the contract proxy.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.request(&self.checked, method, path, token, body).await
    }

    /// A file sent as the body (an upload), through the contract proxy.
    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Answer {
        let response = reqwest::Client::new()
            .put(format!("{}{path}", self.checked))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A request the contract itself would refuse (to see that the server refuses it too).
    pub async fn call_direct(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.request(&self.address, method, path, token, body).await
    }

    async fn request(
        &self,
        base: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let http = reqwest::Client::new();
        let url = format!("{base}{path}");
        let mut request = http.request(method.parse().unwrap(), &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        self.seen.lock().unwrap().push_str(&text);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Twilio asking what to do with a call, signed with the account's Auth Token over the
    /// public URL it was given.
    pub async fn voice(&self, provider: &str, form: &str) -> (u16, String) {
        self.twilio(&format!("/webhooks/{provider}/voice"), form)
            .await
    }

    pub async fn twilio(&self, path: &str, form: &str) -> (u16, String) {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let signature = twilio_signature(
            TOKEN.as_bytes(),
            &format!("{PUBLIC}{path}"),
            &params,
            TwilioAlgorithm::HmacSha1,
        );
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form.to_string())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Vonage posting JSON to `path` (an answer request with `answer_method: POST`, or an
    /// event at a step URL), signed as Vonage signs: a JWT whose `payload_hash` covers the body.
    pub async fn vonage(&self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let path = path.strip_prefix(PUBLIC).unwrap_or(path);
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .bearer_auth(vonage_jwt(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The signature secret of the Vonage accounts in these tests.
pub const VONAGE_SECRET: &str = "qwertyuiopasdfghjklzxcvbnm123456";

/// Vonage's signed-callback JWT over `hashed` (a body, or a GET's query as canonical JSON).
pub fn vonage_jwt(hashed: &str) -> String {
    ringdesk_test_support::carrier::vonage_signature(VONAGE_SECRET, hashed)
}

/// Everything the server logs in this test binary, at every level, to look for keys in.
pub fn capture_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Sink(logs.clone());
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init();
    logs
}

/// The first admin, made as `ringdesk-server invite --admin` does.
pub async fn first_admin(running: &Running) -> String {
    let team = &running.server.team;
    let user = team
        .agents
        .save_user(
            None,
            UserInput {
                name: "Olga".into(),
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
    let invite = team.invite(user.id, Role::Admin).await.unwrap();
    assert!(
        invite
            .link
            .starts_with("ringdesk://join?server=https%3A%2F%2Fteam%2Eexample%2Ecom&code=rdi_"),
        "{}",
        invite.link
    );
    let (status, joined) = running
        .call(
            "POST",
            "/api/v1/join",
            None,
            Some(json!({"code": invite.code, "deviceName": "Olga's laptop"})),
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    joined["token"].as_str().unwrap().to_string()
}

impl Running {
    /// Stops serving; its folder survives for the next start.
    pub async fn stop(self) -> tempfile::TempDir {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
        self.dir
    }
}

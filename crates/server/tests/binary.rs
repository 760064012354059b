//! The binary as an operator runs it: `invite --admin` on a new data folder prints the join
//! link (and makes the 0600 sealing key), `serve` answers /healthz and /readyz, and SIGTERM
//! stops it cleanly. A bad configuration is refused with a sentence, not a backtrace.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringdesk-server"));
    command
        .env_remove("RINGDESK_SERVER_KEY")
        .env_remove("RINGDESK_SERVER_CONFIG")
        .env("RINGDESK_LOG", "info");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn invite_then_serve_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let invited = server()
        .env("RINGDESK_SERVER_DATA_DIR", dir.path())
        .env("RINGDESK_SERVER_LISTEN", &listen)
        .args(["invite", "--admin", "--name", "Olga"])
        .output()
        .await
        .unwrap();
    assert!(
        invited.status.success(),
        "{}",
        String::from_utf8_lossy(&invited.stderr)
    );
    let link = String::from_utf8(invited.stdout).unwrap();
    assert!(
        link.starts_with(&format!(
            "ringdesk://join?server=http%3A%2F%2F127%2E0%2E0%2E1%3A{port}&code=rdi_"
        )),
        "{link}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("sealing.key");
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let mut serving = server()
        .env("RINGDESK_SERVER_DATA_DIR", dir.path())
        .env("RINGDESK_SERVER_LISTEN", &listen)
        .arg("serve")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = BufReader::new(serving.stderr.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains("team server listening") {
                return;
            }
        }
        panic!("the server ended before it listened");
    })
    .await
    .expect("the server listens");
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let status = http
            .get(format!("http://{listen}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200, "{path}");
    }
    let pid = serving.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), serving.wait())
        .await
        .expect("stopped on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    while let Ok(Some(line)) = log.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(rest.contains("stopped"), "{rest}");
}

#[tokio::test]
async fn a_bad_configuration_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "public_url = \"ftp://nowhere\"\n").unwrap();
    let out = server()
        .env("RINGDESK_SERVER_DATA_DIR", dir.path())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("public_url: “ftp://nowhere” is not an http(s) URL"),
        "{said}"
    );
}

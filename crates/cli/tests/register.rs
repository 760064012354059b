//! The CLI against kamailio (started by scripts/test.sh).

use std::io::Write;
use std::process::{Command, Stdio};

fn run(user: &str, password: &str) -> (bool, String) {
    let registrar = std::env::var("RINGDESK_KAMAILIO")
        .expect("RINGDESK_KAMAILIO is not set: run scripts/test.sh");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringdesk-cli"))
        .args([
            "register",
            "--registrar",
            &registrar,
            "--user",
            user,
            "--expires",
            "60",
            "--for",
            "1",
        ])
        .env_remove("RINGDESK_SIP_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn registers_then_unregisters() {
    let (ok, out) = run("carol", "carolpw");
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("registered as sip:carol@127.0.0.1:"),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"unregistered"), "{out}");
    assert!(!out.contains("carolpw"));
}

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn wrong_password_fails_with_a_reason() {
    let (ok, out) = run("carol", "nope");
    assert!(!ok);
    assert!(
        out.starts_with("registration failed (403): wrong username or password"),
        "{out}"
    );
}

//! The CLI against kamailio (started by scripts/test.sh): register, and a call from one
//! ringdesk-cli to another through the proxy.

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

fn spawn(args: &[&str], user: &str) -> std::process::Child {
    let registrar = std::env::var("RINGDESK_KAMAILIO").unwrap();
    Command::new(env!("CARGO_BIN_EXE_ringdesk-cli"))
        .args(args)
        .args(["--registrar", &registrar, "--user", user, "--expires", "60"])
        .env("RINGDESK_SIP_PASSWORD", format!("{user}pw"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn one_cli_calls_another_which_answers_then_the_caller_hangs_up() {
    // Users t<pid>… are accepted by tests/sip/kamailio.cfg with password "<user>pw".
    let callee = format!("t{:05}91", std::process::id() % 100_000);
    let caller = format!("t{:05}92", std::process::id() % 100_000);
    let mut answering = spawn(&["answer", "--wait", "30"], &callee);
    // Called only once registered: the first line says so.
    let mut callee_out = String::new();
    let mut stdout = std::io::BufReader::new(answering.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut callee_out).unwrap();
    assert!(callee_out.starts_with("registered as"), "{callee_out}");
    let calling = spawn(&["call", "--to", &callee, "--hangup-after", "1"], &caller);
    let called = calling.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut stdout, &mut callee_out).unwrap();
    let answered = answering.wait().unwrap();
    let caller_out = String::from_utf8_lossy(&called.stdout);
    assert!(called.status.success(), "{caller_out}");
    assert!(answered.success(), "{callee_out}");
    assert!(
        caller_out.contains("\nestablished\nended: you hung up\n"),
        "{caller_out}"
    );
    assert!(
        callee_out.contains(&format!("incoming call from \"\" <sip:{caller}@"))
            || callee_out.contains(&format!("incoming call from <sip:{caller}@")),
        "{callee_out}"
    );
    assert!(
        callee_out.contains("ended: the other side hung up"),
        "{callee_out}"
    );
    assert!(
        callee_out.trim_end().ends_with("unregistered"),
        "{callee_out}"
    );
}

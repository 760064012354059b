//! The CLI against kamailio (started by scripts/test.sh): register, and a call from one
//! ringdesk-cli to another through the proxy.

use std::io::Write;

use ringdesk_media::analysis;
use ringdesk_media::audio::WavSource;
use std::process::{Command, Stdio};

fn run(user: &str, password: &str) -> (bool, String) {
    let registrar = std::env::var("RINGDESK_KAMAILIO")
        .expect("RINGDESK_KAMAILIO is not set: run scripts/test.sh");
    register(user, password, &["--registrar", &registrar])
}

/// `ringdesk-cli register … --for 1` with the password on stdin; its success and output.
fn register(user: &str, password: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringdesk-cli"))
        .args(["register", "--user", user, "--expires", "60", "--for", "1"])
        .args(args)
        .env_remove("RINGDESK_SIP_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    // What it says, then what it complains of.
    (
        out.status.success(),
        String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned(),
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

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn registers_over_tls_with_a_private_ca_given_by_file() {
    let registrar = std::env::var("RINGDESK_KAMAILIO_TLS").unwrap();
    let ca = std::env::var("RINGDESK_KAMAILIO_CA").unwrap();
    let tls = ["--registrar", &registrar, "--transport", "tls"];
    let (ok, out) = register("t90", "t90pw", &[&tls[..], &["--ca", &ca]].concat());
    assert!(ok, "{out}");
    assert!(out.starts_with("registered as"), "{out}");
    // Without it, kamailio's certificate is from an unknown authority.
    let (ok, out) = register("t90", "t90pw", &tls);
    assert!(!ok && out.contains("certificate"), "{out}");
    // A file that holds no certificate is refused before anything is sent.
    let (ok, out) = register(
        "t90",
        "t90pw",
        &[&tls[..], &["--ca", "/etc/hostname"]].concat(),
    );
    assert!(!ok && out.contains("no certificate"), "{out}");
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

fn speech() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/audio/speech-8k.wav")
}

fn recorded(path: &std::path::Path) -> Vec<i16> {
    WavSource::open(path).unwrap().samples().to_vec()
}

/// Half a second of the speech (from 1.5 s in, once the jitter buffer has settled) is in the
/// recording, nearly unchanged.
fn assert_heard(path: &std::path::Path) {
    let reference = recorded(&speech());
    let heard = recorded(path);
    let (lag, c) = analysis::align(&reference[12_000..16_000], &heard, 24_000);
    assert!(
        c > 0.9,
        "{}: correlation {c:.3} at lag {lag}",
        path.display()
    );
}

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn one_cli_calls_another_with_speech_and_dtmf_both_ways() {
    // Users t<pid>… are accepted by tests/sip/kamailio.cfg with password "<user>pw".
    let callee = format!("t{:05}91", std::process::id() % 100_000);
    let caller = format!("t{:05}92", std::process::id() % 100_000);
    let dir = std::env::temp_dir().join(format!("ringdesk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (callee_wav, caller_wav) = (dir.join("callee.wav"), dir.join("caller.wav"));
    let play = speech();
    let play = play.to_str().unwrap();
    let mut answering = spawn(
        &[
            "answer",
            "--wait",
            "30",
            "--play",
            play,
            "--record",
            callee_wav.to_str().unwrap(),
            "--dtmf",
            "*7",
            "--codecs",
            "pcmu",
        ],
        &callee,
    );
    // Called only once registered: the first line says so.
    let mut callee_out = String::new();
    let mut stdout = std::io::BufReader::new(answering.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut callee_out).unwrap();
    assert!(callee_out.starts_with("registered as"), "{callee_out}");
    let calling = spawn(
        &[
            "call",
            "--to",
            &callee,
            "--hangup-after",
            "4",
            "--play",
            play,
            "--record",
            caller_wav.to_str().unwrap(),
            "--dtmf",
            "42",
        ],
        &caller,
    );
    let called = calling.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut stdout, &mut callee_out).unwrap();
    let answered = answering.wait().unwrap();
    let caller_out = String::from_utf8_lossy(&called.stdout);
    assert!(called.status.success(), "{caller_out}");
    assert!(answered.success(), "{callee_out}");
    assert!(caller_out.contains("\nestablished\n"), "{caller_out}");
    assert!(
        caller_out.contains("\nended: you hung up\n"),
        "{caller_out}"
    );
    // The digits in order; other lines may fall between them (the callee's "established"
    // comes with the ACK, which can arrive after the caller's first key press).
    let digits = |out: &str| -> String {
        out.lines()
            .filter_map(|l| l.strip_prefix("dtmf "))
            .collect()
    };
    assert_eq!(digits(&caller_out), "*7", "{caller_out}");
    assert_eq!(digits(&callee_out), "42", "{callee_out}");
    assert!(caller_out.contains("\naudio: "), "{caller_out}");
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
    assert_heard(&caller_wav);
    assert_heard(&callee_wav);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A ringdesk-cli answering (registered before it returns), with its output so far.
struct Answering {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    out: String,
}

impl Answering {
    fn start(user: &str, args: &[&str]) -> Answering {
        let mut child = spawn(&[&["answer", "--wait", "40"], args].concat(), user);
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut out = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut out).unwrap();
        assert!(out.starts_with("registered as"), "{out}");
        Answering { child, stdout, out }
    }

    /// Waits for it to end: its success and all it said.
    fn finish(mut self) -> (bool, String) {
        std::io::Read::read_to_string(&mut self.stdout, &mut self.out).unwrap();
        (self.child.wait().unwrap().success(), self.out)
    }
}

/// Three CLIs through kamailio: the agent calls the customer, passes them on to a colleague
/// (`kind`), and the customer and the colleague then hear each other.
fn transfer(kind: &str, tag: &str) {
    let id = std::process::id() % 100_000;
    let (customer, agent, colleague) = (
        format!("t{id:05}{tag}1"),
        format!("t{id:05}{tag}2"),
        format!("t{id:05}{tag}3"),
    );
    let dir = std::env::temp_dir().join(format!("ringdesk-cli-{kind}-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let play = speech();
    let play = play.to_str().unwrap();
    let common = ["--play", play, "--codecs", "pcmu"];
    let customer_run = Answering::start(
        &customer,
        &[&common[..], &["--record", &wav("customer.wav")]].concat(),
    );
    let colleague_run = Answering::start(
        &colleague,
        &[
            &common[..],
            &["--record", &wav("colleague.wav"), "--hangup-after", "9"],
        ]
        .concat(),
    );
    let called = spawn(
        &[
            "call",
            "--to",
            &customer,
            "--transfer-to",
            &colleague,
            "--transfer-kind",
            kind,
            "--transfer-after",
            "1",
            "--complete-after",
            "1",
            "--play",
            play,
            "--codecs",
            "pcmu",
        ],
        &agent,
    )
    .wait_with_output()
    .unwrap();
    let agent_out = String::from_utf8_lossy(&called.stdout).into_owned();
    let (customer_ok, customer_out) = customer_run.finish();
    let (colleague_ok, colleague_out) = colleague_run.finish();
    let all =
        format!("agent:\n{agent_out}\ncustomer:\n{customer_out}\ncolleague:\n{colleague_out}");
    assert!(
        called.status.success() && customer_ok && colleague_ok,
        "{all}"
    );
    assert!(
        agent_out.contains(&format!("transfer ({kind}) to sip:{colleague}@"))
            && agent_out.contains(": succeeded"),
        "{all}"
    );
    assert!(agent_out.contains("ended: transferred to sip:"), "{all}");
    assert!(customer_out.contains("asked to transfer to sip:"), "{all}");
    if kind == "attended" {
        // The colleague talked with the agent first; the customer's call replaced that one.
        assert!(
            colleague_out.contains("ended: replaced by a transferred call"),
            "{all}"
        );
        assert_heard(&dir.join("colleague-2.wav"));
    } else {
        assert_heard(&dir.join("colleague.wav"));
    }
    // The customer's second call is the one to the colleague.
    assert_heard(&dir.join("customer-2.wav"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn a_blind_transfer_passes_the_customer_on_to_a_second_ringdesk() {
    transfer("blind", "4");
}

#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn an_attended_transfer_hands_the_customer_over_after_a_word_with_the_colleague() {
    transfer("attended", "5");
}

/// `--record-call` records as the app does; killed mid-call (`kill -9`: no chance to end the
/// file), the recording still plays everything up to its last whole page.
#[test]
#[ignore = "needs kamailio: run through scripts/test.sh"]
fn a_call_recording_survives_kill_9_of_the_recorder() {
    use ringdesk_media::recording;
    let id = std::process::id() % 100_000;
    let (callee, caller) = (format!("t{id:05}61"), format!("t{id:05}62"));
    let dir = std::env::temp_dir().join(format!("ringdesk-cli-kill9-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let play = speech();
    let mut answering = Answering::start(
        &callee,
        &[
            "--play",
            play.to_str().unwrap(),
            "--codecs",
            "pcmu",
            "--record",
            dir.join("heard.wav").to_str().unwrap(),
        ],
    );
    let file = dir.join("call.opus");
    let mut calling = spawn(
        &[
            "call",
            "--to",
            &callee,
            "--hangup-after",
            "60",
            "--play",
            play.to_str().unwrap(),
            "--record",
            dir.join("caller.wav").to_str().unwrap(),
            "--record-call",
            file.to_str().unwrap(),
        ],
        &caller,
    );
    // Four seconds in (whole pages of a second each on disk), the recorder dies.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let secs = recording::decode(&file)
            .map(|d| d.left.len() / recording::RATE as usize)
            .unwrap_or(0);
        if secs >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "nothing recorded in 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    calling.kill().unwrap();
    calling.wait().unwrap();
    let kept = recording::decode(&file).unwrap();
    assert!(
        !kept.complete,
        "never ended, as expected of a killed writer"
    );
    assert!(kept.left.len() >= 4 * recording::RATE as usize);
    // The other side's speech is there, on the right.
    let theirs = ringdesk_media::audio::resample(&kept.right, recording::RATE, 8000).unwrap();
    let (lag, c) = analysis::align(&recorded(&speech())[12_000..16_000], &theirs, 24_000);
    assert!(
        c > 0.8,
        "their speech in the killed recording: {c:.3} at lag {lag}"
    );
    answering.child.kill().unwrap();
    answering.child.wait().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Probing the sound devices writes nothing of ALSA's or JACK's own on stderr (cards that are
/// not there, a jack server that is not running): those go to the debug log.
#[test]
fn listing_devices_leaves_no_sound_library_noise_on_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringdesk-cli"))
        .arg("devices")
        .env_remove("RINGDESK_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for noise in [
        "ALSA lib",
        "jack server",
        "Cannot connect to server",
        "JackShm",
    ] {
        assert!(!stderr.contains(noise), "{noise}: {stderr}");
    }
}

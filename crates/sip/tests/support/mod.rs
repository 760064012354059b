//! Real peers for the interop tests: kamailio (started by scripts/test.sh), baresip and sipp
//! (started here, one private directory and port set per peer), and a lossy UDP relay.
//! Users `t1`, `t2`, … with password `<user>pw` exist in tests/sip/kamailio.cfg; every test
//! takes its own so parallel tests never share a binding.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use ringdesk_media::codec::Codec;
use ringdesk_media::sdp::{self, Direction, LocalMedia};
use ringdesk_sip::account::{Phone, SipAccount};
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::flow::{TlsTrust, Transport};
use ringdesk_sip::registration::RegistrationEvent;
use ringdesk_sip::ua::CallEvent;
use ringdesk_sip::Uri;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

pub fn kamailio() -> String {
    std::env::var("RINGDESK_KAMAILIO")
        .expect("RINGDESK_KAMAILIO is not set: run scripts/test.sh, which starts kamailio")
}

pub fn kamailio_addr() -> SocketAddr {
    kamailio().parse().expect("RINGDESK_KAMAILIO is ip:port")
}

/// `sip:user@kamailio` — where a call to a registered user goes.
pub fn aor(user: &str) -> Uri {
    Uri::parse(&format!("sip:{user}@{}", kamailio())).unwrap()
}

/// Test user number `n` of this run (`t<pid><n>`): a rerun within a binding's lifetime must
/// not find the previous run's stale bindings under the same name.
pub fn user(n: u32) -> String {
    format!("t{:05}{n:02}", std::process::id() % 100_000)
}

pub fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A port free for UDP and TCP, with the next three free for UDP too (baresip opens TLS on
/// P+1; sipp's `-mp P` binds audio and video RTP/RTCP on P..P+3), and never near one handed
/// out before in this process: a port is only checked, not held, so two callers could
/// otherwise get the same one (sipp's SIP and media ports, for instance).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if port >= u16::MAX - 4 {
            continue;
        }
        let mut given = GIVEN.lock().unwrap();
        if given.iter().any(|g| g.abs_diff(port) <= 4) {
            continue;
        }
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
            && (port + 1..=port + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            given.push(port);
            return port;
        }
    }
}

pub fn account(user: &str, registrar: &str) -> SipAccount {
    SipAccount {
        registrar: registrar.to_string(),
        domain: Some(kamailio()),
        username: user.into(),
        auth_username: None,
        password: format!("{user}pw"),
        expires: 60,
        display_name: Some(format!("Ringdesk {user}")),
        transport: Some(Transport::Udp),
        dns_server: None,
        tls: Default::default(),
        keepalive: None,
    }
}

/// kamailio's TLS listener and the CA that signed its certificate.
pub fn kamailio_tls() -> (String, TlsTrust) {
    let addr = std::env::var("RINGDESK_KAMAILIO_TLS").expect("RINGDESK_KAMAILIO_TLS is not set");
    let ca = std::env::var("RINGDESK_KAMAILIO_CA").expect("RINGDESK_KAMAILIO_CA is not set");
    let cert = CertificateDer::from_pem_file(&ca).expect("the test CA certificate");
    (
        addr,
        TlsTrust {
            extra_roots: vec![cert],
        },
    )
}

/// Ringdesk registered as `user` through kamailio (or `via`, a relay in front of it).
pub async fn phone(user: &str, via: Option<SocketAddr>) -> (Phone, Events) {
    let registrar = via.map_or_else(kamailio, |a| a.to_string());
    started(account(user, &registrar)).await
}

/// Ringdesk registered as `user` over `transport` (TLS trusting the test CA).
pub async fn phone_over(user: &str, transport: Transport) -> (Phone, Events) {
    let mut account = account(user, &kamailio());
    account.transport = Some(transport);
    if transport == Transport::Tls {
        (account.registrar, account.tls) = kamailio_tls();
    }
    started(account).await
}

async fn started(account: SipAccount) -> (Phone, Events) {
    let mut phone = account.start(seed()).await.unwrap();
    let mut events = Events::default();
    events
        .wait(&mut phone, Duration::from_secs(20), |e| {
            matches!(
                e,
                EndpointEvent::Registration(RegistrationEvent::Registered { .. })
            )
        })
        .await;
    (phone, events)
}

/// Everything a phone reported, so tests can wait for one event and look back at others.
#[derive(Default)]
pub struct Events {
    pub seen: Vec<EndpointEvent>,
}

impl Events {
    pub async fn wait(
        &mut self,
        phone: &mut Phone,
        limit: Duration,
        done: impl Fn(&EndpointEvent) -> bool,
    ) -> EndpointEvent {
        self.until(phone, limit, done)
            .await
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// As `wait`, but a missing event is an error to add the far end's log to.
    pub async fn until(
        &mut self,
        phone: &mut Phone,
        limit: Duration,
        done: impl Fn(&EndpointEvent) -> bool,
    ) -> Result<EndpointEvent, String> {
        if let Some(e) = self.seen.iter().find(|e| done(e)) {
            return Ok(e.clone());
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, phone.events.recv()).await {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if done(&e) {
                        return Ok(e);
                    }
                }
                Ok(None) => return Err(format!("the phone stopped; events: {:#?}", self.seen)),
                Err(_) => {
                    return Err(format!(
                        "no such event within {limit:?}; events: {:#?}",
                        self.seen
                    ))
                }
            }
        }
    }

    /// Calls `to` with `offer` and waits for the answer: the call and the far end's
    /// description.
    pub async fn established(
        &mut self,
        phone: &mut Phone,
        to: Uri,
        offer: Vec<u8>,
    ) -> (ringdesk_sip::ua::CallId, Vec<u8>) {
        let call = phone.call(to, offer).await.unwrap();
        match self
            .call(phone, |e| matches!(e, CallEvent::Established { .. }))
            .await
        {
            CallEvent::Established { sdp, .. } => (call, sdp),
            _ => unreachable!(),
        }
    }

    pub async fn call(
        &mut self,
        phone: &mut Phone,
        done: impl Fn(&CallEvent) -> bool,
    ) -> CallEvent {
        match self
            .wait(
                phone,
                Duration::from_secs(20),
                |e| matches!(e, EndpointEvent::Call(c) if done(c)),
            )
            .await
        {
            EndpointEvent::Call(c) => c,
            _ => unreachable!(),
        }
    }
}

/// A PCMU offer for signalling tests (nothing listens on its port).
pub fn offer_version(direction: Direction, version: u32) -> Vec<u8> {
    sdp::offer(&LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 40_000,
        codecs: vec![Codec::Pcmu],
        direction,
        version,
        srtp: None,
    })
}

pub fn offer(direction: Direction) -> Vec<u8> {
    offer_version(direction, 1)
}

// ----- baresip -----

pub struct Baresip {
    pub user: String,
    pub port: u16,
    dir: PathBuf,
    child: Child,
    ctrl: TcpStream,
    events: std_mpsc::Receiver<String>,
    pub log: Vec<String>,
}

/// Real audio for a baresip: a WAV it plays (aufile; the call ends when the file does) and
/// the codec it insists on; what it decodes is dumped by its sndfile filter.
pub struct BaresipAudio {
    pub play: PathBuf,
    /// As in baresip's `audio_codecs`: `PCMU`, `PCMA`, `G722`, `opus/48000/2`.
    pub codec: &'static str,
    /// Requires SRTP keyed by SDES (`mediaenc=srtp-mand`).
    pub srtp: bool,
}

impl Baresip {
    /// A baresip registered through kamailio as `user`; answers by itself when `auto_answer`.
    pub fn start(user: &str, auto_answer: bool) -> Baresip {
        Baresip::start_with(user, auto_answer, None)
    }

    pub fn start_with(user: &str, auto_answer: bool, audio: Option<BaresipAudio>) -> Baresip {
        let port = free_port();
        let ctrl_port = free_port();
        let dir = std::env::temp_dir().join(format!("ringdesk-baresip-{user}-{}", seed()));
        std::fs::create_dir_all(&dir).unwrap();
        let (source, source_format, audio_modules, codec, mediaenc) = match &audio {
            Some(a) => (
                format!("aufile,{}", a.play.display()),
                "ausrc_srate\t8000\nausrc_channels\t1\n",
                format!(
                    "module\taufile.so\nmodule\tsndfile.so\nmodule\topus.so\nmodule\tg722.so\nmodule\tsrtp.so\nsnd_path\t{}\n",
                    dir.join("dump").display()
                ),
                a.codec,
                if a.srtp { ";mediaenc=srtp-mand" } else { "" },
            ),
            None => (
                "ausine,440".to_string(),
                "ausrc_srate\t48000\nausrc_channels\t2\n",
                "module\tausine.so\n".to_string(),
                "PCMU",
                "",
            ),
        };
        std::fs::create_dir_all(dir.join("dump")).unwrap();
        let config = format!(
            "poll_method\tepoll\n\
             sip_listen\t127.0.0.1:{port}\n\
             net_interface\t127.0.0.1\n\
             call_local_timeout\t120\n\
             audio_source\t{source}\n\
             audio_player\taubridge,nil\n\
             audio_alert\taubridge,nil\n\
             {source_format}\
             auplay_srate\t8000\n\
             auplay_channels\t1\n\
             rtp_ports\t{}-{}\n\
             module_path\t/usr/lib/baresip/modules\n\
             module\tg711.so\n\
             module\taubridge.so\n\
             {audio_modules}\
             module_tmp\taccount.so\n\
             module_app\tmenu.so\n\
             module_app\tctrl_tcp.so\n\
             ctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n",
            20_000 + (port % 200) * 100,
            20_000 + (port % 200) * 100 + 98,
        );
        std::fs::write(dir.join("config"), config).unwrap();
        let answer = if auto_answer { ";answermode=auto" } else { "" };
        std::fs::write(
            dir.join("accounts"),
            format!(
                "\"{user}\" <sip:{user}@{};transport=udp>;auth_pass={user}pw;regint=60{answer};audio_codecs={codec}{mediaenc}\n",
                kamailio()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip is installed (scripts/setup.sh)");
        let started = Instant::now();
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("baresip's ctrl_tcp did not open: {e}"),
            }
        };
        let (tx, events) = std_mpsc::channel();
        let reader = ctrl.try_clone().unwrap();
        std::thread::spawn(move || read_netstrings(reader, tx));
        let mut b = Baresip {
            user: user.into(),
            port,
            dir,
            child,
            ctrl,
            events,
            log: Vec::new(),
        };
        b.wait_registered();
        b
    }

    fn wait_registered(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            let log = std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default();
            if log.contains("200 OK") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "baresip {} did not register:\n{}",
            self.user,
            self.log_text()
        );
    }

    /// What baresip decoded (its sndfile dump of the receive direction, mixed to mono) and its
    /// sample rate.
    pub fn decoded(&self) -> (u32, Vec<i16>) {
        let dump = self.dump_path();
        // The file is finished a little after CALL_CLOSED: wait until it stops growing.
        let size = || std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
        let mut last = size();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = size();
            if now == last {
                break;
            }
            last = now;
        }
        let reader = hound::WavReader::open(&dump).unwrap();
        let spec = reader.spec();
        let interleaved: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
        let mono = interleaved
            .chunks(usize::from(spec.channels))
            .map(|c| (c.iter().map(|s| i32::from(*s)).sum::<i32>() / c.len() as i32) as i16)
            .collect();
        (spec.sample_rate, mono)
    }

    pub fn dump_path(&self) -> PathBuf {
        std::fs::read_dir(self.dir.join("dump"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no decoder dump; log:\n{}", self.log_text()))
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("baresip.log")).unwrap_or_default())
            .into_owned()
    }

    /// Sends a ctrl_tcp command (`dial`, `hangup`, `accept`, …).
    pub fn command(&mut self, command: &str, params: &str) {
        let body = format!(
            "{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"{command}\"}}"
        );
        write!(self.ctrl, "{}:{},", body.len(), body).unwrap();
    }

    /// Waits for an event whose JSON contains `needle` (e.g. `"type":"CALL_ESTABLISHED"`),
    /// yielding to the runtime so our own user agent keeps running meanwhile.
    pub async fn wait_event(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            while let Ok(e) = self.events.try_recv() {
                self.log.push(e);
            }
            if let Some(e) = self.log.iter().find(|e| e.contains(needle)) {
                return e.clone();
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "baresip {}: no {needle} within {limit:?}; events: {:#?}\nlog:\n{}",
            self.user,
            self.log,
            self.log_text()
        );
    }

    pub fn count(&mut self, needle: &str) -> usize {
        while let Ok(e) = self.events.try_recv() {
            self.log.push(e);
        }
        self.log.iter().filter(|e| e.contains(needle)).count()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        // SIGTERM: baresip unregisters, so no stale binding is left for kamailio to fork to.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_netstrings(mut stream: TcpStream, tx: std_mpsc::Sender<String>) {
    let mut reader = BufReader::new(&mut stream);
    loop {
        let mut len = Vec::new();
        if reader.read_until(b':', &mut len).unwrap_or(0) == 0 {
            return;
        }
        let Ok(n) = std::str::from_utf8(&len[..len.len() - 1])
            .unwrap_or("")
            .trim()
            .parse::<usize>()
        else {
            return;
        };
        let mut body = vec![0; n + 1];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        body.pop();
        if tx
            .send(String::from_utf8_lossy(&body).into_owned())
            .is_err()
        {
            return;
        }
    }
}

// ----- sipp -----

pub struct Sipp {
    dir: PathBuf,
    child: Child,
}

impl Sipp {
    /// Runs `scenario` (XML) with `args`; the scenario file and message log live in a private
    /// directory.
    pub fn start(name: &str, scenario: &str, args: &[&str]) -> Sipp {
        let dir = std::env::temp_dir().join(format!("ringdesk-sipp-{name}-{}", seed()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("scenario.xml"), scenario).unwrap();
        let child = Command::new("sipp")
            .current_dir(&dir)
            .args([
                "-sf",
                "scenario.xml",
                "-i",
                "127.0.0.1",
                "-m",
                "1",
                "-nostdin",
            ])
            .args(["-timeout", "30", "-timeout_error", "-trace_msg"])
            .args(["-message_file", "messages.log", "-trace_err"])
            // Its own media port: the default (6000) would collide between parallel tests.
            .args(["-mp", &free_port().to_string()])
            .args(["-error_file", "errors.log"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp is installed (package sip-tester)");
        Sipp { dir, child }
    }

    /// Waits for sipp to end; panics with its message log unless it succeeded.
    pub async fn success(mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "sipp failed ({status}):\n{}\n{}",
                    self.file("errors.log"),
                    self.file("messages.log")
                );
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "sipp still running:\n{}",
                self.file("messages.log")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Ends sipp (if it still runs) and returns its errors and message log, for a failure.
    pub fn stop_and_read(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        format!(
            "errors:\n{}\nmessages:\n{}",
            self.file("errors.log"),
            self.file("messages.log")
        )
    }

    /// Waits until sipp has received a message starting with `start` (e.g. `ACK `), by its
    /// message log.
    pub async fn received(&self, start: &str) {
        self.received_times(start, 1).await
    }

    /// Waits until sipp has received `times` messages that start with `start`.
    pub async fn received_times(&self, start: &str, times: usize) {
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.file("messages.log");
            let seen = log
                .split("message received")
                .skip(1)
                .filter(|m| {
                    m.trim_start_matches(|c: char| c != '\n')
                        .trim_start()
                        .starts_with(start)
                })
                .count();
            if seen >= times {
                return;
            }
            assert!(Instant::now() < give_up, "sipp never got {start}:\n{log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// kamailio's registrations (`kamcmd ul.dump` on control socket `socket`). A kamcmd that fails
/// or answers something else fails the test: a check that a binding is absent must not pass on
/// no output at all.
pub fn ul_dump(socket: &str) -> String {
    let out = Command::new("kamcmd")
        .args(["-s", socket, "ul.dump"])
        .output()
        .expect("kamcmd is installed (package kamailio)");
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dump.contains("Domains:"),
        "kamcmd ul.dump failed ({}): {dump}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dump
}

/// Registers `user` at kamailio from sipp's `port`, so a sipp UAS started next on that port is
/// reachable as `sip:user@kamailio`.
pub async fn register_sipp(user: &str, port: u16) {
    let password = format!("{user}pw");
    Sipp::start(
        &format!("{user}-reg"),
        REGISTER,
        &[
            &kamailio(),
            "-s",
            user,
            "-au",
            user,
            "-ap",
            &password,
            "-p",
            &port.to_string(),
        ],
    )
    .success()
    .await;
}

const REGISTER: &str = include_str!("sipp/register.xml");

pub fn scenario(path: &Path) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/sipp")
            .join(path),
    )
    .unwrap()
}

// ----- a lossy relay -----

/// A UDP relay between Ringdesk and kamailio that drops, in both directions, the first copy of
/// every message whose sender must retransmit it: each request, and each 2xx to an INVITE.
/// (A stateless 401/407 is not retransmitted but answered afresh to the retransmitted request.)
pub struct LossyRelay {
    pub addr: SocketAddr,
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyRelay {
    pub async fn start(server: SocketAddr) -> LossyRelay {
        use std::collections::HashSet;
        use std::sync::atomic::Ordering;
        let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = dropped.clone();
        let task = tokio::spawn(async move {
            let mut seen: HashSet<Vec<u8>> = HashSet::new();
            let mut client: Option<SocketAddr> = None;
            let (mut a, mut b) = (vec![0u8; 65_536], vec![0u8; 65_536]);
            loop {
                tokio::select! {
                    received = front.recv_from(&mut a) => {
                        let Ok((n, from)) = received else { continue };
                        client = Some(from);
                        if must_retransmit(&a[..n]) && seen.insert(a[..n].to_vec()) {
                            counter.fetch_add(1, Ordering::Relaxed);
                        } else {
                            let _ = back.send(&a[..n]).await;
                        }
                    }
                    received = back.recv(&mut b) => {
                        // ICMP errors surface here as Err: a UDP relay shrugs them off.
                        let Ok(n) = received else { continue };
                        if must_retransmit(&b[..n]) && seen.insert(b[..n].to_vec()) {
                            counter.fetch_add(1, Ordering::Relaxed);
                        } else if let Some(to) = client {
                            let _ = front.send_to(&b[..n], to).await;
                        }
                    }
                }
            }
        });
        LossyRelay {
            addr,
            dropped,
            task,
        }
    }
}

fn must_retransmit(datagram: &[u8]) -> bool {
    let text = String::from_utf8_lossy(datagram);
    if !text.starts_with("SIP/2.0 ") {
        return true;
    }
    text.starts_with("SIP/2.0 2")
        && text
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("cseq:") && l.contains("INVITE"))
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ----- a kamailio of our own (to restart) -----

/// A private kamailio from tests/sip/kamailio.cfg (UDP and TCP, no TLS), for tests that stop
/// and restart the registrar.
pub struct PrivateKamailio {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateKamailio {
    pub fn start() -> PrivateKamailio {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("ringdesk-kam-{port}-{}", seed()));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sip/kamailio.cfg"),
        )
        .unwrap();
        let config: String = template
            .lines()
            .filter(|l| !l.contains("tls") && !l.contains("TLS"))
            .map(|l| {
                l.replace("RIG_DIR", &dir.display().to_string())
                    .replace("PORT", &port.to_string())
                    + "\n"
            })
            .collect();
        std::fs::write(dir.join("kamailio.cfg"), config).unwrap();
        let mut k = PrivateKamailio {
            port,
            dir,
            child: None,
        };
        k.run();
        k
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let log = std::fs::File::create(self.dir.join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-f"])
            .arg(self.dir.join("kamailio.cfg"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("kamailio is installed");
        self.child = Some(child);
        let ctl = format!("unix:{}/run/kamailio_ctl", self.dir.display());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let up = Command::new("kamcmd")
                .args(["-s", &ctl, "core.uptime"])
                .output()
                .is_ok_and(|o| o.status.success());
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("private kamailio did not start");
    }

    /// Who is registered (kamcmd ul.dump).
    pub fn bindings(&self) -> String {
        ul_dump(&format!("unix:{}/run/kamailio_ctl", self.dir.display()))
    }

    /// Stops it (its bindings, held in memory, are gone) and starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateKamailio {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- a DNS server of our own -----

use hickory_resolver::proto::op::{Message as DnsMessage, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, NAPTR, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::proto::serialize::binary::BinEncodable;

/// A record the test DNS server serves.
pub enum Dns {
    Naptr(&'static str, u16, u16, &'static str, &'static str),
    Srv(&'static str, u16, u16, u16, &'static str),
    A(&'static str, std::net::Ipv4Addr),
}

impl Dns {
    fn record(&self) -> (Name, RecordType, Record) {
        let name = |n: &str| Name::from_ascii(n).unwrap();
        match self {
            Dns::Naptr(owner, order, pref, services, replacement) => {
                let rdata = RData::NAPTR(NAPTR::new(
                    *order,
                    *pref,
                    b"s".to_vec().into_boxed_slice(),
                    services.as_bytes().to_vec().into_boxed_slice(),
                    Vec::new().into_boxed_slice(),
                    name(replacement),
                ));
                (
                    name(owner),
                    RecordType::NAPTR,
                    Record::from_rdata(name(owner), 60, rdata),
                )
            }
            Dns::Srv(owner, priority, weight, port, target) => {
                let rdata = RData::SRV(SRV::new(*priority, *weight, *port, name(target)));
                (
                    name(owner),
                    RecordType::SRV,
                    Record::from_rdata(name(owner), 60, rdata),
                )
            }
            Dns::A(owner, ip) => (
                name(owner),
                RecordType::A,
                Record::from_rdata(name(owner), 60, RData::A(A(*ip))),
            ),
        }
    }
}

/// Answers NAPTR, SRV and A queries from a fixed zone over UDP on loopback.
pub struct DnsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    pub async fn start(zone: Vec<Dns>) -> DnsServer {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let records: Vec<(Name, RecordType, Record)> = zone.iter().map(Dns::record).collect();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(query) = DnsMessage::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut answer = DnsMessage::new();
                answer
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(OpCode::Query)
                    .set_authoritative(true)
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true);
                let mut known = false;
                for q in query.queries() {
                    answer.add_query(q.clone());
                    for (owner, kind, record) in &records {
                        if owner == q.name() {
                            known = true;
                            if *kind == q.query_type() {
                                answer.add_answer(record.clone());
                            }
                        }
                    }
                }
                answer.set_response_code(if known {
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                });
                if let Ok(bytes) = answer.to_bytes() {
                    let _ = socket.send_to(&bytes, from).await;
                }
            }
        });
        DnsServer { addr, task }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

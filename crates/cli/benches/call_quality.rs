//! Call quality on a bad network, Ringdesk beside baresip, scored with PESQ (ITU-T P.862).
//!
//!     sudo -E cargo bench -p ringdesk-cli --bench call_quality
//!
//! Needs root (network namespaces, TAP devices), baresip, espeak-ng, sox and `pip install pesq
//! numpy`. Two namespaces, A (10.77.0.1) and B (10.77.0.2), are joined by a TAP "wire" in this
//! process that drops UDP packets at random and delays each by a normally distributed
//! 40 ± 30 ms (so they also overtake each other), independently per direction, from a fixed
//! seed so runs repeat. Over that wire, for each codec and loss rate:
//!   - Ringdesk (ringdesk-cli in A) calls baresip (B): both play the same speech; we score what
//!     Ringdesk played out (after its jitter buffer) and what baresip decoded (its sndfile dump,
//!     after its jitter buffer; Debian's baresip 1.0 cannot write its playback);
//!   - baresip (A) calls baresip (B), same speech, same wire: we score what each decoded.
//!
//! baresip is set up as a softphone for a bad network should be: Opus in-band FEC on and
//! primed for 10 % loss (`opus_inbandfec`, `opus_packet_loss`; without the latter libopus
//! sends no FEC at all). `CALL_QUALITY_ONLY=pcmu|opus|m2e` runs a part.
//! `CALL_QUALITY_LOAD=N` runs N CPU hogs (stress-ng, Debian's) beside the calls, as a desktop
//! busy with a browser and a video call would.
//!
//! "Receiving B→A" compares Ringdesk and baresip in the same seat on the same impaired path.
//! Mouth-to-ear delay (WAV in → WAV out, no sound device) is measured by cross-correlation on
//! an unimpaired Ringdesk ↔ Ringdesk call in this process; CPU per call is the CLI's own CPU
//! time over the call's length. `crates/media/examples/impaired_path.rs` runs one direction
//! of this on simulated time, for quick experiments.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use ringdesk_media::analysis;
use ringdesk_media::audio::{MemorySink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::sdp::Direction;

const NS_A: &str = "rdq-a";
const NS_B: &str = "rdq-b";
const IP_A: &str = "10.77.0.1";
const IP_B: &str = "10.77.0.2";
const SEED: u64 = 20_261_126;

fn run(cmd: &[&str]) {
    let status = Command::new(cmd[0]).args(&cmd[1..]).status().unwrap();
    assert!(status.success(), "{cmd:?} failed");
}

/// Runs a clean-up command whose failure does not matter (the thing may be gone already).
fn quiet(cmd: &[&str]) {
    let _ = Command::new(cmd[0])
        .args(&cmd[1..])
        .stderr(Stdio::null())
        .status();
}

// ----- the wire -----

#[derive(Clone, Copy)]
struct Impairment {
    loss: f64,
    delay_ms: f64,
    jitter_ms: f64,
}

/// Opens a TAP device (`/dev/net/tun`, IFF_TAP | IFF_NO_PI) named `name`.
fn tap(name: &str) -> File {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    let file = File::options()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .unwrap();
    let mut ifreq = [0u8; 40];
    ifreq[..name.len()].copy_from_slice(name.as_bytes());
    ifreq[16..18].copy_from_slice(&(0x0002i16 | 0x1000).to_ne_bytes());
    // SAFETY: TUNSETIFF reads a struct ifreq (40 bytes) from the pointer we pass.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, ifreq.as_mut_ptr()) };
    assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
    file
}

fn is_udp(frame: &[u8]) -> bool {
    frame.len() > 23 && frame[12..14] == [0x08, 0x00] && frame[23] == 17
}

/// Carries frames from `from` to `to`, impairing UDP (ARP and the rest pass untouched).
fn direction(
    mut from: File,
    mut to: File,
    impairment: Impairment,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let (tx, rx) = mpsc::channel::<(Instant, u64, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut buf = vec![0u8; 65_536];
        let mut n_frame = 0u64;
        while let Ok(n) = from.read(&mut buf) {
            n_frame += 1;
            let mut release = Instant::now();
            if is_udp(&buf[..n]) {
                if rng.gen::<f64>() < impairment.loss {
                    continue;
                }
                // Box–Muller: a normal deviate from two uniform ones.
                let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let delay = (impairment.delay_ms + impairment.jitter_ms * z).max(0.0);
                release += Duration::from_secs_f64(delay / 1000.0);
            }
            if tx.send((release, n_frame, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let mut queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
        while !stop.load(Ordering::Relaxed) {
            let wait = queue
                .peek()
                .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(50));
            match rx.recv_timeout(wait) {
                Ok(item) => queue.push(Reverse(item)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            while queue
                .peek()
                .is_some_and(|Reverse((at, _, _))| *at <= Instant::now())
            {
                let Some(Reverse((_, _, frame))) = queue.pop() else {
                    break;
                };
                let _ = to.write(&frame);
            }
        }
    });
}

/// The two namespaces and the wire between them; removed when dropped.
struct Wire {
    stop: Arc<AtomicBool>,
}

impl Wire {
    fn new(impairment: Impairment, seed: u64) -> Wire {
        quiet(&["ip", "netns", "del", NS_A]);
        quiet(&["ip", "netns", "del", NS_B]);
        let stop = Arc::new(AtomicBool::new(false));
        let (a, b) = (tap("rdqtapa"), tap("rdqtapb"));
        for (ns, dev, ip) in [(NS_A, "rdqtapa", IP_A), (NS_B, "rdqtapb", IP_B)] {
            run(&["ip", "netns", "add", ns]);
            run(&["ip", "link", "set", dev, "netns", ns]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                dev,
            ]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        direction(
            a.try_clone().unwrap(),
            b.try_clone().unwrap(),
            impairment,
            seed,
            stop.clone(),
        );
        direction(b, a, impairment, seed ^ 0x5a5a, stop.clone());
        Wire { stop }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        quiet(&["ip", "netns", "del", NS_A]);
        quiet(&["ip", "netns", "del", NS_B]);
    }
}

// ----- peers -----

struct Baresip {
    child: Child,
    dir: PathBuf,
}

impl Baresip {
    /// A baresip in `ns` that answers by itself, plays `speech` and dumps what it decodes;
    /// with `dial`, it calls that URI at once.
    fn start(
        ns: &str,
        ip: &str,
        work: &Path,
        speech: &Path,
        rate: u32,
        codec: &str,
        dial: Option<&str>,
    ) -> Baresip {
        let dir = work.join(format!("baresip-{ns}"));
        // A fresh directory: the decoder dump of an earlier run must not be read for this one.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dump")).unwrap();
        std::fs::write(
            dir.join("config"),
            format!(
                "poll_method\tepoll\nsip_listen\t{ip}:5060\nnet_interface\t{ip}\n\
                 audio_source\taufile,{}\naudio_player\taubridge,nil\naudio_alert\taubridge,nil\n\
                 ausrc_srate\t{rate}\nausrc_channels\t1\nauplay_srate\t{rate}\nauplay_channels\t1\n\
                 rtp_ports\t20000-20098\nmodule_path\t/usr/lib/baresip/modules\n\
                 module\tg711.so\nmodule\topus.so\nmodule\taufile.so\nmodule\taubridge.so\n\
                 module\tsndfile.so\nsnd_path\t{}\nmodule_tmp\taccount.so\nmodule_app\tmenu.so\n\
                 opus_inbandfec\tyes\nopus_packet_loss\t10\n",
                speech.display(),
                dir.join("dump").display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:peer@{ip}>;regint=0;answermode=auto;audio_codecs={codec}\n"),
        )
        .unwrap();
        let log = File::create(dir.join("log")).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "baresip", "-f"]).arg(&dir);
        if let Some(uri) = dial {
            cmd.args(["-e", &format!("/dial {uri}")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Baresip { child, dir }
    }

    /// Its decoder dump as mono WAV at `rate` (sox mixes down and resamples).
    fn decoded(&self, rate: u32, out: &Path) {
        let dump = std::fs::read_dir(self.dir.join("dump"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no dump in {}", self.dir.display()));
        convert(&dump, rate, out);
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            quiet(&["kill", &self.child.id().to_string()]);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.stop();
    }
}

fn convert(from: &Path, rate: u32, to: &Path) {
    run(&[
        "sox",
        &from.to_string_lossy(),
        "-r",
        &rate.to_string(),
        "-c",
        "1",
        "-b",
        "16",
        &to.to_string_lossy(),
    ]);
}

fn samples(path: &Path) -> Vec<i16> {
    WavSource::open(path).unwrap().samples().to_vec()
}

/// PESQ of `degraded` against `reference` once cut to the reference's span (found by
/// cross-correlation of its second and third seconds).
fn pesq(reference: &Path, degraded: &Path, rate: u32, mode: &str, work: &Path) -> Option<f64> {
    let cut = analysis::cut_aligned(&samples(reference), &samples(degraded), rate)?;
    let aligned = work.join("aligned.wav");
    let mut sink = ringdesk_media::audio::WavSink::create(&aligned, rate).unwrap();
    ringdesk_media::audio::AudioSink::write(&mut sink, &cut);
    ringdesk_media::audio::AudioSink::finish(&mut sink);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pesq_score.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(reference)
        .arg(&aligned)
        .arg(mode)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// CPU time of finished children so far (getrusage).
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Row {
    codec: &'static str,
    loss: f64,
    ringdesk_hears_baresip: Option<f64>,
    baresip_hears_baresip: Option<f64>,
    baresip_hears_ringdesk: Option<f64>,
    ringdesk_cpu: f64,
}

fn scenario(work: &Path, speech: &Path, rate: u32, codec: Codec, loss: f64) -> Row {
    // The whole sample, plus set-up and the deepest jitter buffer.
    let seconds = samples(speech).len() as u64 / u64::from(rate) + 3;
    let (name, baresip_codec, mode) = match codec {
        Codec::Pcmu => ("PCMU", "PCMU", "nb"),
        _ => ("opus", "opus/48000/2", "wb"),
    };
    let impairment = Impairment {
        loss,
        delay_ms: if loss > 0.0 { 40.0 } else { 0.0 },
        jitter_ms: if loss > 0.0 { 30.0 } else { 0.0 },
    };
    let cli = env!("CARGO_BIN_EXE_ringdesk-cli");
    let target = format!("sip:peer@{IP_B}:5060");

    // Ringdesk (A) → baresip (B).
    let wire = Wire::new(impairment, SEED);
    let mut b = Baresip::start(NS_B, IP_B, work, speech, rate, baresip_codec, None);
    let ours = work.join("ringdesk-heard.wav");
    let cpu_before = children_cpu();
    let started = Instant::now();
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            NS_A,
            cli,
            "call",
            "--registrar",
            &format!("{IP_B}:5060"),
            "--no-register",
            "--user",
            "ringdesk",
            "--to",
            &target,
            "--codecs",
            name,
        ])
        .arg("--play")
        .arg(speech)
        .arg("--record")
        .arg(&ours)
        .args([
            "--record-rate",
            &rate.to_string(),
            "--hangup-after",
            &seconds.to_string(),
        ])
        .env("RINGDESK_SIP_PASSWORD", "unused")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    if let Some(line) = stdout.lines().find(|l| l.starts_with("audio:")) {
        eprintln!("  {name} {:.0} % — Ringdesk {line}", loss * 100.0);
    }
    let status = status.status;
    let elapsed = started.elapsed();
    let ringdesk_cpu = (children_cpu() - cpu_before).as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    assert!(status.success(), "ringdesk-cli call failed");
    std::thread::sleep(Duration::from_millis(500));
    b.stop();
    let theirs = work.join("baresip-heard-ringdesk.wav");
    b.decoded(rate, &theirs);
    drop(b);
    drop(wire);

    // baresip (A) → baresip (B), same wire and seed.
    let wire = Wire::new(impairment, SEED);
    let mut b = Baresip::start(NS_B, IP_B, work, speech, rate, baresip_codec, None);
    let mut a = Baresip::start(NS_A, IP_A, work, speech, rate, baresip_codec, Some(&target));
    std::thread::sleep(Duration::from_secs(seconds + 1));
    a.stop();
    b.stop();
    let reference_side = work.join("baresip-heard-baresip.wav");
    a.decoded(rate, &reference_side);
    drop(wire);

    Row {
        codec: name,
        loss,
        ringdesk_hears_baresip: pesq(speech, &ours, rate, mode, work),
        baresip_hears_baresip: pesq(speech, &reference_side, rate, mode, work),
        baresip_hears_ringdesk: pesq(speech, &theirs, rate, mode, work),
        ringdesk_cpu,
    }
}

/// Mouth-to-ear without a network or sound device: WAV → encoder → RTP over loopback →
/// jitter buffer → decoder → WAV, both calls' media started together. The WAVs run at `rate`,
/// the sound device's (48 kHz for Opus, as a headset gives it: no resampling), and the delay
/// is read in seconds 4–6, once the buffer has left its cautious start.
async fn mouth_to_ear(speech: &Path, rate: u32, codec: Codec) -> Duration {
    let local = "127.0.0.1".parse().unwrap();
    let heard = MemorySink::new(rate);
    let mut a = CallMedia::new(
        local,
        vec![codec],
        false,
        Box::new(WavSource::open(speech).unwrap()),
        Box::new(ringdesk_media::audio::NullSink(rate)),
    )
    .await
    .unwrap();
    let mut b = CallMedia::new(
        local,
        vec![codec],
        false,
        Box::new(WavSource::from_samples(rate, vec![])),
        Box::new(heard.clone()),
    )
    .await
    .unwrap();
    let offer = a.offer(Direction::SendRecv);
    let answer = b.answer(&offer).unwrap();
    a.answered(&answer).unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    a.stop().await;
    if let Some(report) = b.stop().await {
        eprintln!("  {codec:?} on loopback: {:?}", report.stats.jitter);
    }
    let reference = samples(speech);
    let r = rate as usize;
    let (lag, _) = analysis::align(&reference[4 * r..6 * r], &heard.samples(), 5 * r);
    Duration::from_millis((lag.saturating_sub(4 * r) * 1000 / r) as u64)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let work = std::env::temp_dir().join(format!("ringdesk-quality-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let raw = work.join("speech.wav");
    run(&[
        "espeak-ng",
        "-v",
        "en-us",
        "-s",
        "140",
        "-w",
        &raw.to_string_lossy(),
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue \
         background. It is easy to tell the depth of a well.",
    ]);
    let (nb, wb, device) = (
        work.join("speech-8k.wav"),
        work.join("speech-16k.wav"),
        work.join("speech-48k.wav"),
    );
    convert(&raw, 8000, &nb);
    convert(&raw, 16_000, &wb);
    convert(&raw, 48_000, &device);

    // A busy desktop: every core kept busy by other work for the whole run.
    let load = std::env::var("CALL_QUALITY_LOAD")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .map(|n| {
            println!("with {n} CPU hogs (stress-ng) running");
            Command::new("stress-ng")
                .args(["--cpu", &n.to_string(), "--cpu-method", "matrixprod", "-q"])
                .stdout(Stdio::null())
                .spawn()
                .expect("stress-ng is installed (apt-get install stress-ng)")
        });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (codec, speech, rate) in [(Codec::Pcmu, &nb, 8000), (Codec::Opus, &device, 48_000)] {
        let m2e = runtime.block_on(mouth_to_ear(speech, rate, codec));
        println!(
            "mouth-to-ear {codec:?}, no impairment, WAV to WAV: {} ms",
            m2e.as_millis()
        );
    }
    println!(
        "\n| codec | loss | Ringdesk hears baresip | baresip hears baresip | baresip hears Ringdesk | Ringdesk CPU |\n|---|---|---|---|---|---|"
    );
    let fmt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2}"));
    let only = std::env::var("CALL_QUALITY_ONLY")
        .unwrap_or_default()
        .to_lowercase();
    for codec in [Codec::Pcmu, Codec::Opus] {
        if !only.is_empty() && !only.contains(&format!("{codec:?}").to_lowercase()) {
            continue;
        }
        let (speech, rate) = if codec == Codec::Pcmu {
            (&nb, 8000)
        } else {
            (&wb, 16_000)
        };
        for loss in [0.0, 0.03, 0.10] {
            let row = scenario(&work, speech, rate, codec, loss);
            println!(
                "| {} | {:.0} % | {} | {} | {} | {:.1} % |",
                row.codec,
                row.loss * 100.0,
                fmt(row.ringdesk_hears_baresip),
                fmt(row.baresip_hears_baresip),
                fmt(row.baresip_hears_ringdesk),
                row.ringdesk_cpu
            );
        }
    }
    if let Some(mut hogs) = load {
        quiet(&["pkill", "-P", &hogs.id().to_string()]);
        let _ = hogs.kill();
        let _ = hogs.wait();
    }
    if std::env::var_os("RINGDESK_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("files kept in {}", work.display());
    }
}

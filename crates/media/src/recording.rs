//! A call recorded to one stereo Ogg Opus file (RFC 7845): the agent on the left, the far end
//! on the right, at 16 kHz (a call carries nothing wider worth keeping).
//!
//! The file is written as the call goes, one Ogg page a second, each page one `write(2)` with
//! no user-space buffer in between: a crash or `kill -9` keeps everything but the last second
//! (a reader stops at the torn page). Encoding and disk writes run on a thread of their own
//! ([`Recorder`]), so a slow or full disk never stalls the call's audio: the media thread only
//! hands over frames ([`Pairing`] lines the two directions up), and when the writer has failed
//! the recording stops and says why while the call goes on.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ogg::{PacketReader, PacketWriteEndInfo, PacketWriter};

use crate::audio::{AudioError, Resampler};

/// The recording's sample rate.
pub const RATE: u32 = 16_000;
/// 20 ms at [`RATE`], per channel.
pub const FRAME: usize = (RATE / 50) as usize;
/// Ogg Opus granule positions count 48 kHz samples whatever the input rate (RFC 7845 §4).
const GRANULE_PER_FRAME: u64 = 960;
/// A page a second: what a crash can lose.
const FRAMES_PER_PAGE: u32 = 50;
/// Speech in stereo at 16 kHz: 16 kbit/s a side keeps voices clear (≈ 240 KB a minute).
const BITRATE: i32 = 32_000;
/// Half of libopus's default (10): a recording is kept, not sent over a lossy path, and this
/// halves what recording adds to a call's CPU (`cargo bench --bench recording_cost`).
const COMPLEXITY: i32 = 5;
/// Frames waiting for the writer (5 s): a disk slower than that loses frames, not the call.
const QUEUE: usize = 250;
/// How far one direction may run ahead of the other before the late one is taken as silence
/// (a held call plays nothing while its microphone side still runs).
const MAX_SKEW: usize = 10 * FRAME;
const MAX_PACKET: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    #[error("not an Ogg Opus recording: {0}")]
    Format(String),
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    pub path: PathBuf,
    pub duration: Duration,
    pub bytes: u64,
    /// Why it stopped before the call did (a full disk, a folder that went away).
    pub failure: Option<String>,
}

/// Writes stereo 20 ms frames as Ogg Opus into `W`.
pub struct OggOpusWriter<W: Write> {
    packets: PacketWriter<'static, W>,
    encoder: opus::Encoder,
    serial: u32,
    pre_skip: u64,
    frames: u64,
    on_page: u32,
    /// The newest packet, held back so the last one can carry end-of-stream.
    pending: Option<Vec<u8>>,
    interleaved: Vec<i16>,
    buf: Vec<u8>,
}

impl<W: Write> OggOpusWriter<W> {
    /// Writes the two header pages (OpusHead, OpusTags) at once.
    pub fn new(out: W, serial: u32) -> Result<Self, RecordingError> {
        let mut encoder =
            opus::Encoder::new(RATE, opus::Channels::Stereo, opus::Application::Voip)?;
        encoder.set_signal(opus::Signal::Voice)?;
        encoder.set_bitrate(opus::Bitrate::Bits(BITRATE))?;
        encoder.set_complexity(COMPLEXITY)?;
        // In 48 kHz samples, as the header wants it.
        let pre_skip = u64::try_from(encoder.get_lookahead()?).unwrap_or(0) * 3;
        let mut packets = PacketWriter::new(out);
        packets.write_packet(
            opus_head(pre_skip as u16),
            serial,
            PacketWriteEndInfo::EndPage,
            0,
        )?;
        packets.write_packet(opus_tags(), serial, PacketWriteEndInfo::EndPage, 0)?;
        Ok(OggOpusWriter {
            packets,
            encoder,
            serial,
            pre_skip,
            frames: 0,
            on_page: 0,
            pending: None,
            interleaved: Vec::with_capacity(2 * FRAME),
            buf: vec![0; MAX_PACKET],
        })
    }

    /// One 20 ms frame of each side ([`FRAME`] samples; shorter is padded with silence).
    pub fn write(&mut self, left: &[i16], right: &[i16]) -> Result<(), RecordingError> {
        self.interleaved.clear();
        for i in 0..FRAME {
            self.interleaved.push(left.get(i).copied().unwrap_or(0));
            self.interleaved.push(right.get(i).copied().unwrap_or(0));
        }
        let n = self.encoder.encode(&self.interleaved, &mut self.buf)?;
        let packet = self.buf.get(..n).unwrap_or_default().to_vec();
        if let Some(previous) = self.pending.replace(packet) {
            self.on_page += 1;
            let end = if self.on_page >= FRAMES_PER_PAGE {
                self.on_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.packets
                .write_packet(previous, self.serial, end, self.granule(self.frames))?;
        }
        self.frames += 1;
        Ok(())
    }

    /// The audio written so far.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.frames * 20)
    }

    /// Writes the last packet with end-of-stream; the file is complete.
    pub fn finish(mut self) -> Result<W, RecordingError> {
        if self.pending.is_none() {
            // A stream needs at least one audio packet to end on.
            self.write(&[], &[])?;
        }
        if let Some(last) = self.pending.take() {
            let granule = self.granule(self.frames);
            self.packets
                .write_packet(last, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        }
        let mut out = self.packets.into_inner();
        out.flush()?;
        Ok(out)
    }

    /// The granule position after `frames` frames (pre-skip included, RFC 7845 §4).
    fn granule(&self, frames: u64) -> u64 {
        self.pre_skip + frames * GRANULE_PER_FRAME
    }
}

fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(2); // channels
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&RATE.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family 0: mono or stereo, no table
    head
}

fn opus_tags() -> Vec<u8> {
    let vendor = concat!("Ringdesk ", env!("CARGO_PKG_VERSION"));
    let comment = "TITLE=Call recording (left: agent, right: other side)";
    let mut tags = Vec::new();
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&1u32.to_le_bytes());
    tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
    tags.extend_from_slice(comment.as_bytes());
    tags
}

/// A recording read back: each side at [`RATE`], and whether the stream was ended properly
/// (false: the writer died, and what was read is everything before the torn page).
pub struct Decoded {
    pub left: Vec<i16>,
    pub right: Vec<i16>,
    pub complete: bool,
}

/// Reads a recording written by [`OggOpusWriter`] (or any stereo Ogg Opus file), as far as it
/// goes.
pub fn decode(path: &Path) -> Result<Decoded, RecordingError> {
    let mut reader = PacketReader::new(io::BufReader::new(File::open(path)?));
    let mut decoder = opus::Decoder::new(RATE, opus::Channels::Stereo)?;
    let mut out = Decoded {
        left: Vec::new(),
        right: Vec::new(),
        complete: false,
    };
    let mut headers = 0;
    let mut pre_skip = 0usize;
    let mut pcm = vec![0i16; 2 * 5760];
    loop {
        let packet = match reader.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A torn last page (the writer was killed): keep what came before it.
            Err(_) if headers == 2 => break,
            Err(e) => return Err(RecordingError::Format(e.to_string())),
        };
        if headers == 0 {
            let head = packet.data.as_slice();
            let (true, Some(&2), Some(&low), Some(&high)) = (
                head.starts_with(b"OpusHead"),
                head.get(9),
                head.get(10),
                head.get(11),
            ) else {
                return Err(RecordingError::Format("no stereo OpusHead".into()));
            };
            // In 48 kHz samples; ours are at RATE.
            pre_skip = usize::from(u16::from_le_bytes([low, high])) * RATE as usize / 48_000;
            headers += 1;
            continue;
        }
        if headers == 1 {
            headers += 1;
            continue;
        }
        let n = decoder.decode(&packet.data, &mut pcm, false)?;
        for pair in pcm.chunks_exact(2).take(n) {
            if let [left, right] = pair {
                out.left.push(*left);
                out.right.push(*right);
            }
        }
        if packet.last_in_stream() {
            out.complete = true;
            break;
        }
    }
    let skip = pre_skip.min(out.left.len());
    out.left.drain(..skip);
    out.right.drain(..skip);
    Ok(out)
}

/// Lines the two directions up into stereo frames at [`RATE`]: what the agent sent (left) and
/// what was played from the other side (right), each at the call's codec rate.
pub struct Pairing {
    rate: u32,
    sent: Resampler,
    heard: Resampler,
    left: Vec<i16>,
    right: Vec<i16>,
    scratch: Vec<i16>,
}

impl Pairing {
    pub fn new(rate: u32) -> Result<Self, RecordingError> {
        Ok(Pairing {
            rate,
            sent: Resampler::new(rate, RATE)?,
            heard: Resampler::new(rate, RATE)?,
            left: Vec::new(),
            right: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// The call's codec changed rate mid-call: the conversions follow it.
    pub fn set_rate(&mut self, rate: u32) -> Result<(), RecordingError> {
        if rate != self.rate {
            self.sent = Resampler::new(rate, RATE)?;
            self.heard = Resampler::new(rate, RATE)?;
            self.rate = rate;
        }
        Ok(())
    }

    /// One 20 ms frame the agent sent (after muting and echo cancellation).
    pub fn sent(&mut self, frame: &[i16]) {
        self.scratch.clear();
        self.sent.process(frame, &mut self.scratch);
        self.left.extend_from_slice(&self.scratch);
    }

    /// One 20 ms frame played from the other side.
    pub fn heard(&mut self, frame: &[i16]) {
        self.scratch.clear();
        self.heard.process(frame, &mut self.scratch);
        self.right.extend_from_slice(&self.scratch);
    }

    /// The next stereo frame, when both sides have one (or one side ran so far ahead that the
    /// other is taken as silence).
    pub fn frame(&mut self) -> Option<(Vec<i16>, Vec<i16>)> {
        if self.left.len() > MAX_SKEW && self.right.len() < FRAME {
            self.right.resize(FRAME, 0);
        }
        if self.right.len() > MAX_SKEW && self.left.len() < FRAME {
            self.left.resize(FRAME, 0);
        }
        if self.left.len() < FRAME || self.right.len() < FRAME {
            return None;
        }
        let left = self.left.drain(..FRAME).collect();
        let right = self.right.drain(..FRAME).collect();
        Some((left, right))
    }
}

/// A recording in progress: frames go to a writer thread that encodes them and writes the file.
pub struct Recorder {
    frames: Option<SyncSender<(Vec<i16>, Vec<i16>)>>,
    writer: Option<JoinHandle<RecordingSummary>>,
    /// Why the writer stopped early, once it has (written by its thread).
    failure: Arc<Mutex<Option<String>>>,
    /// Frames the writer could not take in time (a disk stalled for seconds).
    pub dropped: u64,
}

impl Recorder {
    /// Starts the writer thread; the file is created there (a failure shows at the first
    /// frame, through [`failure`](Self::failure)).
    pub fn start(path: PathBuf) -> Result<Recorder, RecordingError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let shared = failure.clone();
        let writer = std::thread::Builder::new()
            .name("ringdesk-recorder".into())
            .spawn(move || write_file(path, rx, shared))?;
        Ok(Recorder {
            frames: Some(tx),
            writer: Some(writer),
            failure,
            dropped: 0,
        })
    }

    /// Hands one stereo frame to the writer; never blocks. False once the writer has stopped
    /// (see [`failure`](Self::failure)).
    pub fn push(&mut self, left: Vec<i16>, right: Vec<i16>) -> bool {
        let Some(frames) = &self.frames else {
            return false;
        };
        match frames.try_send((left, right)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                true
            }
            Err(TrySendError::Disconnected(_)) => {
                self.frames = None;
                false
            }
        }
    }

    /// Why the writer stopped early, once it has.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Ends the file and waits for the writer: what was recorded.
    pub fn finish(mut self) -> Option<RecordingSummary> {
        self.frames = None;
        self.writer.take()?.join().ok()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // The writer ends its file when the frames stop coming; nobody waits for it here.
        self.frames = None;
    }
}

fn write_file(
    path: PathBuf,
    frames: Receiver<(Vec<i16>, Vec<i16>)>,
    failure: Arc<Mutex<Option<String>>>,
) -> RecordingSummary {
    let mut summary = RecordingSummary {
        path: path.clone(),
        duration: Duration::ZERO,
        bytes: 0,
        failure: None,
    };
    let fail = |summary: &mut RecordingSummary, e: RecordingError| {
        let why = format!("cannot write the recording {}: {e}", path.display());
        tracing::warn!(error = %e, path = %path.display(), "recording stopped");
        if let Ok(mut f) = failure.lock() {
            *f = Some(why.clone());
        }
        summary.failure = Some(why);
    };
    let serial = rand::random();
    let mut writer = match create(&path).and_then(|f| OggOpusWriter::new(f, serial)) {
        Ok(w) => w,
        Err(e) => {
            fail(&mut summary, e);
            return summary;
        }
    };
    for (left, right) in frames {
        if let Err(e) = writer.write(&left, &right) {
            summary.duration = writer.duration();
            fail(&mut summary, e);
            return summary;
        }
    }
    summary.duration = writer.duration();
    match writer.finish() {
        Ok(file) => summary.bytes = file.metadata().map(|m| m.len()).unwrap_or(0),
        Err(e) => fail(&mut summary, e),
    }
    summary
}

fn create(path: &Path) -> Result<File, RecordingError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(File::create(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, samples: usize, amplitude: f32) -> Vec<i16> {
        (0..samples)
            .map(|i| {
                ((i as f32 * 2.0 * std::f32::consts::PI * freq / rate as f32).sin() * amplitude)
                    as i16
            })
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / s.len().max(1) as f64).sqrt()
    }

    fn share(s: &[i16], freq: f32) -> f64 {
        crate::analysis::tone_share(s, RATE, freq)
    }

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn each_side_keeps_its_own_channel() {
        let d = dir();
        let path = d.path().join("call.opus");
        let mut w = OggOpusWriter::new(File::create(&path).unwrap(), 7).unwrap();
        // Two seconds: 440 Hz on the agent's side, 1000 Hz on the other.
        let left = tone(440.0, RATE, 2 * RATE as usize, 8000.0);
        let right = tone(1000.0, RATE, 2 * RATE as usize, 8000.0);
        for (l, r) in left.chunks(FRAME).zip(right.chunks(FRAME)) {
            w.write(l, r).unwrap();
        }
        assert_eq!(w.duration(), Duration::from_secs(2));
        w.finish().unwrap();
        let back = decode(&path).unwrap();
        assert!(back.complete);
        assert_eq!(back.left.len(), back.right.len());
        let n = back.left.len();
        assert!((31_000..=32_000).contains(&n), "{n} samples");
        let (l, r) = (&back.left[4000..n - 4000], &back.right[4000..n - 4000]);
        assert!(
            share(l, 440.0) > 0.8,
            "left is the 440 Hz side: {}",
            share(l, 440.0)
        );
        assert!(
            share(r, 1000.0) > 0.8,
            "right is the 1 kHz side: {}",
            share(r, 1000.0)
        );
        assert!(
            share(l, 1000.0) < 0.05 && share(r, 440.0) < 0.05,
            "no crosstalk"
        );
        // ≈ 32 kbit/s.
        let bytes = std::fs::metadata(&path).unwrap().len();
        assert!((4_000..=12_000).contains(&bytes), "{bytes} bytes for 2 s");
    }

    #[test]
    fn a_torn_file_reads_up_to_its_last_whole_page() {
        let d = dir();
        let path = d.path().join("torn.opus");
        let mut w = OggOpusWriter::new(File::create(&path).unwrap(), 1).unwrap();
        let left = tone(440.0, RATE, 3 * RATE as usize + FRAME * 10, 8000.0);
        for l in left.chunks(FRAME) {
            w.write(l, &[]).unwrap();
        }
        // Killed: never finished. Then a page torn in the middle, as a crash mid-write leaves it.
        drop(w);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 100).unwrap();
        let back = decode(&path).unwrap();
        assert!(!back.complete);
        // Three whole pages of a second each came before the torn one.
        let secs = back.left.len() as f64 / f64::from(RATE);
        assert!((1.9..=3.1).contains(&secs), "{secs} s read back");
        assert!(rms(&back.left[4000..]) > 3000.0 && rms(&back.right[4000..]) < 100.0);
    }

    #[test]
    fn not_a_recording_is_an_error_not_a_panic() {
        let d = dir();
        let path = d.path().join("junk.opus");
        std::fs::write(&path, b"OggS\0\0junk junk junk").unwrap();
        assert!(decode(&path).is_err());
        // Killed before its first page: nothing to play, said plainly.
        std::fs::write(&path, b"").unwrap();
        assert!(decode(&path).is_err());
        assert!(matches!(
            decode(&d.path().join("missing.opus")),
            Err(RecordingError::Io(_))
        ));
    }

    #[test]
    fn pairing_lines_up_the_sides_and_fills_a_silent_one() {
        let mut p = Pairing::new(8000).unwrap();
        assert!(p.frame().is_none());
        p.sent(&[100; 160]);
        assert!(p.frame().is_none(), "one side only, not yet far ahead");
        p.heard(&[200; 160]);
        let (l, r) = p.frame().unwrap();
        assert_eq!((l.len(), r.len()), (FRAME, FRAME));
        // A held call: nothing played for a while, the microphone side goes on.
        for _ in 0..11 {
            p.sent(&[100; 160]);
        }
        let (_, r) = p.frame().unwrap();
        assert!(r.iter().all(|&s| s == 0), "the silent side is silence");
        // The codec switches to Opus (48 kHz) mid-call.
        p.set_rate(48_000).unwrap();
        p.heard(&[5; 960]);
        assert!(p.frame().is_some());
    }

    #[test]
    fn the_recorder_writes_on_its_own_thread_and_reports() {
        let d = dir();
        let path = d.path().join("sub").join("call.opus");
        let mut r = Recorder::start(path.clone()).unwrap();
        for _ in 0..100 {
            assert!(r.push(vec![1000; FRAME], vec![-1000; FRAME]));
        }
        let s = r.finish().unwrap();
        assert_eq!(s.duration, Duration::from_secs(2));
        assert!(s.failure.is_none() && s.bytes > 0);
        assert!(decode(&path).unwrap().complete);
    }

    /// Feeds `r` until it says it has stopped (within a quarter second); why it did.
    fn given_up(r: &mut Recorder) -> String {
        for _ in 0..50 {
            if !r.push(vec![0; FRAME], vec![0; FRAME]) {
                return r.failure().expect("a stopped recorder says why");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the recorder never said it stopped");
    }

    #[test]
    fn a_full_disk_stops_the_recording_with_a_reason() {
        // Every write to /dev/full fails with "no space left on device".
        let mut r = Recorder::start(PathBuf::from("/dev/full")).unwrap();
        let why = given_up(&mut r);
        assert!(why.to_lowercase().contains("no space"), "{why}");
    }

    #[test]
    fn an_unwritable_folder_stops_the_recording_with_a_reason() {
        let d = dir();
        // A file where the folder should be.
        let blocker = d.path().join("not-a-folder");
        std::fs::write(&blocker, b"x").unwrap();
        let mut r = Recorder::start(blocker.join("call.opus")).unwrap();
        let why = given_up(&mut r);
        assert!(why.contains("cannot write the recording"), "{why}");
        assert!(r.finish().unwrap().failure.is_some());
    }
}

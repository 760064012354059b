//! Recordings that replace a default: a queue's hold music (instead of the one shipped in
//! assets) and voicemail greeting, an agent's own greeting (instead of the provider's
//! text-to-speech). Kept on the server's disk, served without a login — providers fetch
//! them — at an address only the owner's id names.

use std::path::PathBuf;

use ringdesk_core::ports::RecordingAudio;
use ringdesk_core::queue::QueueId;
pub use ringdesk_core::queue::QueueSound;
use ringdesk_core::UserId;

/// Whose recording it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundOwner {
    Queue(QueueId),
    Agent(UserId),
}

impl SoundOwner {
    /// The owner's part of the public address (`queues/<id>`, `agents/<id>`).
    fn segment(self) -> String {
        match self {
            Self::Queue(id) => format!("queues/{id}"),
            Self::Agent(id) => format!("agents/{id}"),
        }
    }

    /// The owner from the address's parts.
    pub fn from_segment(kind: &str, id: uuid::Uuid) -> Option<Self> {
        match kind {
            "queues" => Some(Self::Queue(QueueId(id))),
            "agents" => Some(Self::Agent(UserId(id))),
            _ => None,
        }
    }
}

/// A hold tune or a greeting is seconds to a few minutes of audio: more is a mistake.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
const EXTENSIONS: [&str; 2] = ["wav", "mp3"];

#[derive(Debug, thiserror::Error)]
pub enum SoundError {
    #[error("the file is not WAV or MP3 audio")]
    NotAudio,
    #[error("the file is larger than {} MB", MAX_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("cannot keep the file: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Debug)]
pub struct Sounds {
    pub folder: PathBuf,
}

impl Sounds {
    fn path(&self, owner: SoundOwner, sound: QueueSound, extension: &str) -> PathBuf {
        let name = owner.segment().replace('/', "-");
        self.folder
            .join(format!("{name}.{}.{extension}", sound.code()))
    }

    /// The owner's own file for `sound`, with its extension, when it has one.
    pub fn file(&self, owner: SoundOwner, sound: QueueSound) -> Option<(PathBuf, &'static str)> {
        EXTENSIONS
            .into_iter()
            .map(|ext| (self.path(owner, sound, ext), ext))
            .find(|(path, _)| path.is_file())
    }

    /// Where a provider fetches the owner's own file, when it has one.
    pub fn url(&self, base_url: &str, owner: SoundOwner, sound: QueueSound) -> Option<String> {
        let (_, ext) = self.file(owner, sound)?;
        Some(format!(
            "{base_url}/audio/{}/{}.{ext}",
            owner.segment(),
            sound.code()
        ))
    }

    /// Keeps `bytes` as the owner's `sound` (replacing the one before, whatever its format):
    /// written aside, then moved in place, so a provider never fetches half a file.
    pub fn put(
        &self,
        owner: SoundOwner,
        sound: QueueSound,
        bytes: &[u8],
    ) -> Result<&'static str, SoundError> {
        if bytes.len() > MAX_BYTES {
            return Err(SoundError::TooLarge);
        }
        let ext = RecordingAudio::kind_of(bytes).ok_or(SoundError::NotAudio)?;
        std::fs::create_dir_all(&self.folder)?;
        let path = self.path(owner, sound, ext);
        let partial = path.with_extension(format!("{ext}.partial"));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, &path)?;
        for other in EXTENSIONS.into_iter().filter(|e| *e != ext) {
            let _ = std::fs::remove_file(self.path(owner, sound, other));
        }
        Ok(ext)
    }

    /// Back to the default; false when there was nothing to remove.
    pub fn remove(&self, owner: SoundOwner, sound: QueueSound) -> std::io::Result<bool> {
        let mut removed = false;
        for ext in EXTENSIONS {
            match std::fs::remove_file(self.path(owner, sound, ext)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_file_per_sound_replaces_it_and_refuses_what_is_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        let audio = Sounds {
            folder: dir.path().join("sounds"),
        };
        let queue_id = QueueId::new();
        let queue = SoundOwner::Queue(queue_id);
        let agent = SoundOwner::Agent(UserId(uuid::Uuid::new_v4()));
        assert!(audio.file(queue, QueueSound::HoldMusic).is_none());
        assert!(audio
            .url("https://t", queue, QueueSound::Greeting)
            .is_none());
        let wav = [b"RIFF\x24\x00\x00\x00WAVEfmt ".as_slice(), &[0; 16]].concat();
        assert_eq!(
            audio.put(queue, QueueSound::HoldMusic, &wav).unwrap(),
            "wav"
        );
        assert_eq!(
            audio
                .url("https://t", queue, QueueSound::HoldMusic)
                .unwrap(),
            format!("https://t/audio/queues/{queue_id}/hold-music.wav")
        );
        assert!(audio.file(queue, QueueSound::Greeting).is_none(), "its own");
        assert!(
            audio.file(agent, QueueSound::HoldMusic).is_none(),
            "the queue's"
        );
        // An MP3 in its place: the WAV goes.
        assert_eq!(
            audio
                .put(queue, QueueSound::HoldMusic, b"ID3\x04\x00 tune")
                .unwrap(),
            "mp3"
        );
        let (path, ext) = audio.file(queue, QueueSound::HoldMusic).unwrap();
        assert_eq!(
            (ext, std::fs::read(path).unwrap()),
            ("mp3", b"ID3\x04\x00 tune".to_vec())
        );
        assert!(matches!(
            audio.put(queue, QueueSound::Greeting, b"<html>"),
            Err(SoundError::NotAudio)
        ));
        assert!(matches!(
            audio.put(queue, QueueSound::Greeting, &vec![0xFF; MAX_BYTES + 1]),
            Err(SoundError::TooLarge)
        ));
        assert!(audio.remove(queue, QueueSound::HoldMusic).unwrap());
        assert!(!audio.remove(queue, QueueSound::HoldMusic).unwrap());
        assert!(audio.file(queue, QueueSound::HoldMusic).is_none());
        assert_eq!(
            QueueSound::from_code("greeting"),
            Some(QueueSound::Greeting)
        );
        assert_eq!(QueueSound::from_code("../x"), None);
    }
}

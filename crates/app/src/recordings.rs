//! Recordings of softphone calls made on this computer (Settings → Recordings): whether every
//! call is recorded, how long recordings are kept, where the files live and how they leave.
//! The audio itself is written by the media crate (`ringdesk_media::recording`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringdesk_core::{Call, CallId};
use ringdesk_store::{CallRepository, SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const KEY: &str = "recordings";
/// The longest a keep period can be set to (ten years).
pub const MOST_DAYS: u32 = 3650;
/// How often old recordings are looked for while the app runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(6 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSettings {
    /// Every softphone call is recorded from its first second (the call bar's Record button
    /// records one call).
    pub record_every_call: bool,
    /// Recordings older than this many days are deleted; None keeps them.
    pub keep_days: Option<u32>,
    /// Both sides hear a short tone each time recording starts (consent laws).
    #[serde(default = "yes")]
    pub beep: bool,
}

fn yes() -> bool {
    true
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings {
            record_every_call: false,
            keep_days: Some(90),
            beep: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("keep recordings for 1 to {MOST_DAYS} days, or always")]
    KeepDays,
    #[error("this call has no recording on this computer")]
    NoRecording,
    #[error("cannot delete the recording: {0}")]
    Delete(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn load(settings: &SettingsRepository) -> Result<RecordingSettings, StoreError> {
    Ok(settings
        .get_json::<RecordingSettings>(KEY)
        .await?
        .unwrap_or_default())
}

pub(crate) async fn save(
    settings: &SettingsRepository,
    wanted: RecordingSettings,
) -> Result<RecordingSettings, RecordingError> {
    if matches!(wanted.keep_days, Some(d) if d == 0 || d > MOST_DAYS) {
        return Err(RecordingError::KeepDays);
    }
    settings.set_json(KEY, &wanted).await?;
    Ok(wanted)
}

/// The folder recordings are written to, inside the data folder.
pub fn folder(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

/// Where `call`'s recording goes: one file per call, named so a folder listing sorts by day.
pub fn file_for(folder: &Path, call: &Call) -> PathBuf {
    stem_for(folder, call).with_extension("opus")
}

/// `call`'s recording's name without its kind (a provider's is MP3 or WAV).
fn stem_for(folder: &Path, call: &Call) -> PathBuf {
    let day = call.initiated_at.date();
    folder.join(format!("{day}-{}", call.id))
}

/// `call`'s recording, when it is a file on this computer (inside `folder`).
pub fn local_file(call: &Call, folder: &Path) -> Option<PathBuf> {
    call.recording_url
        .as_deref()
        .and_then(|u| path_of(u, folder))
}

/// Whether `call`'s recording is a file on this computer already.
pub fn is_local(call: &Call, folder: &Path) -> bool {
    local_file(call, folder).is_some()
}

/// A provider's recording of a call it placed for this desktop (solo mode: no team server to
/// keep it): copied here the moment it is ready — Telnyx's link lives ten minutes, Vonage
/// deletes after thirty days — and the journal row then points at the copy. A few attempts;
/// the provider's link stays in the journal meanwhile.
pub(crate) async fn keep_provider_recording(
    calls: CallRepository,
    folder: PathBuf,
    adapter: std::sync::Arc<dyn ringdesk_core::ports::ProviderAdapter>,
    id: CallId,
    url: String,
) {
    for wait in [0, 5, 25] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let Ok(Some(call)) = calls.get(id).await else {
            return;
        };
        if is_local(&call, &folder) {
            return;
        }
        let stem = stem_for(&folder, &call);
        match ringdesk_webhooks::recordings::keep(adapter.as_ref(), &url, &stem).await {
            Ok((path, bytes)) => {
                let Ok(Some(mut call)) = calls.get(id).await else {
                    return;
                };
                call.recording_url = url_of(&path);
                match calls.save(&call).await {
                    Ok(()) => {
                        tracing::info!(call = %call.id, bytes, "provider recording kept here")
                    }
                    Err(e) => {
                        tracing::warn!(call = %call.id, error = %e, "cannot link the recording")
                    }
                }
                return;
            }
            Err(e) => {
                tracing::warn!(call = %call.id, error = %e, "cannot copy the provider's recording yet");
            }
        }
    }
}

/// The journal's link to a recording on this computer.
pub fn url_of(path: &Path) -> Option<String> {
    url::Url::from_file_path(path).ok().map(String::from)
}

/// The file a journal link names, when it is a recording on this computer inside `folder`
/// (a link that points anywhere else is not ours to touch).
pub fn path_of(url: &str, folder: &Path) -> Option<PathBuf> {
    let path = url::Url::parse(url).ok()?.to_file_path().ok()?;
    (path.parent() == Some(folder)).then_some(path)
}

/// Deletes `id`'s recording made on this computer and unlinks it from the journal.
pub(crate) async fn delete(
    calls: &CallRepository,
    folder: &Path,
    id: CallId,
) -> Result<Call, RecordingError> {
    let mut call = calls.get(id).await?.ok_or(RecordingError::NoRecording)?;
    let path = local_file(&call, folder).ok_or(RecordingError::NoRecording)?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        // Gone already (deleted by hand): the link goes too.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RecordingError::Delete(e)),
    }
    call.recording_url = None;
    call.recording_secs = None;
    calls.save(&call).await?;
    Ok(call)
}

/// Deletes the recordings older than the keep period: the files first, then their links.
/// Returns how many went.
pub(crate) async fn sweep(
    settings: &SettingsRepository,
    calls: &CallRepository,
    folder: &Path,
    now: OffsetDateTime,
) -> Result<usize, RecordingError> {
    let Some(days) = load(settings).await?.keep_days else {
        return Ok(0);
    };
    let before = now - time::Duration::days(i64::from(days));
    let mut deleted = 0;
    for call in calls.recorded_before(before).await? {
        if !is_local(&call, folder) {
            continue;
        }
        match delete(calls, folder, call.id).await {
            Ok(_) => deleted += 1,
            Err(e) => tracing::warn!(call = %call.id, error = %e, "cannot delete an old recording"),
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, days, "old recordings deleted");
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdesk_core::CallDirection;

    fn call_at(days_ago: i64, now: OffsetDateTime) -> Call {
        let mut call = Call::new(
            CallDirection::Outbound,
            "+14155550100".into(),
            "+14155550101".into(),
            now - time::Duration::days(days_ago),
        );
        call.status = ringdesk_core::CallStatus::Completed;
        call
    }

    #[tokio::test]
    async fn old_recordings_go_when_their_time_is_up_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = ringdesk_store::Store::open(&dir.path().join("ringdesk.db"))
            .await
            .unwrap();
        let (settings, calls) = (store.settings(), store.calls());
        let folder = folder(dir.path());
        std::fs::create_dir_all(&folder).unwrap();
        let now = OffsetDateTime::now_utc();
        let mut kept = Vec::new();
        // 100 days old, 10 days old, and 100 days old but somewhere else (not ours to delete).
        for (days, inside) in [(100, true), (10, true), (100, false)] {
            let mut call = call_at(days, now);
            let path = if inside {
                file_for(&folder, &call)
            } else {
                dir.path().join("elsewhere.opus")
            };
            std::fs::write(&path, b"OggS").unwrap();
            call.recording_url = url_of(&path);
            call.recording_secs = Some(60);
            calls.save(&call).await.unwrap();
            kept.push((call.id, path));
        }
        // The default keeps 90 days.
        assert_eq!(sweep(&settings, &calls, &folder, now).await.unwrap(), 1);
        let old = calls.get(kept[0].0).await.unwrap().unwrap();
        assert!(old.recording_url.is_none() && old.recording_secs.is_none());
        assert!(!kept[0].1.exists(), "the old file is gone");
        assert!(kept[1].1.exists() && kept[2].1.exists(), "the rest stays");
        assert!(calls
            .get(kept[1].0)
            .await
            .unwrap()
            .unwrap()
            .recording_url
            .is_some());
        // Kept for ever: nothing more goes; a week: the 10-day-old one goes too.
        let mut wanted = load(&settings).await.unwrap();
        wanted.keep_days = None;
        save(&settings, wanted).await.unwrap();
        assert_eq!(sweep(&settings, &calls, &folder, now).await.unwrap(), 0);
        wanted.keep_days = Some(7);
        save(&settings, wanted).await.unwrap();
        assert_eq!(sweep(&settings, &calls, &folder, now).await.unwrap(), 1);
        assert!(!kept[1].1.exists() && kept[2].1.exists());
        // Out of range is refused, and nothing saved.
        wanted.keep_days = Some(0);
        assert!(matches!(
            save(&settings, wanted).await,
            Err(RecordingError::KeepDays)
        ));
        assert_eq!(load(&settings).await.unwrap().keep_days, Some(7));
    }

    #[tokio::test]
    async fn deleting_a_recording_removes_the_file_and_the_link_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = ringdesk_store::Store::open(&dir.path().join("ringdesk.db"))
            .await
            .unwrap();
        let calls = store.calls();
        let folder = folder(dir.path());
        std::fs::create_dir_all(&folder).unwrap();
        let mut call = call_at(0, OffsetDateTime::now_utc());
        let path = file_for(&folder, &call);
        std::fs::write(&path, b"OggS").unwrap();
        call.recording_url = url_of(&path);
        calls.save(&call).await.unwrap();
        let after = delete(&calls, &folder, call.id).await.unwrap();
        assert!(after.recording_url.is_none() && !path.exists());
        assert_eq!(after.status, call.status);
        // Twice: there is nothing left to delete, said plainly.
        assert!(matches!(
            delete(&calls, &folder, call.id).await,
            Err(RecordingError::NoRecording)
        ));
        // A provider's link is not a file of ours.
        let mut remote = call_at(0, OffsetDateTime::now_utc());
        remote.recording_url = Some("https://api.twilio.com/r.wav".into());
        calls.save(&remote).await.unwrap();
        assert!(matches!(
            delete(&calls, &folder, remote.id).await,
            Err(RecordingError::NoRecording)
        ));
    }

    #[test]
    fn only_files_inside_the_folder_are_ours() {
        let folder = Path::new("/data/ringdesk/recordings");
        let inside = folder.join("2026-12-07-x.opus");
        let url = url_of(&inside).unwrap();
        assert!(url.starts_with("file:///"));
        assert_eq!(path_of(&url, folder), Some(inside));
        assert_eq!(path_of("file:///etc/passwd", folder), None);
        assert_eq!(
            path_of("file:///data/ringdesk/recordings/../ringdesk.db", folder),
            None
        );
        assert_eq!(path_of("https://api.twilio.com/r.wav", folder), None);
        assert_eq!(path_of("not a url", folder), None);
    }
}

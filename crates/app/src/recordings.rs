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
    #[error("cannot read the recording: {0}")]
    Read(std::io::Error),
    #[error("cannot save a copy of the recording: {0}")]
    Save(std::io::Error),
    #[error("cannot fetch the recording from the team server: {0}")]
    Team(String),
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

/// The file name a copy of `call`'s recording gets (its kind told by its first bytes: ours
/// are Ogg Opus, a provider's MP3 or WAV).
pub fn copy_name(call: &Call, audio: &[u8]) -> String {
    let kind = if audio.starts_with(b"OggS") {
        "opus"
    } else {
        ringdesk_core::ports::RecordingAudio::kind_of(audio).unwrap_or("mp3")
    };
    let who = call
        .contact_name
        .as_deref()
        .unwrap_or(match call.direction {
            ringdesk_core::CallDirection::Inbound => &call.from,
            ringdesk_core::CallDirection::Outbound => &call.to,
        })
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '+' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect::<String>();
    let day = call.initiated_at.date();
    format!(
        "Ringdesk recording {day} {who} {}.{kind}",
        &call.id.to_string()[..8]
    )
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

/// The team server's call a recording link it gave names — its API's
/// (`…/api/v1/calls/{id}/recording`) or a share link (`…/recordings/{id}?expires=…&sig=…`):
/// the desktop asks its own team server for that call, never the host the link names.
pub fn team_call_of(url: &str) -> Option<CallId> {
    let url = url::Url::parse(url).ok()?;
    let segments: Vec<&str> = url.path_segments()?.collect();
    let id = match segments.as_slice() {
        [.., "api", "v1", "calls", id, "recording"] => *id,
        [.., "recordings", id] if url.query().is_some_and(|q| q.contains("sig=")) => *id,
        _ => return None,
    };
    uuid::Uuid::parse_str(id).ok().map(CallId)
}

/// What the team server's word on one of the agent's calls changes here.
#[derive(Debug, PartialEq)]
pub(crate) enum TeamRecording {
    /// Its recording is linked to this desktop's row for the same call.
    Linked(Call),
    /// The server no longer keeps it (an admin deleted it): unlinked here too.
    Unlinked(Call),
    Unchanged,
}

/// The team server's word on one of the agent's calls, applied to the row this desktop's
/// softphone journaled for the same call (the provider named it in the INVITE): a recording
/// the server keeps is linked (`share`, awaited only then: a share link to it, which the CRM
/// can play; else the server's own link) and then plays from the journal; one the server
/// deleted is unlinked. A recording made here stays the one linked.
pub(crate) async fn take_team_recording(
    calls: &CallRepository,
    folder: &Path,
    team_call: &Call,
    share: impl std::future::Future<Output = Option<String>>,
) -> Result<TeamRecording, StoreError> {
    let Some(named) = &team_call.provider_call_id else {
        return Ok(TeamRecording::Unchanged);
    };
    let Some(mut mine) = calls.find_by_provider_call_id(named).await? else {
        return Ok(TeamRecording::Unchanged);
    };
    if is_local(&mine, folder) {
        return Ok(TeamRecording::Unchanged);
    }
    let on_server = team_call.recording_url.as_deref().and_then(team_call_of);
    let linked_here = mine.recording_url.as_deref().and_then(team_call_of);
    match (on_server, linked_here) {
        (Some(_), Some(_)) | (None, None) => Ok(TeamRecording::Unchanged),
        (None, Some(_)) => {
            mine.recording_url = None;
            mine.recording_secs = None;
            calls.save(&mine).await?;
            tracing::info!(call = %mine.id, "the team server's recording is gone: unlinked");
            Ok(TeamRecording::Unlinked(mine))
        }
        (Some(_), None) => {
            mine.recording_url = share.await.or_else(|| team_call.recording_url.clone());
            mine.recording_secs = team_call.recording_secs;
            calls.save(&mine).await?;
            tracing::info!(call = %mine.id, "the team server's recording linked");
            Ok(TeamRecording::Linked(mine))
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

    #[test]
    fn a_copy_is_named_for_its_call_and_kind() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut call = call_at(0, now);
        assert!(copy_name(&call, b"OggS....").ends_with(".opus"));
        assert!(copy_name(&call, b"RIFF\0\0\0\0WAVEfmt ").ends_with(".wav"));
        call.contact_name = Some("Ada / Lovelace".into());
        let name = copy_name(&call, b"ID3");
        assert!(
            name.starts_with("Ringdesk recording 2027-01-15 Ada---Lovelace ")
                && name.ends_with(".mp3"),
            "{name}"
        );
        assert!(!name.contains('/'));
    }

    #[test]
    fn only_the_team_servers_own_recording_links_name_its_calls() {
        let id = CallId::new();
        let link = format!("https://team.example.com/api/v1/calls/{}/recording", id.0);
        assert_eq!(team_call_of(&link), Some(id));
        let share = format!(
            "https://team.example.com/recordings/{}?expires=1&sig=x",
            id.0
        );
        assert_eq!(team_call_of(&share), Some(id));
        for other in [
            format!("https://team.example.com/recordings/{}", id.0),
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".to_string(),
            format!("https://team.example.com/api/v1/calls/{}/recording/x", id.0),
            "https://team.example.com/api/v1/calls/not-a-uuid/recording".to_string(),
            "file:///tmp/recordings/a.opus".to_string(),
            "not a link".to_string(),
        ] {
            assert_eq!(team_call_of(&other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn the_team_servers_recording_is_linked_to_the_softphones_row_for_the_same_call() {
        let dir = tempfile::tempdir().unwrap();
        let store = ringdesk_store::Store::open(&dir.path().join("ringdesk.db"))
            .await
            .unwrap();
        let calls = store.calls();
        let folder = folder(dir.path());
        let now = OffsetDateTime::now_utc();
        // The softphone's row, named by the provider's call in its INVITE; another call.
        let mut mine = call_at(0, now);
        mine.provider_call_id = Some("CA42".into());
        calls.save(&mine).await.unwrap();
        let other = call_at(0, now);
        calls.save(&other).await.unwrap();
        let take = |theirs: Call, share: Option<String>| {
            let (calls, folder) = (calls.clone(), folder.clone());
            async move {
                take_team_recording(&calls, &folder, &theirs, std::future::ready(share))
                    .await
                    .unwrap()
            }
        };
        // The team journal's row for it, as the live link tells it: no recording yet.
        let mut theirs = call_at(0, now);
        theirs.provider_call_id = Some("CA42".into());
        assert_eq!(take(theirs.clone(), None).await, TeamRecording::Unchanged);
        let link = format!(
            "https://team.example.com/api/v1/calls/{}/recording",
            theirs.id.0
        );
        let share = format!(
            "https://team.example.com/recordings/{}?expires=1900000000&sig=abc",
            theirs.id.0
        );
        theirs.recording_url = Some(link.clone());
        theirs.recording_secs = Some(42);
        let TeamRecording::Linked(linked) = take(theirs.clone(), Some(share.clone())).await else {
            panic!("not linked");
        };
        assert_eq!(linked.id, mine.id);
        let row = calls.get(mine.id).await.unwrap().unwrap();
        assert_eq!(
            (row.recording_url.as_deref(), row.recording_secs),
            (Some(share.as_str()), Some(42))
        );
        assert_eq!(team_call_of(&share), Some(theirs.id));
        assert_eq!(
            calls.get(other.id).await.unwrap().unwrap().recording_url,
            None
        );
        // Told again: nothing to do. A provider's own link is not the team server's to give.
        assert_eq!(take(theirs.clone(), None).await, TeamRecording::Unchanged);
        // …and the server is not asked for a share link then.
        let asked = std::sync::atomic::AtomicBool::new(false);
        let share = async {
            asked.store(true, std::sync::atomic::Ordering::SeqCst);
            None
        };
        let again = take_team_recording(&calls, &folder, &theirs, share)
            .await
            .unwrap();
        assert_eq!(again, TeamRecording::Unchanged);
        assert!(!asked.load(std::sync::atomic::Ordering::SeqCst));
        // Deleted on the server (the row comes without it): unlinked here.
        let mut deleted = theirs.clone();
        deleted.recording_url = None;
        assert!(matches!(
            take(deleted, None).await,
            TeamRecording::Unlinked(_)
        ));
        assert_eq!(
            calls.get(mine.id).await.unwrap().unwrap().recording_url,
            None
        );
        let mut providers = theirs.clone();
        providers.recording_url =
            Some("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".into());
        assert_eq!(take(providers, None).await, TeamRecording::Unchanged);
        // A recording made on this computer stays the one linked.
        let mut recorded = call_at(0, now);
        recorded.provider_call_id = Some("CA43".into());
        recorded.recording_url = url_of(&file_for(&folder, &recorded));
        calls.save(&recorded).await.unwrap();
        theirs.provider_call_id = Some("CA43".into());
        assert_eq!(take(theirs, None).await, TeamRecording::Unchanged);
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

//! Queues and Voicemail: the commands behind the two pages (the team server's, through the
//! app's `Directory`), and a desktop notification when a new message reaches this agent's box.

use std::collections::HashSet;

use ringdesk_app::Ringdesk;
use ringdesk_core::queue::{
    Queue, QueueId, QueueInput, QueueNow, QueueSound, Voicemail, VoicemailId, VoicemailStatus,
};
use ringdesk_core::team::TeamEvent;
use tauri::State;

use crate::error::UiError;

type Result<T> = std::result::Result<T, UiError>;

#[tauri::command]
pub async fn queue_list(ringdesk: State<'_, Ringdesk>) -> Result<Vec<QueueNow>> {
    Ok(ringdesk.directory().await?.queues().await?)
}

#[tauri::command]
pub async fn queue_save(
    ringdesk: State<'_, Ringdesk>,
    id: Option<QueueId>,
    queue: QueueInput,
) -> Result<Queue> {
    Ok(ringdesk.directory().await?.save_queue(id, &queue).await?)
}

#[tauri::command]
pub async fn queue_delete(ringdesk: State<'_, Ringdesk>, id: QueueId) -> Result<()> {
    Ok(ringdesk.directory().await?.delete_queue(id).await?)
}

/// An admin's recording for a queue's hold music or greeting: the file as the request's raw
/// body (not a JSON array of numbers), the queue and the sound in its headers.
#[tauri::command]
pub async fn queue_sound_upload(
    ringdesk: State<'_, Ringdesk>,
    request: tauri::ipc::Request<'_>,
) -> Result<()> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(UiError::internal("the recording comes as the file's bytes"));
    };
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let queue = header("queue")
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .map(QueueId)
        .ok_or_else(|| UiError::internal("which queue?"))?;
    let sound = header("sound")
        .and_then(QueueSound::from_code)
        .ok_or_else(|| UiError::internal("hold music or greeting?"))?;
    Ok(ringdesk
        .directory()
        .await?
        .upload_queue_sound(queue, sound, bytes.clone())
        .await?)
}

#[tauri::command]
pub async fn queue_sound_remove(
    ringdesk: State<'_, Ringdesk>,
    id: QueueId,
    sound: QueueSound,
) -> Result<()> {
    Ok(ringdesk
        .directory()
        .await?
        .remove_queue_sound(id, sound)
        .await?)
}

/// Whether this agent greets callers with their own recording.
#[tauri::command]
pub async fn greeting_get(ringdesk: State<'_, Ringdesk>) -> Result<bool> {
    Ok(ringdesk.directory().await?.my_greeting().await?)
}

/// The agent's own voicemail greeting: the file as the request's raw body.
#[tauri::command]
pub async fn greeting_upload(
    ringdesk: State<'_, Ringdesk>,
    request: tauri::ipc::Request<'_>,
) -> Result<()> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(UiError::internal("the recording comes as the file's bytes"));
    };
    Ok(ringdesk
        .directory()
        .await?
        .set_my_greeting(Some(bytes.clone()))
        .await?)
}

#[tauri::command]
pub async fn greeting_remove(ringdesk: State<'_, Ringdesk>) -> Result<()> {
    Ok(ringdesk.directory().await?.set_my_greeting(None).await?)
}

#[tauri::command]
pub async fn voicemail_list(
    ringdesk: State<'_, Ringdesk>,
    status: Option<VoicemailStatus>,
    search: Option<String>,
) -> Result<Vec<Voicemail>> {
    Ok(ringdesk
        .directory()
        .await?
        .voicemails(status, search.as_deref())
        .await?)
}

#[tauri::command]
pub async fn voicemail_audio(
    ringdesk: State<'_, Ringdesk>,
    id: VoicemailId,
) -> Result<tauri::ipc::Response> {
    let bytes = ringdesk.directory().await?.voicemail_audio(id).await?;
    Ok(tauri::ipc::Response::new(bytes))
}

#[tauri::command]
pub async fn voicemail_status_set(
    ringdesk: State<'_, Ringdesk>,
    id: VoicemailId,
    status: VoicemailStatus,
) -> Result<()> {
    Ok(ringdesk
        .directory()
        .await?
        .set_voicemail_status(id, status)
        .await?)
}

/// New messages this desktop has told the agent about (a message is announced again as its
/// audio and its text arrive: one notification each).
#[derive(Default)]
pub struct Announced(HashSet<VoicemailId>);

impl Announced {
    /// A desktop notification for a message new to this agent.
    pub fn on_news(&mut self, event: &TeamEvent) {
        let TeamEvent::Voicemail { voicemail, .. } = event else {
            return;
        };
        if voicemail.status != VoicemailStatus::New || !self.0.insert(voicemail.id) {
            return;
        }
        let body = voicemail
            .transcription
            .clone()
            .unwrap_or_else(|| "Open Ringdesk → Voicemail to listen.".into());
        let shown = notify_rust::Notification::new()
            .summary(&format!("New voicemail from {}", voicemail.caller))
            .body(&body)
            .appname("Ringdesk")
            .timeout(notify_rust::Timeout::Milliseconds(15_000))
            .show();
        if let Err(e) = shown {
            tracing::info!(error = %e, "no desktop notification");
        }
    }
}

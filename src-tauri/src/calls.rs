//! Calls on the desktop: the commands behind the dialpad, contacts, journal and call widgets;
//! the `live_calls` event (every call in progress); and, when the softphone rings, the
//! always-on-top popup window and a desktop notification with Answer / Decline.

use ringdesk_app::{
    ActiveCall, CallControl, CallError, CallNotice, CallRoute, CallRouteInput, ContactsError,
    ImportFormat, ImportReport, RecordingSettings, Ringdesk, WebhookError, WebhookSettings,
    WebhookView,
};
use ringdesk_core::{
    Call, CallFilter, CallId, Contact, ContactId, ContactInput, Disposition, TransferKind,
};
use tauri::{AppHandle, Emitter, Manager, State, WebviewUrl, WebviewWindowBuilder};

use crate::error::UiError;

type Result<T> = std::result::Result<T, UiError>;

pub const LIVE_CALLS_EVENT: &str = "live_calls";
pub const MISSED_CALLS_EVENT: &str = "missed_calls";
pub const INCOMING_WINDOW: &str = "incoming";

impl From<CallError> for UiError {
    fn from(e: CallError) -> Self {
        let (kind, field) = match &e {
            CallError::BadNumber(_) => ("invalid", Some("number".to_string())),
            CallError::BadDigits => ("invalid", Some("digits".to_string())),
            CallError::CallsAtOnce(_) => ("invalid", Some("callsAtOnce".to_string())),
            _ => ("call", None),
        };
        UiError {
            kind,
            field,
            message: ringdesk_core::sentence_case(&e.to_string()),
        }
    }
}

impl From<ContactsError> for UiError {
    fn from(e: ContactsError) -> Self {
        let message = ringdesk_core::sentence_case(&e.to_string());
        match e {
            ContactsError::Invalid(invalid) => UiError {
                kind: "invalid",
                field: Some(invalid.field()),
                message,
            },
            ContactsError::Import(_) => UiError {
                kind: "invalid",
                field: Some("file".into()),
                message,
            },
            ContactsError::NotFound => UiError {
                kind: "not_found",
                field: None,
                message,
            },
            ContactsError::Store(_) => UiError::internal(message),
        }
    }
}

#[tauri::command]
pub async fn contact_list(
    ringdesk: State<'_, Ringdesk>,
    query: Option<String>,
) -> Result<Vec<Contact>> {
    Ok(ringdesk
        .contacts
        .search(query.as_deref().unwrap_or(""))
        .await?)
}

#[tauri::command]
pub async fn contact_create(
    ringdesk: State<'_, Ringdesk>,
    contact: ContactInput,
) -> Result<Contact> {
    Ok(ringdesk.contacts.create(&contact).await?)
}

/// Saves an unknown caller (the far party of `call_id`) as a contact with their history.
#[tauri::command]
pub async fn call_save_contact(
    ringdesk: State<'_, Ringdesk>,
    call_id: CallId,
    name: String,
) -> Result<Contact> {
    Ok(ringdesk.save_caller(call_id, &name).await?)
}

#[tauri::command]
pub async fn contact_update(
    ringdesk: State<'_, Ringdesk>,
    id: ContactId,
    contact: ContactInput,
) -> Result<Contact> {
    Ok(ringdesk.contacts.update(id, &contact).await?)
}

#[tauri::command]
pub async fn contact_delete(ringdesk: State<'_, Ringdesk>, id: ContactId) -> Result<()> {
    Ok(ringdesk.contacts.delete(id).await?)
}

#[tauri::command]
pub async fn contact_import(
    ringdesk: State<'_, Ringdesk>,
    text: String,
    format: ImportFormat,
) -> Result<ImportReport> {
    Ok(ringdesk.contacts.import(&text, format).await?)
}

#[tauri::command]
pub async fn call_list(ringdesk: State<'_, Ringdesk>, filter: CallFilter) -> Result<Vec<Call>> {
    Ok(ringdesk.calls(&filter).await?)
}

/// Every call in progress, oldest first.
#[tauri::command]
pub fn call_live(ringdesk: State<'_, Ringdesk>) -> Vec<ActiveCall> {
    ringdesk.live_calls()
}

#[tauri::command]
pub async fn call_dial(
    ringdesk: State<'_, Ringdesk>,
    number: String,
    contact_id: Option<ContactId>,
) -> Result<Call> {
    Ok(ringdesk.dial(number, contact_id).await?)
}

// The controls take the call they are for; without one they go to the call in focus (the
// one talked to, else the one ringing in).

#[tauri::command]
pub async fn call_answer(ringdesk: State<'_, Ringdesk>, call_id: Option<CallId>) -> Result<()> {
    Ok(ringdesk.call_control(call_id, CallControl::Answer).await?)
}

#[tauri::command]
pub async fn call_decline(ringdesk: State<'_, Ringdesk>, call_id: Option<CallId>) -> Result<()> {
    Ok(ringdesk.call_control(call_id, CallControl::Decline).await?)
}

#[tauri::command]
pub async fn call_hangup(ringdesk: State<'_, Ringdesk>, call_id: Option<CallId>) -> Result<()> {
    Ok(ringdesk.call_control(call_id, CallControl::Hangup).await?)
}

#[tauri::command]
pub async fn call_mute(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
    muted: bool,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::Mute(muted))
        .await?)
}

#[tauri::command]
pub async fn call_hold(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
    held: bool,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::Hold(held))
        .await?)
}

#[tauri::command]
pub async fn call_dtmf(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
    digits: String,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::Dtmf(digits))
        .await?)
}

/// The held call becomes the one talked to; the other is held.
#[tauri::command]
pub async fn call_swap(ringdesk: State<'_, Ringdesk>) -> Result<()> {
    Ok(ringdesk.call_control(None, CallControl::Swap).await?)
}

/// Blind: the call goes to `target` now. Attended: the caller waits on hold while the agent
/// talks to `target` on a new call, then completes or cancels.
#[tauri::command]
pub async fn call_transfer(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
    target: String,
    kind: TransferKind,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::Transfer { target, kind })
        .await?)
}

#[tauri::command]
pub async fn call_transfer_complete(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::CompleteTransfer)
        .await?)
}

#[tauri::command]
pub async fn call_transfer_cancel(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::CancelTransfer)
        .await?)
}

#[tauri::command]
pub async fn call_record(
    ringdesk: State<'_, Ringdesk>,
    call_id: Option<CallId>,
    on: bool,
) -> Result<()> {
    Ok(ringdesk
        .call_control(call_id, CallControl::Record(on))
        .await?)
}

#[tauri::command]
pub async fn recording_settings_get(ringdesk: State<'_, Ringdesk>) -> Result<RecordingSettings> {
    Ok(ringdesk.recording_settings().await?)
}

#[tauri::command]
pub async fn recording_settings_set(
    ringdesk: State<'_, Ringdesk>,
    settings: RecordingSettings,
) -> Result<RecordingSettings> {
    Ok(ringdesk.set_recording_settings(settings).await?)
}

#[tauri::command]
pub async fn recording_delete(ringdesk: State<'_, Ringdesk>, call_id: CallId) -> Result<Call> {
    Ok(ringdesk.delete_recording(call_id).await?)
}

/// A call's recording (made or kept here, or the team server's copy), as bytes for the
/// window's player (WebKitGTK's media player cannot read a custom URI scheme; a Blob of these
/// bytes it can).
#[tauri::command]
pub async fn recording_audio(
    ringdesk: State<'_, Ringdesk>,
    call_id: CallId,
) -> Result<tauri::ipc::Response> {
    let bytes = ringdesk.recording_audio(call_id).await?;
    Ok(tauri::ipc::Response::new(bytes))
}

#[tauri::command]
pub async fn recording_reveal(
    app: AppHandle,
    ringdesk: State<'_, Ringdesk>,
    call_id: CallId,
) -> Result<()> {
    use tauri_plugin_opener::OpenerExt;
    let file = ringdesk.recording_file(call_id).await?;
    app.opener()
        .reveal_item_in_dir(file)
        .map_err(|e| UiError::internal(format!("Cannot show the file: {e}")))
}

/// Saves a copy of a call's recording in the agent's Downloads folder and shows it there.
#[tauri::command]
pub async fn recording_save_copy(
    app: AppHandle,
    ringdesk: State<'_, Ringdesk>,
    call_id: CallId,
) -> Result<String> {
    use tauri::Manager;
    use tauri_plugin_opener::OpenerExt;
    let downloads = app
        .path()
        .download_dir()
        .map_err(|e| UiError::internal(format!("There is no Downloads folder: {e}")))?;
    let saved = ringdesk.save_recording_copy(call_id, &downloads).await?;
    let _ = app.opener().reveal_item_in_dir(&saved);
    Ok(saved.display().to_string())
}

#[tauri::command]
pub async fn calls_at_once_get(ringdesk: State<'_, Ringdesk>) -> Result<usize> {
    Ok(ringdesk.calls_at_once().await?)
}

#[tauri::command]
pub async fn calls_at_once_set(ringdesk: State<'_, Ringdesk>, count: usize) -> Result<usize> {
    Ok(ringdesk.set_calls_at_once(count).await?)
}

/// Forwards the calls to every window and keeps the popup open exactly while a call rings in.
pub fn setup(app: &AppHandle) {
    let ringdesk = app.state::<Ringdesk>();
    let mut active = ringdesk.softphone.calls.calls.subscribe();
    let mut notices = ringdesk.softphone.calls.notices.subscribe();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let now = active.borrow_and_update().clone();
            let _ = handle.emit(LIVE_CALLS_EVENT, &now);
            crate::tray::show_ringing(&handle, now.iter().find(|c| c.ringing_inbound()));
            if now.iter().any(ActiveCall::ringing_inbound) {
                crate::figures::ringing();
                open_popup(&handle);
            } else {
                crate::figures::quiet();
                if let Some(popup) = handle.get_webview_window(INCOMING_WINDOW) {
                    let _ = popup.close();
                }
            }
            if active.changed().await.is_err() {
                break;
            }
        }
    });
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        show_missed(&handle).await;
        while let Some(notice) = ringdesk_app::notices::next(&mut notices).await {
            let (event, call) = match &notice {
                CallNotice::Incoming(c) => ("incoming_call", c),
                CallNotice::Answered(c) => ("call_answered", c),
                CallNotice::Ended(c) => ("call_ended", c),
            };
            let _ = handle.emit(event, call);
            match notice {
                CallNotice::Incoming(call) => notify(&handle, &call),
                CallNotice::Ended(_) => show_missed(&handle).await,
                CallNotice::Answered(_) => {}
            }
        }
    });
}

/// Counts the missed calls not seen yet, for the window (`missed_calls`) and the tray.
pub async fn show_missed(app: &AppHandle) {
    let ringdesk = app.state::<Ringdesk>();
    match ringdesk.missed_calls().await {
        Ok(count) => {
            let _ = app.emit(MISSED_CALLS_EVENT, count);
            crate::tray::show_missed(app, count);
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the missed calls"),
    }
}

#[tauri::command]
pub async fn calls_missed(ringdesk: State<'_, Ringdesk>) -> Result<u64> {
    Ok(ringdesk.missed_calls().await?)
}

/// The agent looked at the journal: the missed calls so far are seen.
#[tauri::command]
pub async fn calls_missed_seen(app: AppHandle, ringdesk: State<'_, Ringdesk>) -> Result<()> {
    ringdesk.missed_calls_seen().await?;
    show_missed(&app).await;
    Ok(())
}

fn open_popup(app: &AppHandle) {
    if let Some(popup) = app.get_webview_window(INCOMING_WINDOW) {
        let _ = popup.show();
        return;
    }
    let built = WebviewWindowBuilder::new(
        app,
        INCOMING_WINDOW,
        WebviewUrl::App("incoming.html".into()),
    )
    .title("Incoming call — Ringdesk")
    .inner_size(380.0, 220.0)
    .resizable(false)
    .always_on_top(true)
    .skip_taskbar(true)
    .focused(true)
    .build();
    if let Err(e) = built {
        tracing::warn!(error = %e, "cannot open the incoming call popup");
    }
}

/// A desktop notification naming the caller, with Answer / Decline where the desktop
/// supports actions (freedesktop). Its actions act on this call only, and it closes as soon
/// as the call stops ringing (answered here or elsewhere, declined, given up): notifications
/// of calls gone never stack up or act on a newer call.
fn notify(app: &AppHandle, call: &Call) {
    let who = call
        .contact_name
        .clone()
        .unwrap_or_else(|| call.from.clone());
    let mut notification = notify_rust::Notification::new();
    notification
        .summary(&format!("Incoming call: {who}"))
        .body(&call.from)
        .appname("Ringdesk")
        .timeout(notify_rust::Timeout::Milliseconds(30_000));
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        notification
            .action("answer", "Answer")
            .action("decline", "Decline")
            .urgency(notify_rust::Urgency::Critical);
        let app = app.clone();
        let call_id = call.id;
        tauri::async_runtime::spawn(async move {
            let shown = match notification.show_async().await {
                Ok(shown) => shown,
                Err(e) => return tracing::info!(error = %e, "no desktop notification"),
            };
            let mut calls = app.state::<Ringdesk>().softphone.calls.calls.subscribe();
            let moved_on = async move {
                while calls
                    .borrow_and_update()
                    .iter()
                    .any(|c| c.call.id == call_id && c.ringing_inbound())
                {
                    if calls.changed().await.is_err() {
                        break;
                    }
                }
            };
            let mut chosen = None;
            tokio::select! {
                _ = shown.wait_for_action_async(|response| {
                    if let notify_rust::NotificationResponse::Action(action) = response {
                        chosen = Some(action.clone());
                    }
                }) => {}
                _ = moved_on => shown.close_async().await,
            }
            let control = match chosen.as_deref() {
                Some("answer") => CallControl::Answer,
                Some("decline") => CallControl::Decline,
                _ => return,
            };
            let ringdesk = app.state::<Ringdesk>();
            if let Err(e) = ringdesk.call_control(Some(call_id), control).await {
                tracing::info!(error = %e, "notification action too late");
            }
        });
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        let _ = app;
        if let Err(e) = notification.show() {
            tracing::info!(error = %e, "no desktop notification");
        }
    }
}

impl From<WebhookError> for UiError {
    fn from(e: WebhookError) -> Self {
        UiError {
            kind: if e.field().is_some() {
                "invalid"
            } else {
                "internal"
            },
            field: e.field().map(str::to_string),
            message: ringdesk_core::sentence_case(&e.to_string()),
        }
    }
}

#[tauri::command]
pub async fn webhook_get(ringdesk: State<'_, Ringdesk>) -> Result<WebhookView> {
    Ok(ringdesk.webhooks().await?)
}

#[tauri::command]
pub async fn webhook_set(
    ringdesk: State<'_, Ringdesk>,
    settings: WebhookSettings,
) -> Result<WebhookView> {
    Ok(ringdesk.set_webhooks(settings).await?)
}

#[tauri::command]
pub async fn call_route_get(ringdesk: State<'_, Ringdesk>) -> Result<CallRoute> {
    Ok(ringdesk.call_route().await?)
}

#[tauri::command]
pub async fn call_route_set(
    ringdesk: State<'_, Ringdesk>,
    route: CallRouteInput,
) -> Result<CallRoute> {
    ringdesk.set_call_route(route).await.map_err(|e| match e {
        CallError::BadNumber(message) => UiError {
            kind: "invalid",
            field: Some("phone".into()),
            message,
        },
        other => other.into(),
    })
}

#[tauri::command]
pub async fn call_wrap_up(
    ringdesk: State<'_, Ringdesk>,
    call_id: CallId,
    notes: Option<String>,
    disposition: Option<Disposition>,
) -> Result<Call> {
    Ok(ringdesk.wrap_up(call_id, notes, disposition).await?)
}

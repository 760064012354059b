//! Settings → CRM, the contacts sync and the CRM's state in the tray and the window
//! (`crm` events).

use ringdesk_app::{CrmSettings, CrmSetupError, CrmView, Ringdesk};
use ringdesk_core::{Contact, ContactId};
use tauri::{AppHandle, Emitter, Manager, State};
use tauri_plugin_opener::OpenerExt;

use crate::error::UiError;
use crate::tray;

type Result<T> = std::result::Result<T, UiError>;

pub const CRM_EVENT: &str = "crm";

/// Follows deliveries and the contacts sync: the tray's tooltip and the window's Settings →
/// CRM stay current without polling.
pub fn setup(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let ringdesk = app.state::<Ringdesk>();
        let mut changes = ringdesk.subscribe_crm();
        loop {
            changes.borrow_and_update();
            match ringdesk.crm().await {
                Ok(view) => {
                    tray::show_crm(&app, view.summary());
                    let _ = app.emit(CRM_EVENT, &view);
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the CRM's state"),
            }
            if changes.changed().await.is_err() {
                break;
            }
        }
    });
}

impl From<CrmSetupError> for UiError {
    fn from(e: CrmSetupError) -> Self {
        UiError {
            kind: match e.field() {
                Some(_) => "invalid",
                None => "crm",
            },
            field: e.field().map(str::to_string),
            message: ringdesk_core::sentence_case(&e.to_string()),
        }
    }
}

#[tauri::command]
pub async fn crm_get(ringdesk: State<'_, Ringdesk>) -> Result<CrmView> {
    Ok(ringdesk.crm().await?)
}

#[tauri::command]
pub fn crm_connected(ringdesk: State<'_, Ringdesk>) -> bool {
    ringdesk.crm_connected()
}

#[tauri::command]
pub async fn crm_set(
    ringdesk: State<'_, Ringdesk>,
    settings: CrmSettings,
    token: Option<String>,
) -> Result<CrmView> {
    Ok(ringdesk.set_crm(settings, token).await?)
}

#[tauri::command]
pub async fn crm_disconnect(ringdesk: State<'_, Ringdesk>) -> Result<CrmView> {
    Ok(ringdesk.disconnect_crm().await?)
}

#[tauri::command]
pub async fn crm_test(ringdesk: State<'_, Ringdesk>) -> Result<String> {
    Ok(ringdesk.test_crm().await?)
}

#[tauri::command]
pub async fn crm_retry(ringdesk: State<'_, Ringdesk>) -> Result<CrmView> {
    Ok(ringdesk.retry_crm().await?)
}

#[tauri::command]
pub async fn crm_sync(ringdesk: State<'_, Ringdesk>, full: bool) -> Result<()> {
    ringdesk.sync_crm(full);
    Ok(())
}

/// Opens the contact's page of the CRM in the browser; returns the address opened.
#[tauri::command]
pub async fn contact_open_in_crm(
    app: AppHandle,
    ringdesk: State<'_, Ringdesk>,
    id: ContactId,
) -> Result<Option<String>> {
    let Some(url) = ringdesk.contact_crm_url(id).await? else {
        return Ok(None);
    };
    if let Err(e) = app.opener().open_url(url.as_str(), None::<&str>) {
        // No browser (a bare session): the address is still shown to copy.
        tracing::warn!(error = %e, "cannot open the browser");
    }
    Ok(Some(url))
}

#[tauri::command]
pub async fn contact_add_to_crm(ringdesk: State<'_, Ringdesk>, id: ContactId) -> Result<Contact> {
    Ok(ringdesk.add_contact_to_crm(id).await?)
}

//! Tauri commands: the phase-1 provider API and the small desktop queries the UI needs.
//! Each is a thin call into the core; rules live there. A change to providers may change the
//! softphone's account, so those commands end by refreshing it.

use ringdesk_app::{
    AudioRole, AudioTestError, AudioView, Availability, NumberPreview, Ringdesk, SoftphoneStatus,
};
use ringdesk_core::service::ConnectionTest;
use ringdesk_core::{NewProvider, Provider, ProviderId, ProviderStatus, ProviderUpdate};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, State};

use crate::deep_link::{DialLinkOutcome, PendingDial};
use crate::error::UiError;
use crate::tray;

type Result<T> = std::result::Result<T, UiError>;

/// A provider as the UI shows it: the stored flags plus the derived card status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    #[serde(flatten)]
    provider: Provider,
    status: ProviderStatus,
    missing_credentials: Vec<&'static str>,
    /// The SIP account set up from this provider's API: shown as part of this provider.
    softphone: Option<ProviderId>,
}

impl From<Provider> for ProviderView {
    fn from(provider: Provider) -> Self {
        let missing_credentials = provider
            .kind
            .missing_credentials(&provider.credentials)
            .into_iter()
            .map(|f| f.code())
            .collect();
        ProviderView {
            status: provider.status(),
            missing_credentials,
            softphone: None,
            provider,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    version: &'static str,
    region: String,
    /// Where the journal is kept.
    data_dir: String,
    /// Where the logs are written (None: the platform has no log folder for apps).
    log_dir: Option<String>,
}

#[tauri::command]
pub fn app_info(app: AppHandle, ringdesk: State<'_, Ringdesk>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        region: ringdesk.region().code().to_string(),
        data_dir: ringdesk.data_dir().display().to_string(),
        log_dir: app
            .path()
            .app_log_dir()
            .ok()
            .map(|d| d.display().to_string()),
    }
}

#[tauri::command]
pub async fn provider_list(ringdesk: State<'_, Ringdesk>) -> Result<Vec<ProviderView>> {
    Ok(ringdesk
        .list_providers()
        .await?
        .into_iter()
        .map(|(provider, softphone)| ProviderView {
            softphone,
            ..provider.into()
        })
        .collect())
}

#[tauri::command]
pub async fn provider_get(ringdesk: State<'_, Ringdesk>, id: ProviderId) -> Result<ProviderView> {
    Ok(ringdesk.providers.get(id).await?.into())
}

#[tauri::command]
pub async fn provider_create(
    ringdesk: State<'_, Ringdesk>,
    provider: NewProvider,
) -> Result<ProviderView> {
    Ok(ringdesk.create_provider(provider).await?.into())
}

#[tauri::command]
pub async fn provider_update(
    ringdesk: State<'_, Ringdesk>,
    id: ProviderId,
    update: ProviderUpdate,
) -> Result<ProviderView> {
    Ok(ringdesk.update_provider(id, update).await?.into())
}

#[tauri::command]
pub async fn provider_delete(ringdesk: State<'_, Ringdesk>, id: ProviderId) -> Result<()> {
    Ok(ringdesk.delete_provider(id).await?)
}

/// Creates the softphone's SIP login through the provider's API and makes it active.
#[tauri::command]
pub async fn provider_setup_softphone(
    ringdesk: State<'_, Ringdesk>,
    id: ProviderId,
) -> Result<ProviderView> {
    Ok(ringdesk.setup_softphone(id).await?.into())
}

#[tauri::command]
pub async fn provider_activate(
    ringdesk: State<'_, Ringdesk>,
    id: ProviderId,
) -> Result<ProviderView> {
    Ok(ringdesk.activate_provider(id).await?.into())
}

#[tauri::command]
pub async fn provider_test(
    ringdesk: State<'_, Ringdesk>,
    id: ProviderId,
) -> Result<ConnectionTest> {
    Ok(ringdesk.providers.test_connection(id).await?)
}

/// The softphone's registration, as the status line shows it (changes arrive as `softphone`
/// events).
#[tauri::command]
pub fn softphone_status(ringdesk: State<'_, Ringdesk>) -> SoftphoneStatus {
    ringdesk.softphone.status()
}

#[tauri::command]
pub fn number_preview(ringdesk: State<'_, Ringdesk>, input: String) -> Result<NumberPreview> {
    Ok(ringdesk.preview_number(&input)?)
}

/// The dial link that arrived before the UI was listening (e.g. the link that started the app).
#[tauri::command]
pub fn dial_link_pending(pending: State<'_, PendingDial>) -> Option<DialLinkOutcome> {
    pending.take()
}

#[tauri::command]
pub async fn availability_get(ringdesk: State<'_, Ringdesk>) -> Result<Availability> {
    Ok(ringdesk.availability().await?)
}

#[tauri::command]
pub async fn availability_set(app: AppHandle, availability: Availability) -> Result<Availability> {
    tray::apply_availability(&app, availability).await?;
    Ok(availability)
}

#[tauri::command]
pub async fn audio_get(ringdesk: State<'_, Ringdesk>) -> Result<AudioView> {
    Ok(ringdesk.audio().await?)
}

#[tauri::command]
pub async fn audio_choose(
    ringdesk: State<'_, Ringdesk>,
    role: AudioRole,
    device: Option<String>,
) -> Result<AudioView> {
    Ok(ringdesk.choose_audio_device(role, device).await?)
}

#[tauri::command]
pub async fn audio_test_sound(ringdesk: State<'_, Ringdesk>, role: AudioRole) -> Result<()> {
    ringdesk.play_test_sound(role).await.map_err(audio_error)
}

/// Listens to the microphone for a few seconds; its level arrives as `mic_level` events (dBFS).
#[tauri::command]
pub async fn audio_test_microphone(app: AppHandle, ringdesk: State<'_, Ringdesk>) -> Result<()> {
    ringdesk
        .test_microphone(MIC_TEST_SECONDS, move |dbfs| {
            let _ = app.emit("mic_level", dbfs);
        })
        .await
        .map_err(audio_error)
}

const MIC_TEST_SECONDS: u64 = 5;

fn audio_error(e: AudioTestError) -> UiError {
    UiError {
        kind: "audio",
        field: None,
        message: ringdesk_core::sentence_case(&e.to_string()),
    }
}

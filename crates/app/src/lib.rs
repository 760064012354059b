//! Wires the core's services to their real adapters (SQLite, keyring, HTTP). The Tauri shell and
//! the CLI both start here, so they run the same code paths.

mod audio;
mod availability;
mod config;
mod softphone;

use std::sync::Arc;

use ringdesk_core::service::ProviderService;
use ringdesk_core::{
    parse_dial_link, DialLinkError, DialRequest, E164Number, PhoneNumberError, Region,
};
use ringdesk_providers::HttpAdapterFactory;
use ringdesk_secrets::KeyringSecretStore;
use ringdesk_store::{Store, StoreError};
use serde::Serialize;

pub use audio::{AudioPreferences, AudioRole, AudioTestError, AudioView};
pub use availability::Availability;
pub use config::AppConfig;
pub use softphone::{Softphone, SoftphoneStatus};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A number as the dialpad shows it while the agent types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberPreview {
    pub e164: E164Number,
    pub display: String,
    pub region: Option<String>,
}

pub struct Ringdesk {
    store: Store,
    pub providers: ProviderService,
    pub softphone: Softphone,
    region: Region,
}

impl Ringdesk {
    pub async fn open(config: AppConfig) -> Result<Self, AppError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| AppError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Store::open(&config.database_path()).await?;
        let providers = ProviderService::new(
            Arc::new(store.providers()),
            Arc::new(KeyringSecretStore::new(config.keyring_service.clone())),
            Arc::new(HttpAdapterFactory::new(config.endpoints.clone())),
            config.region,
        );
        tracing::info!(database = %config.database_path().display(), region = config.region.code(), "journal opened");
        Ok(Self {
            store,
            providers,
            softphone: Softphone::new(),
            region: config.region,
        })
    }

    pub fn region(&self) -> Region {
        self.region
    }

    /// Reads a `tel:`/`callto:`/`sip:`/`ringdesk:` link into a number to confirm on the dialpad.
    pub fn dial_request(&self, link: &str) -> Result<DialRequest, DialLinkError> {
        parse_dial_link(link, self.region)
    }

    pub fn preview_number(&self, input: &str) -> Result<NumberPreview, PhoneNumberError> {
        let e164 = E164Number::parse(input, self.region)?;
        Ok(NumberPreview {
            display: e164.international(),
            region: e164.region().map(|r| r.code().to_string()),
            e164,
        })
    }

    pub async fn availability(&self) -> Result<Availability, AppError> {
        Ok(availability::load(&self.store.settings()).await?)
    }

    pub async fn set_availability(&self, availability: Availability) -> Result<(), AppError> {
        Ok(availability::save(&self.store.settings(), availability).await?)
    }

    /// The sound devices present and the one each role uses.
    pub async fn audio(&self) -> Result<AudioView, AppError> {
        let preferences = audio::load(&self.store.settings()).await?;
        Ok(
            tokio::task::spawn_blocking(move || audio::view(&preferences))
                .await
                .unwrap_or_else(|_| audio::view(&AudioPreferences::default())),
        )
    }

    /// Uses `device` for `role` from now on (None: the system default).
    pub async fn choose_audio_device(
        &self,
        role: AudioRole,
        device: Option<String>,
    ) -> Result<AudioView, AppError> {
        let settings = self.store.settings();
        let mut preferences = audio::load(&settings).await?;
        preferences.choose(role, device);
        audio::save(&settings, &preferences).await?;
        self.audio().await
    }

    /// A chime on the device `role` uses now.
    pub async fn play_test_sound(&self, role: AudioRole) -> Result<(), AudioTestError> {
        let device = self
            .audio()
            .await
            .map_err(|e| AudioTestError::new(e.to_string()))?;
        let device = match role {
            AudioRole::Ringer => device.ringer,
            _ => device.speaker,
        };
        audio::play_test_sound(device).await
    }

    /// Listens to the microphone in use for `seconds`, reporting its level every 100 ms.
    pub async fn test_microphone(
        &self,
        seconds: u64,
        report: impl Fn(f32) + Send + 'static,
    ) -> Result<(), AudioTestError> {
        let device = self
            .audio()
            .await
            .map_err(|e| AudioTestError::new(e.to_string()))?;
        audio::test_microphone(device.microphone, seconds, report).await
    }

    /// Registers the active provider's SIP account, or stops registering: after start-up and
    /// after any change to providers.
    pub async fn refresh_softphone(&self) {
        match self.providers.softphone_account().await {
            Ok(account) => self.softphone.apply(account).await,
            Err(e) => tracing::warn!(error = %e, "cannot read the softphone's account"),
        }
    }

    pub async fn close(&self) {
        self.softphone.shutdown().await;
        self.store.close().await;
    }
}

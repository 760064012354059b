//! Wires the core's services to their real adapters (SQLite, keyring, HTTP). The Tauri shell and
//! the CLI both start here, so they run the same code paths.

mod api;
mod audio;
mod availability;
mod calls;
mod calls_at_once;
mod config;
mod contacts;
mod crm;
pub mod crm_sync;
mod device_follow;
mod directory;
pub mod notices;
mod presence;
pub use device_follow::CallDevices;
pub use directory::{Directory, DirectoryError, SavedUser};
pub use presence::MyStatus;
mod provider_calls;
mod queues;
pub mod recordings;
mod softphone;
mod softphone_setup;
mod team;
mod tones;
mod voice;
mod webhooks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ringdesk_core::service::ProviderService;
use ringdesk_core::{
    parse_dial_link, Call, CallFilter, CallId, Contact, ContactId, DialLinkError, DialRequest,
    Disposition, E164Number, NumberSyncReport, PhoneNumberError, ProviderId, Region, User, UserId,
    UserInput,
};
use ringdesk_providers::HttpAdapterFactory;
use ringdesk_secrets::KeyringSecretStore;
use ringdesk_store::{Store, StoreError};
use serde::Serialize;
use tokio::sync::{watch, Notify};

pub use audio::{AudioPreferences, AudioRole, AudioTestError, AudioView};
pub use availability::Availability;
pub use calls::{
    ActiveCall, CallCommand, CallControl, CallError, CallNotice, CallQuality, PendingTransfer,
};
pub use config::AppConfig;
pub use contacts::{Contacts, ContactsError, ImportFormat, ImportReport};
pub use crm::{CrmKind, CrmSettings, CrmSetupError, CrmView, SyncView};
pub use provider_calls::{CallRoute, CallRouteInput, CallRouteMode};
pub use recordings::{RecordingError, RecordingSettings};
pub use ringdesk_store::{Agents, NumbersError};
pub use softphone::{Softphone, SoftphoneStatus};
pub use softphone_setup::SetupError;
pub use team::{TeamLink, TeamSettings, TeamSetupError, TeamView};
pub use webhooks::{WebhookError, WebhookSettings};

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

/// Settings → Webhooks: the settings and what the receiver is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    #[serde(flatten)]
    pub settings: WebhookSettings,
    /// Where it listens now (None: off).
    pub listening: Option<String>,
    /// What providers post to, before `/webhooks/<provider id>`.
    pub base_url: String,
}

/// How the app and the contacts sync talk.
struct CrmSyncControl {
    now: Arc<Notify>,
    full: Arc<AtomicBool>,
    running: Arc<AtomicBool>,
    changed: watch::Sender<u64>,
}

impl Default for CrmSyncControl {
    fn default() -> Self {
        CrmSyncControl {
            now: Default::default(),
            full: Default::default(),
            running: Default::default(),
            changed: watch::channel(0).0,
        }
    }
}

pub struct Ringdesk {
    store: Store,
    journal: calls::Journal,
    webhooks: tokio::sync::Mutex<Option<webhooks::Running>>,
    provider_calls: Arc<provider_calls::ProviderCalls>,
    secrets: Arc<KeyringSecretStore>,
    /// The outbox worker and the contacts sync of the connected CRM.
    crm_tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    crm_sync: CrmSyncControl,
    /// The connected CRM's connector (None: none connected), as `start_crm` made it.
    crm_connector: std::sync::RwLock<Option<Arc<dyn ringdesk_crm::CrmConnector>>>,
    /// Wakes the presence task (availability or "me" changed).
    presence: Arc<Notify>,
    /// My status each time the presence task saves it.
    my_status: watch::Sender<Option<presence::MyStatus>>,
    /// The heartbeat to the team server (while this desktop is in a team), what it last
    /// heard, and its wake-up when availability changes.
    team_task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    team_link: watch::Sender<team::TeamLink>,
    team_wake: Arc<Notify>,
    team_news: tokio::sync::broadcast::Sender<ringdesk_core::team::TeamEvent>,
    pub providers: ProviderService,
    pub softphone: Softphone,
    pub contacts: Contacts,
    pub agents: Agents,
    region: Region,
    /// Where the journal lives (Settings → About shows it).
    data_dir: std::path::PathBuf,
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
        // Calls that were live when Ringdesk last stopped never ended: close them now.
        for call in store.calls().close_interrupted().await? {
            tracing::warn!(call = %call.id, "a call was interrupted when Ringdesk stopped");
        }
        let agents = ringdesk_store::Agents {
            numbers: store.numbers(),
            users: store.users(),
            region: config.region,
        };
        let journal = calls::Journal {
            agents: agents.clone(),
            calls: store.calls(),
            contacts: store.contacts(),
            settings: store.settings(),
            outbox: store.outbox(),
            region: config.region,
            crm: Default::default(),
            wake: Default::default(),
            recordings: recordings::folder(&config.data_dir),
        };
        let softphone = Softphone::new(journal.clone());
        let provider_calls = Arc::new(provider_calls::ProviderCalls::new(
            journal.clone(),
            softphone.calls.clone(),
        ));
        let ringdesk = Self {
            data_dir: config.data_dir.clone(),
            secrets: Arc::new(KeyringSecretStore::new(config.keyring_service.clone())),
            crm_tasks: Default::default(),
            crm_sync: Default::default(),
            crm_connector: Default::default(),
            presence: Default::default(),
            my_status: watch::channel(None).0,
            team_task: Default::default(),
            team_link: watch::channel(team::TeamLink::Off).0,
            team_wake: Default::default(),
            team_news: tokio::sync::broadcast::channel(64).0,
            provider_calls,
            contacts: Contacts {
                repository: store.contacts(),
                region: config.region,
            },
            softphone,
            agents,
            journal,
            webhooks: tokio::sync::Mutex::new(None),
            store,
            providers,
            region: config.region,
        };
        // The first ring must not wait for the caller index to load.
        let contacts = ringdesk.store.contacts();
        tokio::spawn(async move {
            if let Err(e) = contacts.warm().await {
                tracing::warn!(error = %e, "cannot load the caller index");
            }
        });
        tokio::spawn(
            presence::Presence {
                users: ringdesk.store.users(),
                settings: ringdesk.store.settings(),
                softphone: ringdesk.softphone.subscribe(),
                calls: ringdesk.softphone.calls.calls.subscribe(),
                changed: ringdesk.presence.clone(),
                saved: ringdesk.my_status.clone(),
            }
            .run(),
        );
        let settings = ringdesk.store.settings();
        tokio::spawn(device_follow::run(
            ringdesk.softphone.calls.calls.subscribe(),
            ringdesk.softphone.devices.clone(),
            device_follow::EVERY,
            move || {
                let settings = settings.clone();
                async move {
                    let preferences = audio::load(&settings).await.unwrap_or_default();
                    tokio::task::spawn_blocking(move || {
                        device_follow::CallDevices::of(&audio::view(&preferences))
                    })
                    .await
                    .unwrap_or_default()
                }
            },
        ));
        ringdesk.start_crm().await;
        ringdesk.start_team().await;
        ringdesk.start_recording_sweep();
        Ok(ringdesk)
    }

    pub fn region(&self) -> Region {
        self.region
    }

    /// Deletes recordings past their keep period now and every few hours.
    fn start_recording_sweep(&self) {
        let (settings, calls) = (self.store.settings(), self.store.calls());
        let folder = self.journal.recordings.clone();
        tokio::spawn(async move {
            loop {
                let now = time::OffsetDateTime::now_utc();
                if let Err(e) = recordings::sweep(&settings, &calls, &folder, now).await {
                    tracing::warn!(error = %e, "cannot delete old recordings");
                }
                tokio::time::sleep(recordings::SWEEP_EVERY).await;
            }
        });
    }

    /// The folder of the journal and the other local data.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
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

    pub async fn close(&self) {
        for task in self.crm_tasks.lock().await.drain(..) {
            task.abort();
        }
        if let Some(receiver) = self.webhooks.lock().await.take() {
            receiver.stop().await;
        }
        self.softphone.shutdown().await;
        self.store.close().await;
    }
}

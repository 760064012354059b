//! Wires the core's services to their real adapters (SQLite, keyring, HTTP). The Tauri shell and
//! the CLI both start here, so they run the same code paths.

mod audio;
mod availability;
mod calls;
mod config;
mod contacts;
mod crm;
pub mod crm_sync;
mod device_follow;
pub mod notices;
mod numbers;
mod presence;
pub use device_follow::CallDevices;
pub use presence::MyStatus;
mod provider_calls;
mod softphone;
mod softphone_setup;
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
pub use calls::{ActiveCall, CallCommand, CallError, CallNotice, CallQuality};
pub use config::AppConfig;
pub use contacts::{Contacts, ContactsError, ImportFormat, ImportReport};
pub use crm::{CrmKind, CrmSettings, CrmSetupError, CrmView, SyncView};
pub use numbers::{Agents, NumbersError};
pub use provider_calls::{CallRoute, CallRouteInput, CallRouteMode};
pub use softphone::{Softphone, SoftphoneStatus};
pub use softphone_setup::SetupError;
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
    pub providers: ProviderService,
    pub softphone: Softphone,
    pub contacts: Contacts,
    pub agents: Agents,
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
        // Calls that were live when Ringdesk last stopped never ended: close them now.
        for call in store.calls().close_interrupted().await? {
            tracing::warn!(call = %call.id, "a call was interrupted when Ringdesk stopped");
        }
        let agents = numbers::Agents {
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
        };
        let softphone = Softphone::new(journal.clone());
        let provider_calls = Arc::new(provider_calls::ProviderCalls::new(
            journal.clone(),
            softphone.calls.clone(),
        ));
        let ringdesk = Self {
            secrets: Arc::new(KeyringSecretStore::new(config.keyring_service.clone())),
            crm_tasks: Default::default(),
            crm_sync: Default::default(),
            crm_connector: Default::default(),
            presence: Default::default(),
            my_status: watch::channel(None).0,
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
                active: ringdesk.softphone.calls.active.subscribe(),
                changed: ringdesk.presence.clone(),
                saved: ringdesk.my_status.clone(),
            }
            .run(),
        );
        let settings = ringdesk.store.settings();
        tokio::spawn(device_follow::run(
            ringdesk.softphone.calls.active.subscribe(),
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
        Ok(ringdesk)
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
        availability::save(&self.store.settings(), availability).await?;
        self.presence.notify_one();
        Ok(())
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

    /// A page of the call journal.
    pub async fn calls(&self, filter: &CallFilter) -> Result<Vec<Call>, AppError> {
        Ok(self.store.calls().list(filter).await?)
    }

    /// Places a call: through the softphone to a number (any format) or a SIP address, or —
    /// when calls ring on the agent's phone — through the active provider's call control.
    pub async fn dial(
        &self,
        target: String,
        contact: Option<ContactId>,
    ) -> Result<Call, CallError> {
        let route = provider_calls::load(&self.store.settings())
            .await
            .unwrap_or_default();
        if let (CallRouteMode::Phone, Some(phone)) = (route.mode, route.phone) {
            let webhook_base = self.webhook_base().await;
            return self
                .provider_calls
                .dial(&self.providers, webhook_base, phone, &target, contact)
                .await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.softphone
            .command(CallCommand::Dial {
                target,
                contact,
                reply,
            })
            .await;
        answer.await.unwrap_or(Err(CallError::NotConnected))
    }

    /// Answer, decline, hang up, mute, hold or keypad: `make` builds the command around the
    /// reply channel.
    pub async fn call_control(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), CallError>>) -> CallCommand,
    ) -> Result<(), CallError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = make(reply);
        if self.provider_calls.has_call().await {
            return match command {
                CallCommand::Hangup(_) => self.provider_calls.hangup(&self.providers).await,
                _ => Err(CallError::OnYourPhone),
            };
        }
        self.softphone.command(command).await;
        answer.await.unwrap_or(Err(CallError::NotConnected))
    }

    pub async fn call_route(&self) -> Result<CallRoute, AppError> {
        Ok(provider_calls::load(&self.store.settings()).await?)
    }

    pub async fn set_call_route(&self, input: CallRouteInput) -> Result<CallRoute, CallError> {
        let route = input.validate(self.region)?;
        provider_calls::save(&self.store.settings(), &route)
            .await
            .map_err(|e| CallError::Provider(e.to_string()))?;
        Ok(route)
    }

    /// The receiver's base URL while it runs (calls placed through a provider report to it).
    async fn webhook_base(&self) -> Option<String> {
        let address = self.webhooks.lock().await.as_ref().map(|r| r.address)?;
        let settings = webhooks::load(&self.store.settings()).await.ok()?;
        Some(settings.base_url(Some(address)))
    }

    /// The agent's after-call notes and outcome on a finished call; its CRM activity (held
    /// for them) leaves now.
    pub async fn wrap_up(
        &self,
        id: CallId,
        notes: Option<String>,
        disposition: Option<Disposition>,
    ) -> Result<Call, CallError> {
        match self
            .journal
            .wrap_up(id, notes.as_deref(), disposition)
            .await
        {
            Ok(Some(call)) => Ok(self.journal.named(call).await),
            Ok(None) => Err(CallError::NoCall("wrap up")),
            Err(e) => Err(CallError::Journal(e.to_string())),
        }
    }

    pub fn active_call(&self) -> Option<ActiveCall> {
        self.softphone.calls.active.borrow().clone()
    }

    /// Creates (or finds again) the softphone's SIP login through the provider's API, points my
    /// numbers at it, and makes it the active SIP account.
    pub async fn setup_softphone(
        &self,
        provider: ProviderId,
    ) -> Result<ringdesk_core::Provider, SetupError> {
        let webhook_base = self.webhook_base().await;
        let account = self.softphone_setup().run(provider, webhook_base).await?;
        self.refresh_softphone().await;
        Ok(account)
    }

    fn softphone_setup(&self) -> softphone_setup::Setup<'_> {
        softphone_setup::Setup {
            providers: &self.providers,
            settings: self.store.settings(),
            agents: &self.agents,
        }
    }

    /// Removes a provider, and first what Ringdesk created for it (its softphone login in the
    /// account and the SIP account made from it).
    pub async fn delete_provider(&self, provider: ProviderId) -> Result<(), SetupError> {
        self.softphone_setup().tear_down(provider).await?;
        self.providers.delete(provider).await?;
        self.refresh_softphone().await;
        Ok(())
    }

    /// Syncs the provider's numbers into Settings → Numbers.
    pub async fn sync_numbers(
        &self,
        provider: ProviderId,
    ) -> Result<NumberSyncReport, NumbersError> {
        self.agents.sync(&self.providers, provider).await
    }

    /// Saves an agent; the softphone's caller ID follows the primary number of "me".
    pub async fn save_user(
        &self,
        id: Option<UserId>,
        input: UserInput,
    ) -> Result<User, NumbersError> {
        let user = self.agents.save_user(id, input).await?;
        self.refresh_softphone().await;
        self.presence.notify_one();
        Ok(user)
    }

    /// Settings → CRM: what is connected and how deliveries stand.
    pub async fn crm(&self) -> Result<CrmView, CrmSetupError> {
        crm::view(
            &self.store.settings(),
            self.secrets.as_ref(),
            &self.store.outbox(),
            &self.store.contacts(),
            self.crm_sync.running.load(Ordering::SeqCst),
        )
        .await
    }

    /// My status as it is saved (online, offline, busy, dnd): Settings → Users shows it live.
    pub fn subscribe_my_status(&self) -> watch::Receiver<Option<presence::MyStatus>> {
        self.my_status.subscribe()
    }

    /// Changes whenever deliveries or the contacts sync move (the tray and Settings → CRM
    /// read `crm()` again).
    pub fn subscribe_crm(&self) -> watch::Receiver<u64> {
        self.crm_sync.changed.subscribe()
    }

    /// Pulls the CRM's contacts now: the changes, or everything again when `full`.
    pub fn sync_crm(&self, full: bool) {
        if full {
            self.crm_sync.full.store(true, Ordering::SeqCst);
        }
        self.crm_sync.now.notify_one();
    }

    /// Connects a CRM (a token of None keeps the stored one) and starts delivering to it.
    pub async fn set_crm(
        &self,
        settings: CrmSettings,
        token: Option<String>,
    ) -> Result<CrmView, CrmSetupError> {
        crm::save(
            &self.store.settings(),
            self.secrets.as_ref(),
            settings,
            token,
        )
        .await?;
        self.start_crm().await;
        self.crm().await
    }

    /// Asks the connected CRM whether the address and token work.
    pub async fn test_crm(&self) -> Result<String, CrmSetupError> {
        let connector = crm::connector(&self.store.settings(), self.secrets.as_ref())
            .await?
            .ok_or(CrmSetupError::NoToken)?;
        Ok(connector.test().await?)
    }

    /// Whether a CRM is connected now — cheap (no keyring read, no counts): the journal asks
    /// it to offer "also in the CRM".
    pub fn crm_connected(&self) -> bool {
        self.connected_crm().is_ok()
    }

    /// The connector the running CRM tasks use (its caches — HubSpot's portal, outcomes,
    /// owners — are shared with them rather than rebuilt per request).
    fn connected_crm(&self) -> Result<Arc<dyn ringdesk_crm::CrmConnector>, CrmSetupError> {
        self.crm_connector
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or(CrmSetupError::NotConnected)
    }

    /// The contact's page in the CRM's web app (None: not a CRM contact).
    pub async fn contact_crm_url(&self, id: ContactId) -> Result<Option<String>, CrmSetupError> {
        let contact = self
            .store
            .contacts()
            .get(id)
            .await?
            .ok_or(CrmSetupError::NoContact)?;
        let Some(crm_id) = contact.crm_id else {
            return Ok(None);
        };
        let connector = self.connected_crm()?;
        Ok(connector.contact_url(&crm_id).await?.map(String::from))
    }

    /// Creates a contact that is only on this desktop (an unknown caller the agent saved) in
    /// the CRM, and links the two.
    pub async fn add_contact_to_crm(&self, id: ContactId) -> Result<Contact, CrmSetupError> {
        let contacts = self.store.contacts();
        let contact = contacts.get(id).await?.ok_or(CrmSetupError::NoContact)?;
        if contact.crm_id.is_some() {
            return Ok(contact);
        }
        let connector = self.connected_crm()?;
        let created = connector
            .create_contact(&ringdesk_crm::NewContact {
                name: contact.name.clone(),
                company: contact.company.clone(),
                phones: contact
                    .phones
                    .iter()
                    .map(|p| p.number.to_string())
                    .collect(),
                emails: contact.emails.clone(),
            })
            .await?;
        contacts.link_crm(id, &created.id).await?;
        tracing::info!(contact = %id, "contact added to the CRM");
        contacts.get(id).await?.ok_or(CrmSetupError::NoContact)
    }

    /// Saves the far party of a call as a new contact named `name`, and names it on every
    /// earlier call with that number (its history follows it).
    pub async fn save_caller(&self, call: CallId, name: &str) -> Result<Contact, ContactsError> {
        let call = self
            .store
            .calls()
            .get(call)
            .await?
            .ok_or(ContactsError::NotFound)?;
        let party = call.other_party().to_string();
        let contact = self
            .contacts
            .create(&ringdesk_core::ContactInput {
                name: name.into(),
                company: None,
                phones: vec![ringdesk_core::PhoneInput {
                    number: party.clone(),
                    label: None,
                }],
                emails: vec![],
            })
            .await?;
        let linked = self.store.calls().link_contact(&party, contact.id).await?;
        tracing::info!(contact = %contact.id, calls = linked, "caller saved as a contact");
        Ok(contact)
    }

    /// Tries the deliveries that failed for good again (the agent's retry action).
    pub async fn retry_crm(&self) -> Result<CrmView, CrmSetupError> {
        self.store.outbox().retry_dead().await?;
        self.journal.wake.notify_one();
        self.crm().await
    }

    /// (Re)starts the outbox worker for the connected CRM, or stops it when there is none.
    async fn start_crm(&self) {
        let mut tasks = self.crm_tasks.lock().await;
        for old in tasks.drain(..) {
            old.abort();
        }
        self.crm_sync.running.store(false, Ordering::SeqCst);
        let connector = match crm::connector(&self.store.settings(), self.secrets.as_ref()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "CRM not connected");
                None
            }
        };
        let saved = match &connector {
            Some(_) => crm::load(&self.store.settings()).await.ok().flatten(),
            None => None,
        };
        if let Ok(mut crm) = self.journal.crm.write() {
            *crm = saved.as_ref().map(|s| s.kind);
        }
        if let Ok(mut current) = self.crm_connector.write() {
            *current = connector.clone().filter(|_| saved.is_some());
        }
        if let (Some(connector), Some(saved)) = (connector, saved) {
            let run = crm::Worker {
                outbox: self.store.outbox(),
                calls: self.store.calls(),
                contacts: self.store.contacts(),
                users: self.store.users(),
                wake: self.journal.wake.clone(),
                changed: self.crm_sync.changed.clone(),
            };
            tasks.push(tokio::spawn(run.run(connector.clone())));
            let sync = crm_sync::Syncer {
                contacts: self.store.contacts(),
                crm: saved.identity(),
                region: self.region,
                now: self.crm_sync.now.clone(),
                full: self.crm_sync.full.clone(),
                running: self.crm_sync.running.clone(),
                changed: self.crm_sync.changed.clone(),
            };
            tasks.push(tokio::spawn(sync.run(connector)));
        }
        self.crm_sync.changed.send_modify(|n| *n += 1);
    }

    pub async fn webhooks(&self) -> Result<WebhookView, AppError> {
        let settings = webhooks::load(&self.store.settings()).await?;
        let listening = self.webhooks.lock().await.as_ref().map(|r| r.address);
        Ok(WebhookView {
            base_url: settings.base_url(listening),
            listening: listening.map(|a| a.to_string()),
            settings,
        })
    }

    /// Saves the receiver's settings and starts, restarts or stops it to match.
    pub async fn set_webhooks(
        &self,
        settings: WebhookSettings,
    ) -> Result<WebhookView, WebhookError> {
        let settings = settings.checked()?;
        self.apply_webhooks(&settings).await?;
        webhooks::save(&self.store.settings(), &settings).await?;
        self.webhooks().await.map_err(|e| match e {
            AppError::Store(s) => WebhookError::Store(s),
            AppError::DataDir { source, path } => WebhookError::Listen { bind: path, source },
        })
    }

    /// Starts the receiver when the saved settings say so (at start-up).
    pub async fn start_webhooks(&self) {
        match webhooks::load(&self.store.settings()).await {
            Ok(settings) if settings.enabled => {
                if let Err(e) = self.apply_webhooks(&settings).await {
                    tracing::warn!(error = %e, "webhook receiver not started");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the webhook settings"),
        }
    }

    async fn apply_webhooks(&self, settings: &WebhookSettings) -> Result<(), WebhookError> {
        let mut running = self.webhooks.lock().await;
        if let Some(old) = running.take() {
            old.stop().await;
        }
        if !settings.enabled {
            return Ok(());
        }
        let receiver = |address| webhooks::Receiver {
            providers: self.providers.clone(),
            journal: self.journal.clone(),
            notices: self.softphone.calls.notices.clone(),
            provider_calls: self.provider_calls.clone(),
            base_url: settings.base_url(Some(address)),
            apply: Default::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(webhooks::MAX_IN_FLIGHT)),
        };
        *running = Some(webhooks::start(&settings.bind, receiver).await?);
        Ok(())
    }

    /// Registers the active provider's SIP account, or stops registering: after start-up and
    /// after any change to providers.
    pub async fn refresh_softphone(&self) {
        match self.providers.softphone_account().await {
            Ok(Some(mut account)) => {
                // The agent's primary number on this account is their caller ID.
                if let Ok((_, Some(mine))) = self.agents.me_on(account.provider).await {
                    account.caller_id = Some(mine);
                }
                self.softphone.apply(Some(account)).await
            }
            Ok(None) => self.softphone.apply(None).await,
            Err(e) => tracing::warn!(error = %e, "cannot read the softphone's account"),
        }
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

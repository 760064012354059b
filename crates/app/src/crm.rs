//! Settings → CRM and the outbox worker. The CRM's address is a setting, its token a keyring
//! entry (`crm/<kind>`). While a CRM is connected, every call that ends is written with an
//! outbox row in the same transaction (`Journal::store`); this worker delivers the rows in the
//! order calls ended, paced below the CRM's rate limits, following `ringdesk_crm::outbox`'s
//! rules, and survives crashes: rows a crash left in flight are reconciled at the next start.

use std::sync::Arc;
use std::time::Duration;

use ringdesk_core::ports::SecretStore;
use ringdesk_crm::generic::GenericConnector;
use ringdesk_crm::hubspot::HubSpotConnector;
use ringdesk_crm::outbox::{self, Attempt, Outcome};
use ringdesk_crm::pipedrive::PipedriveConnector;
use ringdesk_crm::{Activity, Agent, CrmConnector, CrmError};
use ringdesk_store::{
    CallRepository, ContactRepository, OutboxCounts, OutboxRepository, SettingsRepository,
    StoreError, UserRepository,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

const KEY: &str = "crm";
/// Between two requests to one CRM: 8 per second, under the published limits.
const PACE: Duration = Duration::from_millis(125);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest the worker sleeps without looking (a clock change, a missed wake-up).
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmKind {
    /// Ringdesk's own contract (docs/crm-generic-openapi.yaml).
    Generic,
    /// HubSpot with a private-app token (address `https://api.hubapi.com`).
    #[serde(rename = "hubspot")]
    HubSpot,
    /// Pipedrive with an API token (address `https://<company>.pipedrive.com`).
    Pipedrive,
}

impl CrmKind {
    pub fn code(self) -> &'static str {
        match self {
            CrmKind::Generic => "generic",
            CrmKind::HubSpot => "hubspot",
            CrmKind::Pipedrive => "pipedrive",
        }
    }

    fn secret_key(self) -> String {
        format!("crm/{}", self.code())
    }
}

/// What is stored (the token is not: it is in the keyring).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmSettings {
    pub kind: CrmKind,
    pub base_url: String,
}

impl CrmSettings {
    /// Which CRM this is, for the contacts cache: another kind or address is another CRM.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.kind.code(), self.base_url)
    }
}

/// The contacts cache as Settings → CRM and the tray show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    pub running: bool,
    /// Unix ms.
    pub last_sync_at: Option<i64>,
    pub last_full_sync_at: Option<i64>,
    pub error: Option<String>,
    /// Contacts mirrored from the CRM.
    pub contacts: u32,
}

/// Settings → CRM as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmView {
    pub settings: Option<CrmSettings>,
    pub has_token: bool,
    pub pending: u32,
    /// When the next waiting activity goes (Unix ms): later than now while it waits for the
    /// agent's notes or for its next attempt.
    pub next_delivery_at: Option<i64>,
    pub delivered: u32,
    /// Activities the CRM refused for good or that ran out of attempts.
    pub failed: Vec<FailedDelivery>,
    pub sync: Option<SyncView>,
}

impl CrmView {
    /// One line for the tray: what needs the agent's eye first. None when no CRM is connected.
    pub fn summary(&self) -> Option<String> {
        let sync = self.sync.as_ref()?;
        Some(if !self.failed.is_empty() {
            format!("CRM: {} calls not delivered", self.failed.len())
        } else if sync.error.is_some() {
            "CRM: contacts sync failed".into()
        } else if sync.running {
            "CRM: syncing contacts…".into()
        } else if self.pending > 0 {
            format!("CRM: {} calls waiting", self.pending)
        } else {
            format!("CRM: up to date, {} contacts", sync.contacts)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedDelivery {
    pub call_id: String,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CrmSetupError {
    #[error("“{0}” is not an http(s) address")]
    BadUrl(String),
    #[error("enter the token the CRM gave you")]
    NoToken,
    #[error("connect a CRM first (Settings → CRM)")]
    NotConnected,
    #[error("there is no such contact (it may have been deleted)")]
    NoContact,
    #[error("the keyring: {0}")]
    Keyring(String),
    #[error(transparent)]
    Crm(#[from] CrmError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CrmSetupError {
    pub fn field(&self) -> Option<&'static str> {
        match self {
            CrmSetupError::BadUrl(_) => Some("baseUrl"),
            CrmSetupError::NoToken => Some("token"),
            _ => None,
        }
    }
}

pub(crate) async fn load(settings: &SettingsRepository) -> Result<Option<CrmSettings>, StoreError> {
    settings.get_json(KEY).await
}

/// Checks the address: http(s), a host, no trailing slash.
pub fn checked_url(raw: &str) -> Result<url::Url, CrmSetupError> {
    let raw = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(raw).map_err(|_| CrmSetupError::BadUrl(raw.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(CrmSetupError::BadUrl(raw.to_string()));
    }
    Ok(url)
}

/// The connector for the saved settings and token, if both exist.
pub(crate) async fn connector(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
) -> Result<Option<Arc<dyn CrmConnector>>, CrmSetupError> {
    let Some(saved) = load(settings).await? else {
        return Ok(None);
    };
    let Some(token) = secrets
        .get(&saved.kind.secret_key())
        .await
        .map_err(|e| CrmSetupError::Keyring(e.to_string()))?
    else {
        return Ok(None);
    };
    Ok(Some(build(&saved, token)?))
}

fn build(saved: &CrmSettings, token: SecretString) -> Result<Arc<dyn CrmConnector>, CrmSetupError> {
    let url = checked_url(&saved.base_url)?;
    Ok(match saved.kind {
        CrmKind::Generic => Arc::new(GenericConnector::new(url, token, REQUEST_TIMEOUT)?),
        CrmKind::HubSpot => Arc::new(HubSpotConnector::new(url, token, REQUEST_TIMEOUT)?),
        CrmKind::Pipedrive => Arc::new(PipedriveConnector::new(url, token, REQUEST_TIMEOUT)?),
    })
}

/// Saves the CRM (token to the keyring first; None keeps the stored one) and returns it.
pub(crate) async fn save(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
    saved: CrmSettings,
    token: Option<String>,
) -> Result<CrmSettings, CrmSetupError> {
    let url = checked_url(&saved.base_url)?;
    let saved = CrmSettings {
        kind: saved.kind,
        base_url: url.as_str().trim_end_matches('/').to_string(),
    };
    match token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => secrets
            .set(&saved.kind.secret_key(), &SecretString::from(t.to_string()))
            .await
            .map_err(|e| CrmSetupError::Keyring(e.to_string()))?,
        None => {
            let stored = secrets
                .get(&saved.kind.secret_key())
                .await
                .map_err(|e| CrmSetupError::Keyring(e.to_string()))?;
            if stored.is_none() {
                return Err(CrmSetupError::NoToken);
            }
        }
    }
    settings.set_json(KEY, &saved).await?;
    Ok(saved)
}

/// Forgets the CRM: its settings and its token. The activities still waiting stay in the
/// outbox and go when a CRM of the same kind is connected again.
pub(crate) async fn forget(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
) -> Result<(), CrmSetupError> {
    if let Some(saved) = load(settings).await? {
        secrets
            .delete(&saved.kind.secret_key())
            .await
            .map_err(|e| CrmSetupError::Keyring(e.to_string()))?;
    }
    settings.delete(KEY).await?;
    Ok(())
}

pub(crate) async fn view(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
    outbox: &OutboxRepository,
    contacts: &ContactRepository,
    running: bool,
) -> Result<CrmView, CrmSetupError> {
    let saved = load(settings).await?;
    let has_token = match &saved {
        Some(s) => secrets
            .get(&s.kind.secret_key())
            .await
            .map_err(|e| CrmSetupError::Keyring(e.to_string()))?
            .is_some(),
        None => false,
    };
    let OutboxCounts {
        pending,
        dead: _,
        done,
    } = outbox.counts().await?;
    let failed = outbox
        .dead_items()
        .await?
        .into_iter()
        .map(|item| FailedDelivery {
            call_id: item.call_id.to_string(),
            error: item.last_error,
        })
        .collect();
    let sync = match &saved {
        Some(s) if has_token => {
            let state = contacts
                .crm_sync_state(&s.identity())
                .await?
                .unwrap_or_default();
            Some(SyncView {
                running,
                last_sync_at: state.last_sync_at,
                last_full_sync_at: state.last_full_sync_at,
                error: state.last_error,
                contacts: contacts.crm_contact_count().await?,
            })
        }
        _ => None,
    };
    Ok(CrmView {
        settings: saved,
        has_token,
        pending,
        next_delivery_at: outbox.next_due().await?,
        delivered: done,
        failed,
        sync,
    })
}

/// What the worker reads and writes.
#[derive(Clone)]
pub(crate) struct Worker {
    pub outbox: OutboxRepository,
    pub calls: CallRepository,
    pub contacts: ContactRepository,
    pub users: UserRepository,
    pub wake: Arc<Notify>,
    /// Told after every delivery (Settings → CRM and the tray show the counts).
    pub changed: tokio::sync::watch::Sender<u64>,
}

impl Worker {
    /// Delivers the oldest activity when due, one at a time, until none is; then waits to be
    /// woken (a call ended) or for the head's retry time. Runs until aborted.
    pub async fn run(self, connector: Arc<dyn CrmConnector>) {
        match self.outbox.recover_inflight().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(items = n, "CRM deliveries cut by a stop will be checked"),
            Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
        }
        let mut rng = rand::rngs::StdRng::from_entropy();
        loop {
            let next = match self.outbox.take_next().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    None
                }
            };
            let Some(item) = next else {
                let wait = match self.outbox.next_due().await {
                    Ok(Some(at)) => {
                        let now =
                            time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                        Duration::from_millis(
                            (at as i128 - now).clamp(0, IDLE.as_millis() as i128) as u64
                        )
                    }
                    _ => IDLE,
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            };
            self.deliver_one(connector.as_ref(), item, &mut rng).await;
            tokio::time::sleep(PACE).await;
        }
    }

    async fn deliver_one(
        &self,
        connector: &dyn CrmConnector,
        item: ringdesk_store::OutboxItem,
        rng: &mut rand::rngs::StdRng,
    ) {
        let call = match self.calls.get(item.call_id).await {
            Ok(Some(call)) => call,
            Ok(None) => {
                let _ = self
                    .outbox
                    .dead(&item.id, "the call is no longer in the journal")
                    .await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read a call to deliver");
                let _ = self
                    .outbox
                    .retry(&item.id, 60_000, item.reconcile, &e.to_string(), false)
                    .await;
                return;
            }
        };
        let crm_contact = match call.contact_id {
            Some(id) => self
                .contacts
                .get(id)
                .await
                .ok()
                .flatten()
                .and_then(|c| c.crm_id),
            None => None,
        };
        let agent = match call.user_id {
            Some(id) => self.users.get(id).await.ok().flatten().map(|u| Agent {
                name: u.name,
                email: u.email,
            }),
            None => None,
        };
        let activity = Activity::of(&call, crm_contact).by(agent);
        let attempt = Attempt {
            key: item.idempotency_key.clone(),
            attempts: item.attempts,
            reconcile: item.reconcile,
        };
        let outcome = match &item.remote_ref {
            Some(remote) => {
                let remote = ringdesk_crm::RemoteRef(remote.clone());
                outbox::update(connector, remote, &activity, &attempt, rng).await
            }
            None => outbox::deliver(connector, &activity, &attempt, rng).await,
        };
        let written = match outcome {
            Outcome::Done(remote) => {
                tracing::info!(call = %call.id, "call activity delivered to the CRM");
                let written = self.outbox.done(&item.id, &remote.0).await;
                // After-call work (or a recording) saved while this was on its way goes as
                // an update.
                if let Ok(Some(fresh)) = self.calls.get(call.id).await {
                    if fresh.notes != call.notes
                        || fresh.disposition != call.disposition
                        || fresh.recording_url != call.recording_url
                    {
                        let _ = self.outbox.reopen_for_update(call.id).await;
                    }
                }
                written
            }
            Outcome::Retry {
                after,
                reconcile,
                error,
                counts,
            } => {
                tracing::warn!(call = %call.id, %error, retry_in = ?after, "CRM delivery will be retried");
                self.outbox
                    .retry(
                        &item.id,
                        after.as_millis() as i64,
                        reconcile,
                        &error,
                        counts,
                    )
                    .await
            }
            Outcome::Dead(error) => {
                tracing::error!(call = %call.id, %error, "CRM delivery failed for good");
                self.outbox.dead(&item.id, &error).await
            }
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record a CRM delivery");
        }
        self.changed.send_modify(|n| *n += 1);
    }
}

use rand::SeedableRng;

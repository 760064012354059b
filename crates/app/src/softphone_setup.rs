//! Softphone set-up with no typing: the active provider's API creates (or finds again) the SIP
//! login the softphone registers with, points the agent's numbers at it, and Ringdesk keeps
//! it as a SIP account (password in the keyring) made active. What Ringdesk created in the
//! provider account is remembered per provider (`softphone_setup/<id>` in the settings), so
//! removing the provider removes exactly that.

use ringdesk_core::ports::{ProvisionedResource, SoftphoneRequest};
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::{
    CredentialField, NewProvider, Provider, ProviderCredentials, ProviderError, ProviderId,
    ProviderKind, ProviderUpdate, SipSettings, SipTransport,
};
use ringdesk_store::{SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use ringdesk_store::{Agents, NumbersError};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("a SIP account already is a softphone login")]
    AlreadySip,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Numbers(#[from] NumbersError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What Ringdesk made for one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    sip_provider: Option<ProviderId>,
    resources: Vec<ProvisionedResource>,
}

fn key(provider: ProviderId) -> String {
    format!("softphone_setup/{provider}")
}

/// Where `provider` asks what to do with a call (served by the webhook receiver).
pub(crate) fn voice_url(webhook_base: &str, provider: ProviderId) -> String {
    format!("{webhook_base}/webhooks/{provider}/voice")
}

/// The SIP login set up from `provider`'s API (user name, domain), if there is one.
pub(crate) async fn login(
    settings: &SettingsRepository,
    providers: &ProviderService,
    provider: ProviderId,
) -> Result<Option<(String, String)>, SetupError> {
    let Some(record) = settings.get_json::<Record>(&key(provider)).await? else {
        return Ok(None);
    };
    let Some(id) = record.sip_provider else {
        return Ok(None);
    };
    let account = match providers.get(id).await {
        Ok(account) => account,
        Err(ServiceError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(account.settings.sip.map(|sip| {
        let host = sip.domain.unwrap_or(sip.registrar);
        (sip.username, host)
    }))
}

/// The SIP account Ringdesk made from each provider's API (its softphone login), keyed by
/// that provider: a login and its provider are one thing to the agent (one card, one
/// "Active"), and the provider serves the calls the login cannot (calls on the agent's phone).
pub(crate) async fn softphones(
    settings: &SettingsRepository,
    providers: &[Provider],
) -> Result<HashMap<ProviderId, ProviderId>, StoreError> {
    let mut made = HashMap::new();
    for provider in providers.iter().filter(|p| p.kind != ProviderKind::Sip) {
        let Some(record) = settings.get_json::<Record>(&key(provider.id)).await? else {
            continue;
        };
        if let Some(sip) = record
            .sip_provider
            .filter(|sip| providers.iter().any(|p| p.id == *sip))
        {
            made.insert(provider.id, sip);
        }
    }
    Ok(made)
}

pub(crate) struct Setup<'a> {
    pub providers: &'a ProviderService,
    pub settings: SettingsRepository,
    pub agents: &'a Agents,
}

impl Setup<'_> {
    /// Creates or reuses the login and makes its SIP account the active one. Safe to run
    /// again: the connection and the agent's credential are found again, the SIP account is
    /// updated rather than duplicated. `webhook_base` is the receiver's address while it
    /// runs: providers that ask what to do with calls (Twilio) are pointed at it.
    pub async fn run(
        &self,
        provider_id: ProviderId,
        webhook_base: Option<String>,
    ) -> Result<Provider, SetupError> {
        let provider = self.providers.get(provider_id).await?;
        if provider.kind == ProviderKind::Sip {
            return Err(SetupError::AlreadySip);
        }
        let adapter = self.providers.adapter_for(provider_id).await?;
        let me = self.agents.users.me().await.map_err(NumbersError::from)?;
        let mut numbers = Vec::new();
        if let Some(me) = &me {
            for id in &me.assigned_numbers {
                if let Some(n) = self
                    .agents
                    .numbers
                    .get(*id)
                    .await
                    .map_err(NumbersError::from)?
                {
                    if n.active && n.provider_id == provider_id {
                        numbers.push(n.provider_number_id);
                    }
                }
            }
        }
        let label = match &me {
            Some(u) => format!("ringdesk-{}", &u.id.to_string()[..8]),
            None => "ringdesk-desktop".into(),
        };
        let login = adapter
            .provision_softphone(&SoftphoneRequest {
                label,
                group: None,
                numbers,
                voice_url: webhook_base.map(|base| voice_url(&base, provider_id)),
            })
            .await?;

        // Remembered before anything else can fail: removal must know what exists.
        let mut record: Record = self
            .settings
            .get_json(&key(provider_id))
            .await?
            .unwrap_or_default();
        // The first record of a changed number holds how it was before Ringdesk: kept.
        for r in login.created {
            if !record
                .resources
                .iter()
                .any(|known| known.kind == r.kind && known.id == r.id)
            {
                record.resources.push(r);
            }
        }
        self.settings.set_json(&key(provider_id), &record).await?;

        let existing = match record.sip_provider {
            Some(id) => self.providers.get(id).await.ok(),
            None => None,
        };
        let account = save_sip_account(
            self.providers,
            existing,
            SipAccount {
                name: format!("{} softphone", provider.name),
                registrar: login.registrar,
                domain: login.domain,
                username: login.username,
                password: login.password,
                default_caller_id: provider
                    .settings
                    .default_caller_id
                    .as_ref()
                    .map(|n| n.to_string()),
            },
        )
        .await?;
        record.sip_provider = Some(account.id);
        self.settings.set_json(&key(provider_id), &record).await?;
        let account = self.providers.activate(account.id).await?;
        tracing::info!(provider = %provider_id, sip = %account.id, "softphone set up from the provider's API");
        Ok(account)
    }

    /// Removes what Ringdesk created for `provider_id` (in the account and here) before the
    /// provider goes. A provider that refuses (revoked keys) does not keep its removal from
    /// going ahead: the failure is logged.
    pub async fn tear_down(&self, provider_id: ProviderId) -> Result<(), SetupError> {
        let Some(record) = self.settings.get_json::<Record>(&key(provider_id)).await? else {
            return Ok(());
        };
        if !record.resources.is_empty() {
            match self.providers.adapter_for(provider_id).await {
                Ok(adapter) => {
                    if let Err(e) = adapter.remove_provisioned(&record.resources).await {
                        tracing::warn!(error = %e, "could not remove what Ringdesk created in the provider account");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot reach the provider to clean up"),
            }
        }
        if let Some(sip) = record.sip_provider {
            match self.providers.delete(sip).await {
                Ok(()) | Err(ServiceError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.settings.delete(&key(provider_id)).await?;
        Ok(())
    }
}

/// A softphone login to keep as a SIP account.
pub(crate) struct SipAccount {
    pub name: String,
    pub registrar: String,
    pub domain: Option<String>,
    pub username: String,
    pub password: secrecy::SecretString,
    pub default_caller_id: Option<String>,
}

/// The login as a SIP account (its password in the secret store): `existing` updated in
/// place, else a new one. Not made active here.
pub(crate) async fn save_sip_account(
    providers: &ProviderService,
    existing: Option<Provider>,
    login: SipAccount,
) -> Result<Provider, ServiceError> {
    let sip = SipSettings {
        registrar: login.registrar,
        domain: login.domain,
        username: login.username,
        auth_username: None,
        transport: SipTransport::Udp,
        outbound_proxy: None,
        ca_certificate: None,
    };
    let mut credentials = ProviderCredentials::default();
    credentials.set(CredentialField::SipPassword, Some(login.password));
    match existing {
        Some(account) => {
            providers
                .update(
                    account.id,
                    ProviderUpdate {
                        credentials,
                        sip: Some(sip),
                        ..ProviderUpdate::default()
                    },
                )
                .await
        }
        None => {
            providers
                .create(NewProvider {
                    kind: ProviderKind::Sip,
                    name: login.name,
                    credentials,
                    default_caller_id: login.default_caller_id,
                    record_calls: false,
                    sip: Some(sip),
                })
                .await
        }
    }
}

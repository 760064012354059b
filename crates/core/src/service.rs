//! Provider set-up (seed phase 1) as a provider-neutral service: the Tauri commands and the CLI
//! both call this, so the rules — keys only in the keyring, one active provider, validated input —
//! hold whichever door a request comes through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::phone::{E164Number, Region};
use crate::ports::{
    AccountInfo, AdapterFactory, ProviderAdapter, ProviderRepository, RepositoryError, SecretError,
    SecretStore,
};
use crate::provider::{
    CredentialField, NewProvider, Provider, ProviderCredentials, ProviderId, ProviderKind,
    ProviderSettings, ProviderUpdate,
};
use crate::provider_error::ProviderError;
use crate::sentence_case as capitalise;
use crate::sip_settings::SipSettings;

/// What the softphone needs to register: settings and the password from the keyring.
#[derive(Clone)]
pub struct SoftphoneAccount {
    pub provider: ProviderId,
    /// The account's name, as the agent gave it (or set-up made it): what the status line shows.
    pub name: String,
    /// Whose SIP service it is (a trunk may refuse some requests, e.g. Twilio's attended
    /// transfer).
    pub kind: ProviderKind,
    pub settings: SipSettings,
    pub password: SecretString,
    /// The number shown to the people the agent calls (the provider's default caller ID).
    pub caller_id: Option<E164Number>,
}

impl SoftphoneAccount {
    /// Whether a running registration with `other` can be kept as it is.
    pub fn same_as(&self, other: &SoftphoneAccount) -> bool {
        self.provider == other.provider
            && self.settings == other.settings
            && self.name == other.name
            && self.caller_id == other.caller_id
            && self.password.expose_secret() == other.password.expose_secret()
    }
}

impl std::fmt::Debug for SoftphoneAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftphoneAccount")
            .field("provider", &self.provider)
            .field("address", &self.settings.address())
            .finish_non_exhaustive()
    }
}

pub const MAX_NAME_LEN: usize = 80;

#[derive(Debug, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceError {
    /// Input the agent can fix, reported at `field`.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("that provider no longer exists")]
    NotFound,
    #[error("{message}")]
    Storage { message: String },
    #[error("{message}")]
    Keyring { message: String },
}

impl ServiceError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<RepositoryError> for ServiceError {
    fn from(e: RepositoryError) -> Self {
        ServiceError::Storage {
            message: e.to_string(),
        }
    }
}

impl From<SecretError> for ServiceError {
    fn from(e: SecretError) -> Self {
        ServiceError::Keyring {
            message: e.to_string(),
        }
    }
}

/// The result of "Test connection", ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub ok: bool,
    pub account: Option<AccountInfo>,
    pub error: Option<ProviderError>,
    /// One sentence for the agent.
    pub message: String,
}

impl ConnectionTest {
    fn from_result(kind: ProviderKind, result: Result<AccountInfo, ProviderError>) -> Self {
        match result {
            Ok(account) => {
                // "SIP account" already says account.
                let account_of = match kind {
                    ProviderKind::Sip => kind.to_string(),
                    _ => format!("{kind} account"),
                };
                let mut message = match &account.name {
                    Some(name) => format!("Connected to {account_of} “{name}”"),
                    None => format!("Connected to {kind}"),
                };
                if let Some(detail) = &account.detail {
                    message.push_str(&format!(" — {detail}"));
                }
                ConnectionTest {
                    ok: true,
                    account: Some(account),
                    error: None,
                    message,
                }
            }
            Err(error) => ConnectionTest {
                ok: false,
                account: None,
                message: capitalise(&error.to_string()),
                error: Some(error),
            },
        }
    }
}

#[derive(Clone)]
pub struct ProviderService {
    repo: Arc<dyn ProviderRepository>,
    secrets: Arc<dyn SecretStore>,
    adapters: Arc<dyn AdapterFactory>,
    region: Region,
    shared: Arc<SharedAdapters>,
}

/// Adapters kept for requests that must stay cheap until they are trusted (a webhook's
/// signature is checked with the provider's key): the keyring is read once per provider, not
/// per request, and the adapter is forgotten when the provider changes.
#[derive(Default)]
struct SharedAdapters {
    adapters: std::sync::Mutex<HashMap<ProviderId, Arc<dyn ProviderAdapter>>>,
    /// Bumped by every change: an adapter built across a change is not kept.
    generation: AtomicU64,
}

impl SharedAdapters {
    fn get(&self, id: ProviderId) -> Option<Arc<dyn ProviderAdapter>> {
        self.adapters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn keep(&self, id: ProviderId, adapter: Arc<dyn ProviderAdapter>, built_at: u64) {
        let mut adapters = self.adapters.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) == built_at {
            adapters.insert(id, adapter);
        }
    }

    fn forget(&self, id: ProviderId) {
        let mut adapters = self.adapters.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        adapters.remove(&id);
    }
}

impl ProviderService {
    pub fn new(
        repo: Arc<dyn ProviderRepository>,
        secrets: Arc<dyn SecretStore>,
        adapters: Arc<dyn AdapterFactory>,
        region: Region,
    ) -> Self {
        Self {
            repo,
            secrets,
            adapters,
            region,
            shared: Arc::default(),
        }
    }

    pub async fn list(&self) -> Result<Vec<Provider>, ServiceError> {
        Ok(self.repo.list().await?)
    }

    pub async fn get(&self, id: ProviderId) -> Result<Provider, ServiceError> {
        self.repo.get(id).await?.ok_or(ServiceError::NotFound)
    }

    pub async fn create(&self, new: NewProvider) -> Result<Provider, ServiceError> {
        let name = check_name(&new.name)?;
        let credentials = new.credentials.normalised();
        check_credentials(new.kind, &credentials)?;
        let default_caller_id = self.caller_id(new.default_caller_id.as_deref())?;
        let now = OffsetDateTime::now_utc();
        let provider = Provider {
            id: ProviderId::new(),
            kind: new.kind,
            name,
            enabled: true,
            is_active: false,
            credentials: credentials.flags(),
            settings: ProviderSettings {
                default_caller_id,
                record_calls: new.record_calls,
                sip: check_sip(new.kind, new.sip)?,
            },
            created_at: now,
            updated_at: now,
        };
        // Keys first: a row whose flags promise keys that are not in the keyring would be a lie.
        self.secrets
            .set(&provider.id.secret_key(), &credentials.to_secret_json())
            .await?;
        if let Err(e) = self.repo.insert(&provider).await {
            if let Err(cleanup) = self.secrets.delete(&provider.id.secret_key()).await {
                warn!(provider_id = %provider.id, error = %cleanup, "could not remove keys of a provider that failed to save");
            }
            return Err(e.into());
        }
        info!(provider_id = %provider.id, kind = provider.kind.code(), "provider added");
        Ok(provider)
    }

    pub async fn update(
        &self,
        id: ProviderId,
        update: ProviderUpdate,
    ) -> Result<Provider, ServiceError> {
        let mut provider = self.get(id).await?;
        if let Some(name) = &update.name {
            provider.name = check_name(name)?;
        }
        if let Some(enabled) = update.enabled {
            provider.enabled = enabled;
        }
        if let Some(record) = update.record_calls {
            provider.settings.record_calls = record;
        }
        if let Some(caller_id) = &update.default_caller_id {
            provider.settings.default_caller_id = self.caller_id(Some(caller_id))?;
        }
        if update.sip.is_some() {
            provider.settings.sip = check_sip(provider.kind, update.sip)?;
        }
        let typed = update.credentials.normalised();
        check_credentials(provider.kind, &typed)?;
        let keys_change =
            typed.flags() != Default::default() || !update.clear_credentials.is_empty();
        if keys_change {
            let mut stored = self.credentials(&provider).await?;
            for field in &update.clear_credentials {
                stored.set(*field, None);
            }
            stored.merge(typed);
            self.secrets
                .set(&provider.id.secret_key(), &stored.to_secret_json())
                .await?;
            provider.credentials = stored.flags();
        }
        provider.updated_at = OffsetDateTime::now_utc();
        let updated = self.repo.update(&provider).await;
        // Whatever the outcome: the keys may have changed already.
        self.shared.forget(id);
        if !updated? {
            return Err(ServiceError::NotFound);
        }
        info!(provider_id = %provider.id, keys_changed = keys_change, "provider updated");
        Ok(provider)
    }

    pub async fn delete(&self, id: ProviderId) -> Result<(), ServiceError> {
        let provider = self.get(id).await?;
        // Keys go first: if the keyring refuses, nothing has changed and the agent can retry.
        self.shared.forget(id);
        self.secrets.delete(&provider.id.secret_key()).await?;
        self.repo.delete(id).await?;
        info!(provider_id = %id, "provider deleted");
        Ok(())
    }

    pub async fn activate(&self, id: ProviderId) -> Result<Provider, ServiceError> {
        let provider = self.get(id).await?;
        let missing = provider.kind.missing_credentials(&provider.credentials);
        if !missing.is_empty() {
            return Err(ServiceError::invalid(
                "credentials",
                format!(
                    "Add the missing keys before making {} active: {}",
                    provider.name,
                    labels(&missing)
                ),
            ));
        }
        if !self.repo.activate(id).await? {
            return Err(ServiceError::NotFound);
        }
        info!(provider_id = %id, "provider made active");
        self.get(id).await
    }

    /// The adapter for provider `id` with its stored keys (webhook checks, call control).
    pub async fn adapter_for(
        &self,
        id: ProviderId,
    ) -> Result<Box<dyn ProviderAdapter>, ServiceError> {
        let provider = self.get(id).await?;
        let credentials = self.credentials(&provider).await?;
        self.adapters
            .adapter(provider.kind, &provider.settings, credentials)
            .map_err(|e| ServiceError::Invalid {
                field: "credentials".into(),
                message: e.to_string(),
            })
    }

    /// The adapter for provider `id`, shared between requests until the provider changes
    /// (see `SharedAdapters`): what checks webhooks, whoever sends them.
    pub async fn shared_adapter(
        &self,
        id: ProviderId,
    ) -> Result<Arc<dyn ProviderAdapter>, ServiceError> {
        if let Some(adapter) = self.shared.get(id) {
            return Ok(adapter);
        }
        let built_at = self.shared.generation.load(Ordering::SeqCst);
        let adapter: Arc<dyn ProviderAdapter> = Arc::from(self.adapter_for(id).await?);
        self.shared.keep(id, adapter.clone(), built_at);
        Ok(adapter)
    }

    /// Asks the provider whether the stored keys work. Provider failures are a result, not an error.
    pub async fn test_connection(&self, id: ProviderId) -> Result<ConnectionTest, ServiceError> {
        let provider = self.get(id).await?;
        let credentials = self.credentials(&provider).await?;
        let missing = provider.kind.missing_credentials(&credentials.flags());
        let result = if !missing.is_empty() {
            Err(ProviderError::MissingCredentials {
                fields: labels(&missing),
            })
        } else {
            match self
                .adapters
                .adapter(provider.kind, &provider.settings, credentials)
            {
                Ok(adapter) => adapter.validate_credentials().await,
                Err(e) => Err(e),
            }
        };
        match &result {
            Ok(_) => info!(provider_id = %id, "connection test passed"),
            Err(e) => warn!(provider_id = %id, error = %e, "connection test failed"),
        }
        Ok(ConnectionTest::from_result(provider.kind, result))
    }

    /// The account the softphone registers with: the active provider's, when it is a SIP
    /// account whose password is stored.
    pub async fn softphone_account(&self) -> Result<Option<SoftphoneAccount>, ServiceError> {
        let providers = self.repo.list().await?;
        let Some(provider) = providers
            .into_iter()
            .find(|p| p.is_active && p.enabled && p.kind == ProviderKind::Sip)
        else {
            return Ok(None);
        };
        let Some(settings) = provider.settings.sip.clone() else {
            return Ok(None);
        };
        let credentials = self.credentials(&provider).await?;
        Ok(credentials
            .field(CredentialField::SipPassword)
            .cloned()
            .map(|password| SoftphoneAccount {
                provider: provider.id,
                name: provider.name.clone(),
                kind: provider.kind,
                settings,
                password,
                caller_id: provider.settings.default_caller_id.clone(),
            }))
    }

    async fn credentials(&self, provider: &Provider) -> Result<ProviderCredentials, ServiceError> {
        match self.secrets.get(&provider.id.secret_key()).await? {
            Some(json) => {
                ProviderCredentials::from_secret_json(&json).map_err(|_| ServiceError::Keyring {
                    message: "the stored keys are unreadable; enter them again".to_string(),
                })
            }
            None => Ok(ProviderCredentials::default()),
        }
    }

    fn caller_id(&self, input: Option<&str>) -> Result<Option<E164Number>, ServiceError> {
        match input.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => E164Number::parse(raw, self.region)
                .map(Some)
                .map_err(|e| ServiceError::invalid("defaultCallerId", capitalise(&e.to_string()))),
        }
    }
}

fn labels(fields: &[CredentialField]) -> String {
    fields
        .iter()
        .map(|f| f.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::invalid("name", "Give the provider a name"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ServiceError::invalid(
            "name",
            format!("Keep the name under {MAX_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            "The name contains control characters",
        ));
    }
    Ok(name.to_string())
}

/// SIP settings belong to, and are required by, a `sip` provider only.
fn check_sip(
    kind: ProviderKind,
    sip: Option<SipSettings>,
) -> Result<Option<SipSettings>, ServiceError> {
    match (kind, sip) {
        (ProviderKind::Sip, Some(settings)) => settings
            .checked()
            .map(Some)
            .map_err(|e| ServiceError::invalid(e.field, e.message)),
        (ProviderKind::Sip, None) => Err(ServiceError::invalid(
            "registrar",
            "Enter the SIP account's registrar and user name",
        )),
        (_, None) => Ok(None),
        (kind, Some(_)) => Err(ServiceError::invalid(
            "sip",
            format!("{kind} is not a SIP account"),
        )),
    }
}

fn check_credentials(
    kind: ProviderKind,
    credentials: &ProviderCredentials,
) -> Result<(), ServiceError> {
    for field in CredentialField::ALL {
        if let Some(value) = credentials.expose(field) {
            kind.check_credential(field, value)
                .map_err(|message| ServiceError::invalid(field.code(), message))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::AccountInfo;
    use async_trait::async_trait;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Repo(Mutex<Vec<Provider>>);

    #[async_trait]
    impl ProviderRepository for Repo {
        async fn list(&self) -> Result<Vec<Provider>, RepositoryError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn get(&self, id: ProviderId) -> Result<Option<Provider>, RepositoryError> {
            Ok(self.0.lock().unwrap().iter().find(|p| p.id == id).cloned())
        }
        async fn insert(&self, provider: &Provider) -> Result<(), RepositoryError> {
            self.0.lock().unwrap().push(provider.clone());
            Ok(())
        }
        async fn update(&self, provider: &Provider) -> Result<bool, RepositoryError> {
            let mut all = self.0.lock().unwrap();
            let found = all.iter_mut().find(|p| p.id == provider.id);
            Ok(found.map(|p| *p = provider.clone()).is_some())
        }
        async fn delete(&self, id: ProviderId) -> Result<bool, RepositoryError> {
            let mut all = self.0.lock().unwrap();
            let before = all.len();
            all.retain(|p| p.id != id);
            Ok(all.len() < before)
        }
        async fn activate(&self, _id: ProviderId) -> Result<bool, RepositoryError> {
            Ok(true)
        }
    }

    /// A keyring that counts its reads.
    #[derive(Default)]
    struct Keyring {
        values: Mutex<HashMap<String, String>>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl SecretStore for Keyring {
        async fn get(&self, key: &str) -> Result<Option<SecretString>, SecretError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let values = self.values.lock().unwrap();
            Ok(values.get(key).map(|v| SecretString::from(v.clone())))
        }
        async fn set(&self, key: &str, value: &SecretString) -> Result<(), SecretError> {
            let mut values = self.values.lock().unwrap();
            values.insert(key.into(), value.expose_secret().to_string());
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<(), SecretError> {
            self.values.lock().unwrap().remove(key);
            Ok(())
        }
    }

    /// Adapters that remember the token they were built with.
    struct Adapter(String);

    #[async_trait]
    impl ProviderAdapter for Adapter {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Twilio
        }
        async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
            Ok(AccountInfo {
                name: Some(self.0.clone()),
                detail: None,
            })
        }
    }

    struct Factory;

    impl AdapterFactory for Factory {
        fn adapter(
            &self,
            _kind: ProviderKind,
            _settings: &ProviderSettings,
            credentials: ProviderCredentials,
        ) -> Result<Box<dyn ProviderAdapter>, ProviderError> {
            let token = credentials
                .expose(CredentialField::AuthToken)
                .unwrap_or_default()
                .to_string();
            Ok(Box::new(Adapter(token)))
        }
    }

    fn twilio(token: &str) -> ProviderCredentials {
        let mut credentials = ProviderCredentials::default();
        credentials.set(
            CredentialField::AccountSid,
            Some(SecretString::from("AC0123456789abcdef0123456789abcdef")),
        );
        credentials.set(CredentialField::AuthToken, Some(SecretString::from(token)));
        credentials
    }

    #[tokio::test]
    async fn the_keyring_is_read_once_for_any_number_of_webhooks_and_again_after_a_change() {
        let keyring = Arc::new(Keyring::default());
        let service = ProviderService::new(
            Arc::new(Repo::default()),
            keyring.clone(),
            Arc::new(Factory),
            "US".parse().unwrap(),
        );
        let provider = service
            .create(NewProvider {
                kind: ProviderKind::Twilio,
                name: "Twilio".into(),
                credentials: twilio("first"),
                default_caller_id: None,
                record_calls: false,
                sip: None,
            })
            .await
            .unwrap();
        let reads = || keyring.reads.load(Ordering::SeqCst);
        let token = |a: Arc<dyn ProviderAdapter>| async move {
            a.validate_credentials().await.unwrap().name.unwrap()
        };
        for _ in 0..100 {
            let adapter = service.shared_adapter(provider.id).await.unwrap();
            assert_eq!(token(adapter).await, "first");
        }
        assert_eq!(reads(), 1, "a flood of requests is not keyring traffic");
        let update = ProviderUpdate {
            credentials: twilio("second"),
            ..Default::default()
        };
        service.update(provider.id, update).await.unwrap();
        let adapter = service.shared_adapter(provider.id).await.unwrap();
        assert_eq!(token(adapter).await, "second", "new keys are used at once");
        service.delete(provider.id).await.unwrap();
        assert!(matches!(
            service.shared_adapter(provider.id).await,
            Err(ServiceError::NotFound)
        ));
    }
}

//! The only crate that knows the keyring. Every key Ringdesk holds is one keyring entry under
//! service `ringdesk` (or a test's own service name) and account `<kind>/<id>`.
//!
//! On Linux the store is the Secret Service (GNOME Keyring, KWallet), which persists across
//! reboots; keyring's calls block on D-Bus, so they run on tokio's blocking pool.

use async_trait::async_trait;
use keyring::Entry;
use ringdesk_core::ports::{SecretError, SecretStore};
use secrecy::{ExposeSecret, SecretString};

pub const DEFAULT_SERVICE: &str = "ringdesk";

#[derive(Debug, Clone)]
pub struct KeyringSecretStore {
    service: String,
}

impl KeyringSecretStore {
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}

impl Default for KeyringSecretStore {
    fn default() -> Self {
        Self::new(DEFAULT_SERVICE)
    }
}

fn map_err(e: keyring::Error) -> SecretError {
    match e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            SecretError::Unavailable(inner.to_string())
        }
        other => SecretError::Failed(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SecretError::Failed(format!("keyring task failed: {e}")))?
}

#[async_trait]
impl SecretStore for KeyringSecretStore {
    async fn get(&self, key: &str) -> Result<Option<SecretString>, SecretError> {
        let (service, key) = (self.service.clone(), key.to_owned());
        blocking(move || {
            let entry = Entry::new(&service, &key).map_err(map_err)?;
            match entry.get_password() {
                Ok(value) => Ok(Some(SecretString::from(value))),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(map_err(e)),
            }
        })
        .await
    }

    async fn set(&self, key: &str, value: &SecretString) -> Result<(), SecretError> {
        let (service, owned_key) = (self.service.clone(), key.to_owned());
        let value = value.clone();
        blocking(move || {
            let entry = Entry::new(&service, &owned_key).map_err(map_err)?;
            entry.set_password(value.expose_secret()).map_err(map_err)
        })
        .await?;
        tracing::debug!(service = %self.service, key, "secret stored in the keyring");
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), SecretError> {
        let (service, key) = (self.service.clone(), key.to_owned());
        blocking(move || {
            let entry = Entry::new(&service, &key).map_err(map_err)?;
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(map_err(e)),
            }
        })
        .await
    }
}

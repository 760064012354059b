use async_trait::async_trait;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The OS keyring cannot be used at all (no Secret Service, locked, …).
    #[error("the system keyring is not available: {0}")]
    Unavailable(String),
    #[error("the system keyring refused: {0}")]
    Failed(String),
}

/// The OS keyring, addressed by key (e.g. `provider/<id>`). Values never leave as plain strings.
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<SecretString>, SecretError>;
    async fn set(&self, key: &str, value: &SecretString) -> Result<(), SecretError>;
    /// Removing an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<(), SecretError>;
}

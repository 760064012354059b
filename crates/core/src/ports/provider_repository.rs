use async_trait::async_trait;

use crate::provider::{Provider, ProviderId};

#[derive(Debug, thiserror::Error)]
#[error("the local database failed: {0}")]
pub struct RepositoryError(pub String);

/// Where providers (without their keys) are kept.
#[async_trait]
pub trait ProviderRepository: Send + Sync {
    async fn list(&self) -> Result<Vec<Provider>, RepositoryError>;
    async fn get(&self, id: ProviderId) -> Result<Option<Provider>, RepositoryError>;
    async fn insert(&self, provider: &Provider) -> Result<(), RepositoryError>;
    /// Writes every field but `is_active`, which only `activate` changes.
    async fn update(&self, provider: &Provider) -> Result<bool, RepositoryError>;
    async fn delete(&self, id: ProviderId) -> Result<bool, RepositoryError>;
    /// Makes `id` the one active provider, atomically. False if there is no such provider.
    async fn activate(&self, id: ProviderId) -> Result<bool, RepositoryError>;
}

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::SqlitePool;

use crate::StoreError;

/// Small key/value preferences of this desktop.
#[derive(Clone, Debug)]
pub struct SettingsRepository {
    pool: SqlitePool,
}

impl SettingsRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM app_settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// A preference stored as JSON; None when absent or unreadable (a value written by another
    /// version falls back to the caller's default rather than failing).
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    pub async fn set_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.set(key, &json).await
    }

    pub async fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO app_settings (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM app_settings WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[tokio::test]
    async fn set_overwrites() {
        let store = Store::in_memory().await.unwrap();
        let settings = store.settings();
        assert_eq!(settings.get("availability").await.unwrap(), None);
        settings.set("availability", "dnd").await.unwrap();
        settings.set("availability", "available").await.unwrap();
        assert_eq!(
            settings.get("availability").await.unwrap().as_deref(),
            Some("available")
        );
    }
}

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

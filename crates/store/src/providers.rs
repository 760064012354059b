use async_trait::async_trait;
use ringdesk_core::ports::{ProviderRepository, RepositoryError};
use ringdesk_core::{
    CredentialFlags, E164Number, Provider, ProviderId, ProviderKind, ProviderSettings,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

const COLUMNS: &str = "id, kind, name, enabled, is_active, has_api_key, has_api_secret, \
    has_account_sid, has_auth_token, has_application_id, has_private_key, has_webhook_secret, \
    default_caller_id, record_calls, created_at, updated_at";

#[derive(Clone, Debug)]
pub struct SqliteProviderRepository {
    pool: SqlitePool,
}

impl SqliteProviderRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn db_err(e: impl std::fmt::Display) -> RepositoryError {
    RepositoryError(e.to_string())
}

fn timestamp(t: OffsetDateTime) -> Result<String, RepositoryError> {
    t.format(&Rfc3339).map_err(db_err)
}

fn from_row(row: &SqliteRow) -> Result<Provider, RepositoryError> {
    let id: String = row.try_get("id").map_err(db_err)?;
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let flag = |name: &str| row.try_get::<bool, _>(name).map_err(db_err);
    let caller_id: Option<String> = row.try_get("default_caller_id").map_err(db_err)?;
    let time_of = |name: &str| -> Result<OffsetDateTime, RepositoryError> {
        let raw: String = row.try_get(name).map_err(db_err)?;
        OffsetDateTime::parse(&raw, &Rfc3339).map_err(db_err)
    };
    Ok(Provider {
        id: ProviderId(Uuid::parse_str(&id).map_err(db_err)?),
        kind: ProviderKind::from_code(&kind)
            .ok_or_else(|| db_err(format!("unknown provider kind {kind}")))?,
        name: row.try_get("name").map_err(db_err)?,
        enabled: flag("enabled")?,
        is_active: flag("is_active")?,
        credentials: CredentialFlags {
            api_key: flag("has_api_key")?,
            api_secret: flag("has_api_secret")?,
            account_sid: flag("has_account_sid")?,
            auth_token: flag("has_auth_token")?,
            application_id: flag("has_application_id")?,
            private_key: flag("has_private_key")?,
            webhook_secret: flag("has_webhook_secret")?,
        },
        settings: ProviderSettings {
            default_caller_id: caller_id
                .map(|c| E164Number::parse_international(&c).map_err(db_err))
                .transpose()?,
            record_calls: flag("record_calls")?,
        },
        created_at: time_of("created_at")?,
        updated_at: time_of("updated_at")?,
    })
}

#[async_trait]
impl ProviderRepository for SqliteProviderRepository {
    async fn list(&self) -> Result<Vec<Provider>, RepositoryError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM providers ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn get(&self, id: ProviderId) -> Result<Option<Provider>, RepositoryError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM providers WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn insert(&self, p: &Provider) -> Result<(), RepositoryError> {
        let c = &p.credentials;
        sqlx::query(&format!(
            "INSERT INTO providers ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(p.id.to_string())
        .bind(p.kind.code())
        .bind(&p.name)
        .bind(p.enabled)
        .bind(p.is_active)
        .bind(c.api_key)
        .bind(c.api_secret)
        .bind(c.account_sid)
        .bind(c.auth_token)
        .bind(c.application_id)
        .bind(c.private_key)
        .bind(c.webhook_secret)
        .bind(p.settings.default_caller_id.as_ref().map(|n| n.as_str().to_owned()))
        .bind(p.settings.record_calls)
        .bind(timestamp(p.created_at)?)
        .bind(timestamp(p.updated_at)?)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update(&self, p: &Provider) -> Result<bool, RepositoryError> {
        let c = &p.credentials;
        let done = sqlx::query(
            "UPDATE providers SET name = ?, enabled = ?, has_api_key = ?, has_api_secret = ?, \
             has_account_sid = ?, has_auth_token = ?, has_application_id = ?, has_private_key = ?, \
             has_webhook_secret = ?, default_caller_id = ?, record_calls = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&p.name)
        .bind(p.enabled)
        .bind(c.api_key)
        .bind(c.api_secret)
        .bind(c.account_sid)
        .bind(c.auth_token)
        .bind(c.application_id)
        .bind(c.private_key)
        .bind(c.webhook_secret)
        .bind(p.settings.default_caller_id.as_ref().map(|n| n.as_str().to_owned()))
        .bind(p.settings.record_calls)
        .bind(timestamp(p.updated_at)?)
        .bind(p.id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, id: ProviderId) -> Result<bool, RepositoryError> {
        let done = sqlx::query("DELETE FROM providers WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn activate(&self, id: ProviderId) -> Result<bool, RepositoryError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let exists = sqlx::query("SELECT 1 FROM providers WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        sqlx::query("UPDATE providers SET is_active = 0 WHERE is_active = 1 AND id <> ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE providers SET is_active = 1 WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn provider(kind: ProviderKind, name: &str) -> Provider {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        Provider {
            id: ProviderId::new(),
            kind,
            name: name.into(),
            enabled: true,
            is_active: false,
            credentials: CredentialFlags {
                api_key: true,
                ..Default::default()
            },
            settings: ProviderSettings {
                default_caller_id: Some(E164Number::parse_international("+14155552671").unwrap()),
                record_calls: true,
            },
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn crud_round_trip() {
        let store = Store::in_memory().await.unwrap();
        let repo = store.providers();
        let mut p = provider(ProviderKind::Telnyx, "Main");
        repo.insert(&p).await.unwrap();
        assert_eq!(repo.get(p.id).await.unwrap().unwrap(), p);

        p.name = "Renamed".into();
        p.credentials.api_secret = true;
        p.settings.default_caller_id = None;
        assert!(repo.update(&p).await.unwrap());
        assert_eq!(repo.get(p.id).await.unwrap().unwrap(), p);
        assert_eq!(repo.list().await.unwrap(), vec![p.clone()]);

        assert!(repo.delete(p.id).await.unwrap());
        assert!(!repo.delete(p.id).await.unwrap());
        assert!(repo.get(p.id).await.unwrap().is_none());
        assert!(!repo.update(&p).await.unwrap());
    }

    #[tokio::test]
    async fn exactly_one_provider_is_active() {
        let store = Store::in_memory().await.unwrap();
        let repo = store.providers();
        let a = provider(ProviderKind::Telnyx, "A");
        let b = provider(ProviderKind::Twilio, "B");
        repo.insert(&a).await.unwrap();
        repo.insert(&b).await.unwrap();

        assert!(repo.activate(a.id).await.unwrap());
        assert!(repo.activate(b.id).await.unwrap());
        let active: Vec<_> = repo
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.is_active)
            .collect();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].id, b.id);
        assert!(!repo.activate(ProviderId::new()).await.unwrap());
        // A failed activation leaves the active one alone.
        assert!(repo.get(b.id).await.unwrap().unwrap().is_active);

        // The database itself refuses a second active row.
        let sneaky = sqlx::query("UPDATE providers SET is_active = 1 WHERE id = ?")
            .bind(a.id.to_string())
            .execute(&store.pool)
            .await;
        assert!(sneaky.is_err());
    }

    #[tokio::test]
    async fn migrates_an_empty_file_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringdesk.db");
        let p = provider(ProviderKind::Vonage, "V");
        {
            let store = Store::open(&path).await.unwrap();
            store.providers().insert(&p).await.unwrap();
            store.close().await;
        }
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.providers().get(p.id).await.unwrap().unwrap(), p);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

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
    has_sip_password, default_caller_id, record_calls, sip_settings, created_at, updated_at";

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

fn sip_json(p: &Provider) -> Result<Option<String>, RepositoryError> {
    p.settings
        .sip
        .as_ref()
        .map(|s| serde_json::to_string(s).map_err(db_err))
        .transpose()
}

fn from_row(row: &SqliteRow) -> Result<Provider, RepositoryError> {
    let id: String = row.try_get("id").map_err(db_err)?;
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let flag = |name: &str| row.try_get::<bool, _>(name).map_err(db_err);
    let caller_id: Option<String> = row.try_get("default_caller_id").map_err(db_err)?;
    let sip: Option<String> = row.try_get("sip_settings").map_err(db_err)?;
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
            sip_password: flag("has_sip_password")?,
        },
        settings: ProviderSettings {
            default_caller_id: caller_id
                .map(|c| E164Number::parse_international(&c).map_err(db_err))
                .transpose()?,
            record_calls: flag("record_calls")?,
            sip: sip
                .map(|json| serde_json::from_str(&json).map_err(db_err))
                .transpose()?,
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
            "INSERT INTO providers ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        .bind(c.sip_password)
        .bind(p.settings.default_caller_id.as_ref().map(|n| n.as_str().to_owned()))
        .bind(p.settings.record_calls)
        .bind(sip_json(p)?)
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
             has_webhook_secret = ?, has_sip_password = ?, default_caller_id = ?, record_calls = ?, \
             sip_settings = ?, updated_at = ? WHERE id = ?",
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
        .bind(c.sip_password)
        .bind(p.settings.default_caller_id.as_ref().map(|n| n.as_str().to_owned()))
        .bind(p.settings.record_calls)
        .bind(sip_json(p)?)
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
pub(crate) mod tests {
    use super::*;
    use crate::Store;

    /// A provider saved in `store`, for tests of what hangs off providers.
    pub(crate) async fn saved_provider(store: &Store, kind: ProviderKind) -> ProviderId {
        let p = provider(kind, "Test");
        store.providers().insert(&p).await.unwrap();
        p.id
    }

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
                sip: None,
            },
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn a_sip_account_keeps_its_settings() {
        let store = Store::in_memory().await.unwrap();
        let repo = store.providers();
        let mut p = provider(ProviderKind::Sip, "Office PBX");
        p.credentials = CredentialFlags {
            sip_password: true,
            ..Default::default()
        };
        p.settings.sip = Some(ringdesk_core::SipSettings {
            registrar: "pbx.example.com:5070".into(),
            domain: Some("example.com".into()),
            username: "1001".into(),
            auth_username: Some("auth1001".into()),
            transport: ringdesk_core::SipTransport::Udp,
            outbound_proxy: None,
            ca_certificate: None,
        });
        repo.insert(&p).await.unwrap();
        assert_eq!(repo.get(p.id).await.unwrap().unwrap(), p);
        // The table refuses a SIP provider without settings, and settings on another kind.
        let mut bare = provider(ProviderKind::Sip, "No settings");
        bare.settings.sip = None;
        assert!(repo.insert(&bare).await.is_err());
        let mut odd = provider(ProviderKind::Telnyx, "Odd");
        odd.settings.sip = p.settings.sip.clone();
        assert!(repo.insert(&odd).await.is_err());
    }

    #[tokio::test]
    async fn the_sip_migration_keeps_existing_providers() {
        // One connection: each connection to :memory: is its own database.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::raw_sql(include_str!("../migrations/0001_providers.sql"))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO providers (id, kind, name, is_active, has_api_key, default_caller_id, \
             record_calls, created_at, updated_at) VALUES (?, 'telnyx', 'Main', 1, 1, \
             '+14155552671', 1, '2026-11-01T10:00:00Z', '2026-11-02T10:00:00Z')",
        )
        .bind(ProviderId::new().to_string())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::raw_sql(include_str!("../migrations/0002_sip_accounts.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let repo = SqliteProviderRepository::new(pool);
        let kept = repo.list().await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].name, "Main");
        assert!(kept[0].is_active && kept[0].credentials.api_key);
        assert!(!kept[0].credentials.sip_password);
        assert_eq!(kept[0].settings.sip, None);
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

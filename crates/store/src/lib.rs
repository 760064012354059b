//! The only crate that knows SQL. One SQLite file in WAL mode, migrated on open.

mod agents;
mod caller_index;
mod calls;
mod contacts;
mod crm_mirror;
mod numbers;
mod outbox;
mod providers;
mod queues;
mod settings;
mod team;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use time::OffsetDateTime;

pub use agents::{Agents, NumbersError};
pub use caller_index::Caller;
pub use calls::CallRepository;
pub use contacts::{ContactRepository, Merged};
pub use crm_mirror::{CrmSyncState, MirroredContact, PageApplied};
pub use numbers::NumberRepository;
pub use outbox::{OutboxCounts, OutboxItem, OutboxRepository};
pub use providers::SqliteProviderRepository;
pub use queues::{QueueLoad, QueueRepository};
pub use settings::SettingsRepository;
pub use team::TeamRepository;
pub use users::UserRepository;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot upgrade the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("unreadable data in the database: {0}")]
    Corrupt(String),
}

/// Times are stored as Unix milliseconds: they sort and compare as numbers.
pub fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn now_millis() -> i64 {
    millis(OffsetDateTime::now_utc())
}

pub fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The journal database: a pool over one SQLite file.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    callers: contacts::SharedIndex,
}

impl Store {
    /// Opens (creating if needed) and migrates the database file.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let store = Self::open_unmigrated(path).await?;
        Self::migrated(store.pool).await
    }

    async fn open_unmigrated(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Store {
            pool,
            callers: Default::default(),
        })
    }

    /// A private in-memory database (tests, `--ephemeral`).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to `:memory:` is a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            callers: Default::default(),
        })
    }

    /// The team server's database: the desktop's schema (providers, numbers, agents, the call
    /// journal) and the server's own tables (`team()`), each set migrated in turn.
    pub async fn open_team(path: &Path) -> Result<Self, StoreError> {
        let desktop = Self::open_unmigrated(path).await?;
        Self::team_migrated(desktop.pool).await
    }

    /// A private in-memory team database (tests).
    pub async fn team_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Self::team_migrated(pool).await
    }

    async fn team_migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        // Each set ignores the other's versions (the desktop's 1–999, the team's 1001 on).
        let mut desktop = sqlx::migrate!("./migrations");
        desktop.set_ignore_missing(true);
        desktop.run(&pool).await?;
        let mut team = sqlx::migrate!("./team-migrations");
        team.set_ignore_missing(true);
        team.run(&pool).await?;
        Ok(Store {
            pool,
            callers: Default::default(),
        })
    }

    pub fn team(&self) -> TeamRepository {
        TeamRepository::new(self.pool.clone())
    }

    /// Queues and voicemail (team databases only).
    pub fn queues(&self) -> QueueRepository {
        QueueRepository::new(self.pool.clone())
    }

    /// Is the database answering? (the server's readiness)
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn providers(&self) -> SqliteProviderRepository {
        SqliteProviderRepository::new(self.pool.clone())
    }

    pub fn contacts(&self) -> ContactRepository {
        ContactRepository::new(self.pool.clone(), self.callers.clone())
    }

    pub fn numbers(&self) -> NumberRepository {
        NumberRepository::new(self.pool.clone())
    }

    pub fn calls(&self) -> CallRepository {
        CallRepository::new(self.pool.clone())
    }

    pub fn outbox(&self) -> OutboxRepository {
        OutboxRepository::new(self.pool.clone())
    }

    pub fn users(&self) -> UserRepository {
        UserRepository::new(self.pool.clone())
    }

    pub fn settings(&self) -> SettingsRepository {
        SettingsRepository::new(self.pool.clone())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

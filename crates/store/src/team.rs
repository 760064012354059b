//! The team server's tables (team-migrations/): sealed values, invites, devices and their
//! presence, agents' softphone logins, the live link's events. The desktop never opens them.

use ringdesk_core::team::{AgentLogin, Device, DeviceId, Presence, Role};
use ringdesk_core::{ProviderId, UserId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{from_millis, millis, now_millis, StoreError};

#[derive(Clone, Debug)]
pub struct TeamRepository {
    pool: SqlitePool,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(corrupt)
}

const DEVICE: &str =
    "SELECT id, user_id, role, name, created_at, revoked_at, presence, last_seen FROM devices";

fn device(row: &SqliteRow) -> Result<Device, StoreError> {
    let role: String = row.try_get("role")?;
    let presence: String = row.try_get("presence")?;
    Ok(Device {
        id: DeviceId(uuid(row, "id")?),
        user_id: UserId(uuid(row, "user_id")?),
        role: Role::from_code(&role).ok_or_else(|| corrupt(role))?,
        name: row.try_get("name")?,
        created_at: from_millis(row.try_get("created_at")?)?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        presence: Presence::from_code(&presence).ok_or_else(|| corrupt(presence))?,
        last_seen: row
            .try_get::<Option<i64>, _>("last_seen")?
            .map(from_millis)
            .transpose()?,
    })
}

const LOGIN: &str =
    "SELECT user_id, provider_id, sip_user, sip_domain, registrar FROM agent_logins";

fn login(row: &SqliteRow) -> Result<AgentLogin, StoreError> {
    Ok(AgentLogin {
        user_id: UserId(uuid(row, "user_id")?),
        provider_id: ProviderId(uuid(row, "provider_id")?),
        sip_user: row.try_get("sip_user")?,
        sip_domain: row.try_get("sip_domain")?,
        registrar: row.try_get("registrar")?,
    })
}

impl TeamRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    pub async fn put_sealed(&self, key: &str, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sealed_secrets (key, sealed, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(sealed)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn sealed(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM sealed_secrets WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn delete_sealed(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sealed_secrets WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_invite(
        &self,
        code_hash: &[u8],
        user: UserId,
        role: Role,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO invites (code_hash, user_id, role, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(code_hash)
        .bind(user.0.to_string())
        .bind(role.code())
        .bind(now_millis())
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Trades an unused, unexpired invite for a new device holding `token_hash`, in one
    /// transaction: an invite signs in one desktop, however many race for it. `None`: no
    /// such invite, used or expired (the caller is not told which).
    pub async fn redeem_invite(
        &self,
        code_hash: &[u8],
        device_name: &str,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Device>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = millis(now);
        let claimed = sqlx::query(
            "UPDATE invites SET used_at = ? \
             WHERE code_hash = ? AND used_at IS NULL AND expires_at > ? \
             RETURNING user_id, role",
        )
        .bind(at)
        .bind(code_hash)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let user: String = claimed.try_get("user_id")?;
        let role: String = claimed.try_get("role")?;
        let id = DeviceId::new();
        sqlx::query(
            "INSERT INTO devices (id, user_id, role, name, token_hash, created_at, last_seen) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.0.to_string())
        .bind(&user)
        .bind(&role)
        .bind(device_name)
        .bind(token_hash)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!("{DEVICE} WHERE id = ?"))
            .bind(id.0.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let device = device(&row)?;
        tx.commit().await?;
        Ok(Some(device))
    }

    pub async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        sqlx::query(&format!("{DEVICE} WHERE id = ?"))
            .bind(id.0.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(device)
            .transpose()
    }

    /// The device holding this token, unless it was revoked.
    pub async fn device_by_token(&self, token_hash: &[u8]) -> Result<Option<Device>, StoreError> {
        sqlx::query(&format!(
            "{DEVICE} WHERE token_hash = ? AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device)
        .transpose()
    }

    pub async fn devices(&self) -> Result<Vec<Device>, StoreError> {
        sqlx::query(&format!("{DEVICE} ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(device)
            .collect()
    }

    /// Revokes a device; false when there is no such device (or it already was).
    pub async fn revoke(&self, id: DeviceId) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now_millis())
                .bind(id.0.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A desktop's word about its agent (also its heartbeat).
    pub async fn set_presence(
        &self,
        id: DeviceId,
        presence: Presence,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE devices SET presence = ?, last_seen = ? WHERE id = ?")
            .bind(presence.code())
            .bind(millis(now))
            .bind(id.0.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What the agent's most recently heard desktop says, if one was heard since `since`.
    pub async fn presence_of(
        &self,
        user: UserId,
        since: OffsetDateTime,
    ) -> Result<Option<Presence>, StoreError> {
        let code: Option<String> = sqlx::query_scalar(
            "SELECT presence FROM devices \
             WHERE user_id = ? AND revoked_at IS NULL AND last_seen >= ? \
             ORDER BY last_seen DESC LIMIT 1",
        )
        .bind(user.0.to_string())
        .bind(millis(since))
        .fetch_optional(&self.pool)
        .await?;
        code.map(|c| Presence::from_code(&c).ok_or_else(|| corrupt(c)))
            .transpose()
    }

    pub async fn save_login(&self, login: &AgentLogin) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_logins (user_id, provider_id, sip_user, sip_domain, registrar, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, provider_id) DO UPDATE SET sip_user = excluded.sip_user, \
             sip_domain = excluded.sip_domain, registrar = excluded.registrar",
        )
        .bind(login.user_id.0.to_string())
        .bind(login.provider_id.0.to_string())
        .bind(&login.sip_user)
        .bind(&login.sip_domain)
        .bind(&login.registrar)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn login_of(
        &self,
        user: UserId,
        provider: ProviderId,
    ) -> Result<Option<AgentLogin>, StoreError> {
        sqlx::query(&format!("{LOGIN} WHERE user_id = ? AND provider_id = ?"))
            .bind(user.0.to_string())
            .bind(provider.0.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(login)
            .transpose()
    }

    /// The login a provider names as a call's caller (`sip:<user>@…`).
    pub async fn login_by_sip_user(
        &self,
        provider: ProviderId,
        sip_user: &str,
    ) -> Result<Option<AgentLogin>, StoreError> {
        sqlx::query(&format!("{LOGIN} WHERE provider_id = ? AND sip_user = ?"))
            .bind(provider.0.to_string())
            .bind(sip_user)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(login)
            .transpose()
    }

    /// Every agent heard from since `since`, with what their most recently heard desktop says.
    pub async fn presences(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(UserId, Presence)>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, presence FROM devices \
             WHERE revoked_at IS NULL AND last_seen >= ? \
             ORDER BY user_id, last_seen DESC",
        )
        .bind(millis(since))
        .fetch_all(&self.pool)
        .await?;
        let mut list: Vec<(UserId, Presence)> = Vec::new();
        for row in &rows {
            let user = UserId(uuid(row, "user_id")?);
            if list.last().is_some_and(|(u, _)| *u == user) {
                continue;
            }
            let code: String = row.try_get("presence")?;
            list.push((
                user,
                Presence::from_code(&code).ok_or_else(|| corrupt(code))?,
            ));
        }
        Ok(list)
    }

    /// Keeps an event for the live link (`user`: the one agent it is for, None: everyone) and
    /// returns its cursor. The oldest beyond `keep` go.
    pub async fn add_event(
        &self,
        user: Option<UserId>,
        body: &str,
        at: OffsetDateTime,
        keep: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = sqlx::query("INSERT INTO team_events (at, user_id, body) VALUES (?, ?, ?)")
            .bind(millis(at))
            .bind(user.map(|u| u.0.to_string()))
            .bind(body)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
        sqlx::query("DELETE FROM team_events WHERE id <= ?")
            .bind(id - keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The events after cursor `since` that `user` may see, oldest first.
    pub async fn events_after(
        &self,
        since: i64,
        user: UserId,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body FROM team_events \
             WHERE id > ? AND (user_id IS NULL OR user_id = ?) ORDER BY id LIMIT ?",
        )
        .bind(since)
        .bind(user.0.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("body")?)))
            .collect()
    }

    /// The oldest and newest cursors kept (None: no event yet).
    pub async fn event_span(&self) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query("SELECT MIN(id) AS low, MAX(id) AS high FROM team_events")
            .fetch_one(&self.pool)
            .await?;
        let low: Option<i64> = row.try_get("low")?;
        let high: Option<i64> = row.try_get("high")?;
        Ok(low.zip(high))
    }
}

//! The agents (the seed's TelephonyUser): their numbers, primary caller ID, forwarding
//! number, settings and status. One of them may be the agent at this desktop (`is_me`).

use ringdesk_core::{E164Number, PhoneNumberId, User, UserId, UserSettings, UserStatus, ValidUser};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::{now_millis, StoreError};

#[derive(Clone, Debug)]
pub struct UserRepository {
    pool: SqlitePool,
}

const SELECT: &str = "SELECT u.id, u.name, u.email, u.is_me, u.primary_number_id, \
    u.forwarding_number, u.receive_calls_in_app, u.forward_when_offline, u.voicemail_enabled, \
    u.dnd_enabled, u.status, \
    (SELECT json_group_array(number_id) FROM user_numbers n WHERE n.user_id = u.id) AS numbers \
    FROM users u";

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let id: String = row.try_get("id")?;
    let numbers: String = row.try_get("numbers")?;
    let numbers: Vec<String> = serde_json::from_str(&numbers).map_err(corrupt)?;
    let status: String = row.try_get("status")?;
    Ok(User {
        id: UserId(Uuid::parse_str(&id).map_err(corrupt)?),
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        is_me: row.try_get("is_me")?,
        assigned_numbers: numbers
            .iter()
            .map(|n| Uuid::parse_str(n).map(PhoneNumberId).map_err(corrupt))
            .collect::<Result<_, _>>()?,
        primary_number: row
            .try_get::<Option<String>, _>("primary_number_id")?
            .map(|n| Uuid::parse_str(&n).map(PhoneNumberId).map_err(corrupt))
            .transpose()?,
        forwarding_number: row
            .try_get::<Option<String>, _>("forwarding_number")?
            .map(|n| E164Number::from_stored(&n).map_err(corrupt))
            .transpose()?,
        settings: UserSettings {
            receive_calls_in_app: row.try_get("receive_calls_in_app")?,
            forward_when_offline: row.try_get("forward_when_offline")?,
            voicemail_enabled: row.try_get("voicemail_enabled")?,
            dnd_enabled: row.try_get("dnd_enabled")?,
        },
        status: UserStatus::from_code(&status).ok_or_else(|| corrupt(status))?,
    })
}

impl UserRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    pub async fn list(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT} ORDER BY u.is_me DESC, u.name COLLATE NOCASE"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE u.id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The agent at this desktop, if one is set.
    pub async fn me(&self) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE u.is_me = 1"))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Creates (`id` None) or replaces a user; making one `is_me` takes it from any other.
    pub async fn save(
        &self,
        id: Option<UserId>,
        user: &ValidUser,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_millis();
        if user.is_me {
            sqlx::query("UPDATE users SET is_me = 0 WHERE is_me = 1")
                .execute(&mut *tx)
                .await?;
        }
        let id = match id {
            Some(id) => {
                let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if known.is_none() {
                    return Ok(None);
                }
                id
            }
            None => UserId::new(),
        };
        sqlx::query(
            "INSERT INTO users (id, name, email, is_me, primary_number_id, forwarding_number, \
             receive_calls_in_app, forward_when_offline, voicemail_enabled, dnd_enabled, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, \
             is_me = excluded.is_me, primary_number_id = excluded.primary_number_id, \
             forwarding_number = excluded.forwarding_number, \
             receive_calls_in_app = excluded.receive_calls_in_app, \
             forward_when_offline = excluded.forward_when_offline, \
             voicemail_enabled = excluded.voicemail_enabled, dnd_enabled = excluded.dnd_enabled, \
             updated_at = excluded.updated_at",
        )
        .bind(id.to_string())
        .bind(&user.name)
        .bind(&user.email)
        .bind(user.is_me)
        .bind(user.primary_number.map(|n| n.to_string()))
        .bind(user.forwarding_number.as_ref().map(|n| n.to_string()))
        .bind(user.settings.receive_calls_in_app)
        .bind(user.settings.forward_when_offline)
        .bind(user.settings.voicemail_enabled)
        .bind(user.settings.dnd_enabled)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        assign(&mut tx, id, &user.assigned_numbers).await?;
        tx.commit().await?;
        self.get(id).await
    }

    pub async fn set_status(&self, id: UserId, status: UserStatus) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET status = ?, updated_at = ? WHERE id = ?")
            .bind(status.code())
            .bind(now_millis())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete(&self, id: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn assign(
    tx: &mut Transaction<'_, Sqlite>,
    id: UserId,
    numbers: &[PhoneNumberId],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_numbers WHERE user_id = ?")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    for number in numbers {
        sqlx::query("INSERT OR IGNORE INTO user_numbers (user_id, number_id) VALUES (?, ?)")
            .bind(id.to_string())
            .bind(number.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ringdesk_core::ports::{NumberCapabilities, NumberType, ProviderNumber};
    use ringdesk_core::{ProviderKind, UserInput, UserSettings};

    use crate::Store;

    #[tokio::test]
    async fn users_keep_numbers_primary_and_one_me() {
        let store = Store::in_memory().await.unwrap();
        let provider = crate::providers::tests::saved_provider(&store, ProviderKind::Twilio).await;
        store
            .numbers()
            .sync(
                provider,
                &[ProviderNumber {
                    phone_number: ringdesk_core::E164Number::parse_international("+14155552671")
                        .unwrap(),
                    friendly_name: None,
                    number_type: NumberType::Local,
                    country: None,
                    capabilities: NumberCapabilities::default(),
                    provider_number_id: "PN1".into(),
                }],
            )
            .await
            .unwrap();
        let number = store.numbers().list(None).await.unwrap()[0].id;
        let users = store.users();
        let input = |name: &str, me: bool| {
            UserInput {
                name: name.into(),
                email: None,
                is_me: me,
                assigned_numbers: vec![number],
                primary_number: Some(number),
                forwarding_number: None,
                settings: UserSettings::default(),
            }
            .validate(ringdesk_core::Region::default())
            .unwrap()
        };
        let ada = users
            .save(None, &input("Ada", true))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada.primary_number, Some(number));
        assert_eq!(ada.assigned_numbers, [number]);
        let bob = users
            .save(None, &input("Bob", true))
            .await
            .unwrap()
            .unwrap();
        assert!(bob.is_me);
        assert!(
            !users.get(ada.id).await.unwrap().unwrap().is_me,
            "one agent at this desktop"
        );
        assert_eq!(users.me().await.unwrap().unwrap().id, bob.id);
        assert!(users
            .set_status(bob.id, ringdesk_core::UserStatus::Busy)
            .await
            .unwrap());
        assert!(users.delete(ada.id).await.unwrap());
        assert_eq!(users.list().await.unwrap().len(), 1);
    }
}

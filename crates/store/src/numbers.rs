//! The accounts' phone numbers and their routes. A sync applies a provider's complete list
//! in one transaction (the list is read to its last page first), so a provider failing
//! half-way leaves the table as it was.

use std::collections::HashMap;

use ringdesk_core::ports::{NumberCapabilities, NumberType, ProviderNumber};
use ringdesk_core::{
    E164Number, NumberRoute, NumberSyncReport, PhoneNumber, PhoneNumberId, ProviderId, UserId,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::{now_millis, StoreError};

#[derive(Clone, Debug)]
pub struct NumberRepository {
    pool: SqlitePool,
}

const SELECT: &str = "SELECT id, provider_id, provider_number_id, phone_number, friendly_name, \
    number_type, country, voice, sms, mms, fax, route_type, route_user_id, route_queue, \
    route_external, record_calls, active FROM phone_numbers";

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(corrupt)
}

fn from_row(row: &SqliteRow) -> Result<PhoneNumber, StoreError> {
    let number_type: String = row.try_get("number_type")?;
    let route = match row.try_get::<Option<String>, _>("route_type")?.as_deref() {
        Some("user") => row
            .try_get::<Option<String>, _>("route_user_id")?
            .map(|id| {
                Ok::<_, StoreError>(NumberRoute::User {
                    user_id: UserId(uuid(&id)?),
                })
            })
            .transpose()?,
        Some("queue") => row
            .try_get::<Option<String>, _>("route_queue")?
            .map(|queue| NumberRoute::Queue { queue }),
        Some("external") => row
            .try_get::<Option<String>, _>("route_external")?
            .map(|n| {
                E164Number::from_stored(&n)
                    .map(|number| NumberRoute::External { number })
                    .map_err(corrupt)
            })
            .transpose()?,
        _ => None,
    };
    let number: String = row.try_get("phone_number")?;
    Ok(PhoneNumber {
        id: PhoneNumberId(uuid(&row.try_get::<String, _>("id")?)?),
        provider_id: ProviderId(uuid(&row.try_get::<String, _>("provider_id")?)?),
        provider_number_id: row.try_get("provider_number_id")?,
        phone_number: E164Number::from_stored(&number).map_err(corrupt)?,
        friendly_name: row.try_get("friendly_name")?,
        number_type: NumberType::from_code(&number_type).ok_or_else(|| corrupt(number_type))?,
        country: row.try_get("country")?,
        capabilities: NumberCapabilities {
            voice: row.try_get("voice")?,
            sms: row.try_get("sms")?,
            mms: row.try_get("mms")?,
            fax: row.try_get("fax")?,
        },
        route,
        record_calls: row.try_get("record_calls")?,
        active: row.try_get("active")?,
    })
}

/// The fields a sync compares, in one tuple.
fn listed_fields(
    n: &ProviderNumber,
) -> (
    String,
    Option<String>,
    &'static str,
    Option<String>,
    NumberCapabilities,
) {
    (
        n.phone_number.to_string(),
        n.friendly_name.clone(),
        n.number_type.code(),
        n.country.clone(),
        n.capabilities,
    )
}

impl NumberRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// All numbers (inactive last), or one provider's.
    pub async fn list(&self, provider: Option<ProviderId>) -> Result<Vec<PhoneNumber>, StoreError> {
        let rows = match provider {
            Some(p) => {
                sqlx::query(&format!(
                    "{SELECT} WHERE provider_id = ? ORDER BY active DESC, phone_number"
                ))
                .bind(p.to_string())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{SELECT} ORDER BY active DESC, phone_number"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    pub async fn get(&self, id: PhoneNumberId) -> Result<Option<PhoneNumber>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Makes the table match the provider's complete list: adds new numbers, updates changed
    /// ones (reactivating any that came back), deactivates the ones gone. Routes are kept.
    pub async fn sync(
        &self,
        provider: ProviderId,
        listed: &[ProviderNumber],
    ) -> Result<NumberSyncReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!("{SELECT} WHERE provider_id = ?"))
            .bind(provider.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let stored: HashMap<String, PhoneNumber> = rows
            .iter()
            .map(|r| from_row(r).map(|n| (n.provider_number_id.clone(), n)))
            .collect::<Result<_, _>>()?;
        let mut report = NumberSyncReport::default();
        let now = now_millis();
        for n in listed {
            let (number, name, kind, country, caps) = listed_fields(n);
            match stored.get(&n.provider_number_id) {
                Some(old) => {
                    let same = old.active
                        && old.phone_number.as_str() == number
                        && old.friendly_name == name
                        && old.number_type.code() == kind
                        && old.country == country
                        && old.capabilities == caps;
                    if same {
                        report.unchanged += 1;
                        continue;
                    }
                    sqlx::query(
                        "UPDATE phone_numbers SET phone_number = ?, friendly_name = ?, \
                         number_type = ?, country = ?, voice = ?, sms = ?, mms = ?, fax = ?, \
                         active = 1, updated_at = ? WHERE id = ?",
                    )
                    .bind(&number)
                    .bind(&name)
                    .bind(kind)
                    .bind(&country)
                    .bind(caps.voice)
                    .bind(caps.sms)
                    .bind(caps.mms)
                    .bind(caps.fax)
                    .bind(now)
                    .bind(old.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    report.updated.push(n.phone_number.clone());
                }
                None => {
                    sqlx::query(
                        "INSERT INTO phone_numbers (id, provider_id, provider_number_id, \
                         phone_number, friendly_name, number_type, country, voice, sms, mms, fax, \
                         active, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    )
                    .bind(PhoneNumberId::new().to_string())
                    .bind(provider.to_string())
                    .bind(&n.provider_number_id)
                    .bind(&number)
                    .bind(&name)
                    .bind(kind)
                    .bind(&country)
                    .bind(caps.voice)
                    .bind(caps.sms)
                    .bind(caps.mms)
                    .bind(caps.fax)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    report.added.push(n.phone_number.clone());
                }
            }
        }
        let listed_ids: std::collections::HashSet<&str> = listed
            .iter()
            .map(|n| n.provider_number_id.as_str())
            .collect();
        for old in stored.values() {
            if old.active && !listed_ids.contains(old.provider_number_id.as_str()) {
                sqlx::query("UPDATE phone_numbers SET active = 0, updated_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(old.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                report.deactivated.push(old.phone_number.clone());
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Whether the number's calls are recorded (None: as its provider says); false when there
    /// is no such number.
    pub async fn set_recording(
        &self,
        id: PhoneNumberId,
        record_calls: Option<bool>,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE phone_numbers SET record_calls = ?, updated_at = ? WHERE id = ?")
                .bind(record_calls)
                .bind(now_millis())
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets (or clears) where the number's calls go; false when there is no such number.
    pub async fn set_route(
        &self,
        id: PhoneNumberId,
        route: Option<&NumberRoute>,
    ) -> Result<bool, StoreError> {
        let (kind, user, queue, external) = match route {
            None => (None, None, None, None),
            Some(NumberRoute::User { user_id }) => {
                (Some("user"), Some(user_id.to_string()), None, None)
            }
            Some(NumberRoute::Queue { queue }) => (Some("queue"), None, Some(queue.clone()), None),
            Some(NumberRoute::External { number }) => {
                (Some("external"), None, None, Some(number.to_string()))
            }
        };
        let done = sqlx::query(
            "UPDATE phone_numbers SET route_type = ?, route_user_id = ?, route_queue = ?, \
             route_external = ?, updated_at = ? WHERE id = ?",
        )
        .bind(kind)
        .bind(user)
        .bind(queue)
        .bind(external)
        .bind(now_millis())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use ringdesk_core::ports::{NumberCapabilities, NumberType, ProviderNumber};
    use ringdesk_core::{E164Number, NumberRoute, ProviderKind};

    use crate::Store;

    fn listed(id: &str, number: &str, name: &str) -> ProviderNumber {
        ProviderNumber {
            phone_number: E164Number::parse_international(number).unwrap(),
            friendly_name: Some(name.into()),
            number_type: NumberType::Local,
            country: Some("US".into()),
            capabilities: NumberCapabilities {
                voice: true,
                ..Default::default()
            },
            provider_number_id: id.into(),
        }
    }

    #[tokio::test]
    async fn sync_adds_updates_deactivates_and_is_idempotent() {
        let store = Store::in_memory().await.unwrap();
        let provider = crate::providers::tests::saved_provider(&store, ProviderKind::Telnyx).await;
        let numbers = store.numbers();
        let first = numbers
            .sync(
                provider,
                &[
                    listed("n1", "+14155552671", "Sales"),
                    listed("n2", "+12125550100", "Support"),
                ],
            )
            .await
            .unwrap();
        assert_eq!((first.added.len(), first.updated.len()), (2, 0));
        let again = numbers
            .sync(
                provider,
                &[
                    listed("n1", "+14155552671", "Sales"),
                    listed("n2", "+12125550100", "Support"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            (again.added.len(), again.updated.len(), again.unchanged),
            (0, 0, 2)
        );

        let n1 = numbers.list(Some(provider)).await.unwrap()[1].clone();
        let route = NumberRoute::External {
            number: E164Number::parse_international("+442079460958").unwrap(),
        };
        assert!(numbers.set_route(n1.id, Some(&route)).await.unwrap());

        // n2 left the account, n1 was renamed, n3 is new.
        let third = numbers
            .sync(
                provider,
                &[
                    listed("n1", "+14155552671", "Sales West"),
                    listed("n3", "+13125550123", "Chicago"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(third.added[0].as_str(), "+13125550123");
        assert_eq!(third.updated[0].as_str(), "+14155552671");
        assert_eq!(third.deactivated[0].as_str(), "+12125550100");
        let all = numbers.list(Some(provider)).await.unwrap();
        assert_eq!(all.len(), 3, "history is kept");
        let n1 = numbers.get(n1.id).await.unwrap().unwrap();
        assert_eq!(n1.friendly_name.as_deref(), Some("Sales West"));
        assert_eq!(n1.route, Some(route), "the route survives a sync");
        assert!(
            !all.iter()
                .find(|n| n.provider_number_id == "n2")
                .unwrap()
                .active
        );

        // n2 comes back: reactivated, not duplicated.
        let back = numbers
            .sync(
                provider,
                &[
                    listed("n1", "+14155552671", "Sales West"),
                    listed("n2", "+12125550100", "Support"),
                    listed("n3", "+13125550123", "Chicago"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(back.updated[0].as_str(), "+12125550100");
        assert!(numbers.list(None).await.unwrap().iter().all(|n| n.active));
    }
}

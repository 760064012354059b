use std::sync::Arc;

use futures_util::TryStreamExt;

use ringdesk_core::{Contact, ContactId, ContactPhone, E164Number, ValidContact};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::caller_index::{Caller, CallerIndex};
use crate::{now_millis, StoreError};

/// The in-memory caller index, shared by every repository of one store (None until the first
/// lookup loads it).
pub(crate) type SharedIndex = Arc<tokio::sync::RwLock<Option<CallerIndex>>>;

/// The contacts store: caller lookup by E.164 is one probe of an in-memory index.
#[derive(Clone, Debug)]
pub struct ContactRepository {
    pub(crate) pool: SqlitePool,
    index: SharedIndex,
}

/// Columns of a contact with its phones (in order) as one JSON array.
const SELECT: &str = "SELECT c.id, c.name, c.company, c.emails, c.crm_id, \
    (SELECT json_group_array(json_object('number', p.number, 'label', p.label)) \
       FROM (SELECT number, label FROM contact_phones p WHERE p.contact_id = c.id ORDER BY position) p) AS phones \
    FROM contacts c";

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    pub added: usize,
    pub updated: usize,
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn from_row(row: &SqliteRow) -> Result<Contact, StoreError> {
    let id: String = row.try_get("id")?;
    let emails: String = row.try_get("emails")?;
    let phones: String = row.try_get("phones")?;
    let phones: Vec<Value> = serde_json::from_str(&phones).map_err(corrupt)?;
    Ok(Contact {
        id: ContactId(Uuid::parse_str(&id).map_err(corrupt)?),
        name: row.try_get("name")?,
        company: row.try_get("company")?,
        phones: phones
            .iter()
            .map(|p| {
                let number = p["number"].as_str().unwrap_or_default();
                Ok(ContactPhone {
                    number: E164Number::from_stored(number).map_err(corrupt)?,
                    label: p["label"].as_str().map(str::to_string),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        emails: serde_json::from_str(&emails).map_err(corrupt)?,
        crm_id: row.try_get("crm_id")?,
    })
}

/// `LIKE` text for `query`, with its wildcards taken literally.
pub(crate) fn like(query: &str) -> String {
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl ContactRepository {
    pub(crate) fn new(pool: SqlitePool, index: SharedIndex) -> Self {
        Self { pool, index }
    }

    /// Commits `tx` and applies the same change to the caller index, under the index's lock so
    /// that it sees writes in the database's order.
    pub(crate) async fn commit(
        &self,
        tx: Transaction<'_, Sqlite>,
        apply: impl FnOnce(&mut CallerIndex),
    ) -> Result<(), StoreError> {
        let mut index = self.index.write().await;
        tx.commit().await?;
        if let Some(index) = index.as_mut() {
            apply(index);
        }
        Ok(())
    }

    /// Who owns `number`, from memory (the index is read from the database on first use).
    pub async fn identify(&self, number: &E164Number) -> Result<Option<Caller>, StoreError> {
        if let Some(index) = self.index.read().await.as_ref() {
            return Ok(index.find(number));
        }
        let mut index = self.index.write().await;
        if index.is_none() {
            *index = Some(self.load_index().await?);
        }
        Ok(index.as_ref().and_then(|i| i.find(number)))
    }

    /// Loads the caller index now (at start-up, so the first ring does not wait for it).
    pub async fn warm(&self) -> Result<usize, StoreError> {
        let mut index = self.index.write().await;
        if index.is_none() {
            *index = Some(self.load_index().await?);
        }
        Ok(index.as_ref().map_or(0, CallerIndex::len))
    }

    async fn load_index(&self) -> Result<CallerIndex, StoreError> {
        // Streamed: 100 000 contacts must not sit in memory twice (rows and index).
        let mut rows = sqlx::query(
            "SELECT c.id, c.name, c.crm_id, p.number FROM contacts c \
             JOIN contact_phones p ON p.contact_id = c.id ORDER BY c.id, p.position",
        )
        .fetch(&self.pool);
        let mut index = CallerIndex::default();
        let mut current: Option<(String, String, Option<String>, Vec<E164Number>)> = None;
        let mut flush = |c: Option<(String, String, Option<String>, Vec<E164Number>)>| {
            if let Some((id, name, crm_id, numbers)) = c {
                if let Ok(id) = Uuid::parse_str(&id) {
                    index.put(ContactId(id), &name, crm_id.as_deref(), numbers.iter());
                }
            }
        };
        while let Some(row) = rows.try_next().await? {
            let id: String = row.try_get("id")?;
            let number: String = row.try_get("number")?;
            let number = E164Number::from_stored(&number).map_err(corrupt)?;
            match &mut current {
                Some(c) if c.0 == id => c.3.push(number),
                _ => {
                    flush(current.take());
                    current = Some((
                        id,
                        row.try_get("name")?,
                        row.try_get("crm_id")?,
                        vec![number],
                    ));
                }
            }
        }
        flush(current.take());
        tracing::debug!(contacts = index.len(), "caller index loaded");
        Ok(index)
    }

    pub async fn get(&self, id: ContactId) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE c.id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The contact owning `number` (the first by name when several share it).
    pub async fn find_by_phone(&self, number: &E164Number) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(&format!(
            "{SELECT} WHERE c.id = (SELECT p.contact_id FROM contact_phones p \
             JOIN contacts o ON o.id = p.contact_id WHERE p.number = ? ORDER BY o.name LIMIT 1)"
        ))
        .bind(number.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Contacts whose name, company or emails contain `query` (a trigram index from three
    /// characters; shorter queries scan names), or whose phones contain its digits (three or
    /// more); all when it is empty. Sorted by name.
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<Contact>, StoreError> {
        let query = query.trim();
        let digits: String = query.chars().filter(char::is_ascii_digit).collect();
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT);
        if !query.is_empty() {
            q.push(" WHERE c.rowid IN (");
            if query.chars().count() >= 3 {
                q.push("SELECT rowid FROM contacts_search WHERE contacts_search MATCH ")
                    .push_bind(crate::calls::fts_phrase(query));
            } else {
                q.push("SELECT rowid FROM contacts WHERE name LIKE ")
                    .push_bind(like(query))
                    .push(" ESCAPE '\\'");
            }
            if digits.len() >= 3 {
                q.push(
                    " UNION SELECT o.rowid FROM contacts o JOIN contact_phones p \
                     ON p.contact_id = o.id WHERE p.number LIKE ",
                )
                .push_bind(like(&digits))
                .push(" ESCAPE '\\'");
            }
            q.push(")");
        }
        q.push(" ORDER BY c.name COLLATE NOCASE, c.id LIMIT ")
            .push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn create(&self, contact: &ValidContact) -> Result<Contact, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = insert(&mut tx, contact, None).await?;
        self.commit(tx, |index| index.put_valid(id, contact, None))
            .await?;
        self.get(id)
            .await?
            .ok_or_else(|| corrupt("a new contact vanished"))
    }

    /// Replaces the contact's fields; None when there is no such contact.
    pub async fn update(
        &self,
        id: ContactId,
        contact: &ValidContact,
    ) -> Result<Option<Contact>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let found = overwrite(&mut tx, id, contact).await?;
        let crm_id: Option<String> = if found {
            sqlx::query_scalar("SELECT crm_id FROM contacts WHERE id = ?")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?
        } else {
            None
        };
        self.commit(tx, |index| {
            if found {
                index.put_valid(id, contact, crm_id.as_deref());
            }
        })
        .await?;
        if !found {
            return Ok(None);
        }
        self.get(id).await
    }

    pub async fn delete(&self, id: ContactId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM contacts WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        self.commit(tx, |index| index.remove(id)).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds `contacts` in one transaction; one that shares a phone with a contact already
    /// stored updates it instead (name and company replaced, phones and emails joined), so
    /// importing the same file twice adds nothing.
    pub async fn merge(&self, contacts: &[ValidContact]) -> Result<Merged, StoreError> {
        let mut merged = Merged::default();
        let mut written: Vec<(ContactId, ValidContact, Option<String>)> = Vec::new();
        let mut tx = self.pool.begin().await?;
        for contact in contacts {
            let mut existing = None;
            for phone in &contact.phones {
                existing = sqlx::query_scalar::<_, String>(
                    "SELECT contact_id FROM contact_phones WHERE number = ? LIMIT 1",
                )
                .bind(phone.number.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if existing.is_some() {
                    break;
                }
            }
            match existing {
                Some(id) => {
                    let id = ContactId(Uuid::parse_str(&id).map_err(corrupt)?);
                    let old = fetch(&mut tx, id)
                        .await?
                        .ok_or_else(|| corrupt("a phone without its contact"))?;
                    let mut joined = contact.clone();
                    for p in old.phones {
                        if !joined.phones.iter().any(|q| q.number == p.number) {
                            joined.phones.push(p);
                        }
                    }
                    for e in old.emails {
                        if !joined.emails.iter().any(|f| f.eq_ignore_ascii_case(&e)) {
                            joined.emails.push(e);
                        }
                    }
                    overwrite(&mut tx, id, &joined).await?;
                    written.push((id, joined, old.crm_id));
                    merged.updated += 1;
                }
                None => {
                    let id = insert(&mut tx, contact, None).await?;
                    written.push((id, contact.clone(), None));
                    merged.added += 1;
                }
            }
        }
        self.commit(tx, |index| {
            for (id, contact, crm_id) in &written {
                index.put_valid(*id, contact, crm_id.as_deref());
            }
        })
        .await?;
        Ok(merged)
    }
}

pub(crate) async fn fetch(
    tx: &mut Transaction<'_, Sqlite>,
    id: ContactId,
) -> Result<Option<Contact>, StoreError> {
    let row = sqlx::query(&format!("{SELECT} WHERE c.id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The CRM record a stored contact mirrors, and the full resync that last saw it.
pub(crate) type CrmLink<'a> = Option<(&'a str, Option<i64>)>;

pub(crate) async fn insert(
    tx: &mut Transaction<'_, Sqlite>,
    contact: &ValidContact,
    crm: CrmLink<'_>,
) -> Result<ContactId, StoreError> {
    let id = ContactId::new();
    let now = now_millis();
    sqlx::query(
        "INSERT INTO contacts (id, name, company, emails, crm_id, crm_seen, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(&contact.name)
    .bind(&contact.company)
    .bind(serde_json::to_string(&contact.emails).map_err(corrupt)?)
    .bind(crm.map(|(crm_id, _)| crm_id))
    .bind(crm.and_then(|(_, seen)| seen))
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    write_phones(tx, id, &contact.phones).await?;
    Ok(id)
}

pub(crate) async fn overwrite(
    tx: &mut Transaction<'_, Sqlite>,
    id: ContactId,
    contact: &ValidContact,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE contacts SET name = ?, company = ?, emails = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&contact.name)
    .bind(&contact.company)
    .bind(serde_json::to_string(&contact.emails).map_err(corrupt)?)
    .bind(now_millis())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM contact_phones WHERE contact_id = ?")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    write_phones(tx, id, &contact.phones).await?;
    Ok(true)
}

async fn write_phones(
    tx: &mut Transaction<'_, Sqlite>,
    id: ContactId,
    phones: &[ContactPhone],
) -> Result<(), StoreError> {
    if phones.is_empty() {
        return Ok(());
    }
    // One statement for all of them: syncs write 100 000 contacts.
    let id = id.to_string();
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO contact_phones (contact_id, position, number, label) ");
    q.push_values(phones.iter().enumerate(), |mut row, (position, phone)| {
        row.push_bind(&id)
            .push_bind(position as i64)
            .push_bind(phone.number.as_str())
            .push_bind(&phone.label);
    });
    q.build().execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use ringdesk_core::{ContactInput, PhoneInput, Region};

    use crate::Store;

    fn contact(name: &str, phones: &[&str], emails: &[&str]) -> ringdesk_core::ValidContact {
        ContactInput {
            name: name.into(),
            company: None,
            phones: phones
                .iter()
                .map(|n| PhoneInput {
                    number: n.to_string(),
                    label: None,
                })
                .collect(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
        }
        .validate(Region::default())
        .unwrap()
    }

    #[tokio::test]
    async fn create_find_search_update_delete() {
        let store = Store::in_memory().await.unwrap();
        let contacts = store.contacts();
        let ada = contacts
            .create(&contact(
                "Ada",
                &["+14155552671", "+442079460958"],
                &["ada@example.com"],
            ))
            .await
            .unwrap();
        contacts
            .create(&contact("Bob 100%_sure", &["+12125550100"], &[]))
            .await
            .unwrap();
        let number = ada.phones[1].number.clone();
        assert_eq!(
            contacts.find_by_phone(&number).await.unwrap().unwrap().id,
            ada.id
        );
        let names =
            |v: Vec<ringdesk_core::Contact>| v.into_iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(
            names(contacts.search("", 10).await.unwrap()),
            ["Ada", "Bob 100%_sure"]
        );
        assert_eq!(names(contacts.search("7946", 10).await.unwrap()), ["Ada"]);
        assert_eq!(
            names(contacts.search("EXAMPLE", 10).await.unwrap()),
            ["Ada"]
        );
        // LIKE wildcards in the query are plain characters.
        assert_eq!(
            names(contacts.search("%_", 10).await.unwrap()),
            ["Bob 100%_sure"]
        );
        assert!(contacts.search("zzz", 10).await.unwrap().is_empty());

        let changed = contacts
            .update(ada.id, &contact("Ada L.", &["+14155552671"], &[]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.phones.len(), 1);
        assert_eq!(contacts.find_by_phone(&number).await.unwrap(), None);
        assert!(contacts.delete(ada.id).await.unwrap());
        assert!(!contacts.delete(ada.id).await.unwrap());
        assert_eq!(contacts.get(ada.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn merge_is_idempotent_and_joins_phones() {
        let store = Store::in_memory().await.unwrap();
        let contacts = store.contacts();
        let file = [
            contact("Ada", &["+14155552671"], &["ada@example.com"]),
            contact("Bob", &["+12125550100"], &[]),
        ];
        let first = contacts.merge(&file).await.unwrap();
        assert_eq!((first.added, first.updated), (2, 0));
        let again = contacts.merge(&file).await.unwrap();
        assert_eq!((again.added, again.updated), (0, 2));
        let more = contacts
            .merge(&[contact(
                "Ada Lovelace",
                &["+442079460958", "+14155552671"],
                &[],
            )])
            .await
            .unwrap();
        assert_eq!((more.added, more.updated), (0, 1));
        let all = contacts.search("", 10).await.unwrap();
        assert_eq!(all.len(), 2);
        let ada = &all[0];
        assert_eq!(ada.name, "Ada Lovelace");
        assert_eq!(ada.phones.len(), 2);
        assert_eq!(ada.emails, ["ada@example.com"]);
    }
}

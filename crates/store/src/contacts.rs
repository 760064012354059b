use ringdesk_core::{Contact, ContactId, ContactPhone, E164Number, ValidContact};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::{now_millis, StoreError};

/// The contacts store: caller lookup by E.164 is one index probe.
#[derive(Clone, Debug)]
pub struct ContactRepository {
    pool: SqlitePool,
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

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn from_row(row: &SqliteRow) -> Result<Contact, StoreError> {
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
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
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
        let id = insert(&mut tx, contact).await?;
        tx.commit().await?;
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
        tx.commit().await?;
        if !found {
            return Ok(None);
        }
        self.get(id).await
    }

    pub async fn delete(&self, id: ContactId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM contacts WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds `contacts` in one transaction; one that shares a phone with a contact already
    /// stored updates it instead (name and company replaced, phones and emails joined), so
    /// importing the same file twice adds nothing.
    pub async fn merge(&self, contacts: &[ValidContact]) -> Result<Merged, StoreError> {
        let mut merged = Merged::default();
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
                    let row = sqlx::query(&format!("{SELECT} WHERE c.id = ?"))
                        .bind(id.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                    let old = from_row(&row)?;
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
                    merged.updated += 1;
                }
                None => {
                    insert(&mut tx, contact).await?;
                    merged.added += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(merged)
    }
}

async fn insert(
    tx: &mut Transaction<'_, Sqlite>,
    contact: &ValidContact,
) -> Result<ContactId, StoreError> {
    let id = ContactId::new();
    let now = now_millis();
    sqlx::query(
        "INSERT INTO contacts (id, name, company, emails, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(&contact.name)
    .bind(&contact.company)
    .bind(serde_json::to_string(&contact.emails).map_err(corrupt)?)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    write_phones(tx, id, &contact.phones).await?;
    Ok(id)
}

async fn overwrite(
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
    for (position, phone) in phones.iter().enumerate() {
        sqlx::query(
            "INSERT INTO contact_phones (contact_id, position, number, label) VALUES (?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(position as i64)
        .bind(phone.number.as_str())
        .bind(&phone.label)
        .execute(&mut **tx)
        .await?;
    }
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

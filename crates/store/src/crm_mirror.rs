//! The CRM's contacts mirrored in the contacts table, and where the pull stands (`crm_sync`).
//! Each page of changes is applied in one transaction together with the cursor that follows
//! it, so a pull cut anywhere resumes where it stopped and never applies a page twice
//! differently. A contact pulled from the CRM links to a local one sharing a phone (a typed or
//! imported contact becomes the CRM's), else it is added.

use ringdesk_core::{ContactId, ValidContact};
use serde::Serialize;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::contacts::{corrupt, insert, overwrite, ContactRepository};
use crate::{now_millis, StoreError};

/// A contact as the CRM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredContact {
    pub crm_id: String,
    pub contact: ValidContact,
}

/// Where the pull from one CRM stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmSyncState {
    pub cursor: Option<String>,
    /// A full resync is under way (contacts it sees are stamped with this).
    pub full_run: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub last_full_sync_at: Option<i64>,
    pub last_error: Option<String>,
}

/// What one page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PageApplied {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

impl ContactRepository {
    pub async fn crm_sync_state(&self, crm: &str) -> Result<Option<CrmSyncState>, StoreError> {
        let row = sqlx::query(
            "SELECT cursor, full_run, last_sync_at, last_full_sync_at, last_error \
             FROM crm_sync WHERE crm = ?",
        )
        .bind(crm)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(CrmSyncState {
                cursor: r.try_get("cursor")?,
                full_run: r.try_get("full_run")?,
                last_sync_at: r.try_get("last_sync_at")?,
                last_full_sync_at: r.try_get("last_full_sync_at")?,
                last_error: r.try_get("last_error")?,
            })
        })
        .transpose()
    }

    /// Starts a full resync from the beginning (returns its stamp); one already under way
    /// goes on where it is.
    pub async fn begin_full_sync(&self, crm: &str) -> Result<i64, StoreError> {
        if let Some(CrmSyncState {
            full_run: Some(run),
            ..
        }) = self.crm_sync_state(crm).await?
        {
            return Ok(run);
        }
        let run = now_millis();
        sqlx::query(
            "INSERT INTO crm_sync (crm, cursor, full_run) VALUES (?, NULL, ?) \
             ON CONFLICT (crm) DO UPDATE SET cursor = NULL, full_run = excluded.full_run",
        )
        .bind(crm)
        .bind(run)
        .execute(&self.pool)
        .await?;
        Ok(run)
    }

    /// Applies one page of the CRM's changes and records `cursor` as where the next starts.
    pub async fn apply_crm_page(
        &self,
        crm: &str,
        contacts: &[MirroredContact],
        deleted: &[String],
        cursor: &str,
    ) -> Result<PageApplied, StoreError> {
        let mut applied = PageApplied::default();
        let mut tx = self.pool.begin().await?;
        let run = full_run(&mut tx, crm).await?;
        let mut written = Vec::with_capacity(contacts.len());
        for mirrored in contacts {
            let id = match linked(&mut tx, mirrored).await? {
                Some(id) => {
                    overwrite(&mut tx, id, &mirrored.contact).await?;
                    sqlx::query("UPDATE contacts SET crm_id = ?, crm_seen = ? WHERE id = ?")
                        .bind(&mirrored.crm_id)
                        .bind(run)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    applied.updated += 1;
                    id
                }
                None => {
                    applied.added += 1;
                    let link = Some((mirrored.crm_id.as_str(), run));
                    insert(&mut tx, &mirrored.contact, link).await?
                }
            };
            written.push(id);
        }
        let mut gone = Vec::new();
        for crm_id in deleted {
            gone.extend(remove_where(&mut tx, "crm_id = ?", Some(crm_id)).await?);
        }
        applied.removed = gone.len();
        sqlx::query(
            "INSERT INTO crm_sync (crm, cursor) VALUES (?, ?) \
             ON CONFLICT (crm) DO UPDATE SET cursor = excluded.cursor",
        )
        .bind(crm)
        .bind(cursor)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, |index| {
            for (id, m) in written.iter().zip(contacts) {
                index.put_valid(*id, &m.contact, Some(&m.crm_id));
            }
            for id in &gone {
                index.remove(*id);
            }
        })
        .await?;
        Ok(applied)
    }

    /// Ends a pull that reached the CRM's present: a full resync also removes the mirrored
    /// contacts it did not see (deleted in the CRM). Returns how many it removed.
    pub async fn finish_crm_sync(&self, crm: &str) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let run = full_run(&mut tx, crm).await?;
        let now = now_millis();
        let mut gone = Vec::new();
        if let Some(run) = run {
            gone = remove_where(
                &mut tx,
                "crm_id IS NOT NULL AND (crm_seen IS NULL OR crm_seen <> CAST(? AS INTEGER))",
                Some(&run.to_string()),
            )
            .await?;
            sqlx::query("UPDATE crm_sync SET full_run = NULL, last_full_sync_at = ? WHERE crm = ?")
                .bind(now)
                .bind(crm)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE crm_sync SET last_sync_at = ?, last_error = NULL WHERE crm = ?")
            .bind(now)
            .bind(crm)
            .execute(&mut *tx)
            .await?;
        self.commit(tx, |index| {
            for id in &gone {
                index.remove(*id);
            }
        })
        .await?;
        Ok(gone.len())
    }

    /// Records why the last pull stopped (shown in Settings → CRM and the tray).
    pub async fn crm_sync_failed(&self, crm: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO crm_sync (crm, last_error) VALUES (?, ?) \
             ON CONFLICT (crm) DO UPDATE SET last_error = excluded.last_error",
        )
        .bind(crm)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Contacts that mirror a CRM record.
    pub async fn crm_contact_count(&self) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE crm_id IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u32)
    }

    /// Marks a local contact as the CRM record `crm_id` (after creating it there).
    pub async fn link_crm(&self, id: ContactId, crm_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE contacts SET crm_id = ? WHERE id = ?")
            .bind(crm_id)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let contact = crate::contacts::fetch(&mut tx, id).await?;
        self.commit(tx, |index| {
            if let Some(c) = &contact {
                index.put_contact(c);
            }
        })
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// The stamp of the full resync under way for `crm`, if one is.
async fn full_run(tx: &mut Transaction<'_, Sqlite>, crm: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT full_run FROM crm_sync WHERE crm = ?")
            .bind(crm)
            .fetch_optional(&mut **tx)
            .await?
            .flatten(),
    )
}

/// The stored contact this CRM record is: the one carrying its id, else a local contact
/// (no CRM id) sharing one of its phones. One query: a pull asks it 100 000 times.
async fn linked(
    tx: &mut Transaction<'_, Sqlite>,
    mirrored: &MirroredContact,
) -> Result<Option<ContactId>, StoreError> {
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("SELECT id, 0 AS rank FROM contacts WHERE crm_id = ");
    q.push_bind(&mirrored.crm_id);
    if !mirrored.contact.phones.is_empty() {
        q.push(
            " UNION ALL SELECT c.id, 1 AS rank FROM contact_phones p \
             JOIN contacts c ON c.id = p.contact_id WHERE c.crm_id IS NULL AND p.number IN (",
        );
        let mut numbers = q.separated(", ");
        for phone in &mirrored.contact.phones {
            numbers.push_bind(phone.number.as_str());
        }
        q.push(")");
    }
    q.push(" ORDER BY rank LIMIT 1");
    let id: Option<String> = q.build_query_scalar().fetch_optional(&mut **tx).await?;
    id.map(|id| Uuid::parse_str(&id).map(ContactId).map_err(corrupt))
        .transpose()
}

/// Deletes the contacts matching `condition` (one `?` bound to `value`); returns their ids.
async fn remove_where(
    tx: &mut Transaction<'_, Sqlite>,
    condition: &str,
    value: Option<&str>,
) -> Result<Vec<ContactId>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "DELETE FROM contacts WHERE {condition} RETURNING id"
    ))
    .bind(value)
    .fetch_all(&mut **tx)
    .await?;
    ids.iter()
        .map(|id| Uuid::parse_str(id).map(ContactId).map_err(corrupt))
        .collect()
}

#[cfg(test)]
mod tests {
    use ringdesk_core::{ContactInput, E164Number, PhoneInput, Region};

    use super::*;
    use crate::Store;

    fn mirrored(crm_id: &str, name: &str, phones: &[&str]) -> MirroredContact {
        MirroredContact {
            crm_id: crm_id.into(),
            contact: ContactInput {
                name: name.into(),
                company: None,
                phones: phones
                    .iter()
                    .map(|n| PhoneInput {
                        number: n.to_string(),
                        label: None,
                    })
                    .collect(),
                emails: vec![],
            }
            .validate(Region::default())
            .unwrap(),
        }
    }

    fn n(s: &str) -> E164Number {
        E164Number::parse_international(s).unwrap()
    }

    #[tokio::test]
    async fn pages_add_update_link_and_delete_and_the_caller_index_follows() {
        let store = Store::in_memory().await.unwrap();
        let contacts = store.contacts();
        // A contact typed earlier, before the CRM was connected; the index is loaded now.
        let typed = contacts
            .create(&mirrored("-", "ada (typed)", &["+14155552671"]).contact)
            .await
            .unwrap();
        assert_eq!(contacts.warm().await.unwrap(), 1);

        let first = contacts
            .apply_crm_page(
                "crm",
                &[
                    mirrored("1", "Ada Lovelace", &["+14155552671"]),
                    mirrored("2", "Bob", &["+12125550100"]),
                ],
                &[],
                "c1",
            )
            .await
            .unwrap();
        assert_eq!((first.added, first.updated), (1, 1));
        let ada = contacts
            .identify(&n("+14155552671"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada.id, typed.id, "the typed contact became the CRM's");
        assert_eq!(
            (ada.name.as_str(), ada.crm_id.as_deref()),
            ("Ada Lovelace", Some("1"))
        );

        // The same page again changes nothing but the names it carries.
        let again = contacts
            .apply_crm_page(
                "crm",
                &[mirrored("2", "Bob B.", &["+12125550199"])],
                &["1".into()],
                "c2",
            )
            .await
            .unwrap();
        assert_eq!((again.added, again.updated, again.removed), (0, 1, 1));
        assert_eq!(contacts.identify(&n("+14155552671")).await.unwrap(), None);
        assert_eq!(contacts.identify(&n("+12125550100")).await.unwrap(), None);
        assert_eq!(
            contacts
                .identify(&n("+12125550199"))
                .await
                .unwrap()
                .unwrap()
                .name,
            "Bob B."
        );
        let state = contacts.crm_sync_state("crm").await.unwrap().unwrap();
        assert_eq!(state.cursor.as_deref(), Some("c2"));
        assert_eq!(state.full_run, None);
    }

    #[tokio::test]
    async fn a_full_resync_removes_what_the_crm_no_longer_has_and_keeps_local_contacts() {
        let store = Store::in_memory().await.unwrap();
        let contacts = store.contacts();
        contacts
            .create(&mirrored("-", "Local only", &["+442079460958"]).contact)
            .await
            .unwrap();
        contacts
            .apply_crm_page(
                "crm",
                &[
                    mirrored("1", "Ada", &["+14155552671"]),
                    mirrored("2", "Bob", &["+12125550100"]),
                ],
                &[],
                "old",
            )
            .await
            .unwrap();
        assert_eq!(contacts.finish_crm_sync("crm").await.unwrap(), 0);

        let run = contacts.begin_full_sync("crm").await.unwrap();
        // Cut after the first page and resumed: the same run goes on from its cursor.
        contacts
            .apply_crm_page("crm", &[mirrored("1", "Ada", &["+14155552671"])], &[], "p1")
            .await
            .unwrap();
        assert_eq!(contacts.begin_full_sync("crm").await.unwrap(), run);
        let state = contacts.crm_sync_state("crm").await.unwrap().unwrap();
        assert_eq!(state.cursor.as_deref(), Some("p1"));
        assert_eq!(contacts.finish_crm_sync("crm").await.unwrap(), 1);

        let names: Vec<_> = contacts
            .search("", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Ada", "Local only"]);
        assert_eq!(contacts.identify(&n("+12125550100")).await.unwrap(), None);
        assert_eq!(contacts.crm_contact_count().await.unwrap(), 1);
        let state = contacts.crm_sync_state("crm").await.unwrap().unwrap();
        assert!(state.full_run.is_none() && state.last_full_sync_at.is_some());
    }
}

//! The contacts cache: pulls the connected CRM's contacts into the local store, page by page,
//! so caller lookup is local and works offline. The first pull of a CRM, and any the agent
//! asks for, is a full resync (which also drops contacts deleted in the CRM); then an
//! incremental pull every few minutes. Each page lands in one transaction with the cursor
//! after it, so a pull cut by a crash or an outage resumes where it stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringdesk_core::contact::{MAX_ENTRIES, MAX_TEXT};
use ringdesk_core::{ContactError, ContactInput, PhoneInput, Region};
use ringdesk_crm::{CrmConnector, CrmContact, CrmError};
use ringdesk_store::{ContactRepository, MirroredContact, StoreError};
use serde::Serialize;
use tokio::sync::{watch, Notify};

/// Between two incremental pulls.
const EVERY: Duration = Duration::from_secs(300);
/// At most one page request per this (the outbox worker paces its own requests the same).
const PACE: Duration = Duration::from_millis(125);
/// After a failed pull, the next try (an outage should not be hammered).
const RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Crm(#[from] CrmError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one pull changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// CRM records without a usable name or number.
    pub skipped: usize,
    pub pages: usize,
}

/// A CRM record as a stored contact: phones that do not read as numbers and malformed emails
/// are dropped (the CRM keeps them; the cache cannot call them), and a record without a name
/// is named by its first number. None when nothing callable is left.
pub(crate) fn mirrored(c: CrmContact, region: Region) -> Option<MirroredContact> {
    let short = |s: String| s.chars().take(MAX_TEXT).collect::<String>();
    let mut input = ContactInput {
        name: short(c.name),
        company: c.company.map(short),
        phones: c
            .phones
            .into_iter()
            .map(|number| PhoneInput {
                number,
                label: None,
            })
            .collect(),
        emails: c
            .emails
            .into_iter()
            .filter(|e| e.chars().count() <= MAX_TEXT)
            .collect(),
    };
    input.phones.truncate(MAX_ENTRIES);
    input.emails.truncate(MAX_ENTRIES);
    // Each refusal names one bad entry: drop it and try again.
    for _ in 0..(input.phones.len() + input.emails.len() + 2) {
        match input.validate(region) {
            Ok(contact) if contact.phones.is_empty() => return None,
            Ok(contact) => {
                return Some(MirroredContact {
                    crm_id: c.id,
                    contact,
                })
            }
            Err(ContactError::Phone { index, .. }) => {
                input.phones.remove(index);
            }
            Err(ContactError::Email(bad)) => input.emails.retain(|e| e.trim() != bad),
            Err(ContactError::NoName) => {
                input.name = input.phones.first()?.number.clone();
            }
            Err(_) => return None,
        }
    }
    None
}

/// Pulls until the CRM's present: a full resync when `full` (or when this CRM was never
/// pulled, or a full one was cut), else from the stored cursor.
pub async fn pull(
    connector: &dyn CrmConnector,
    contacts: &ContactRepository,
    crm: &str,
    region: Region,
    full: bool,
) -> Result<SyncReport, SyncError> {
    let state = contacts.crm_sync_state(crm).await?;
    let never = state.as_ref().is_none_or(|s| s.last_full_sync_at.is_none());
    if full || never {
        contacts.begin_full_sync(crm).await?;
    }
    let mut cursor = contacts.crm_sync_state(crm).await?.and_then(|s| s.cursor);
    let mut report = SyncReport::default();
    loop {
        let started = Instant::now();
        let page = match connector.list_changed_contacts(cursor.as_deref()).await {
            Ok(page) => page,
            Err(e) => {
                contacts.crm_sync_failed(crm, &e.to_string()).await?;
                return Err(e.into());
            }
        };
        let total = page.contacts.len();
        let batch: Vec<MirroredContact> = page
            .contacts
            .into_iter()
            .filter_map(|c| mirrored(c, region))
            .collect();
        report.skipped += total - batch.len();
        let applied = contacts
            .apply_crm_page(crm, &batch, &page.deleted, &page.cursor)
            .await?;
        report.added += applied.added;
        report.updated += applied.updated;
        report.removed += applied.removed;
        report.pages += 1;
        if !page.more {
            break;
        }
        cursor = Some(page.cursor);
        tokio::time::sleep(PACE.saturating_sub(started.elapsed())).await;
    }
    report.removed += contacts.finish_crm_sync(crm).await?;
    Ok(report)
}

/// The pull that runs while a CRM is connected: at once, then every few minutes, and when
/// the agent asks (`now`, with `full` set for a full resync). Runs until aborted.
pub(crate) struct Syncer {
    pub contacts: ContactRepository,
    pub crm: String,
    pub region: Region,
    pub now: Arc<Notify>,
    pub full: Arc<AtomicBool>,
    pub running: Arc<AtomicBool>,
    pub changed: watch::Sender<u64>,
}

impl Syncer {
    pub async fn run(self, connector: Arc<dyn CrmConnector>) {
        loop {
            let full = self.full.swap(false, Ordering::SeqCst);
            self.running.store(true, Ordering::SeqCst);
            self.changed.send_modify(|n| *n += 1);
            let wait = match pull(
                connector.as_ref(),
                &self.contacts,
                &self.crm,
                self.region,
                full,
            )
            .await
            {
                Ok(report) => {
                    tracing::info!(
                        added = report.added,
                        updated = report.updated,
                        removed = report.removed,
                        skipped = report.skipped,
                        full,
                        "CRM contacts synced"
                    );
                    EVERY
                }
                Err(e) => {
                    tracing::warn!(error = %e, "CRM contacts sync failed");
                    RETRY
                }
            };
            self.running.store(false, Ordering::SeqCst);
            self.changed.send_modify(|n| *n += 1);
            tokio::select! {
                _ = self.now.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ringdesk_core::ValidContact;

    use super::*;

    fn crm(name: &str, phones: &[&str], emails: &[&str]) -> CrmContact {
        CrmContact {
            id: "7".into(),
            name: name.into(),
            company: None,
            phones: phones.iter().map(|p| p.to_string()).collect(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            updated_at: None,
        }
    }

    #[test]
    fn records_keep_what_can_be_called_and_drop_the_rest() {
        let region = Region::default();
        let m = mirrored(
            crm(
                "Ada",
                &["12345", "(415) 555-2671", "n/a"],
                &["bad", "ada@example.com"],
            ),
            region,
        )
        .unwrap();
        let ValidContact { phones, emails, .. } = m.contact;
        assert_eq!(phones.len(), 1);
        assert_eq!(phones[0].number.as_str(), "+14155552671");
        assert_eq!(emails, ["ada@example.com"]);
        let nameless = mirrored(crm(" ", &["+442079460958"], &[]), region).unwrap();
        assert_eq!(nameless.contact.name, "+442079460958");
        assert_eq!(mirrored(crm("No phone", &["12"], &[]), region), None);
    }
}

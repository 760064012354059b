//! The contacts store as the app offers it: validated forms and imported files.

use ringdesk_core::contact_import::{self, ImportError, ImportRecord};
use ringdesk_core::{Contact, ContactError, ContactId, ContactInput, Region};
use ringdesk_store::{ContactRepository, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    #[error(transparent)]
    Invalid(#[from] ContactError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("there is no such contact (it may have been deleted)")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    Csv,
    Vcard,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub skipped: Vec<Skipped>,
}

/// The most contacts one search returns.
pub const SEARCH_LIMIT: u32 = 200;

pub struct Contacts {
    pub(crate) repository: ContactRepository,
    pub(crate) region: Region,
}

impl Contacts {
    pub async fn search(&self, query: &str) -> Result<Vec<Contact>, ContactsError> {
        Ok(self.repository.search(query, SEARCH_LIMIT).await?)
    }

    pub async fn create(&self, input: &ContactInput) -> Result<Contact, ContactsError> {
        let valid = input.validate(self.region)?;
        Ok(self.repository.create(&valid).await?)
    }

    pub async fn update(
        &self,
        id: ContactId,
        input: &ContactInput,
    ) -> Result<Contact, ContactsError> {
        let valid = input.validate(self.region)?;
        self.repository
            .update(id, &valid)
            .await?
            .ok_or(ContactsError::NotFound)
    }

    pub async fn delete(&self, id: ContactId) -> Result<(), ContactsError> {
        match self.repository.delete(id).await? {
            true => Ok(()),
            false => Err(ContactsError::NotFound),
        }
    }

    /// Reads a CSV or vCard file: every valid record is added (or merged into the contact
    /// that has its phone), every other one reported with its line and why.
    pub async fn import(
        &self,
        text: &str,
        format: ImportFormat,
    ) -> Result<ImportReport, ContactsError> {
        let records = match format {
            ImportFormat::Csv => contact_import::parse_csv(text)?,
            ImportFormat::Vcard => contact_import::parse_vcard(text)?,
        };
        let mut report = ImportReport::default();
        let mut valid = Vec::with_capacity(records.len());
        for ImportRecord { line, contact } in records {
            let checked = contact.and_then(|c| {
                let v = c.validate(self.region).map_err(|e| e.to_string())?;
                if v.phones.is_empty() {
                    return Err("no phone number".to_string());
                }
                Ok(v)
            });
            match checked {
                Ok(v) => valid.push(v),
                Err(reason) => report.skipped.push(Skipped { line, reason }),
            }
        }
        let merged = self.repository.merge(&valid).await?;
        report.added = merged.added;
        report.updated = merged.updated;
        tracing::info!(
            added = report.added,
            updated = report.updated,
            skipped = report.skipped.len(),
            "contacts imported"
        );
        Ok(report)
    }
}

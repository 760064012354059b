//! Ringdesk's own CRM contract (docs/crm-generic-openapi.yaml) for in-house CRMs like the one
//! the seed came from: a bearer token, contacts looked up by E.164, call interactions created
//! with an `Idempotency-Key` the server keeps unique, and found again by it.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::http::{join, Client};
use crate::sync::Watermark;
use crate::{Activity, ChangePage, CrmConnector, CrmContact, CrmError, NewContact, RemoteRef};

/// Contacts per page of a pull (the contract allows up to 1 000).
const PAGE: &str = "500";

pub struct GenericConnector {
    http: Client,
    base: Url,
}

#[derive(Deserialize)]
struct Interaction {
    id: String,
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Changes {
    items: Vec<ContactBody>,
    #[serde(default)]
    deleted: Vec<String>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    id: String,
    name: String,
    company: Option<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    updated_at: Option<time::OffsetDateTime>,
}

impl From<ContactBody> for CrmContact {
    fn from(c: ContactBody) -> Self {
        CrmContact {
            id: c.id,
            name: c.name,
            company: c.company,
            phones: c.phones,
            emails: c.emails,
            updated_at: c.updated_at,
        }
    }
}

impl GenericConnector {
    pub fn new(base: Url, token: SecretString, timeout: Duration) -> Result<Self, CrmError> {
        Ok(GenericConnector {
            http: Client::new(token, timeout)?,
            base,
        })
    }

    fn url(&self, path: &[&str]) -> Url {
        join(&self.base, path)
    }
}

#[async_trait]
impl CrmConnector for GenericConnector {
    async fn test(&self) -> Result<String, CrmError> {
        let url = self.url(&["api", "dialer", "contacts", "lookup"]);
        let request = self.http.get(url).query(&[("phone", "+10000000000")]);
        let _: Vec<ContactBody> = self.http.send(request, false).await?;
        Ok(format!(
            "Connected to {}",
            self.base.host_str().unwrap_or("the CRM")
        ))
    }

    async fn find_contacts_by_phone(&self, e164: &str) -> Result<Vec<CrmContact>, CrmError> {
        let url = self.url(&["api", "dialer", "contacts", "lookup"]);
        let found: Vec<ContactBody> = self
            .http
            .send(self.http.get(url).query(&[("phone", e164)]), false)
            .await?;
        Ok(found.into_iter().map(CrmContact::from).collect())
    }

    async fn log_call(&self, activity: &Activity, key: &str) -> Result<RemoteRef, CrmError> {
        let url = self.url(&["api", "dialer", "interactions"]);
        let mut body = serde_json::to_value(activity).map_err(|e| CrmError::Permanent {
            status: 0,
            message: e.to_string(),
        })?;
        body["type"] = "call".into();
        let request = self
            .http
            .post(url)
            .header("Idempotency-Key", key)
            .json(&body);
        let created: Interaction = self.http.send(request, true).await?;
        Ok(RemoteRef(created.id))
    }

    async fn find_logged_call(&self, key: &str) -> Result<Option<RemoteRef>, CrmError> {
        let url = self.url(&["api", "dialer", "interactions"]);
        let page: Page<Interaction> = self
            .http
            .send(self.http.get(url).query(&[("idempotencyKey", key)]), false)
            .await?;
        Ok(page.items.into_iter().next().map(|i| RemoteRef(i.id)))
    }

    async fn update_call(&self, remote: &RemoteRef, activity: &Activity) -> Result<(), CrmError> {
        let url = self.url(&["api", "dialer", "interactions", &remote.0]);
        let mut body = serde_json::json!({});
        if let Some(notes) = &activity.notes {
            body["notes"] = notes.clone().into();
        }
        if let Some(d) = activity.disposition {
            body["disposition"] = d.into();
        }
        if let Some(r) = &activity.recording_url {
            body["recordingUrl"] = r.clone().into();
        }
        let _: serde_json::Value = self
            .http
            .send(self.http.patch(url).json(&body), false)
            .await?;
        Ok(())
    }

    async fn list_changed_contacts(&self, cursor: Option<&str>) -> Result<ChangePage, CrmError> {
        let mut mark = Watermark::decode(cursor);
        let mut query: Vec<(&str, String)> = vec![("limit", PAGE.into())];
        if let Some(page) = &mark.page {
            query.push(("cursor", page.clone()));
        }
        if let Some(since) = mark.since() {
            query.push(("updatedSince", rfc3339(since)));
        }
        let url = self.url(&["api", "dialer", "contacts"]);
        let changes: Changes = self
            .http
            .send(self.http.get(url).query(&query), false)
            .await?;
        for c in &changes.items {
            mark.seen(c.updated_at);
        }
        // A page token that does not move would loop for ever.
        let next = changes
            .next_cursor
            .filter(|n| Some(n) != mark.page.as_ref());
        Ok(mark.page(
            changes.items.into_iter().map(CrmContact::from).collect(),
            changes.deleted,
            next,
        ))
    }

    async fn create_contact(&self, contact: &NewContact) -> Result<CrmContact, CrmError> {
        let url = self.url(&["api", "dialer", "contacts"]);
        let mut body = serde_json::json!({ "name": contact.name, "phones": contact.phones });
        if let Some(company) = &contact.company {
            body["company"] = company.clone().into();
        }
        if !contact.emails.is_empty() {
            body["emails"] = contact.emails.clone().into();
        }
        let created: ContactBody = self
            .http
            .send(self.http.post(url).json(&body), true)
            .await?;
        Ok(created.into())
    }

    /// The contract's rule: a contact's page is `<base>/contacts/<id>`.
    async fn contact_url(&self, id: &str) -> Result<Option<Url>, CrmError> {
        Ok(Some(self.url(&["contacts", id])))
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

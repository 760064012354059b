//! Ringdesk's own CRM contract (docs/crm-generic-openapi.yaml) for in-house CRMs like the one
//! the seed came from: a bearer token, contacts looked up by E.164, call interactions created
//! with an `Idempotency-Key` the server keeps unique, and found again by it.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::http::{join, Client};
use crate::{Activity, CrmConnector, CrmContact, CrmError, RemoteRef};

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
struct ContactBody {
    id: String,
    name: String,
    company: Option<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
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
        Ok(found
            .into_iter()
            .map(|c| CrmContact {
                id: c.id,
                name: c.name,
                company: c.company,
                phones: c.phones,
                emails: c.emails,
            })
            .collect())
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
}

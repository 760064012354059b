//! Ringdesk's own CRM contract (docs/crm-generic-openapi.yaml) for in-house CRMs like the one
//! the seed came from: a bearer token, contacts looked up by E.164, call interactions created
//! with an `Idempotency-Key` the server keeps unique, and found again by it.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::{Activity, CrmConnector, CrmContact, CrmError, RemoteRef};

pub struct GenericConnector {
    client: reqwest::Client,
    base: Url,
    token: SecretString,
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
        let client = reqwest::Client::builder()
            .user_agent(concat!("Ringdesk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build()
            .map_err(|e| CrmError::Transient(e.without_url().to_string()))?;
        Ok(GenericConnector {
            client,
            base,
            token,
        })
    }

    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        url
    }

    /// Sends and maps the outcome; `sent_matters`: a failure after sending is ambiguous (a
    /// create), not transient (a read).
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        sent_matters: bool,
    ) -> Result<T, CrmError> {
        let response = request
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| {
                let connect = e.is_connect();
                let reason = e.without_url().to_string();
                // A connection that never opened applied nothing; anything later might have.
                if sent_matters && !connect {
                    CrmError::Ambiguous(reason)
                } else {
                    CrmError::Transient(reason)
                }
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|e| {
            let reason = e.without_url().to_string();
            if sent_matters {
                CrmError::Ambiguous(reason)
            } else {
                CrmError::Transient(reason)
            }
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                let reason = format!("unreadable answer: {e}");
                if sent_matters {
                    CrmError::Ambiguous(reason)
                } else {
                    CrmError::Transient(reason)
                }
            });
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CrmError::Unauthorized(message),
            StatusCode::TOO_MANY_REQUESTS => CrmError::RateLimited { retry_after },
            StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT => {
                CrmError::Ambiguous(format!("{} {message}", status.as_u16()))
            }
            s if s.is_server_error() => CrmError::Transient(format!("{} {message}", s.as_u16())),
            s => CrmError::Permanent {
                status: s.as_u16(),
                message,
            },
        })
    }
}

#[async_trait]
impl CrmConnector for GenericConnector {
    async fn test(&self) -> Result<String, CrmError> {
        let url = self.url(&["api", "dialer", "contacts", "lookup"]);
        let request = self.client.get(url).query(&[("phone", "+10000000000")]);
        let _: Vec<ContactBody> = self.send(request, false).await?;
        Ok(format!(
            "Connected to {}",
            self.base.host_str().unwrap_or("the CRM")
        ))
    }

    async fn find_contacts_by_phone(&self, e164: &str) -> Result<Vec<CrmContact>, CrmError> {
        let url = self.url(&["api", "dialer", "contacts", "lookup"]);
        let found: Vec<ContactBody> = self
            .send(self.client.get(url).query(&[("phone", e164)]), false)
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
            .client
            .post(url)
            .header("Idempotency-Key", key)
            .json(&body);
        let created: Interaction = self.send(request, true).await?;
        Ok(RemoteRef(created.id))
    }

    async fn find_logged_call(&self, key: &str) -> Result<Option<RemoteRef>, CrmError> {
        let url = self.url(&["api", "dialer", "interactions"]);
        let page: Page<Interaction> = self
            .send(
                self.client.get(url).query(&[("idempotencyKey", key)]),
                false,
            )
            .await?;
        Ok(page.items.into_iter().next().map(|i| RemoteRef(i.id)))
    }
}

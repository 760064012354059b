//! Telnyx API v2: Bearer API key, JSON.

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::ports::{AccountInfo, ProviderAdapter, WebhookEvent, WebhookRequest};
use ringdesk_core::{ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::endpoints::join;
use crate::http;
use crate::webhook::{self, WebhookKey};
use crate::webhook_events;

pub struct TelnyxAdapter {
    client: reqwest::Client,
    base: Url,
    api_key: SecretString,
    timeout: Duration,
    webhook: Option<WebhookKey>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Balance {
    balance: Option<String>,
    currency: Option<String>,
}

impl TelnyxAdapter {
    pub fn new(base: Url, api_key: SecretString, timeout: Duration) -> Result<Self, ProviderError> {
        Ok(Self {
            client: http::client(timeout)?,
            base,
            api_key,
            timeout,
            webhook: None,
        })
    }

    /// The account's Ed25519 public key (base64), for webhook signatures.
    pub fn with_webhook_key(mut self, public_key: Option<SecretString>) -> Self {
        self.webhook = public_key.map(WebhookKey::Telnyx);
        self
    }
}

#[async_trait]
impl ProviderAdapter for TelnyxAdapter {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Telnyx
    }

    /// `GET /balance`: the cheapest authenticated read; Telnyx has no account-name endpoint.
    fn validate_webhook(&self, request: &WebhookRequest) -> Result<(), ProviderError> {
        webhook::validate(self.webhook.as_ref(), request)
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
        webhook_events::telnyx(request)
    }

    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
        let request = self
            .client
            .get(join(&self.base, &["balance"]))
            .bearer_auth(self.api_key.expose_secret());
        let Envelope { data } = http::json::<Envelope<Balance>>(request, self.timeout).await?;
        let detail = match (data.balance, data.currency) {
            (Some(b), Some(c)) => Some(format!("balance {b} {c}")),
            (Some(b), None) => Some(format!("balance {b}")),
            _ => None,
        };
        Ok(AccountInfo { name: None, detail })
    }
}

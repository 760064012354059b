//! Twilio Voice API 2010-04-01: HTTP Basic with the Account SID and Auth Token, or an API key
//! (SID + secret) with the Account SID in the path; form-encoded requests, JSON answers.

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

pub const API_VERSION: &str = "2010-04-01";

pub enum TwilioAuth {
    AuthToken(SecretString),
    ApiKey {
        sid: SecretString,
        secret: SecretString,
    },
}

pub struct TwilioAdapter {
    client: reqwest::Client,
    base: Url,
    account_sid: SecretString,
    auth: TwilioAuth,
    timeout: Duration,
    webhook: Option<WebhookKey>,
}

#[derive(Deserialize)]
struct Account {
    friendly_name: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    account_type: Option<String>,
}

impl TwilioAdapter {
    pub fn new(
        base: Url,
        account_sid: SecretString,
        auth: TwilioAuth,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            client: http::client(timeout)?,
            base,
            account_sid,
            auth,
            timeout,
            webhook: None,
        })
    }

    /// Twilio signs webhooks with the Auth Token (an API key cannot), or a SharedKey.
    pub fn with_webhook_key(mut self, key: Option<SecretString>) -> Self {
        self.webhook = key.map(WebhookKey::Twilio);
        self
    }

    fn get(&self, url: Url) -> reqwest::RequestBuilder {
        let (user, password) = match &self.auth {
            TwilioAuth::AuthToken(token) => {
                (self.account_sid.expose_secret(), token.expose_secret())
            }
            TwilioAuth::ApiKey { sid, secret } => (sid.expose_secret(), secret.expose_secret()),
        };
        self.client.get(url).basic_auth(user, Some(password))
    }
}

#[async_trait]
impl ProviderAdapter for TwilioAdapter {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Twilio
    }

    /// `GET /2010-04-01/Accounts/{AccountSid}.json`: returns the account's name and status.
    fn validate_webhook(&self, request: &WebhookRequest) -> Result<(), ProviderError> {
        webhook::validate(self.webhook.as_ref(), request)
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
        webhook_events::twilio(request)
    }

    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
        let resource = format!("{}.json", self.account_sid.expose_secret());
        let url = join(&self.base, &[API_VERSION, "Accounts", &resource]);
        let account: Account = http::json(self.get(url), self.timeout).await?;
        match account.status.as_deref() {
            Some("suspended") | Some("closed") => {
                return Err(ProviderError::AccountNotUsable {
                    reason: format!(
                        "the Twilio account is {}",
                        account.status.unwrap_or_default()
                    ),
                })
            }
            _ => {}
        }
        let detail = account.account_type.map(|t| format!("{t} account"));
        Ok(AccountInfo {
            name: account.friendly_name,
            detail,
        })
    }
}

//! Telnyx API v2: Bearer API key, JSON.

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::ports::{
    AccountInfo, CallHandle, CallRequest, NumberCapabilities, NumberType, ProviderAdapter,
    ProviderNumber, WebhookEvent, WebhookRequest,
};
use ringdesk_core::{E164Number, ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::endpoints::join;
use crate::http;
use crate::numbers::{Collected, Listed};
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

/// Telnyx's largest page of numbers.
const NUMBERS_PAGE: &str = "250";

#[derive(Deserialize)]
struct NumbersPage {
    data: Vec<OwnedNumber>,
    meta: Option<PageMeta>,
}

#[derive(Deserialize)]
struct PageMeta {
    total_pages: Option<u32>,
}

#[derive(Deserialize)]
struct OwnedNumber {
    id: String,
    phone_number: String,
    phone_number_type: Option<String>,
    country_iso_alpha2: Option<String>,
    connection_id: Option<String>,
    connection_name: Option<String>,
    messaging_profile_id: Option<String>,
}

#[derive(Deserialize)]
struct Balance {
    balance: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct CallControlApplication {
    id: String,
    application_name: Option<String>,
    webhook_event_url: Option<String>,
}

#[derive(Deserialize)]
struct Dialled {
    call_control_id: String,
}

/// The Call Control application Ringdesk creates (and finds again by this name) to place
/// calls through; its webhook URL is the receiver's.
pub const CALL_CONTROL_APP_NAME: &str = "Ringdesk";

impl TelnyxAdapter {
    fn post(&self, path: &[&str], body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.client
            .post(join(&self.base, path))
            .bearer_auth(self.api_key.expose_secret())
            .json(body)
    }

    /// The id of Ringdesk's Call Control application, created on first use and pointed at
    /// `webhook_url` (its events drive the call: Telnyx waits for commands on each step).
    async fn call_control_application(&self, webhook_url: &str) -> Result<String, ProviderError> {
        let request = self
            .client
            .get(join(&self.base, &["call_control_applications"]))
            .query(&[("filter[application_name][contains]", CALL_CONTROL_APP_NAME)])
            .bearer_auth(self.api_key.expose_secret());
        let Envelope { data } =
            http::json::<Envelope<Vec<CallControlApplication>>>(request, self.timeout).await?;
        let ours = data
            .into_iter()
            .find(|a| a.application_name.as_deref() == Some(CALL_CONTROL_APP_NAME));
        let body = json!({
            "application_name": CALL_CONTROL_APP_NAME,
            "webhook_event_url": webhook_url,
        });
        match ours {
            Some(app) if app.webhook_event_url.as_deref() == Some(webhook_url) => Ok(app.id),
            Some(app) => {
                let request = self
                    .client
                    .patch(join(&self.base, &["call_control_applications", &app.id]))
                    .bearer_auth(self.api_key.expose_secret())
                    .json(&body);
                http::done(request, self.timeout).await?;
                Ok(app.id)
            }
            None => {
                let request = self.post(&["call_control_applications"], &body);
                let Envelope { data } =
                    http::json::<Envelope<CallControlApplication>>(request, self.timeout).await?;
                Ok(data.id)
            }
        }
    }

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

    /// `POST /calls` through Ringdesk's Call Control application. Telnyx cannot carry "then
    /// connect" in the request: `connect_answered` transfers the leg when its `call.answered`
    /// webhook arrives, so Telnyx needs the webhook receiver.
    async fn make_call(&self, request: &CallRequest) -> Result<CallHandle, ProviderError> {
        let webhook_url =
            request
                .webhook_url
                .as_deref()
                .ok_or_else(|| ProviderError::Unsupported {
                    provider: "Telnyx".into(),
                    operation: "placing calls without webhooks (turn the webhook receiver on)"
                        .into(),
                })?;
        let connection_id = self.call_control_application(webhook_url).await?;
        let mut body = json!({
            "connection_id": connection_id,
            "to": request.to.as_str(),
            "from": request.from.as_str(),
            "webhook_url": webhook_url,
        });
        if request.record {
            body["record"] = json!("record-from-answer");
        }
        let Envelope { data } =
            http::json::<Envelope<Dialled>>(self.post(&["calls"], &body), self.timeout).await?;
        Ok(CallHandle {
            provider_call_id: data.call_control_id,
        })
    }

    async fn hangup(&self, provider_call_id: &str) -> Result<(), ProviderError> {
        let request = self.post(
            &["calls", provider_call_id, "actions", "hangup"],
            &json!({}),
        );
        http::done(request, self.timeout).await
    }

    async fn connect_answered(
        &self,
        provider_call_id: &str,
        to: &E164Number,
        from: &E164Number,
    ) -> Result<(), ProviderError> {
        let body = json!({ "to": to.as_str(), "from": from.as_str() });
        let request = self.post(&["calls", provider_call_id, "actions", "transfer"], &body);
        http::done(request, self.timeout).await
    }

    /// Telnyx reports no capabilities on owned numbers: a number routed to a connection takes
    /// calls, one with a messaging profile takes texts (providers.md §2.2).
    async fn list_numbers(&self) -> Result<Vec<ProviderNumber>, ProviderError> {
        let mut collected = Collected::default();
        let mut page = 1u32;
        loop {
            collected.page()?;
            let number = page.to_string();
            let request = self
                .client
                .get(join(&self.base, &["phone_numbers"]))
                .query(&[
                    ("page[number]", number.as_str()),
                    ("page[size]", NUMBERS_PAGE),
                ])
                .bearer_auth(self.api_key.expose_secret());
            let listed: NumbersPage = http::json(request, self.timeout).await?;
            let empty = listed.data.is_empty();
            for n in listed.data {
                collected.add(Listed {
                    number: &n.phone_number,
                    id: n.id,
                    friendly_name: n.connection_name,
                    number_type: n.phone_number_type.as_deref().map(|t| match t {
                        "toll_free" | "tollfree" => NumberType::Tollfree,
                        "mobile" => NumberType::Mobile,
                        _ => NumberType::Local,
                    }),
                    country: n.country_iso_alpha2,
                    capabilities: NumberCapabilities {
                        voice: n.connection_id.is_some(),
                        sms: n.messaging_profile_id.is_some(),
                        mms: false,
                        fax: false,
                    },
                });
            }
            let pages = listed.meta.and_then(|m| m.total_pages).unwrap_or(1);
            if empty || page >= pages {
                break;
            }
            page += 1;
        }
        tracing::info!(numbers = collected.len(), "Telnyx numbers listed");
        Ok(collected.into_numbers())
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

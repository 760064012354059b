//! One HTTP client and one mapping from HTTP outcomes to `CrmError` for every connector.
//! Errors never carry paths, queries or the token — only the host they could not reach.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::CrmError;

pub(crate) struct Client {
    client: reqwest::Client,
    token: SecretString,
    /// The header carrying the token: None for `Authorization: Bearer`.
    token_header: Option<&'static str>,
}

/// `base` with `segments` appended, each escaped as one path segment.
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

impl Client {
    pub fn new(token: SecretString, timeout: Duration) -> Result<Self, CrmError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Ringdesk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build()
            .map_err(|e| CrmError::Transient(e.without_url().to_string()))?;
        Ok(Client {
            client,
            token,
            token_header: None,
        })
    }

    /// Sends the token in `header` instead of as a bearer token (Pipedrive's `x-api-token`).
    pub fn with_token_header(mut self, header: &'static str) -> Self {
        self.token_header = Some(header);
        self
    }

    pub fn get(&self, url: Url) -> RequestBuilder {
        self.client.get(url)
    }

    pub fn post(&self, url: Url) -> RequestBuilder {
        self.client.post(url)
    }

    pub fn patch(&self, url: Url) -> RequestBuilder {
        self.client.patch(url)
    }

    /// Sends with the bearer token and decodes a 2xx JSON answer. `sent_matters`: the request
    /// creates something, so a failure once it may have left is *ambiguous* (look before
    /// retrying), not transient.
    pub async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        sent_matters: bool,
    ) -> Result<T, CrmError> {
        let unclear = |reason: String| {
            if sent_matters {
                CrmError::Ambiguous(reason)
            } else {
                CrmError::Transient(reason)
            }
        };
        let request = match self.token_header {
            None => request.bearer_auth(self.token.expose_secret()),
            Some(header) => request.header(header, self.token.expose_secret()),
        };
        let response = request.send().await.map_err(|e| {
            // A connection that never opened applied nothing.
            if e.is_connect() {
                CrmError::Transient(unreached(&e))
            } else {
                unclear(unreached(&e))
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|e| unclear(unreached(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| unclear(format!("unreadable answer: {e}")));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                // `message` (the contract, HubSpot) or `error` (Pipedrive).
                ["message", "error"]
                    .iter()
                    .find_map(|k| v.get(k).and_then(|m| m.as_str()))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                CrmError::Unauthorized(format!("{}: {message}", status.as_u16()))
            }
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

/// What went wrong on the way, said plainly: "could not connect to crm.example.com:443:
/// connection refused" rather than reqwest's "error sending request". Names the host only.
fn unreached(e: &reqwest::Error) -> String {
    let host = e
        .url()
        .and_then(|u| {
            let host = u.host_str()?;
            Some(match u.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            })
        })
        .unwrap_or_else(|| "the CRM".into());
    // The innermost cause says what happened (refused, no route, unknown host, bad certificate).
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut why = None;
    while let Some(c) = cause {
        why = Some(c.to_string());
        cause = c.source();
    }
    let why = why
        .map(|w| w.split(" (os error").next().unwrap_or(&w).to_lowercase())
        .unwrap_or_else(|| "the request failed".into());
    if e.is_timeout() {
        format!("{host} did not answer in time")
    } else if e.is_connect() {
        format!("could not connect to {host}: {why}")
    } else {
        format!("{host}: {why}")
    }
}

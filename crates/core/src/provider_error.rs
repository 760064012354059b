//! What can go wrong when Ringdesk talks to a provider, in terms an agent can act on.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    /// The provider refused the keys (HTTP 401).
    #[error("the provider refused these keys: {message}")]
    WrongKeys { message: String },
    /// The keys are valid but may not do this (HTTP 403).
    #[error("these keys are not allowed to do that: {message}")]
    Forbidden { message: String },
    #[error("the provider is limiting requests; try again in {}", retry_hint(*retry_after_secs))]
    RateLimited { retry_after_secs: Option<u64> },
    /// The provider answered with a server error (5xx).
    #[error("the provider is having problems (HTTP {status}): {message}")]
    Unavailable { status: u16, message: String },
    /// No connection could be made (DNS, refused, TLS).
    #[error("could not reach the provider: {reason}")]
    Unreachable { reason: String },
    #[error("the provider did not answer within {secs} s")]
    Timeout { secs: u64 },
    /// Any other refusal, with the provider's own words.
    #[error("the provider said: {message} (HTTP {status}{})", code.as_ref().map(|c| format!(", code {c}")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("the provider's answer could not be read: {reason}")]
    InvalidResponse { reason: String },
    #[error("the provider has no {what}")]
    NotFound { what: String },
    #[error("the account is not usable: {reason}")]
    AccountNotUsable { reason: String },
    #[error("{provider} does not support {operation} yet")]
    Unsupported { provider: String, operation: String },
    /// The provider asks Ringdesk's webhook receiver what to do with calls, and it is off.
    #[error("{provider} asks Ringdesk's webhook receiver what to do with each call: turn the receiver on, with its public address, in Settings → Telephony → Webhooks")]
    NeedsWebhooks { provider: String },
    #[error("missing keys: {fields}")]
    MissingCredentials { fields: String },
    /// A webhook whose signature does not hold: forged, tampered, stale or replayed.
    #[error("the webhook was refused: {reason}")]
    WebhookRejected { reason: String },
}

fn retry_hint(secs: Option<u64>) -> String {
    match secs {
        Some(s) if s < 120 => format!("{s} s"),
        Some(s) => format!("{} min", s.div_ceil(60)),
        None => "a moment".to_string(),
    }
}

impl ProviderError {
    /// A call on the agent's phone whose other leg (the contact) the provider no longer lists.
    pub fn contact_leg_gone() -> Self {
        ProviderError::NotFound {
            what: "contact connected to this call (it may have ended)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let e = ProviderError::Rejected {
            status: 422,
            code: Some("10015".into()),
            message: "Bad Request".into(),
        };
        assert_eq!(
            e.to_string(),
            "the provider said: Bad Request (HTTP 422, code 10015)"
        );
        let e = ProviderError::RateLimited {
            retry_after_secs: Some(30),
        };
        assert_eq!(
            e.to_string(),
            "the provider is limiting requests; try again in 30 s"
        );
        let e = ProviderError::RateLimited {
            retry_after_secs: Some(600),
        };
        assert_eq!(
            e.to_string(),
            "the provider is limiting requests; try again in 10 min"
        );
    }
}

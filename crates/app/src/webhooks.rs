//! The webhook receiver: an embedded HTTP server (axum), off by default, that takes the call
//! events a provider posts to `<public URL>/webhooks/<provider id>`. The signature is checked
//! with that provider's stored key before the body is even parsed; a verified event already
//! seen is acknowledged and ignored; a new one is applied to the journal (idempotently) and
//! announced as a `CallNotice`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use axum::Router;
use ringdesk_core::ports::WebhookRequest;
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::{ProviderError, ProviderId};
use ringdesk_store::{SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{broadcast, oneshot, Mutex};
use uuid::Uuid;

use crate::calls::{CallNotice, Journal};
use crate::provider_calls::ProviderCalls;

const KEY: &str = "webhooks";
/// Provider callbacks are small; anything larger is not one.
const MAX_BODY: usize = 256 * 1024;

/// Settings → Telephony → Webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    pub enabled: bool,
    /// Where the receiver listens, `address:port`.
    pub bind: String,
    /// The address providers post to (a tunnel or reverse proxy in front of `bind`), without
    /// the path; Twilio signs the exact URL it called, so it must be what the provider uses.
    pub public_url: Option<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            enabled: false,
            bind: "127.0.0.1:8787".into(),
            public_url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("“{0}” is not an address:port to listen on")]
    BadBind(String),
    #[error("“{0}” is not an http(s) URL")]
    BadPublicUrl(String),
    #[error("cannot listen on {bind}: {source}")]
    Listen {
        bind: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    pub fn field(&self) -> Option<&'static str> {
        match self {
            WebhookError::BadBind(_) | WebhookError::Listen { .. } => Some("bind"),
            WebhookError::BadPublicUrl(_) => Some("publicUrl"),
            WebhookError::Store(_) => None,
        }
    }
}

impl WebhookSettings {
    /// Trimmed and checked; the public URL loses a trailing slash.
    pub fn checked(mut self) -> Result<WebhookSettings, WebhookError> {
        self.bind = self.bind.trim().to_string();
        self.bind
            .parse::<SocketAddr>()
            .map_err(|_| WebhookError::BadBind(self.bind.clone()))?;
        self.public_url = match self.public_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => {
                let parsed =
                    url::Url::parse(u).map_err(|_| WebhookError::BadPublicUrl(u.to_string()))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return Err(WebhookError::BadPublicUrl(u.to_string()));
                }
                Some(u.trim_end_matches('/').to_string())
            }
        };
        Ok(self)
    }

    /// The base URL providers are given: the public one, else the bound address.
    pub fn base_url(&self, bound: Option<SocketAddr>) -> String {
        match (&self.public_url, bound) {
            (Some(u), _) => u.clone(),
            (None, Some(a)) => format!("http://{a}"),
            (None, None) => format!("http://{}", self.bind),
        }
    }
}

pub(crate) async fn load(settings: &SettingsRepository) -> Result<WebhookSettings, StoreError> {
    Ok(settings.get_json(KEY).await?.unwrap_or_default())
}

pub(crate) async fn save(
    settings: &SettingsRepository,
    webhooks: &WebhookSettings,
) -> Result<(), StoreError> {
    settings.set_json(KEY, webhooks).await
}

/// What the receiver needs per request.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub providers: ProviderService,
    pub journal: Journal,
    pub notices: broadcast::Sender<CallNotice>,
    pub provider_calls: Arc<ProviderCalls>,
    /// The base URL the provider signed (public URL or bound address).
    pub base_url: String,
    /// One event applied at a time: a redelivery racing its original must see it as seen.
    pub apply: Arc<Mutex<()>>,
}

/// A running receiver; dropping the handle does not stop it, `stop` does.
pub struct Running {
    pub address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

pub(crate) async fn start(
    bind: &str,
    make: impl FnOnce(SocketAddr) -> Receiver,
) -> Result<Running, WebhookError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| WebhookError::Listen {
            bind: bind.to_string(),
            source,
        })?;
    let address = listener
        .local_addr()
        .map_err(|source| WebhookError::Listen {
            bind: bind.to_string(),
            source,
        })?;
    let app = Router::new()
        .route("/webhooks/{provider}", any(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(make(address));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "webhook receiver stopped");
        }
    });
    tracing::info!(%address, "webhook receiver listening");
    Ok(Running {
        address,
        stop,
        task,
    })
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(provider): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let Ok(id) = Uuid::parse_str(&provider).map(ProviderId) else {
        return (StatusCode::NOT_FOUND, "no such provider\n");
    };
    let adapter = match receiver.providers.adapter_for(id).await {
        Ok(adapter) => adapter,
        Err(ServiceError::NotFound) => return (StatusCode::NOT_FOUND, "no such provider\n"),
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "webhook for a provider we cannot use");
            return (StatusCode::SERVICE_UNAVAILABLE, "provider unavailable\n");
        }
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request = WebhookRequest {
        method: method.to_string(),
        url: format!("{}{path}", receiver.base_url),
        headers: headers
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: body.to_vec(),
        received_at: OffsetDateTime::now_utc(),
    };
    // Nothing about an unverified request is parsed, stored or logged beyond the refusal.
    if let Err(e) = adapter.validate_webhook(&request) {
        tracing::warn!(provider_id = %id, error = %e, "webhook refused");
        return match e {
            ProviderError::Unsupported { .. } => (StatusCode::NOT_FOUND, "no webhooks here\n"),
            _ => (StatusCode::FORBIDDEN, "signature refused\n"),
        };
    }
    let events = match adapter.parse_webhook(&request) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "webhook body unreadable");
            return (StatusCode::BAD_REQUEST, "unreadable body\n");
        }
    };
    let _one_at_a_time = receiver.apply.lock().await;
    for event in events {
        match receiver.journal.apply_webhook(id, &event).await {
            Ok(Some(notice)) => {
                receiver
                    .provider_calls
                    .on_notice(&notice, adapter.as_ref())
                    .await;
                let _ = receiver.notices.send(notice);
            }
            Ok(None) => {}
            Err(e) => {
                // The provider retries what we do not acknowledge: nothing is lost.
                tracing::error!(provider_id = %id, error = %e, "cannot apply a webhook event");
                return (StatusCode::INTERNAL_SERVER_ERROR, "try again\n");
            }
        }
    }
    (StatusCode::OK, "")
}

//! The webhook receiver: an embedded HTTP server (axum), off by default, that takes the call
//! events a provider posts to `<public URL>/webhooks/<provider id>`. The signature is checked
//! with that provider's stored key before the body is even parsed; a verified event already
//! seen is acknowledged and ignored; a new one is applied to the journal (idempotently) and
//! announced as a `CallNotice`. `<…>/webhooks/<provider id>/voice` answers a provider
//! asking what to do with a call (Twilio's voice URL), signature checked the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use ringdesk_core::ports::{DialTarget, ProviderAdapter, VoiceAnswer, WebhookRequest};
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::{ProviderError, ProviderId};
use ringdesk_store::{SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{broadcast, oneshot, Mutex, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::calls::{CallNotice, Journal};
use crate::provider_calls::ProviderCalls;
use crate::voice::{self, Facts};

const KEY: &str = "webhooks";
/// Provider callbacks are small; anything larger is not one.
const MAX_BODY: usize = 256 * 1024;
/// Requests handled at once; more are told to come back (providers retry a 503). A flood of
/// forged requests must not queue up behind — or crowd out — the provider's real ones.
pub(crate) const MAX_IN_FLIGHT: usize = 32;

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
    /// Held only while the journal is written, never across a request to the provider.
    pub apply: Arc<Mutex<()>>,
    pub in_flight: Arc<Semaphore>,
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
        .route("/webhooks/{provider}/voice", any(answer_voice))
        .route("/webhooks/{provider}/voice/transfer", any(answer_transfer))
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

/// A request verified: its provider, the adapter that checked it, the request, and its place
/// among those in flight.
type Verified = (
    ProviderId,
    Arc<dyn ProviderAdapter>,
    WebhookRequest,
    OwnedSemaphorePermit,
);

/// The provider's adapter and the request as it arrived, its signature verified; or the
/// refusal to send back. Nothing about an unverified request is parsed, stored or logged
/// beyond the refusal; its check costs no keyring read (the adapter is shared) and at most
/// `MAX_IN_FLIGHT` requests are handled at once.
async fn verified(
    receiver: &Receiver,
    provider: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Verified, (StatusCode, &'static str)> {
    let Ok(permit) = receiver.in_flight.clone().try_acquire_owned() else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "busy, try again\n"));
    };
    let Ok(id) = Uuid::parse_str(provider).map(ProviderId) else {
        return Err((StatusCode::NOT_FOUND, "no such provider\n"));
    };
    let adapter = match receiver.providers.shared_adapter(id).await {
        Ok(adapter) => adapter,
        Err(ServiceError::NotFound) => return Err((StatusCode::NOT_FOUND, "no such provider\n")),
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "webhook for a provider we cannot use");
            return Err((StatusCode::SERVICE_UNAVAILABLE, "provider unavailable\n"));
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
    if let Err(e) = adapter.validate_webhook(&request) {
        tracing::warn!(provider_id = %id, error = %e, "webhook refused");
        return Err(match e {
            ProviderError::Unsupported { .. } => (StatusCode::NOT_FOUND, "no webhooks here\n"),
            _ => (StatusCode::FORBIDDEN, "signature refused\n"),
        });
    }
    Ok((id, adapter, request, permit))
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(provider): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let (id, adapter, request, _permit) =
        match verified(&receiver, &provider, method, uri, headers, body).await {
            Ok(verified) => verified,
            Err(refusal) => return refusal,
        };
    let events = match adapter.parse_webhook(&request) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "webhook body unreadable");
            return (StatusCode::BAD_REQUEST, "unreadable body\n");
        }
    };
    let mut notices = Vec::new();
    let mut failed = false;
    {
        let _one_at_a_time = receiver.apply.lock().await;
        for event in events {
            match receiver.journal.apply_webhook(id, &event).await {
                Ok(Some(notice)) => notices.push(notice),
                Ok(None) => {}
                Err(e) => {
                    // The provider retries what we do not acknowledge: nothing is lost.
                    tracing::error!(provider_id = %id, error = %e, "cannot apply a webhook event");
                    failed = true;
                    break;
                }
            }
        }
    }
    // What was applied is followed, outside the lock: connecting a call asks the provider.
    for notice in notices {
        receiver
            .provider_calls
            .on_notice(&notice, adapter.as_ref())
            .await;
        let _ = receiver.notices.send(notice);
    }
    if failed {
        return (StatusCode::INTERNAL_SERVER_ERROR, "try again\n");
    }
    (StatusCode::OK, "")
}

/// A provider asking what to do with a call: the softphone's outgoing calls and calls to the
/// numbers pointed at this desktop.
async fn answer_voice(
    State(receiver): State<Receiver>,
    Path(provider): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, adapter, request, _permit) =
        match verified(&receiver, &provider, method, uri, headers, body).await {
            Ok(verified) => verified,
            Err(refusal) => return refusal.into_response(),
        };
    let question = match adapter.parse_voice_request(&request) {
        Ok(question) => question,
        Err(ProviderError::Unsupported { .. }) => {
            return (StatusCode::NOT_FOUND, "no voice requests here\n").into_response()
        }
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "voice request unreadable");
            return (StatusCode::BAD_REQUEST, "unreadable body\n").into_response();
        }
    };
    let journal = &receiver.journal;
    let answer = match Facts::gather(
        &journal.agents,
        &journal.settings,
        &receiver.providers,
        id,
        &question,
    )
    .await
    {
        Ok(facts) => voice::decide(&question, &facts, journal.region),
        Err(e) => {
            // The caller is on the line: an apology beats the provider's error message.
            tracing::error!(provider_id = %id, error = %e, "cannot decide where a call goes");
            VoiceAnswer::Refuse {
                say: "Sorry, this call cannot be connected right now.".into(),
            }
        }
    };
    // A softphone rung here may pass the call on (blind REFER): the provider asks us where.
    let answer = match answer {
        VoiceAnswer::Dial {
            target: target @ DialTarget::Sip { .. },
            caller_id,
            transfer_url: None,
        } => VoiceAnswer::Dial {
            target,
            caller_id,
            transfer_url: Some(transfer_url(&request.url)),
        },
        other => other,
    };
    tracing::info!(provider_id = %id, call = %question.provider_call_id, answer = ?answer, "voice request answered");
    render(id, adapter.as_ref(), &answer)
}

/// The voice URL's sibling that answers transfers (the query a provider may add is dropped).
fn transfer_url(voice_url: &str) -> String {
    let base = voice_url.split('?').next().unwrap_or(voice_url);
    format!("{}/transfer", base.trim_end_matches('/'))
}

/// A softphone passed a call on (SIP REFER to the provider): the other party is dialled to
/// the target it named.
async fn answer_transfer(
    State(receiver): State<Receiver>,
    Path(provider): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, adapter, request, _permit) =
        match verified(&receiver, &provider, method, uri, headers, body).await {
            Ok(verified) => verified,
            Err(refusal) => return refusal.into_response(),
        };
    let question = match adapter.parse_transfer_request(&request) {
        Ok(question) => question,
        Err(ProviderError::Unsupported { .. }) => {
            return (StatusCode::NOT_FOUND, "no transfer requests here\n").into_response()
        }
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "transfer request unreadable");
            return (StatusCode::BAD_REQUEST, "unreadable body\n").into_response();
        }
    };
    let answer = voice::transfer(&question.target, receiver.journal.region);
    tracing::info!(provider_id = %id, call = %question.provider_call_id, answer = ?answer, "transfer request answered");
    render(id, adapter.as_ref(), &answer)
}

fn render(id: ProviderId, adapter: &dyn ProviderAdapter, answer: &VoiceAnswer) -> Response {
    match adapter.render_voice_answer(answer) {
        Ok((content_type, body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(e) => {
            tracing::error!(provider_id = %id, error = %e, "cannot write the voice answer");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot answer\n").into_response()
        }
    }
}

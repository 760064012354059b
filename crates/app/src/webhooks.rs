//! The desktop's webhook receiver (solo mode): an embedded HTTP server, off by default,
//! serving the shared receiver (`ringdesk-webhooks`: signatures first, then the request) with
//! this desktop as its host. A verified event already seen is acknowledged and ignored; a new
//! one is applied to the journal (idempotently) and announced as a `CallNotice`; a voice
//! request is answered by the routing decision over this desktop's facts.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use ringdesk_core::ports::{ProviderAdapter, VoiceAnswer, VoiceRequest, WebhookEvent};
use ringdesk_core::service::ProviderService;
use ringdesk_core::{routing, ProviderId, Region};
use ringdesk_store::{SettingsRepository, StoreError};
use ringdesk_webhooks::{Host, Unusable};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot, Mutex};

use crate::calls::{Applied, CallNotice, Journal};
use crate::provider_calls::ProviderCalls;
use crate::voice;

const KEY: &str = "webhooks";

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

/// This desktop as the receiver's host.
pub(crate) struct Receiver {
    pub providers: ProviderService,
    pub journal: Journal,
    pub notices: broadcast::Sender<CallNotice>,
    pub provider_calls: Arc<ProviderCalls>,
    /// One event applied at a time: a redelivery racing its original must see it as seen.
    /// Held only while the journal is written, never across a request to the provider.
    pub apply: Mutex<()>,
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

/// Listens on `bind`; `base_url` names the public URL for the address bound.
pub(crate) async fn start(
    bind: &str,
    receiver: Receiver,
    base_url: impl FnOnce(SocketAddr) -> String,
) -> Result<Running, WebhookError> {
    let listen_error = |source| WebhookError::Listen {
        bind: bind.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    let app = ringdesk_webhooks::router(Arc::new(receiver), base_url(address));
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

#[async_trait]
impl Host for Receiver {
    async fn adapter(&self, id: ProviderId) -> Result<Arc<dyn ProviderAdapter>, Unusable> {
        ringdesk_webhooks::adapter_of(&self.providers, id).await
    }

    async fn apply(
        &self,
        id: ProviderId,
        adapter: &Arc<dyn ProviderAdapter>,
        events: Vec<WebhookEvent>,
    ) -> Result<(), ()> {
        let mut notices = Vec::new();
        let mut failed = false;
        {
            let _one_at_a_time = self.apply.lock().await;
            for event in events {
                match self.journal.apply_webhook(id, &event).await {
                    Ok(Applied::Notice(notice)) => notices.push(*notice),
                    Ok(Applied::Recorded { call, url }) => {
                        // Copied off the webhook's path: the provider gets its answer now.
                        tokio::spawn(crate::recordings::keep_provider_recording(
                            self.journal.calls.clone(),
                            self.journal.recordings.clone(),
                            adapter.clone(),
                            call,
                            url,
                        ));
                    }
                    Ok(Applied::Nothing) => {}
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
            self.provider_calls
                .on_notice(&notice, adapter.as_ref())
                .await;
            let _ = self.notices.send(notice);
        }
        if failed {
            Err(())
        } else {
            Ok(())
        }
    }

    async fn voice(&self, id: ProviderId, request: &VoiceRequest) -> VoiceAnswer {
        // The agent's phone answered the call this desktop placed on it.
        if let Some(answer) = self.provider_calls.answer(id, request).await {
            return answer;
        }
        let journal = &self.journal;
        match voice::gather(
            &journal.agents,
            &journal.settings,
            &self.providers,
            id,
            request,
        )
        .await
        {
            Ok(facts) => routing::decide(request, &facts, journal.region),
            Err(e) => {
                // The caller is on the line: an apology beats the provider's error message.
                tracing::error!(provider_id = %id, error = %e, "cannot decide where a call goes");
                VoiceAnswer::Refuse {
                    say: "Sorry, this call cannot be connected right now.".into(),
                }
            }
        }
    }

    fn region(&self) -> Region {
        self.journal.region
    }
}

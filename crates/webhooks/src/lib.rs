//! The provider-facing HTTP receiver, shared by every host that answers providers (the
//! desktop's own receiver, the team server). `<base>/webhooks/<provider id>` takes call
//! events, `…/voice` answers a provider asking what to do with a call, `…/voice/transfer`
//! where a call a softphone passed on goes. The signature is checked with that provider's
//! key before a body is parsed; nothing about a refused request is parsed, stored or logged
//! beyond the refusal; at most `MAX_IN_FLIGHT` requests are handled at once (providers retry
//! a 503, and a flood of forged requests must not crowd out the real ones).

pub mod recordings;

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use ringdesk_core::ports::{
    DialTarget, ProviderAdapter, StepRequest, VoiceAnswer, VoiceRequest, WebhookEvent,
    WebhookRequest,
};
use ringdesk_core::routing;
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::{ProviderError, ProviderId, Region};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Provider callbacks are small; anything larger is not one.
const MAX_BODY: usize = 256 * 1024;
pub const MAX_IN_FLIGHT: usize = 32;

/// Why a provider's webhooks cannot be checked here.
#[derive(Debug)]
pub enum Unusable {
    /// No such provider: 404, the provider stops trying.
    NotFound,
    /// Known but not usable now (its keys unreadable): 503, the provider retries.
    Unavailable,
}

/// What a host does with verified requests.
#[async_trait]
pub trait Host: Send + Sync + 'static {
    /// The adapter that checks and speaks this provider's webhooks (shared, so a check costs
    /// no secret-store read).
    async fn adapter(&self, provider: ProviderId) -> Result<Arc<dyn ProviderAdapter>, Unusable>;

    /// A request's call events, applied once each (a redelivery is acknowledged and ignored).
    /// An error asks the provider to deliver again: nothing is lost.
    async fn apply(
        &self,
        provider: ProviderId,
        adapter: &Arc<dyn ProviderAdapter>,
        events: Vec<WebhookEvent>,
    ) -> Result<(), ()>;

    /// Where a call goes (the host gathers the facts, `routing::decide` decides). An error is
    /// answered with an apology: the caller is on the line.
    async fn voice(&self, provider: ProviderId, request: &VoiceRequest) -> VoiceAnswer;

    /// A provider's request to one of the step URLs the host wrote into an earlier answer
    /// (queues, voicemail): `query` is that URL's query, as the host wrote it. Hosts without
    /// steps end the call.
    async fn step(
        &self,
        _provider: ProviderId,
        _query: &[(String, String)],
        _request: &StepRequest,
    ) -> VoiceAnswer {
        VoiceAnswer::Hangup
    }

    /// How numbers typed without a country code are read.
    fn region(&self) -> Region;
}

/// A provider's shared adapter from the provider service, as the receiver needs it.
pub async fn adapter_of(
    providers: &ProviderService,
    id: ProviderId,
) -> Result<Arc<dyn ProviderAdapter>, Unusable> {
    match providers.shared_adapter(id).await {
        Ok(adapter) => Ok(adapter),
        Err(ServiceError::NotFound) => Err(Unusable::NotFound),
        Err(e) => {
            tracing::warn!(provider_id = %id, error = %e, "webhook for a provider we cannot use");
            Err(Unusable::Unavailable)
        }
    }
}

struct Receiver<H> {
    host: Arc<H>,
    /// The base URL the provider calls (and signs): the public URL, or the bound address.
    base_url: String,
    in_flight: Arc<Semaphore>,
}

impl<H> Clone for Receiver<H> {
    fn clone(&self) -> Self {
        Receiver {
            host: self.host.clone(),
            base_url: self.base_url.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The receiver's routes, to serve alone or merged into a larger server.
pub fn router<H: Host>(host: Arc<H>, base_url: String) -> Router {
    let receiver = Receiver {
        host,
        base_url: base_url.trim_end_matches('/').to_string(),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    };
    Router::new()
        .route("/webhooks/{provider}", any(receive::<H>))
        .route("/webhooks/{provider}/voice", any(answer_voice::<H>))
        .route(
            "/webhooks/{provider}/voice/transfer",
            any(answer_transfer::<H>),
        )
        .route("/webhooks/{provider}/step", any(answer_step::<H>))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}

type Refusal = (StatusCode, &'static str);

/// A request as it arrived, once its signature is verified.
struct Verified {
    id: ProviderId,
    adapter: Arc<dyn ProviderAdapter>,
    request: WebhookRequest,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A request as it arrived at `/webhooks/{provider}…`, nothing read yet.
struct Arrived {
    provider: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Arrived {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Path(provider) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        // Read within the body limit the router sets.
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Arrived {
            provider,
            method,
            uri,
            headers,
            body,
        })
    }
}

async fn verified<H: Host>(receiver: &Receiver<H>, arrived: Arrived) -> Result<Verified, Refusal> {
    let Ok(permit) = receiver.in_flight.clone().try_acquire_owned() else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "busy, try again\n"));
    };
    let Ok(id) = Uuid::parse_str(&arrived.provider).map(ProviderId) else {
        return Err((StatusCode::NOT_FOUND, "no such provider\n"));
    };
    let adapter = match receiver.host.adapter(id).await {
        Ok(adapter) => adapter,
        Err(Unusable::NotFound) => return Err((StatusCode::NOT_FOUND, "no such provider\n")),
        Err(Unusable::Unavailable) => {
            return Err((StatusCode::SERVICE_UNAVAILABLE, "provider unavailable\n"))
        }
    };
    let path = arrived
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let request = WebhookRequest {
        method: arrived.method.to_string(),
        url: format!("{}{path}", receiver.base_url),
        headers: arrived
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: arrived.body.to_vec(),
        received_at: OffsetDateTime::now_utc(),
    };
    if let Err(e) = adapter.validate_webhook(&request) {
        tracing::warn!(provider_id = %id, error = %e, "webhook refused");
        return Err(match e {
            ProviderError::Unsupported { .. } => (StatusCode::NOT_FOUND, "no webhooks here\n"),
            _ => (StatusCode::FORBIDDEN, "signature refused\n"),
        });
    }
    Ok(Verified {
        id,
        adapter,
        request,
        _permit: permit,
    })
}

/// Verified, then read by `parse` (one of the adapter's readers): the request and what it
/// says, or the refusal to send back (404 where this provider has no such request).
async fn read<H: Host, T>(
    receiver: &Receiver<H>,
    arrived: Arrived,
    what: &'static str,
    parse: impl FnOnce(&dyn ProviderAdapter, &WebhookRequest) -> Result<T, ProviderError>,
) -> Result<(Verified, T), Refusal> {
    let verified = verified(receiver, arrived).await?;
    match parse(verified.adapter.as_ref(), &verified.request) {
        Ok(read) => Ok((verified, read)),
        Err(ProviderError::Unsupported { .. }) => {
            Err((StatusCode::NOT_FOUND, "no such requests here\n"))
        }
        Err(e) => {
            tracing::warn!(provider_id = %verified.id, error = %e, what, "webhook body unreadable");
            Err((StatusCode::BAD_REQUEST, "unreadable body\n"))
        }
    }
}

async fn receive<H: Host>(State(receiver): State<Receiver<H>>, arrived: Arrived) -> Response {
    let (verified, events) =
        match read(&receiver, arrived, "events", |a, r| a.parse_webhook(r)).await {
            Ok(read) => read,
            Err(refusal) => return refusal.into_response(),
        };
    match receiver
        .host
        .apply(verified.id, &verified.adapter, events)
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(()) => (StatusCode::INTERNAL_SERVER_ERROR, "try again\n").into_response(),
    }
}

async fn answer_voice<H: Host>(State(receiver): State<Receiver<H>>, arrived: Arrived) -> Response {
    let (verified, question) = match read(&receiver, arrived, "voice request", |a, r| {
        a.parse_voice_request(r)
    })
    .await
    {
        Ok(read) => read,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = receiver.host.voice(verified.id, &question).await;
    let answer = with_transfer(answer, transfer_url(&verified.request.url));
    tracing::info!(provider_id = %verified.id, call = %question.provider_call_id, answer = ?answer, "voice request answered");
    render(verified.id, verified.adapter.as_ref(), &answer)
}

/// A softphone rung by `answer` may pass the call on (blind REFER): the provider asks
/// `transfer` where.
fn with_transfer(answer: VoiceAnswer, transfer: String) -> VoiceAnswer {
    match answer {
        VoiceAnswer::Dial {
            target: target @ DialTarget::Sip { .. },
            caller_id,
            transfer_url: None,
            record,
        } => VoiceAnswer::Dial {
            target,
            caller_id,
            transfer_url: Some(transfer),
            record,
        },
        VoiceAnswer::Offer {
            ring,
            timeout_secs,
            after,
            record,
            transfer_url: None,
        } if ring
            .iter()
            .any(|r| matches!(r.target, DialTarget::Sip { .. })) =>
        {
            VoiceAnswer::Offer {
                ring,
                timeout_secs,
                after,
                record,
                transfer_url: Some(transfer),
            }
        }
        other => other,
    }
}

/// The voice URL's sibling that answers transfers (the query a provider may add is dropped).
fn transfer_url(voice_url: &str) -> String {
    let base = voice_url.split('?').next().unwrap_or(voice_url);
    format!("{}/transfer", base.trim_end_matches('/'))
}

async fn answer_transfer<H: Host>(
    State(receiver): State<Receiver<H>>,
    arrived: Arrived,
) -> Response {
    let (verified, question) = match read(&receiver, arrived, "transfer request", |a, r| {
        a.parse_transfer_request(r)
    })
    .await
    {
        Ok(read) => read,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = routing::transfer(&question.target, receiver.host.region());
    tracing::info!(provider_id = %verified.id, call = %question.provider_call_id, answer = ?answer, "transfer request answered");
    render(verified.id, verified.adapter.as_ref(), &answer)
}

async fn answer_step<H: Host>(State(receiver): State<Receiver<H>>, arrived: Arrived) -> Response {
    let query: Vec<(String, String)> = arrived
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let (verified, question) = match read(&receiver, arrived, "step request", |a, r| {
        a.parse_step_request(r)
    })
    .await
    {
        Ok(read) => read,
        Err(refusal) => return refusal.into_response(),
    };
    let answer = receiver.host.step(verified.id, &query, &question).await;
    let transfer = format!(
        "{}/webhooks/{}/voice/transfer",
        receiver.base_url, verified.id
    );
    let answer = with_transfer(answer, transfer);
    tracing::info!(provider_id = %verified.id, call = %question.provider_call_id, answer = ?answer, "step answered");
    render(verified.id, verified.adapter.as_ref(), &answer)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_url_is_the_voice_urls_sibling_without_its_query() {
        assert_eq!(
            transfer_url("https://rd.example/webhooks/p/voice?x=1"),
            "https://rd.example/webhooks/p/voice/transfer"
        );
    }
}

//! The team's REST API (`/api/v1`, described in `docs/server-openapi.yaml`): desktops join
//! with an invite and then send their device token as a bearer token. Admins change the team;
//! agents read it and say how they are. No answer ever carries a provider's keys.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use ringdesk_core::service::ServiceError;
use ringdesk_core::team::{Device, DeviceId, Presence, Role, TeamEvent};
use ringdesk_core::{NewProvider, PhoneNumberId, ProviderId, RouteInput, User, UserId, UserInput};
use ringdesk_store::NumbersError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::team::TeamError;
use crate::Shared;

/// An error as a desktop sees it: a status and a sentence (and the form field, when one).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// A refused input (422).
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "sign in: this device's token is missing, unknown or revoked",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "field": self.field });
        (self.status, Json(body)).into_response()
    }
}

impl From<TeamError> for ApiError {
    fn from(e: TeamError) -> Self {
        let e = match e {
            TeamError::Service(e) => return e.into(),
            TeamError::Numbers(e) => return e.into(),
            other => other,
        };
        let status = match &e {
            TeamError::NoUser | TeamError::NoLogin => StatusCode::NOT_FOUND,
            TeamError::NoProvider => StatusCode::CONFLICT,
            TeamError::BadDeviceName => StatusCode::UNPROCESSABLE_ENTITY,
            TeamError::Provider(_) => StatusCode::BAD_GATEWAY,
            TeamError::Service(_) | TeamError::Numbers(_) => StatusCode::INTERNAL_SERVER_ERROR,
            TeamError::Store(_) | TeamError::Seal(_) => {
                tracing::error!(error = %e, "request failed");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not do that; see its log",
                );
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, message } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message,
                field: Some(field),
            },
            ServiceError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "there is no such provider")
            }
            other => {
                tracing::error!(error = %other, "provider service failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not do that; see its log",
                )
            }
        }
    }
}

impl From<NumbersError> for ApiError {
    fn from(e: NumbersError) -> Self {
        let e = match e {
            NumbersError::Service(e) => return e.into(),
            other => other,
        };
        let field = e.field().map(str::to_string);
        let status = match &e {
            NumbersError::Route(_) | NumbersError::User(_) => StatusCode::UNPROCESSABLE_ENTITY,
            NumbersError::NoNumber | NumbersError::NoUser => StatusCode::NOT_FOUND,
            NumbersError::Provider(_) => StatusCode::BAD_GATEWAY,
            NumbersError::Service(_) | NumbersError::Store(_) => {
                tracing::error!(error = %e, "request failed");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not do that; see its log",
                );
            }
        };
        ApiError {
            status,
            message: e.to_string(),
            field,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

/// The signed-in device a request comes from (any role).
pub struct Signed(pub Device);

/// …and one signed in as an admin.
pub struct Admin(pub Device);

impl FromRequestParts<Arc<Shared>> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Shared>) -> Result<Self> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        match state.team.authenticate(token).await? {
            Some(device) => Ok(Signed(device)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl FromRequestParts<Arc<Shared>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Shared>) -> Result<Self> {
        let Signed(device) = Signed::from_request_parts(parts, state).await?;
        if device.role != Role::Admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "only an admin may do that",
            ));
        }
        Ok(Admin(device))
    }
}

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/api/v1/join", post(join))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/presence", put(set_presence))
        .route("/api/v1/me/softphone", get(my_softphone))
        .route("/api/v1/events", get(events))
        .route("/api/v1/agents", get(agents).post(add_agent))
        .route("/api/v1/agents/{id}", put(save_agent).delete(delete_agent))
        .route("/api/v1/agents/{id}/invites", post(invite))
        .route(
            "/api/v1/agents/{id}/softphone",
            post(provision_softphone).put(give_softphone),
        )
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{id}", delete(revoke))
        .route("/api/v1/providers", get(providers).post(add_provider))
        .route("/api/v1/providers/{id}/activate", post(activate_provider))
        .route("/api/v1/providers/{id}/numbers/sync", post(sync_numbers))
        .route("/api/v1/numbers", get(numbers))
        .route("/api/v1/numbers/{id}/route", put(route_number))
        .route("/api/v1/numbers/{id}/recording", put(number_recording))
        .route(
            "/api/v1/calls/{id}/recording",
            get(recording).delete(delete_recording),
        )
        .route("/api/v1/calls/{id}/recording/link", post(recording_link))
        .route("/recordings/{id}", get(shared_recording))
        .merge(crate::queue_api::router())
}

fn no_recording() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "the server keeps no recording of this call (yet)",
    )
}

/// `id`'s journal row when `device` may have its recording: an admin, or the call's agent
/// (someone else's call is, to an agent, a call that is not there).
async fn recorded_call(shared: &Shared, device: &Device, id: Uuid) -> Result<ringdesk_core::Call> {
    let call = shared
        .store
        .calls()
        .get(ringdesk_core::CallId(id))
        .await
        .map_err(|e| ApiError::from(TeamError::Store(e)))?
        .ok_or_else(no_recording)?;
    if device.role != Role::Admin && call.user_id != Some(device.user_id) {
        return Err(no_recording());
    }
    Ok(call)
}

/// The content type of audio the server keeps (copied from a provider: MP3 or WAV).
pub(crate) fn audio_type(extension: &str) -> &'static str {
    match extension {
        "wav" => "audio/wav",
        _ => "audio/mpeg",
    }
}

/// The recording's bytes with their kind.
async fn recording_file(shared: &Shared, call: ringdesk_core::CallId) -> Result<Response> {
    let (path, extension) = shared.recordings.file_of(call).ok_or_else(no_recording)?;
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|_| no_recording())?
        .map_err(|_| no_recording())?;
    let kind = audio_type(extension);
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

/// A call's recording as the server keeps it: for an admin, or the agent whose call it was.
async fn recording(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let call = recorded_call(&shared, &device, id).await?;
    recording_file(&shared, call.id).await
}

/// Deletes a call's recording (admins): the file, its link in the journal, its share links.
async fn delete_recording(
    State(shared): State<Arc<Shared>>,
    Admin(_): Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let deleted = shared
        .recordings
        .delete(ringdesk_core::CallId(id))
        .await
        .map_err(|e| ApiError::from(TeamError::Store(e)))?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_recording())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingLink {
    url: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: time::OffsetDateTime,
}

/// A share link to a call's recording (for the CRM's activity), for whoever may play it.
async fn recording_link(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    Path(id): Path<Uuid>,
) -> Result<Json<RecordingLink>> {
    let call = recorded_call(&shared, &device, id).await?;
    shared
        .recordings
        .file_of(call.id)
        .ok_or_else(no_recording)?;
    let expires_at = time::OffsetDateTime::now_utc() + crate::recordings::SHARE_FOR;
    Ok(Json(RecordingLink {
        url: shared.recordings.share_link(call.id, expires_at),
        expires_at,
    }))
}

#[derive(Deserialize)]
struct ShareQuery {
    expires: i64,
    sig: String,
}

/// A recording through a share link: no token, the link's signature and time instead. A
/// link forged, changed or out of date is a recording that is not there.
async fn shared_recording(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<Uuid>,
    Query(link): Query<ShareQuery>,
) -> Result<Response> {
    let call = ringdesk_core::CallId(id);
    let now = time::OffsetDateTime::now_utc();
    if !shared
        .recordings
        .link_holds(call, link.expires, &link.sig, now)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such recording, or the link has expired",
        ));
    }
    recording_file(&shared, call).await
}

/// Ready when the database answers and the server is not stopping.
async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    if shared.stopping.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response();
    }
    match shared.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

pub(crate) fn id<T>(raw: &str, make: fn(Uuid) -> T, what: &str) -> Result<T> {
    Uuid::parse_str(raw)
        .map(make)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("there is no such {what}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinRequest {
    code: String,
    device_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Joined {
    token: String,
    device: Device,
    user: Option<User>,
}

async fn join(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<JoinRequest>,
) -> Result<Json<Joined>> {
    match shared
        .team
        .join(&request.code, &request.device_name)
        .await?
    {
        Some((token, device)) => {
            let user = shared
                .team
                .agents
                .users
                .get(device.user_id)
                .await
                .map_err(NumbersError::from)?;
            Ok(Json(Joined {
                token,
                device,
                user,
            }))
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this invite is unknown, used or expired: ask an admin for a new one",
        )),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    device: Device,
    user: Option<User>,
}

async fn me(State(shared): State<Arc<Shared>>, Signed(device): Signed) -> Result<Json<Me>> {
    let user = shared
        .team
        .agents
        .users
        .get(device.user_id)
        .await
        .map_err(NumbersError::from)?;
    Ok(Json(Me { device, user }))
}

#[derive(Deserialize)]
struct PresenceRequest {
    presence: Presence,
}

async fn set_presence(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    Json(request): Json<PresenceRequest>,
) -> Result<StatusCode> {
    shared
        .team
        .set_presence(device.id, request.presence)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn my_softphone(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
) -> Result<Response> {
    let login = shared.team.softphone_of(device.user_id).await?;
    // A password: never kept by a cache on the way.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(login)).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Agent {
    #[serde(flatten)]
    user: User,
    /// What their desktops say (null: none signed in and heard from lately).
    presence: Option<Presence>,
}

async fn agents(State(shared): State<Arc<Shared>>, _: Signed) -> Result<Json<Vec<Agent>>> {
    let presences = shared.team.presences().await?;
    let list = shared.team.agents.users().await?.into_iter();
    Ok(Json(
        list.map(|user| Agent {
            presence: presences.get(&user.id).copied(),
            user,
        })
        .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAgent {
    #[serde(flatten)]
    input: UserInput,
    #[serde(default = "agent_role")]
    role: Role,
}

fn agent_role() -> Role {
    Role::Agent
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentAdded {
    user: User,
    invite: crate::team::Invite,
}

/// A new agent and the invite their desktop joins with.
async fn add_agent(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Json(mut new): Json<NewAgent>,
) -> Result<(StatusCode, Json<AgentAdded>)> {
    // On the server nobody is "me": that is a desktop's idea.
    new.input.is_me = false;
    let user = shared.team.agents.save_user(None, new.input).await?;
    shared.team.live.tell(TeamEvent::Agents).await;
    shared.team.provision_missing(Some(user.id)).await;
    let invite = shared.team.invite(user.id, new.role).await?;
    Ok((StatusCode::CREATED, Json(AgentAdded { user, invite })))
}

async fn save_agent(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
    Json(mut input): Json<UserInput>,
) -> Result<Json<User>> {
    let user = id(&raw, UserId, "agent")?;
    input.is_me = false;
    let saved = shared.team.agents.save_user(Some(user), input).await?;
    shared.team.live.tell(TeamEvent::Agents).await;
    Ok(Json(saved))
}

/// Removes an agent: their desktops are signed out first (their links told so), then the
/// agent and what hangs on them (devices, softphone logins) go.
async fn delete_agent(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let user = id(&raw, UserId, "agent")?;
    shared.team.remove_agent(user).await?;
    shared.team.live.tell(TeamEvent::Agents).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct InviteRequest {
    #[serde(default = "agent_role")]
    role: Role,
}

async fn invite(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
    Json(request): Json<InviteRequest>,
) -> Result<(StatusCode, Json<crate::team::Invite>)> {
    let user = id(&raw, UserId, "agent")?;
    Ok((
        StatusCode::CREATED,
        Json(shared.team.invite(user, request.role).await?),
    ))
}

async fn provision_softphone(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<ringdesk_core::team::AgentLogin>> {
    let user = id(&raw, UserId, "agent")?;
    Ok(Json(shared.team.provision_softphone(user).await?))
}

/// A SIP login on the team's own PBX, for a provider that makes none (Vonage reaches agents
/// at a SIP address it can call).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GivenLogin {
    sip_user: String,
    sip_domain: String,
    registrar: String,
    password: secrecy::SecretString,
}

async fn give_softphone(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
    Json(given): Json<GivenLogin>,
) -> Result<Json<ringdesk_core::team::AgentLogin>> {
    let user = id(&raw, UserId, "agent")?;
    let text = |v: &str| v.trim().to_string();
    let (sip_user, sip_domain, registrar) = (
        text(&given.sip_user),
        text(&given.sip_domain).to_ascii_lowercase(),
        text(&given.registrar),
    );
    let plain = |v: &str| {
        !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || "@:;<>\"".contains(c))
    };
    if !plain(&sip_user) || !plain(&sip_domain) || registrar.is_empty() {
        return Err(ApiError::invalid(
            "a SIP login needs a user and a domain (no spaces, @, : or ;) and a registrar",
        ));
    }
    Ok(Json(
        shared
            .team
            .give_login(user, sip_user, sip_domain, registrar, &given.password)
            .await?,
    ))
}

async fn devices(State(shared): State<Arc<Shared>>, _: Admin) -> Result<Json<Vec<Device>>> {
    Ok(Json(
        shared.team.repo.devices().await.map_err(TeamError::from)?,
    ))
}

async fn revoke(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let device = id(&raw, DeviceId, "device")?;
    if shared.team.revoke(device).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "there is no such device (or it was revoked already)",
        ))
    }
}

async fn providers(
    State(shared): State<Arc<Shared>>,
    _: Signed,
) -> Result<Json<Vec<ringdesk_core::Provider>>> {
    Ok(Json(shared.team.providers.list().await?))
}

async fn add_provider(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Json(new): Json<NewProvider>,
) -> Result<(StatusCode, Json<ringdesk_core::Provider>)> {
    let provider = shared.team.providers.create(new).await?;
    shared.team.live.tell(TeamEvent::Providers).await;
    Ok((StatusCode::CREATED, Json(provider)))
}

async fn activate_provider(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<ringdesk_core::Provider>> {
    let provider = id(&raw, ProviderId, "provider")?;
    let provider = shared.team.providers.activate(provider).await?;
    shared.team.live.tell(TeamEvent::Providers).await;
    shared.team.provision_missing(None).await;
    Ok(Json(provider))
}

async fn sync_numbers(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<ringdesk_core::NumberSyncReport>> {
    let provider = id(&raw, ProviderId, "provider")?;
    let report = shared
        .team
        .agents
        .sync(&shared.team.providers, provider)
        .await?;
    shared.team.live.tell(TeamEvent::Numbers).await;
    Ok(Json(report))
}

async fn numbers(
    State(shared): State<Arc<Shared>>,
    _: Signed,
) -> Result<Json<Vec<ringdesk_core::PhoneNumber>>> {
    Ok(Json(shared.team.agents.numbers().await?))
}

async fn route_number(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
    Json(route): Json<Option<RouteInput>>,
) -> Result<Json<ringdesk_core::PhoneNumber>> {
    let number = id(&raw, PhoneNumberId, "number")?;
    let number = shared.team.agents.set_route(number, route).await?;
    shared.team.live.tell(TeamEvent::Numbers).await;
    Ok(Json(number))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumberRecording {
    /// true: always, false: never, null: as the provider's "Record calls" says.
    record_calls: Option<bool>,
}

/// Whether the number's calls are recorded (admins).
async fn number_recording(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
    Json(body): Json<NumberRecording>,
) -> Result<Json<ringdesk_core::PhoneNumber>> {
    let number = id(&raw, PhoneNumberId, "number")?;
    let number = shared
        .team
        .agents
        .set_recording(number, body.record_calls)
        .await?;
    shared.team.live.tell(TeamEvent::Numbers).await;
    Ok(Json(number))
}

#[derive(Deserialize)]
struct EventsQuery {
    since: Option<i64>,
}

/// The live link (Server-Sent Events): the cursor is the `Last-Event-ID` a reconnecting
/// client sends, else `?since=`, else "from now on".
async fn events(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(query.since);
    let team = shared.team.clone();
    let still_signed_in = move |device: Device| {
        let team = team.clone();
        let check: futures_util::future::BoxFuture<'static, bool> = Box::pin(async move {
            match team.repo.device(device.id).await {
                Ok(Some(d)) => !d.revoked,
                // Its agent was removed.
                Ok(None) => false,
                // A database that does not answer is not a reason to drop the desktop.
                Err(_) => true,
            }
        });
        check
    };
    tracing::info!(device_id = %device.id, ?since, "live link opened");
    shared
        .team
        .live
        .clone()
        .link(device, since, still_signed_in)
        .into_response()
}

//! The REST API's queues and voicemail (`docs/server-openapi.yaml`): admins make and change
//! queues; every agent reads them with their callers now; an agent reads, plays and marks the
//! messages in their box (theirs and their queues'). The hold music is public: providers fetch
//! it with no login.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use ringdesk_core::queue::{
    Overflow, Queue, QueueError, QueueId, QueueInput, QueueNow, Voicemail, VoicemailId,
    VoicemailStatus,
};
use ringdesk_core::team::TeamEvent;
use ringdesk_store::StoreError;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::api::{audio_type, id, Admin, ApiError, Result, Signed};
use crate::queues::{HOLD_MUSIC, HOLD_MUSIC_PATH};
use crate::sounds::{QueueSound, SoundError, SoundOwner, MAX_BYTES};
use crate::team::TeamError;
use crate::Shared;

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(HOLD_MUSIC_PATH, get(hold_music))
        .route("/api/v1/queues", get(queues).post(add_queue))
        .route("/api/v1/queues/{id}", put(save_queue).delete(delete_queue))
        .route(
            "/api/v1/queues/{id}/audio/{sound}",
            put(upload_sound)
                .delete(remove_sound)
                .layer(DefaultBodyLimit::max(MAX_BYTES + 1)),
        )
        .route(
            "/api/v1/me/greeting",
            get(my_greeting)
                .put(upload_my_greeting)
                .delete(remove_my_greeting)
                .layer(DefaultBodyLimit::max(MAX_BYTES + 1)),
        )
        .route("/audio/{owner}/{id}/{file}", get(sound_file))
        .route("/api/v1/voicemails", get(voicemails))
        .route("/api/v1/voicemails/{id}/audio", get(voicemail_audio))
        .route("/api/v1/voicemails/{id}/status", put(voicemail_status))
}

fn store(e: StoreError) -> ApiError {
    TeamError::Store(e).into()
}

fn invalid(e: QueueError) -> ApiError {
    ApiError::invalid(e.to_string())
}

async fn hold_music() -> Response {
    (
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        HOLD_MUSIC,
    )
        .into_response()
}

async fn queues(State(shared): State<Arc<Shared>>, _: Signed) -> Result<Json<Vec<QueueNow>>> {
    let repo = shared.store.queues();
    let loads = repo.loads().await.map_err(store)?;
    let now = OffsetDateTime::now_utc();
    let queues = repo.list().await.map_err(store)?;
    Ok(Json(
        queues
            .into_iter()
            .map(|queue| {
                let load = loads.iter().find(|l| l.queue_id == queue.id);
                let uploaded = |sound| {
                    let owner = SoundOwner::Queue(queue.id);
                    shared.sounds.file(owner, sound).is_some()
                };
                QueueNow {
                    hold_music_uploaded: uploaded(QueueSound::HoldMusic),
                    greeting_uploaded: uploaded(QueueSound::Greeting),
                    waiting: load.map_or(0, |l| l.waiting),
                    longest_wait_secs: load
                        .and_then(|l| l.oldest)
                        .map(|t| (now - t).whole_seconds().max(0)),
                    queue,
                }
            })
            .collect(),
    ))
}

/// Checks an admin's queue against the team: its members are agents, its overflow names an
/// agent or another queue that exists, its name is its own.
async fn checked(shared: &Shared, id: QueueId, input: QueueInput) -> Result<Queue> {
    let queue = input.validate(id, shared.team.region).map_err(invalid)?;
    let repo = shared.store.queues();
    if repo.name_taken(&queue.name, id).await.map_err(store)? {
        return Err(ApiError::invalid("another queue has that name"));
    }
    for member in &queue.members {
        if shared
            .team
            .agents
            .users
            .get(*member)
            .await
            .map_err(store)?
            .is_none()
        {
            return Err(ApiError::invalid(
                "a member is not one of the team's agents",
            ));
        }
    }
    match &queue.overflow {
        Overflow::User { user_id } => {
            if shared
                .team
                .agents
                .users
                .get(*user_id)
                .await
                .map_err(store)?
                .is_none()
            {
                return Err(ApiError::invalid(
                    "the overflow agent is not one of the team's",
                ));
            }
        }
        Overflow::Queue { queue_id } => {
            if repo.get(*queue_id).await.map_err(store)?.is_none() {
                return Err(ApiError::invalid("the overflow queue does not exist"));
            }
        }
        Overflow::Voicemail | Overflow::Number { .. } => {}
    }
    Ok(queue)
}

async fn add_queue(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Json(input): Json<QueueInput>,
) -> Result<(StatusCode, Json<Queue>)> {
    let queue = checked(&shared, QueueId::new(), input).await?;
    shared.store.queues().save(&queue).await.map_err(store)?;
    tracing::info!(queue = %queue.id, "queue made");
    shared.team.live.tell(TeamEvent::Queues).await;
    Ok((StatusCode::CREATED, Json(queue)))
}

async fn save_queue(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
    Json(input): Json<QueueInput>,
) -> Result<Json<Queue>> {
    let queue_id = id(&raw, QueueId, "queue")?;
    let repo = shared.store.queues();
    if repo.get(queue_id).await.map_err(store)?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "there is no such queue",
        ));
    }
    let queue = checked(&shared, queue_id, input).await?;
    repo.save(&queue).await.map_err(store)?;
    shared.team.live.tell(TeamEvent::Queues).await;
    Ok(Json(queue))
}

/// Deletes a queue (its waiting callers hear the apology at their next step; numbers routed
/// to it apologise until routed elsewhere).
async fn delete_queue(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let queue_id = id(&raw, QueueId, "queue")?;
    if !shared
        .store
        .queues()
        .delete(queue_id)
        .await
        .map_err(store)?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "there is no such queue",
        ));
    }
    shared.team.live.tell(TeamEvent::Queues).await;
    Ok(StatusCode::NO_CONTENT)
}

fn sound_of(raw: &str) -> Result<QueueSound> {
    QueueSound::from_code(raw).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "a queue has hold-music and a greeting, nothing else",
        )
    })
}

async fn existing_queue(shared: &Shared, raw: &str) -> Result<QueueId> {
    let queue_id = id(raw, QueueId, "queue")?;
    match shared.store.queues().get(queue_id).await.map_err(store)? {
        Some(_) => Ok(queue_id),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "there is no such queue",
        )),
    }
}

/// An admin's recording for the queue's hold music or voicemail greeting (WAV or MP3, the
/// file itself as the body): providers play it from then on.
async fn upload_sound(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path((raw, sound)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode> {
    let sound = sound_of(&sound)?;
    let queue_id = existing_queue(&shared, &raw).await?;
    keep_sound(&shared, SoundOwner::Queue(queue_id), sound, &body).await
}

/// Back to the server's hold music, or to the spoken greeting.
async fn remove_sound(
    State(shared): State<Arc<Shared>>,
    _: Admin,
    Path((raw, sound)): Path<(String, String)>,
) -> Result<StatusCode> {
    let sound = sound_of(&sound)?;
    let queue_id = existing_queue(&shared, &raw).await?;
    drop_sound(&shared, SoundOwner::Queue(queue_id), sound).await
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Greeting {
    uploaded: bool,
}

/// Whether the agent greets callers with their own recording.
async fn my_greeting(State(shared): State<Arc<Shared>>, Signed(device): Signed) -> Json<Greeting> {
    let owner = SoundOwner::Agent(device.user_id);
    Json(Greeting {
        uploaded: shared.sounds.file(owner, QueueSound::Greeting).is_some(),
    })
}

/// The agent's own voicemail greeting (WAV or MP3), played instead of the spoken one.
async fn upload_my_greeting(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    body: Bytes,
) -> Result<StatusCode> {
    let owner = SoundOwner::Agent(device.user_id);
    keep_sound(&shared, owner, QueueSound::Greeting, &body).await
}

async fn remove_my_greeting(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
) -> Result<StatusCode> {
    let owner = SoundOwner::Agent(device.user_id);
    drop_sound(&shared, owner, QueueSound::Greeting).await
}

/// A queue's recording changed: desktops read the queues again (an agent's own greeting is
/// nobody else's news).
async fn queue_sound_changed(shared: &Shared, owner: SoundOwner) {
    if matches!(owner, SoundOwner::Queue(_)) {
        shared.team.live.tell(TeamEvent::Queues).await;
    }
}

async fn keep_sound(
    shared: &Shared,
    owner: SoundOwner,
    sound: QueueSound,
    body: &[u8],
) -> Result<StatusCode> {
    match shared.sounds.put(owner, sound, body) {
        Ok(ext) => {
            tracing::info!(
                ?owner,
                sound = sound.code(),
                ext,
                bytes = body.len(),
                "recording kept"
            );
            queue_sound_changed(shared, owner).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e @ SoundError::TooLarge) => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
        }
        Err(e @ SoundError::NotAudio) => Err(ApiError::invalid(e.to_string())),
        Err(e @ SoundError::Io(_)) => {
            tracing::error!(?owner, error = %e, "cannot keep a recording");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
    }
}

async fn drop_sound(shared: &Shared, owner: SoundOwner, sound: QueueSound) -> Result<StatusCode> {
    match shared.sounds.remove(owner, sound) {
        Ok(true) => {
            queue_sound_changed(shared, owner).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "there is no recording of its own for that",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot remove the recording: {e}"),
        )),
    }
}

/// A queue's or an agent's own recording, for the provider to play (no login: the owner's id
/// is the name).
async fn sound_file(
    State(shared): State<Arc<Shared>>,
    Path((kind, raw, file)): Path<(String, String, String)>,
) -> Result<Response> {
    let gone = || ApiError::new(StatusCode::NOT_FOUND, "no such recording");
    let owner = uuid::Uuid::parse_str(&raw)
        .ok()
        .and_then(|id| SoundOwner::from_segment(&kind, id))
        .ok_or_else(gone)?;
    let (sound, ext) = file.rsplit_once('.').ok_or_else(gone)?;
    let sound = QueueSound::from_code(sound).ok_or_else(gone)?;
    let (path, kept) = shared
        .sounds
        .file(owner, sound)
        .filter(|(_, kept)| *kept == ext)
        .ok_or_else(gone)?;
    let bytes = tokio::fs::read(&path).await.map_err(|_| gone())?;
    Ok((
        [
            (header::CONTENT_TYPE, audio_type(kept)),
            // Replaced in place by a new upload: never kept long by a cache.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct VoicemailQuery {
    status: Option<VoicemailStatus>,
    q: Option<String>,
}

/// The messages in the agent's box and their queues', newest first.
async fn voicemails(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    Query(query): Query<VoicemailQuery>,
) -> Result<Json<Vec<Voicemail>>> {
    let listed = shared
        .store
        .queues()
        .voicemails(device.user_id, query.status, query.q.as_deref())
        .await
        .map_err(store)?;
    Ok(Json(listed))
}

fn no_voicemail() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "there is no such message")
}

/// A message's audio, for an agent whose box it is in.
async fn voicemail_audio(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    Path(raw): Path<String>,
) -> Result<Response> {
    let voicemail = id(&raw, VoicemailId, "message")?;
    let audience = shared
        .store
        .queues()
        .voicemail_audience(voicemail)
        .await
        .map_err(store)?;
    if !audience.contains(&device.user_id) {
        return Err(no_voicemail());
    }
    let path = shared
        .voicemails
        .file_of(voicemail)
        .await
        .map_err(store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "the message's audio is not on the server (yet)",
            )
        })?;
    let kind = audio_type(
        path.extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default(),
    );
    let bytes = tokio::fs::read(&path).await.map_err(|_| no_voicemail())?;
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

#[derive(Deserialize)]
struct StatusBody {
    status: VoicemailStatus,
}

async fn voicemail_status(
    State(shared): State<Arc<Shared>>,
    Signed(device): Signed,
    Path(raw): Path<String>,
    Json(body): Json<StatusBody>,
) -> Result<StatusCode> {
    let voicemail = id(&raw, VoicemailId, "message")?;
    if !shared
        .voicemails
        .set_status(voicemail, device.user_id, body.status)
        .await
        .map_err(store)?
    {
        return Err(no_voicemail());
    }
    Ok(StatusCode::NO_CONTENT)
}

//! The team server's queues, their waiting callers and the team's voicemail (team-migrations
//! 1003). Every change a queue step decides is one conditional update: it says whether it
//! won, so two requests racing (two agents answering, a provider's redelivery) cannot both.

use ringdesk_core::queue::{
    Overflow, Queue, QueueCall, QueueCallId, QueueCallState, QueueId, Strategy, Voicemail,
    VoicemailBox, VoicemailId, VoicemailStatus,
};
use ringdesk_core::{ProviderId, UserId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{from_millis, millis, now_millis, StoreError};

#[derive(Clone, Debug)]
pub struct QueueRepository {
    pool: SqlitePool,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(corrupt)
}

fn users(json: &str) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<String> = serde_json::from_str(json).map_err(corrupt)?;
    ids.iter().map(|id| uuid(id).map(UserId)).collect()
}

fn users_json(ids: &[UserId]) -> String {
    serde_json::Value::from(ids.iter().map(|id| id.to_string()).collect::<Vec<_>>()).to_string()
}

const QUEUE: &str = "SELECT q.id, q.name, q.strategy, q.ring_timeout_secs, q.max_wait_secs, \
    q.max_size, q.overflow, q.greeting, \
    (SELECT json_group_array(user_id) FROM \
        (SELECT user_id FROM queue_members m WHERE m.queue_id = q.id ORDER BY position)) AS members \
    FROM queues q";

fn queue(row: &SqliteRow) -> Result<Queue, StoreError> {
    let strategy: String = row.try_get("strategy")?;
    let overflow: String = row.try_get("overflow")?;
    let id: String = row.try_get("id")?;
    Ok(Queue {
        id: QueueId(uuid(&id)?),
        name: row.try_get("name")?,
        strategy: Strategy::from_code(&strategy).ok_or_else(|| corrupt(strategy))?,
        members: users(&row.try_get::<String, _>("members")?)?,
        ring_timeout_secs: row.try_get("ring_timeout_secs")?,
        max_wait_secs: row.try_get("max_wait_secs")?,
        max_size: row.try_get("max_size")?,
        overflow: serde_json::from_str::<Overflow>(&overflow).map_err(corrupt)?,
        greeting: row.try_get("greeting")?,
    })
}

const QUEUE_CALL: &str = "SELECT id, queue_id, provider_id, provider_call_id, caller, state, \
    enqueued_at, offered_to, tried, answered_by, recorded FROM queue_calls";

fn queue_call(row: &SqliteRow) -> Result<QueueCall, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(QueueCall {
        id: QueueCallId(uuid(&row.try_get::<String, _>("id")?)?),
        queue_id: QueueId(uuid(&row.try_get::<String, _>("queue_id")?)?),
        provider_call_id: row.try_get("provider_call_id")?,
        caller: row.try_get("caller")?,
        state: QueueCallState::from_code(&state).ok_or_else(|| corrupt(state))?,
        enqueued_at: from_millis(row.try_get("enqueued_at")?)?,
        offered_to: users(&row.try_get::<String, _>("offered_to")?)?,
        tried: users(&row.try_get::<String, _>("tried")?)?,
        answered_by: row
            .try_get::<Option<String>, _>("answered_by")?
            .map(|u| uuid(&u).map(UserId))
            .transpose()?,
        recorded: row.try_get("recorded")?,
    })
}

/// A queue's callers now, as agents see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLoad {
    pub queue_id: QueueId,
    /// Holding or ringing someone.
    pub waiting: u32,
    pub oldest: Option<OffsetDateTime>,
}

impl QueueRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    pub async fn list(&self) -> Result<Vec<Queue>, StoreError> {
        let rows = sqlx::query(&format!(
            "{QUEUE} WHERE q.deleted_at IS NULL ORDER BY q.name COLLATE NOCASE"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(queue).collect()
    }

    pub async fn get(&self, id: QueueId) -> Result<Option<Queue>, StoreError> {
        let row = sqlx::query(&format!("{QUEUE} WHERE q.id = ? AND q.deleted_at IS NULL"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(queue).transpose()
    }

    /// A number's route names its queue by id (or, as typed before queues existed, by name).
    pub async fn find(&self, id_or_name: &str) -> Result<Option<Queue>, StoreError> {
        let row = sqlx::query(&format!(
            "{QUEUE} WHERE q.deleted_at IS NULL AND (q.id = ? OR q.name = ? COLLATE NOCASE) \
             ORDER BY q.id = ? DESC LIMIT 1"
        ))
        .bind(id_or_name)
        .bind(id_or_name.trim())
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(queue).transpose()
    }

    /// Inserts or replaces the queue and its members (in their order).
    pub async fn save(&self, q: &Queue) -> Result<(), StoreError> {
        let now = now_millis();
        let overflow = serde_json::to_string(&q.overflow).map_err(corrupt)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO queues (id, name, strategy, ring_timeout_secs, max_wait_secs, max_size, \
             overflow, greeting, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, strategy = excluded.strategy, \
             ring_timeout_secs = excluded.ring_timeout_secs, max_wait_secs = excluded.max_wait_secs, \
             max_size = excluded.max_size, overflow = excluded.overflow, \
             greeting = excluded.greeting, updated_at = excluded.updated_at",
        )
        .bind(q.id.to_string())
        .bind(&q.name)
        .bind(q.strategy.code())
        .bind(q.ring_timeout_secs)
        .bind(q.max_wait_secs)
        .bind(q.max_size)
        .bind(overflow)
        .bind(&q.greeting)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM queue_members WHERE queue_id = ?")
            .bind(q.id.to_string())
            .execute(&mut *tx)
            .await?;
        for (position, member) in q.members.iter().enumerate() {
            sqlx::query("INSERT INTO queue_members (queue_id, user_id, position) VALUES (?, ?, ?)")
                .bind(q.id.to_string())
                .bind(member.to_string())
                .bind(position as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether another queue than `id` is called `name`.
    pub async fn name_taken(&self, name: &str, id: QueueId) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM queues WHERE name = ? COLLATE NOCASE AND id <> ? AND deleted_at IS NULL",
        )
        .bind(name)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Deletes a queue: it takes no more calls and is listed no more; the messages callers
    /// left in it stay in its members' boxes.
    pub async fn delete(&self, id: QueueId) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE queues SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")
                .bind(now_millis())
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn cursor(&self, id: QueueId) -> Result<Option<UserId>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT cursor_user_id FROM queues WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.and_then(|(c,)| c)
            .map(|c| uuid(&c).map(UserId))
            .transpose()
    }

    /// A caller arrives (or a provider asks again about one already here: the same row).
    /// `recorded`: the number they called records its calls, so is their talk with an agent.
    pub async fn enqueue(
        &self,
        queue: QueueId,
        provider: ProviderId,
        provider_call_id: &str,
        (caller, recorded): (&str, bool),
        now: OffsetDateTime,
    ) -> Result<QueueCall, StoreError> {
        sqlx::query(
            "INSERT INTO queue_calls (id, queue_id, provider_id, provider_call_id, caller, state, \
             enqueued_at, recorded) VALUES (?, ?, ?, ?, ?, 'waiting', ?, ?) \
             ON CONFLICT (provider_id, provider_call_id) DO NOTHING",
        )
        .bind(QueueCallId::new().to_string())
        .bind(queue.to_string())
        .bind(provider.to_string())
        .bind(provider_call_id)
        .bind(caller)
        .bind(millis(now))
        .bind(recorded)
        .execute(&self.pool)
        .await?;
        self.call_of(provider, provider_call_id)
            .await?
            .ok_or_else(|| corrupt("a queue call vanished as it was made"))
    }

    pub async fn call(&self, id: QueueCallId) -> Result<Option<QueueCall>, StoreError> {
        let row = sqlx::query(&format!("{QUEUE_CALL} WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(queue_call).transpose()
    }

    pub async fn call_of(
        &self,
        provider: ProviderId,
        provider_call_id: &str,
    ) -> Result<Option<QueueCall>, StoreError> {
        let row = sqlx::query(&format!(
            "{QUEUE_CALL} WHERE provider_id = ? AND provider_call_id = ?"
        ))
        .bind(provider.to_string())
        .bind(provider_call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(queue_call).transpose()
    }

    /// Rings `to` for a waiting caller, and moves round-robin's cursor to the last of them.
    /// False when the caller is not waiting any more (another step moved them on).
    pub async fn offer(
        &self,
        call: &QueueCall,
        to: &[UserId],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE queue_calls SET state = 'offering', offered_to = ?, offered_at = ? \
             WHERE id = ? AND state = 'waiting'",
        )
        .bind(users_json(to))
        .bind(millis(now))
        .bind(call.id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(last) = to.last() {
            sqlx::query("UPDATE queues SET cursor_user_id = ? WHERE id = ?")
                .bind(last.to_string())
                .bind(call.queue_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// `agent` answered: theirs if nobody answered before (first answer wins).
    pub async fn answer(&self, id: QueueCallId, agent: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE queue_calls SET state = 'bridged', answered_by = ?, offered_to = '[]' \
             WHERE id = ? AND answered_by IS NULL AND state = 'offering' \
             AND EXISTS (SELECT 1 FROM json_each(offered_to) WHERE value = ?)",
        )
        .bind(agent.to_string())
        .bind(id.to_string())
        .bind(agent.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How long the queue's callers answered since `since` waited before the agent who took
    /// them rang, on average over the last twenty (None: none answered lately).
    pub async fn typical_wait(
        &self,
        queue: QueueId,
        since: OffsetDateTime,
    ) -> Result<Option<u32>, StoreError> {
        let (millis_avg,): (Option<f64>,) = sqlx::query_as(
            "SELECT avg(offered_at - enqueued_at) FROM (SELECT offered_at, enqueued_at \
             FROM queue_calls WHERE queue_id = ? AND answered_by IS NOT NULL \
             AND offered_at IS NOT NULL AND enqueued_at >= ? \
             ORDER BY enqueued_at DESC LIMIT 20)",
        )
        .bind(queue.to_string())
        .bind(millis(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(millis_avg.map(|m| (m.max(0.0) / 1000.0).round() as u32))
    }

    /// Nobody of those offered answered: they are tried for this round; the caller waits.
    pub async fn unanswered(&self, call: &QueueCall) -> Result<bool, StoreError> {
        let mut tried = call.tried.clone();
        tried.extend(call.offered_to.iter().filter(|u| !call.tried.contains(u)));
        let done = sqlx::query(
            "UPDATE queue_calls SET state = 'waiting', offered_to = '[]', tried = ? \
             WHERE id = ? AND state = 'offering'",
        )
        .bind(users_json(&tried))
        .bind(call.id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every available member was tried: the next step starts a new round.
    pub async fn new_round(&self, id: QueueCallId) -> Result<(), StoreError> {
        sqlx::query("UPDATE queue_calls SET tried = '[]' WHERE id = ? AND state = 'waiting'")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The caller left the queue (`Overflowed`, `Abandoned`) or their answered call ended
    /// (`Bridged`, with its end time: the agent's idle time starts). False when it had already.
    pub async fn finish(
        &self,
        id: QueueCallId,
        state: QueueCallState,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE queue_calls SET state = ?, offered_to = '[]', ended_at = ? \
             WHERE id = ? AND ended_at IS NULL AND (state IN ('waiting', 'offering') OR state = ?)",
        )
        .bind(state.code())
        .bind(millis(now))
        .bind(id.to_string())
        .bind(state.code())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves a waiting caller to another queue (an overflow), their wait starting again.
    pub async fn move_to(
        &self,
        id: QueueCallId,
        queue: QueueId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE queue_calls SET queue_id = ?, state = 'waiting', enqueued_at = ?, \
             offered_to = '[]', tried = '[]' WHERE id = ? AND state IN ('waiting', 'offering')",
        )
        .bind(queue.to_string())
        .bind(millis(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Callers of `call`'s queue who came before it and hold now.
    pub async fn ahead_of(&self, call: &QueueCall) -> Result<usize, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM queue_calls WHERE queue_id = ? AND state = 'waiting' \
             AND (enqueued_at < ? OR (enqueued_at = ? AND id < ?))",
        )
        .bind(call.queue_id.to_string())
        .bind(millis(call.enqueued_at))
        .bind(millis(call.enqueued_at))
        .bind(call.id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n as usize)
    }

    /// Callers in `queue` now (holding or ringing someone).
    pub async fn open_count(&self, queue: QueueId) -> Result<usize, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM queue_calls WHERE queue_id = ? \
             AND state IN ('waiting', 'offering')",
        )
        .bind(queue.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n as usize)
    }

    /// Agents ringing for a queue caller now (of any queue): not offered another.
    pub async fn ringing_agents(&self) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT j.value FROM queue_calls c, json_each(c.offered_to) j \
             WHERE c.state = 'offering'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|(u,)| uuid(u).map(UserId)).collect()
    }

    /// Agents talking to a queue caller now.
    pub async fn talking_agents(&self) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT answered_by FROM queue_calls \
             WHERE state = 'bridged' AND ended_at IS NULL AND answered_by IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|(u,)| uuid(u).map(UserId)).collect()
    }

    /// When `agent`'s last queue call ended.
    pub async fn idle_since(&self, agent: UserId) -> Result<Option<OffsetDateTime>, StoreError> {
        let (at,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(ended_at) FROM queue_calls WHERE answered_by = ?")
                .bind(agent.to_string())
                .fetch_one(&self.pool)
                .await?;
        at.map(from_millis).transpose()
    }

    /// Every queue's callers now.
    pub async fn loads(&self) -> Result<Vec<QueueLoad>, StoreError> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT q.id, COUNT(c.id), MIN(c.enqueued_at) FROM queues q \
             LEFT JOIN queue_calls c ON c.queue_id = q.id AND c.state IN ('waiting', 'offering') \
             GROUP BY q.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, n, oldest)| {
                Ok(QueueLoad {
                    queue_id: QueueId(uuid(&id)?),
                    waiting: n as u32,
                    oldest: oldest.map(from_millis).transpose()?,
                })
            })
            .collect()
    }

    /// A caller's message, as it starts (or the same one, asked again).
    pub async fn voicemail_for(
        &self,
        mailbox: VoicemailBox,
        provider: ProviderId,
        provider_call_id: &str,
        caller: &str,
        now: OffsetDateTime,
    ) -> Result<VoicemailId, StoreError> {
        let (user, queue) = match mailbox {
            VoicemailBox::User { user_id } => (Some(user_id.to_string()), None),
            VoicemailBox::Queue { queue_id } => (None, Some(queue_id.to_string())),
        };
        sqlx::query(
            "INSERT INTO voicemails (id, box_user_id, box_queue_id, provider_id, provider_call_id, \
             caller, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (provider_id, provider_call_id) DO NOTHING",
        )
        .bind(VoicemailId::new().to_string())
        .bind(user)
        .bind(queue)
        .bind(provider.to_string())
        .bind(provider_call_id)
        .bind(caller)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        let (id,): (String,) = sqlx::query_as(
            "SELECT id FROM voicemails WHERE provider_id = ? AND provider_call_id = ?",
        )
        .bind(provider.to_string())
        .bind(provider_call_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(VoicemailId(uuid(&id)?))
    }

    /// The message's audio, copied to the server's disk as `file`.
    /// The provider announced the message's audio at `url` (kept until it is copied).
    pub async fn voicemail_recording(
        &self,
        id: VoicemailId,
        url: &str,
        duration_secs: Option<u32>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE voicemails SET recording_url = ?, \
             duration_secs = COALESCE(?, duration_secs) WHERE id = ?",
        )
        .bind(url)
        .bind(duration_secs)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Messages announced before `before` whose audio is still not here: (message, its
    /// provider, where the provider keeps the audio, its length).
    pub async fn uncopied_voicemails(
        &self,
        before: OffsetDateTime,
    ) -> Result<Vec<(VoicemailId, ProviderId, String, Option<u32>)>, StoreError> {
        let rows: Vec<(String, String, String, Option<u32>)> = sqlx::query_as(
            "SELECT id, provider_id, recording_url, duration_secs FROM voicemails \
             WHERE audio IS NULL AND recording_url IS NOT NULL AND created_at < ? \
             ORDER BY created_at",
        )
        .bind(millis(before))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, provider, url, secs)| {
                Ok((
                    VoicemailId(uuid(&id)?),
                    ProviderId(uuid(&provider)?),
                    url,
                    secs,
                ))
            })
            .collect()
    }

    pub async fn voicemail_audio(
        &self,
        id: VoicemailId,
        file: &str,
        duration_secs: Option<u32>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE voicemails SET audio = ?, duration_secs = COALESCE(?, duration_secs) WHERE id = ?",
        )
        .bind(file)
        .bind(duration_secs)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn voicemail_transcription(
        &self,
        id: VoicemailId,
        text: Result<&str, ()>,
    ) -> Result<(), StoreError> {
        let (text, failed) = match text {
            Ok(t) => (Some(t), 0),
            Err(()) => (None, 1),
        };
        sqlx::query(
            "UPDATE voicemails SET transcription = ?, transcription_failed = ? WHERE id = ?",
        )
        .bind(text)
        .bind(failed)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stored audio file of a message, if copied.
    pub async fn voicemail_file(&self, id: VoicemailId) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT audio FROM voicemails WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(a,)| a))
    }

    /// The messages `viewer` may read (their own box and their queues'), newest first, each
    /// with the viewer's status; filtered by status and by words in the caller or the
    /// transcription.
    pub async fn voicemails(
        &self,
        viewer: UserId,
        status: Option<VoicemailStatus>,
        search: Option<&str>,
    ) -> Result<Vec<Voicemail>, StoreError> {
        let pattern = search
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", s.replace(['%', '_'], "")));
        let rows = sqlx::query(&format!(
            "{VOICEMAIL} WHERE (v.box_user_id = ?1 OR v.box_queue_id IN \
             (SELECT queue_id FROM queue_members WHERE user_id = ?1)) \
             AND (?2 IS NULL OR COALESCE(s.status, 'new') = ?2) \
             AND (?3 IS NULL OR v.caller LIKE ?3 OR v.transcription LIKE ?3) \
             ORDER BY v.created_at DESC LIMIT 500"
        ))
        .bind(viewer.to_string())
        .bind(status.map(VoicemailStatus::code))
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(voicemail).collect()
    }

    pub async fn voicemail(
        &self,
        id: VoicemailId,
        viewer: UserId,
    ) -> Result<Option<Voicemail>, StoreError> {
        let row = sqlx::query(&format!("{VOICEMAIL} WHERE v.id = ?2"))
            .bind(viewer.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(voicemail).transpose()
    }

    /// Who a message is for: the box's agent, or the queue's members.
    pub async fn voicemail_audience(&self, id: VoicemailId) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT box_user_id FROM voicemails WHERE id = ?1 AND box_user_id IS NOT NULL \
             UNION SELECT m.user_id FROM voicemails v JOIN queue_members m \
             ON m.queue_id = v.box_queue_id WHERE v.id = ?1",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|(u,)| uuid(u).map(UserId)).collect()
    }

    pub async fn set_voicemail_status(
        &self,
        id: VoicemailId,
        viewer: UserId,
        status: VoicemailStatus,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO voicemail_status (voicemail_id, user_id, status, updated_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (voicemail_id, user_id) \
             DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(id.to_string())
        .bind(viewer.to_string())
        .bind(status.code())
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A message as `?1` (an agent) reads it: their own status, new until they mark it.
const VOICEMAIL: &str = "SELECT v.id, v.box_user_id, v.box_queue_id, v.provider_call_id, \
    v.caller, v.created_at, v.duration_secs, v.audio, v.transcription, \
    COALESCE(s.status, 'new') AS status, \
    CASE WHEN v.box_user_id IS NOT NULL THEN v.box_user_id = ?1 \
    ELSE ?1 = (SELECT m.user_id FROM queue_members m WHERE m.queue_id = v.box_queue_id \
    ORDER BY m.position LIMIT 1) END AS writes_crm FROM voicemails v \
    LEFT JOIN voicemail_status s ON s.voicemail_id = v.id AND s.user_id = ?1";

fn voicemail(row: &SqliteRow) -> Result<Voicemail, StoreError> {
    let user: Option<String> = row.try_get("box_user_id")?;
    let queue: Option<String> = row.try_get("box_queue_id")?;
    let mailbox = match (user, queue) {
        (Some(u), _) => VoicemailBox::User {
            user_id: UserId(uuid(&u)?),
        },
        (None, Some(q)) => VoicemailBox::Queue {
            queue_id: QueueId(uuid(&q)?),
        },
        (None, None) => return Err(corrupt("a voicemail in no box")),
    };
    let status: String = row.try_get("status")?;
    Ok(Voicemail {
        id: VoicemailId(uuid(&row.try_get::<String, _>("id")?)?),
        mailbox,
        provider_call_id: row.try_get("provider_call_id")?,
        caller: row.try_get("caller")?,
        created_at: from_millis(row.try_get("created_at")?)?,
        duration_secs: row.try_get("duration_secs")?,
        has_audio: row.try_get::<Option<String>, _>("audio")?.is_some(),
        transcription: row.try_get("transcription")?,
        status: VoicemailStatus::from_code(&status).ok_or_else(|| corrupt(status))?,
        writes_crm: row
            .try_get::<Option<bool>, _>("writes_crm")?
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use ringdesk_core::queue::{Overflow, Strategy};

    async fn agents(store: &Store, n: usize) -> Vec<UserId> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = UserId::new();
            sqlx::query("INSERT INTO users (id, name, created_at, updated_at) VALUES (?, ?, 0, 0)")
                .bind(id.to_string())
                .bind(format!("Agent {i}"))
                .execute(&store.pool)
                .await
                .unwrap();
            ids.push(id);
        }
        ids
    }

    fn sales(members: &[UserId]) -> Queue {
        Queue {
            id: QueueId::new(),
            name: "Sales".into(),
            strategy: Strategy::RoundRobin,
            members: members.to_vec(),
            ring_timeout_secs: 20,
            max_wait_secs: 300,
            max_size: 5,
            overflow: Overflow::Voicemail,
            greeting: None,
        }
    }

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    #[tokio::test]
    async fn a_queue_keeps_its_members_in_order_and_is_found_by_id_or_name() {
        let store = Store::team_in_memory().await.unwrap();
        let ids = agents(&store, 3).await;
        let repo = store.queues();
        let mut q = sales(&[ids[2], ids[0], ids[1]]);
        repo.save(&q).await.unwrap();
        assert_eq!(repo.get(q.id).await.unwrap().unwrap(), q);
        assert_eq!(repo.find("sales").await.unwrap().unwrap().id, q.id);
        assert_eq!(
            repo.find(&q.id.to_string()).await.unwrap().unwrap().id,
            q.id
        );
        assert!(repo.find("Support").await.unwrap().is_none());
        q.members = vec![ids[1]];
        q.strategy = Strategy::RingAll;
        repo.save(&q).await.unwrap();
        assert_eq!(repo.list().await.unwrap(), vec![q.clone()]);
        assert!(repo.name_taken("SALES", QueueId::new()).await.unwrap());
        assert!(!repo.name_taken("SALES", q.id).await.unwrap());
        assert!(repo.delete(q.id).await.unwrap());
        assert!(repo.get(q.id).await.unwrap().is_none());
        assert!(!repo.delete(q.id).await.unwrap(), "gone already");
        assert!(repo.list().await.unwrap().is_empty());
        assert!(repo.find("Sales").await.unwrap().is_none());
        // Its name is free again.
        let again = sales(&ids);
        repo.save(&again).await.unwrap();
        assert_eq!(repo.find("sales").await.unwrap().unwrap().id, again.id);
    }

    /// The wait a holding caller is told: how long the queue's recently answered callers
    /// waited before their agent rang, not counting those who never reached one.
    #[tokio::test]
    async fn the_typical_wait_is_the_recent_answered_callers_average() {
        let store = Store::team_in_memory().await.unwrap();
        let ids = agents(&store, 1).await;
        let repo = store.queues();
        let q = sales(&ids);
        repo.save(&q).await.unwrap();
        let provider = ProviderId(Uuid::new_v4());
        assert_eq!(repo.typical_wait(q.id, at(0)).await.unwrap(), None);
        for (n, (arrived, rang, answered)) in [(0, 60, true), (100, 220, true), (300, 900, false)]
            .into_iter()
            .enumerate()
        {
            let call = repo
                .enqueue(
                    q.id,
                    provider,
                    &format!("CA{n}"),
                    ("+14155552671", false),
                    at(arrived),
                )
                .await
                .unwrap();
            assert!(repo.offer(&call, &ids, at(rang)).await.unwrap());
            if answered {
                assert!(repo.answer(call.id, ids[0]).await.unwrap());
            }
        }
        assert_eq!(repo.typical_wait(q.id, at(0)).await.unwrap(), Some(90));
        assert_eq!(
            repo.typical_wait(q.id, at(50)).await.unwrap(),
            Some(120),
            "only the recent ones"
        );
    }

    #[tokio::test]
    async fn first_answer_wins_and_every_step_moves_a_caller_once() {
        let store = Store::team_in_memory().await.unwrap();
        let ids = agents(&store, 2).await;
        let repo = store.queues();
        let q = sales(&ids);
        repo.save(&q).await.unwrap();
        let provider = ProviderId(Uuid::new_v4());
        let first = repo
            .enqueue(q.id, provider, "CA1", ("+14155552671", false), at(0))
            .await
            .unwrap();
        // The provider asks again about the same caller: the same row.
        let again = repo
            .enqueue(q.id, provider, "CA1", ("+14155552671", false), at(5))
            .await
            .unwrap();
        assert_eq!(again, first);
        let second = repo
            .enqueue(q.id, provider, "CA2", ("+14155552672", true), at(1))
            .await
            .unwrap();
        assert!(!first.recorded && second.recorded, "as the number said");
        assert_eq!(repo.ahead_of(&first).await.unwrap(), 0);
        assert_eq!(repo.ahead_of(&second).await.unwrap(), 1);
        assert_eq!(repo.open_count(q.id).await.unwrap(), 2);

        assert!(repo.offer(&first, &ids, at(2)).await.unwrap());
        assert!(
            !repo.offer(&first, &ids, at(2)).await.unwrap(),
            "offered already"
        );
        assert_eq!(repo.cursor(q.id).await.unwrap(), Some(ids[1]));
        let mut ringing = repo.ringing_agents().await.unwrap();
        ringing.sort_by_key(|u| u.0);
        let mut expected = ids.clone();
        expected.sort_by_key(|u| u.0);
        assert_eq!(ringing, expected);
        assert_eq!(repo.ahead_of(&second).await.unwrap(), 0, "first rings now");

        // Both answer at once: one wins.
        let (a, b) = tokio::join!(repo.answer(first.id, ids[0]), repo.answer(first.id, ids[1]));
        assert!(a.unwrap() ^ b.unwrap());
        let bridged = repo.call(first.id).await.unwrap().unwrap();
        assert_eq!(bridged.state, QueueCallState::Bridged);
        assert!(
            !repo.answer(second.id, ids[0]).await.unwrap(),
            "not offered to her"
        );
        assert_eq!(
            repo.talking_agents().await.unwrap(),
            vec![bridged.answered_by.unwrap()]
        );
        assert!(repo
            .finish(first.id, QueueCallState::Bridged, at(60))
            .await
            .unwrap());
        assert!(!repo
            .finish(first.id, QueueCallState::Abandoned, at(61))
            .await
            .unwrap());
        assert_eq!(
            repo.idle_since(bridged.answered_by.unwrap()).await.unwrap(),
            Some(at(60))
        );

        // Nobody answers the second: tried, waiting again, then a new round.
        assert!(repo.offer(&second, &ids[..1], at(3)).await.unwrap());
        let offered = repo.call(second.id).await.unwrap().unwrap();
        assert!(repo.unanswered(&offered).await.unwrap());
        assert!(!repo.unanswered(&offered).await.unwrap(), "a redelivery");
        let waiting = repo.call(second.id).await.unwrap().unwrap();
        assert_eq!(waiting.tried, vec![ids[0]]);
        assert_eq!(waiting.state, QueueCallState::Waiting);
        repo.new_round(second.id).await.unwrap();
        assert!(repo
            .call(second.id)
            .await
            .unwrap()
            .unwrap()
            .tried
            .is_empty());
        assert!(repo
            .finish(second.id, QueueCallState::Abandoned, at(90))
            .await
            .unwrap());
        let loads = repo.loads().await.unwrap();
        assert_eq!(loads[0].waiting, 0);
    }

    #[tokio::test]
    async fn voicemail_is_read_by_its_box_with_a_status_each_and_found_by_its_words() {
        let store = Store::team_in_memory().await.unwrap();
        let ids = agents(&store, 3).await;
        let repo = store.queues();
        let q = sales(&ids[..2]);
        repo.save(&q).await.unwrap();
        let provider = ProviderId(Uuid::new_v4());
        let queued = repo
            .voicemail_for(
                VoicemailBox::Queue { queue_id: q.id },
                provider,
                "CA1",
                "+14155552671",
                at(0),
            )
            .await
            .unwrap();
        let again = repo
            .voicemail_for(
                VoicemailBox::Queue { queue_id: q.id },
                provider,
                "CA1",
                "+14155552671",
                at(1),
            )
            .await
            .unwrap();
        assert_eq!(queued, again);
        let own = repo
            .voicemail_for(
                VoicemailBox::User { user_id: ids[2] },
                provider,
                "CA2",
                "+14155552672",
                at(2),
            )
            .await
            .unwrap();
        // Announced, not copied yet: found again by a later pass; copied: not.
        repo.voicemail_recording(queued, "https://api.example.com/r1", Some(7))
            .await
            .unwrap();
        repo.voicemail_recording(own, "https://api.example.com/r2", None)
            .await
            .unwrap();
        let uncopied = repo.uncopied_voicemails(at(10)).await.unwrap();
        assert_eq!(
            uncopied
                .iter()
                .map(|(id, _, url, secs)| (*id, url.as_str(), *secs))
                .collect::<Vec<_>>(),
            [
                (queued, "https://api.example.com/r1", Some(7)),
                (own, "https://api.example.com/r2", None)
            ]
        );
        assert!(
            repo.uncopied_voicemails(at(0)).await.unwrap().is_empty(),
            "too new"
        );
        repo.voicemail_audio(queued, "x.mp3", Some(7))
            .await
            .unwrap();
        assert_eq!(repo.uncopied_voicemails(at(10)).await.unwrap().len(), 1);
        repo.voicemail_transcription(queued, Ok("please call me back about the quote"))
            .await
            .unwrap();
        repo.voicemail_transcription(own, Err(())).await.unwrap();

        let for0 = repo.voicemails(ids[0], None, None).await.unwrap();
        assert_eq!(for0.len(), 1);
        assert_eq!(for0[0].duration_secs, Some(7));
        assert!(for0[0].has_audio);
        assert_eq!(for0[0].status, VoicemailStatus::New);
        assert_eq!(
            repo.voicemails(ids[2], None, None).await.unwrap()[0].id,
            own
        );
        // One writer to the CRM: the queue's first member; the box's agent for their own.
        assert!(for0[0].writes_crm, "the queue's first member");
        assert!(
            !repo
                .voicemail(queued, ids[1])
                .await
                .unwrap()
                .unwrap()
                .writes_crm,
            "the second member"
        );
        assert!(
            repo.voicemail(own, ids[2])
                .await
                .unwrap()
                .unwrap()
                .writes_crm
        );
        let mut audience = repo.voicemail_audience(queued).await.unwrap();
        audience.sort_by_key(|u| u.0);
        let mut expected = ids[..2].to_vec();
        expected.sort_by_key(|u| u.0);
        assert_eq!(audience, expected);

        repo.set_voicemail_status(queued, ids[0], VoicemailStatus::Listened)
            .await
            .unwrap();
        assert_eq!(
            repo.voicemails(ids[0], Some(VoicemailStatus::Listened), None)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            repo.voicemails(ids[1], Some(VoicemailStatus::New), None)
                .await
                .unwrap()
                .len(),
            1,
            "each agent has their own status"
        );
        assert_eq!(
            repo.voicemails(ids[1], None, Some("QUOTE"))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(repo
            .voicemails(ids[1], None, Some("invoice"))
            .await
            .unwrap()
            .is_empty());
        assert!(repo.voicemail(queued, ids[1]).await.unwrap().is_some());
        // A deleted queue's messages stay with its members.
        assert!(repo.delete(q.id).await.unwrap());
        assert_eq!(repo.voicemails(ids[1], None, None).await.unwrap().len(), 1);
    }
}

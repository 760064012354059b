use ringdesk_core::{Call, CallId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::calls::upsert;
use crate::{now_millis, StoreError};

/// One call activity waiting for (or done with) its CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: String,
    pub call_id: CallId,
    pub crm: String,
    pub idempotency_key: String,
    pub attempts: u32,
    pub reconcile: bool,
    pub last_error: Option<String>,
    /// Set once logged: a pending item with it is an update of that CRM record.
    pub remote_ref: Option<String>,
}

/// What the agent sees of the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u32,
    pub dead: u32,
    pub done: u32,
}

#[derive(Clone, Debug)]
pub struct OutboxRepository {
    pool: SqlitePool,
}

fn from_row(row: &SqliteRow) -> Result<OutboxItem, StoreError> {
    let call: String = row.try_get("call_id")?;
    Ok(OutboxItem {
        id: row.try_get("id")?,
        call_id: CallId(Uuid::parse_str(&call).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        crm: row.try_get("crm")?,
        idempotency_key: row.try_get("idempotency_key")?,
        attempts: row.try_get("attempts")?,
        reconcile: row.try_get("reconcile")?,
        last_error: row.try_get("last_error")?,
        remote_ref: row.try_get("remote_ref")?,
    })
}

const COLUMNS: &str =
    "id, call_id, crm, idempotency_key, attempts, reconcile, last_error, remote_ref";

impl OutboxRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Writes the call's final state and its delivery to `crm` in one transaction, due after
    /// `hold_ms` (time for the agent's after-call work). The key is unique: a call saved twice
    /// is queued once.
    pub async fn save_with_delivery(
        &self,
        call: &Call,
        crm: &str,
        idempotency_key: &str,
        hold_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        upsert(call).execute(&mut *tx).await?;
        let now = now_millis();
        sqlx::query(
            "INSERT INTO outbox (id, call_id, crm, kind, idempotency_key, state, next_attempt_at, \
             created_at, seq) VALUES (?, ?, ?, 'log_call', ?, 'pending', ?, ?, \
             (SELECT coalesce(max(seq), 0) + 1 FROM outbox)) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(call.id.to_string())
        .bind(crm)
        .bind(idempotency_key)
        .bind(now + hold_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The next activity to deliver, when it is due: strictly the oldest pending one, so
    /// activities reach the CRM in the order calls ended (one waiting for a retry holds back
    /// those behind it). It becomes `inflight`.
    pub async fn take_next(&self) -> Result<Option<OutboxItem>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, next_attempt_at FROM outbox WHERE state = 'pending' \
             ORDER BY seq LIMIT 1"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if row.try_get::<i64, _>("next_attempt_at")? > now_millis() {
            return Ok(None);
        }
        let item = from_row(&row)?;
        sqlx::query("UPDATE outbox SET state = 'inflight' WHERE id = ?")
            .bind(&item.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(item))
    }

    /// When the next activity is due (Unix ms), if any is pending.
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT next_attempt_at FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The agent finished the call's after-call work: its waiting delivery is due now.
    pub async fn release(&self, call: CallId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET next_attempt_at = min(next_attempt_at, ?) \
             WHERE call_id = ? AND state = 'pending' AND attempts = 0",
        )
        .bind(now_millis())
        .bind(call.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The call's activity was delivered already and the agent changed its notes or outcome
    /// since: queue an update of the CRM record (behind what is waiting). False when there is
    /// nothing delivered to update.
    pub async fn reopen_for_update(&self, call: CallId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, reconcile = 0, last_error = NULL, \
             next_attempt_at = ?, seq = (SELECT coalesce(max(seq), 0) + 1 FROM outbox) \
             WHERE call_id = ? AND state = 'done' AND remote_ref IS NOT NULL",
        )
        .bind(now_millis())
        .bind(call.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn done(&self, id: &str, remote_ref: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'done', remote_ref = ?, attempts = attempts + 1, \
             last_error = NULL WHERE id = ?",
        )
        .bind(remote_ref)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn retry(
        &self,
        id: &str,
        after_ms: i64,
        reconcile: bool,
        error: &str,
        counts: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, reconcile = ?, \
             last_error = ?, attempts = attempts + ? WHERE id = ?",
        )
        .bind(now_millis() + after_ms)
        .bind(reconcile)
        .bind(error)
        .bind(counts as i64)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn dead(&self, id: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'dead', last_error = ?, attempts = attempts + 1 WHERE id = ?",
        )
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// At start-up: items a crash left `inflight` may have reached the CRM — back to pending,
    /// to be reconciled before any new attempt.
    pub async fn recover_inflight(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', reconcile = 1 WHERE state = 'inflight'",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The agent's retry of dead items: pending again now, with a fresh attempt budget.
    pub async fn retry_dead(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? \
             WHERE state = 'dead'",
        )
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn dead_items(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn counts(&self) -> Result<OutboxCounts, StoreError> {
        let row = sqlx::query(
            "SELECT coalesce(sum(state IN ('pending', 'inflight')), 0) AS pending, \
             coalesce(sum(state = 'dead'), 0) AS dead, coalesce(sum(state = 'done'), 0) AS done \
             FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(OutboxCounts {
            pending: row.try_get::<i64, _>("pending")? as u32,
            dead: row.try_get::<i64, _>("dead")? as u32,
            done: row.try_get::<i64, _>("done")? as u32,
        })
    }
}

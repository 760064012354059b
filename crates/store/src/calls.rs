use ringdesk_core::{
    Call, CallAudio, CallDirection, CallEndReason, CallFilter, CallId, CallStatus, ContactId,
    Disposition, ProviderId,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::contacts::like;
use crate::{from_millis, millis, now_millis, StoreError};

/// The call journal. Every state change of a call is one committed write.
#[derive(Clone, Debug)]
pub struct CallRepository {
    pool: SqlitePool,
}

const SELECT: &str = "SELECT k.id, k.direction, k.status, k.from_party, k.to_party, k.contact_id, \
    c.name AS contact_name, k.provider_id, k.initiated_at, k.answered_at, k.ended_at, \
    k.duration_secs, k.end_reason, k.end_detail, k.provider_call_id, k.recording_url, k.recording_secs, \
    k.notes, k.disposition, k.user_id, k.audio_mos, k.audio_loss_percent, k.transfers, \
    k.transferred_by, k.queue, k.voicemail \
    FROM calls k LEFT JOIN contacts c ON c.id = k.contact_id";

/// `text` as one FTS5 phrase: quoted, inner quotes doubled, so nothing in it is syntax.
pub(crate) fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn uuid_of(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, StoreError> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|r| Uuid::parse_str(&r).map_err(corrupt))
        .transpose()
}

fn from_row(row: &SqliteRow) -> Result<Call, StoreError> {
    let code = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let time = |column: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        row.try_get::<Option<i64>, _>(column)?
            .map(from_millis)
            .transpose()
    };
    let direction = code("direction")?;
    let status = code("status")?;
    let end_reason: Option<String> = row.try_get("end_reason")?;
    Ok(Call {
        id: CallId(uuid_of(row, "id")?.ok_or_else(|| corrupt("a call without id"))?),
        direction: CallDirection::from_code(&direction)
            .ok_or_else(|| corrupt(format!("direction {direction}")))?,
        status: CallStatus::from_code(&status)
            .ok_or_else(|| corrupt(format!("status {status}")))?,
        from: row.try_get("from_party")?,
        to: row.try_get("to_party")?,
        contact_id: uuid_of(row, "contact_id")?.map(ContactId),
        contact_name: row.try_get("contact_name")?,
        user_id: uuid_of(row, "user_id")?.map(ringdesk_core::UserId),
        provider_id: uuid_of(row, "provider_id")?.map(ProviderId),
        provider_call_id: row.try_get("provider_call_id")?,
        initiated_at: time("initiated_at")?.ok_or_else(|| corrupt("a call without a start"))?,
        answered_at: time("answered_at")?,
        ended_at: time("ended_at")?,
        duration_secs: row.try_get("duration_secs")?,
        end_reason: end_reason
            .map(|r| CallEndReason::from_code(&r).ok_or_else(|| corrupt(format!("end reason {r}"))))
            .transpose()?,
        end_detail: row.try_get("end_detail")?,
        recording_url: row.try_get("recording_url")?,
        recording_secs: row.try_get("recording_secs")?,
        notes: row.try_get("notes")?,
        disposition: row
            .try_get::<Option<String>, _>("disposition")?
            .map(|d| Disposition::from_code(&d).ok_or_else(|| corrupt(format!("disposition {d}"))))
            .transpose()?,
        audio: match (
            row.try_get::<Option<f64>, _>("audio_mos")?,
            row.try_get::<Option<f64>, _>("audio_loss_percent")?,
        ) {
            (Some(mos), Some(loss)) => Some(CallAudio {
                mos: mos as f32,
                loss_percent: loss as f32,
            }),
            _ => None,
        },
        transfers: row
            .try_get::<Option<String>, _>("transfers")?
            .map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("transfers: {e}"))))
            .transpose()?
            .unwrap_or_default(),
        transferred_by: row.try_get("transferred_by")?,
        queue: row.try_get("queue")?,
        voicemail: row
            .try_get::<Option<String>, _>("voicemail")?
            .map(|v| serde_json::from_str(&v).map_err(|e| corrupt(format!("voicemail: {e}"))))
            .transpose()?,
    })
}

pub(crate) fn upsert(
    call: &Call,
) -> sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
    sqlx::query(
        "INSERT INTO calls (id, direction, status, from_party, to_party, contact_id, provider_id, \
         initiated_at, answered_at, ended_at, duration_secs, end_reason, end_detail, \
         provider_call_id, recording_url, notes, disposition, user_id, audio_mos, \
         audio_loss_percent, transfers, transferred_by, recording_secs, queue, voicemail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
         contact_id = excluded.contact_id, answered_at = excluded.answered_at, \
         ended_at = excluded.ended_at, duration_secs = excluded.duration_secs, \
         end_reason = excluded.end_reason, end_detail = excluded.end_detail, \
         provider_call_id = excluded.provider_call_id, recording_url = excluded.recording_url, \
         notes = excluded.notes, disposition = excluded.disposition, \
         audio_mos = excluded.audio_mos, audio_loss_percent = excluded.audio_loss_percent, \
         transfers = excluded.transfers, transferred_by = excluded.transferred_by, \
         recording_secs = excluded.recording_secs, \
         queue = COALESCE(excluded.queue, calls.queue), \
         voicemail = COALESCE(excluded.voicemail, calls.voicemail), \
         user_id = COALESCE(excluded.user_id, calls.user_id)",
    )
    .bind(call.id.to_string())
    .bind(call.direction.code())
    .bind(call.status.code())
    .bind(&call.from)
    .bind(&call.to)
    .bind(call.contact_id.map(|c| c.to_string()))
    .bind(call.provider_id.map(|p| p.0.to_string()))
    .bind(millis(call.initiated_at))
    .bind(call.answered_at.map(millis))
    .bind(call.ended_at.map(millis))
    .bind(call.duration_secs)
    .bind(call.end_reason.map(CallEndReason::code))
    .bind(&call.end_detail)
    .bind(&call.provider_call_id)
    .bind(&call.recording_url)
    .bind(&call.notes)
    .bind(call.disposition.map(Disposition::code))
    .bind(call.user_id.map(|u| u.to_string()))
    .bind(call.audio.map(|a| f64::from(a.mos)))
    .bind(call.audio.map(|a| f64::from(a.loss_percent)))
    .bind(
        (!call.transfers.is_empty())
            .then(|| serde_json::to_string(&call.transfers).ok())
            .flatten(),
    )
    .bind(&call.transferred_by)
    .bind(call.recording_secs)
    .bind(&call.queue)
    .bind(
        call.voicemail
            .as_ref()
            .and_then(|v| serde_json::to_string(v).ok()),
    )
}

impl CallRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Writes the call as it is now: inserted the first time, updated after.
    pub async fn save(&self, call: &Call) -> Result<(), StoreError> {
        upsert(call).execute(&self.pool).await?;
        Ok(())
    }

    /// Writes many calls in one transaction (imports, the benchmark's million-row journal).
    pub async fn save_many(&self, calls: &[Call]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for call in calls {
            upsert(call).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Names `contact` on the calls with `party` (E.164) that have no contact yet: an unknown
    /// caller saved as a contact gets their history. Returns how many calls changed.
    pub async fn link_contact(&self, party: &str, contact: ContactId) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE calls SET contact_id = ? WHERE contact_id IS NULL AND \
             ((direction = 'inbound' AND from_party = ?) OR (direction = 'outbound' AND to_party = ?))",
        )
        .bind(contact.to_string())
        .bind(party)
        .bind(party)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn get(&self, id: CallId) -> Result<Option<Call>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE k.id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The call a provider knows as `provider_call_id`.
    pub async fn find_by_provider_call(
        &self,
        provider: ProviderId,
        provider_call_id: &str,
    ) -> Result<Option<Call>, StoreError> {
        let row = sqlx::query(&format!(
            "{SELECT} WHERE k.provider_id = ? AND k.provider_call_id = ?"
        ))
        .bind(provider.0.to_string())
        .bind(provider_call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The newest call the provider's call `provider_call_id` names, through whichever
    /// provider (the team's account on the server, the softphone's login here).
    pub async fn find_by_provider_call_id(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<Call>, StoreError> {
        let row = sqlx::query(&format!(
            "{SELECT} WHERE k.provider_call_id = ? ORDER BY k.initiated_at DESC LIMIT 1"
        ))
        .bind(provider_call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Whether the provider's event `event_id` was applied already.
    pub async fn webhook_seen(
        &self,
        provider: ProviderId,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM webhook_events WHERE provider_id = ? AND event_id = ?",
        )
        .bind(provider.0.to_string())
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(seen.is_some())
    }

    /// Remembers that `event_id` was applied (after applying it: a crash in between means
    /// the redelivery applies it again, which the call's own rules make harmless).
    pub async fn mark_webhook(
        &self,
        provider: ProviderId,
        event_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_events (provider_id, event_id, applied_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(provider.0.to_string())
        .bind(event_id)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A page of the journal, newest first.
    pub async fn list(&self, filter: &CallFilter) -> Result<Vec<Call>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT);
        q.push(" WHERE 1 = 1");
        if let Some(d) = filter.direction {
            q.push(" AND k.direction = ").push_bind(d.code());
        }
        if let Some(s) = filter.status {
            q.push(" AND k.status = ").push_bind(s.code());
        }
        if let Some(u) = filter.user_id {
            q.push(" AND k.user_id = ").push_bind(u.to_string());
        }
        if let Some(c) = filter.contact_id {
            q.push(" AND k.contact_id = ").push_bind(c.to_string());
        }
        if let Some(t) = filter.since {
            q.push(" AND k.initiated_at >= ").push_bind(millis(t));
        }
        if let Some(t) = filter.until {
            q.push(" AND k.initiated_at < ").push_bind(millis(t));
        }
        if let Some(text) = filter
            .query
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if text.chars().count() >= 3 {
                // Trigram indexes: calls whose parties or notes contain the text, and calls of
                // contacts whose name or company does — found without scanning the journal.
                let phrase = fts_phrase(text);
                q.push(" AND k.rowid IN (SELECT rowid FROM calls_search WHERE calls_search MATCH ")
                    .push_bind(phrase.clone())
                    .push(
                        " UNION SELECT m.rowid FROM calls m WHERE m.contact_id IN \
                         (SELECT o.id FROM contacts o WHERE o.rowid IN \
                         (SELECT rowid FROM contacts_search WHERE contacts_search MATCH ",
                    )
                    .push_bind(phrase)
                    .push(")))");
            } else {
                // Too short for a trigram: a scan, cut short by the page's own order and limit.
                let pattern = like(text);
                q.push(" AND (k.from_party LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR k.to_party LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR c.name LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR k.notes LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
        }
        if let Some(before) = filter.before {
            // Keyset paging: rows strictly after the cursor in (initiated_at DESC, id DESC).
            q.push(" AND (k.initiated_at, k.id) < (SELECT initiated_at, id FROM calls WHERE id = ")
                .push_bind(before.to_string())
                .push(")");
        }
        q.push(" ORDER BY k.initiated_at DESC, k.id DESC LIMIT ")
            .push_bind(filter.limit());
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Calls with a recording that began before `before`, oldest first (the retention sweep).
    pub async fn recorded_before(&self, before: OffsetDateTime) -> Result<Vec<Call>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE k.recording_url IS NOT NULL AND k.initiated_at < ? \
             ORDER BY k.initiated_at LIMIT 1000"
        ))
        .bind(millis(before))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Inbound calls missed (the caller gave up, or was sent away) since `since`.
    pub async fn count_missed_since(&self, since: OffsetDateTime) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM calls WHERE direction = 'inbound' AND end_reason = 'missed' \
             AND initiated_at >= ?",
        )
        .bind(millis(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Closes the calls that were live when Ringdesk stopped (it never ended them): found at
    /// start-up, ended as interrupted. Returns them.
    pub async fn close_interrupted(&self) -> Result<Vec<Call>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM calls WHERE status IN ('ringing', 'in_progress')")
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE calls SET \
               status = CASE WHEN answered_at IS NULL THEN 'failed' ELSE 'completed' END, \
               ended_at = ?, end_reason = 'interrupted', \
               end_detail = 'Ringdesk stopped during the call; its length is not known' \
             WHERE status IN ('ringing', 'in_progress')",
        )
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut closed = Vec::with_capacity(ids.len());
        for id in ids {
            let id = CallId(Uuid::parse_str(&id).map_err(corrupt)?);
            if let Some(call) = self.get(id).await? {
                closed.push(call);
            }
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use ringdesk_core::{
        Call, CallDirection, CallEndReason, CallFilter, CallStatus, ContactInput, PhoneInput,
        Region,
    };
    use time::{Duration, OffsetDateTime};

    use crate::Store;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    #[tokio::test]
    async fn a_calls_agent_once_known_stays_and_the_provider_call_finds_it() {
        let store = Store::in_memory().await.unwrap();
        let calls = store.calls();
        let mut call = Call::new(CallDirection::Inbound, "+1".into(), "+2".into(), at(0));
        call.provider_call_id = Some("CA1".into());
        calls.save(&call).await.unwrap();
        // Routing names the agent after the provider's first event made the row.
        let agent = store
            .users()
            .save(
                None,
                &ringdesk_core::UserInput {
                    name: "Bea".into(),
                    email: None,
                    is_me: false,
                    assigned_numbers: vec![],
                    primary_number: None,
                    forwarding_number: None,
                    settings: ringdesk_core::UserSettings::default(),
                }
                .validate(Region::default())
                .unwrap(),
            )
            .await
            .unwrap()
            .unwrap()
            .id;
        call.user_id = Some(agent);
        calls.save(&call).await.unwrap();
        // A later write that does not know the agent keeps them.
        call.user_id = None;
        call.status = CallStatus::InProgress;
        calls.save(&call).await.unwrap();
        let found = calls
            .find_by_provider_call_id("CA1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.id, found.user_id), (call.id, Some(agent)));
        assert_eq!(found.status, CallStatus::InProgress);
        assert!(calls
            .find_by_provider_call_id("CA2")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn state_changes_filters_and_paging() {
        let store = Store::in_memory().await.unwrap();
        let ada = store
            .contacts()
            .create(
                &ContactInput {
                    name: "Ada".into(),
                    phones: vec![PhoneInput {
                        number: "+14155552671".into(),
                        label: None,
                    }],
                    ..Default::default()
                }
                .validate(Region::default())
                .unwrap(),
            )
            .await
            .unwrap();
        let calls = store.calls();
        let mut ids = Vec::new();
        for i in 0..7 {
            let direction = if i % 2 == 0 {
                CallDirection::Outbound
            } else {
                CallDirection::Inbound
            };
            let mut call = Call::new(
                direction,
                "+12125550100".into(),
                "+14155552671".into(),
                at(i * 60),
            );
            if i == 3 {
                call.contact_id = Some(ada.id);
            }
            calls.save(&call).await.unwrap();
            if i % 3 == 0 {
                call.answer(at(i * 60 + 5));
                calls.save(&call).await.unwrap();
            }
            call.end(CallEndReason::HungUp, None, at(i * 60 + 35));
            calls.save(&call).await.unwrap();
            ids.push(call.id);
        }
        let all = calls.list(&CallFilter::default()).await.unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(all[0].id, ids[6], "newest first");
        assert_eq!(all[0].duration_secs, Some(30));
        assert_eq!(all[0].status, CallStatus::Completed);

        let page = |before, limit| CallFilter {
            before,
            limit: Some(limit),
            ..Default::default()
        };
        let first = calls.list(&page(None, 3)).await.unwrap();
        let second = calls.list(&page(Some(first[2].id), 3)).await.unwrap();
        let third = calls.list(&page(Some(second[2].id), 3)).await.unwrap();
        let seen: Vec<_> = first
            .iter()
            .chain(&second)
            .chain(&third)
            .map(|c| c.id)
            .collect();
        assert_eq!(seen, ids.iter().rev().copied().collect::<Vec<_>>());

        let filter = CallFilter {
            direction: Some(CallDirection::Inbound),
            status: Some(CallStatus::Completed),
            ..Default::default()
        };
        let got = calls.list(&filter).await.unwrap();
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[3]]);

        let by_name = CallFilter {
            query: Some("ad".into()),
            ..Default::default()
        };
        let got = calls.list(&by_name).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].contact_name.as_deref(), Some("Ada"));
        let search = |text: &str| CallFilter {
            query: Some(text.into()),
            ..Default::default()
        };
        // Through the trigram indexes: a contact's name, a number's digits, nothing for
        // text that matches nothing, and FTS syntax in the query is only text.
        assert_eq!(calls.list(&search("Ada")).await.unwrap().len(), 1);
        assert_eq!(calls.list(&search("da")).await.unwrap().len(), 1);
        assert_eq!(calls.list(&search("2125550")).await.unwrap().len(), 7);
        assert_eq!(calls.list(&search("5552671")).await.unwrap().len(), 7);
        assert!(calls.list(&search("9999")).await.unwrap().is_empty());
        for hostile in ["\"Ada", "Ada\" OR \"x", "a*b NEAR(", "%_%", "' OR 1=1 --"] {
            assert!(
                calls.list(&search(hostile)).await.unwrap().is_empty(),
                "{hostile}"
            );
        }
        // Renaming the contact moves the search with it.
        let renamed = ContactInput {
            name: "Grace".into(),
            phones: vec![PhoneInput {
                number: "+14155552671".into(),
                label: None,
            }],
            ..Default::default()
        }
        .validate(Region::default())
        .unwrap();
        store.contacts().update(ada.id, &renamed).await.unwrap();
        assert!(calls.list(&search("Ada")).await.unwrap().is_empty());
        assert_eq!(calls.list(&search("Grace")).await.unwrap().len(), 1);
        let by_contact = CallFilter {
            contact_id: Some(ada.id),
            ..Default::default()
        };
        assert_eq!(calls.list(&by_contact).await.unwrap().len(), 1);

        let range = CallFilter {
            since: Some(at(60)),
            until: Some(at(60) + Duration::minutes(2)),
            ..Default::default()
        };
        assert_eq!(calls.list(&range).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn live_calls_are_closed_as_interrupted_once() {
        let store = Store::in_memory().await.unwrap();
        let calls = store.calls();
        let mut talking = Call::new(CallDirection::Outbound, "a".into(), "b".into(), at(0));
        talking.answer(at(3));
        calls.save(&talking).await.unwrap();
        let ringing = Call::new(CallDirection::Inbound, "c".into(), "d".into(), at(10));
        calls.save(&ringing).await.unwrap();
        let mut done = Call::new(CallDirection::Inbound, "e".into(), "f".into(), at(20));
        done.end(CallEndReason::Missed, None, at(30));
        calls.save(&done).await.unwrap();

        let closed = calls.close_interrupted().await.unwrap();
        assert_eq!(closed.len(), 2);
        let talking = calls.get(talking.id).await.unwrap().unwrap();
        assert_eq!(talking.status, CallStatus::Completed);
        assert_eq!(talking.end_reason, Some(CallEndReason::Interrupted));
        assert!(talking.ended_at.is_some());
        let ringing = calls.get(ringing.id).await.unwrap().unwrap();
        assert_eq!(ringing.status, CallStatus::Failed);
        assert_eq!(
            calls.get(done.id).await.unwrap().unwrap().end_reason,
            Some(CallEndReason::Missed)
        );
        assert!(calls.close_interrupted().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn transfers_and_who_passed_the_caller_on_are_kept_with_the_call() {
        use ringdesk_core::{TransferKind, TransferOutcome};
        let store = Store::in_memory().await.unwrap();
        let calls = store.calls();
        let mut call = Call::new(
            CallDirection::Inbound,
            "+14155552671".into(),
            "b".into(),
            at(0),
        );
        call.transferred_by = Some("<sip:bob@example.com>".into());
        call.answer(at(2));
        call.transfer(
            TransferKind::Attended,
            "sip:carol@example.com",
            TransferOutcome::Started,
            None,
            at(5),
        );
        call.transfer(
            TransferKind::Attended,
            "sip:carol@example.com",
            TransferOutcome::Failed,
            Some("the colleague's call ended".into()),
            at(9),
        );
        call.transfer(
            TransferKind::Blind,
            "+14155550100",
            TransferOutcome::Started,
            None,
            at(20),
        );
        call.transfer(
            TransferKind::Blind,
            "+14155550100",
            TransferOutcome::Succeeded,
            None,
            at(21),
        );
        call.end(
            CallEndReason::Transferred,
            Some("+14155550100".into()),
            at(21),
        );
        calls.save(&call).await.unwrap();

        let stored = calls.get(call.id).await.unwrap().unwrap();
        assert_eq!(
            stored.transfers.len(),
            2,
            "each outcome settles its own start"
        );
        assert_eq!(stored.transfers, call.transfers);
        assert_eq!(stored.transfers[0].outcome, TransferOutcome::Failed);
        assert_eq!(stored.transfers[0].at, at(5));
        assert_eq!(stored.transfers[1].kind, TransferKind::Blind);
        assert_eq!(
            stored.transferred_by.as_deref(),
            Some("<sip:bob@example.com>")
        );
        assert_eq!(stored.end_reason, Some(CallEndReason::Transferred));

        let plain = Call::new(CallDirection::Outbound, "a".into(), "b".into(), at(30));
        calls.save(&plain).await.unwrap();
        assert!(calls
            .get(plain.id)
            .await
            .unwrap()
            .unwrap()
            .transfers
            .is_empty());
    }
}

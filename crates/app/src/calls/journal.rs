//! The journal's side of calls: writing them (with their CRM delivery), naming their agent and
//! contact, applying a provider's webhook events, after-call work.

use super::*;

/// Where calls are written and callers looked up; shared by the softphone and the commands.
#[derive(Clone)]
pub struct Journal {
    pub calls: CallRepository,
    pub contacts: ContactRepository,
    pub settings: SettingsRepository,
    pub outbox: OutboxRepository,
    pub region: Region,
    /// The CRM that ended calls are delivered to (None: no CRM connected).
    pub crm: Arc<std::sync::RwLock<Option<CrmKind>>>,
    /// Wakes the CRM worker when a delivery is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// Who "me" is: the agent named on calls.
    pub agents: ringdesk_store::Agents,
    /// Where recordings of softphone calls are written.
    pub recordings: std::path::PathBuf,
}

/// What applying a provider's webhook event did.
pub enum Applied {
    /// Nothing to tell: seen before, not a call of ours, or nothing the agent hears of.
    Nothing,
    /// A change the agent hears of.
    Notice(Box<CallNotice>),
    /// The provider's recording of `call` is ready at `url` (newly linked, not kept here yet).
    Recorded {
        call: ringdesk_core::CallId,
        url: String,
    },
}

/// How long an answered call's CRM activity waits for the agent's after-call notes.
pub const WRAP_UP_HOLD_MS: i64 = 120_000;
/// How long a message's CRM activity waits for its transcription (providers take seconds to
/// a minute; one that never comes leaves the activity saying so).
pub const VOICEMAIL_TEXT_HOLD_MS: i64 = 180_000;

impl Journal {
    /// A message a caller left, on the call it came with (or one of its own), for the CRM:
    /// its activity waits a while for the transcription, goes at once with it, and a message
    /// (or its text) that comes after the activity went updates it.
    pub(crate) async fn keep_voicemail(&self, call: &Call) -> Result<(), StoreError> {
        let crm = self.crm.read().map(|g| *g).unwrap_or(None);
        let Some(kind) = crm.filter(|_| call.status.is_final()) else {
            return self.calls.save(call).await;
        };
        let key = ringdesk_crm::idempotency_key(kind.code(), &call.id.to_string());
        let has_text = call
            .voicemail
            .as_ref()
            .is_some_and(|v| v.transcription.is_some());
        let hold = if has_text { 0 } else { VOICEMAIL_TEXT_HOLD_MS };
        self.outbox
            .save_with_delivery(call, kind.code(), &key, hold)
            .await?;
        if has_text {
            self.outbox.release(call.id).await?;
        }
        if self.outbox.reopen_for_update(call.id).await? {
            tracing::info!(call = %call.id, "a voicemail came after the CRM activity: it will be updated");
        }
        self.wake.notify_one();
        Ok(())
    }

    /// The agent's after-call work on a finished call: stored, and its CRM activity released.
    pub async fn wrap_up(
        &self,
        id: ringdesk_core::CallId,
        notes: Option<&str>,
        disposition: Option<ringdesk_core::Disposition>,
    ) -> Result<Option<Call>, StoreError> {
        let Some(mut call) = self.calls.get(id).await? else {
            return Ok(None);
        };
        call.wrap_up(notes, disposition);
        self.store(&call).await?;
        self.outbox.release(id).await?;
        // Saved after the activity went (the hold ran out): the CRM record is updated.
        if self.outbox.reopen_for_update(id).await? {
            tracing::info!(call = %id, "after-call work saved late: the CRM activity will be updated");
        }
        self.wake.notify_one();
        Ok(Some(call))
    }

    /// Applies a verified webhook event to the journal, once: an event id seen before changes
    /// nothing. Returns what to announce or do next. Write failures are errors here (unlike on
    /// the softphone's path): the provider retries what is not acknowledged.
    pub async fn apply_webhook(
        &self,
        provider: ProviderId,
        event: &WebhookEvent,
    ) -> Result<Applied, StoreError> {
        if self.calls.webhook_seen(provider, &event.id).await? {
            tracing::info!(provider_id = %provider, "webhook event seen before: ignored");
            return Ok(Applied::Nothing);
        }
        let at = now();
        let known = self
            .calls
            .find_by_provider_call(provider, &event.provider_call_id)
            .await?;
        // A recording kept here already keeps its copy (a second event for it).
        let copied = known
            .as_ref()
            .is_some_and(|c| crate::recordings::is_local(c, &self.recordings));
        if copied && matches!(event.kind, WebhookEventKind::RecordingReady { .. }) {
            self.calls.mark_webhook(provider, &event.id).await?;
            return Ok(Applied::Nothing);
        }
        let applied = match follow_event(provider, event, known, at) {
            Some((mut call, followed)) => {
                if followed == Followed::Started {
                    self.attribute(&mut call, None).await;
                }
                self.store(&call).await?;
                let notice = match followed {
                    Followed::Started => CallNotice::Incoming,
                    Followed::Answered => CallNotice::Answered,
                    Followed::Ended => CallNotice::Ended,
                    Followed::Recorded => {
                        let url = call.recording_url.clone().unwrap_or_default();
                        return self
                            .calls
                            .mark_webhook(provider, &event.id)
                            .await
                            .map(|()| Applied::Recorded { call: call.id, url });
                    }
                };
                Applied::Notice(Box::new(notice(self.named(call).await)))
            }
            None => Applied::Nothing,
        };
        self.calls.mark_webhook(provider, &event.id).await?;
        Ok(applied)
    }

    /// Writes the call; a call that ended is written together with its delivery to the
    /// connected CRM (one transaction: never one without the other).
    pub(crate) async fn store(&self, call: &Call) -> Result<(), StoreError> {
        let crm = self.crm.read().map(|g| *g).unwrap_or(None);
        match crm {
            Some(kind) if call.status.is_final() => {
                let key = ringdesk_crm::idempotency_key(kind.code(), &call.id.to_string());
                // A conversation waits for the agent's notes (released when they are saved);
                // a call nobody answered has none to wait for.
                let talked = call.answered_at.is_some() && call.notes.is_none();
                let hold = if talked { WRAP_UP_HOLD_MS } else { 0 };
                self.outbox
                    .save_with_delivery(call, kind.code(), &key, hold)
                    .await?;
                self.wake.notify_one();
            }
            _ => self.calls.save(call).await?,
        }
        Ok(())
    }

    pub(crate) async fn save(&self, call: &Call) {
        // A full disk must not drop a live call: the call goes on, the failure is logged.
        if let Err(e) = self.store(call).await {
            tracing::error!(call = %call.id, error = %e, "cannot write the call to the journal");
        }
    }

    /// The call with its contact's name (read from the contacts store unless known).
    pub(crate) async fn named(&self, mut call: Call) -> Call {
        if let (Some(id), None) = (call.contact_id, &call.contact_name) {
            call.contact_name = self.contacts.get(id).await.ok().flatten().map(|c| c.name);
        }
        call
    }

    /// Names the call's agent (the one at this desktop) and contact: `chosen` (dialled from a
    /// contact), else the owner of the far party's number, from the in-memory caller index
    /// (the ring must not wait for SQL).
    pub(crate) async fn attribute(&self, call: &mut Call, chosen: Option<ContactId>) {
        match self.agents.users.me().await {
            Ok(me) => call.user_id = me.map(|u| u.id),
            Err(e) => tracing::warn!(error = %e, "cannot read the agent at this desktop"),
        }
        if chosen.is_some() {
            call.contact_id = chosen;
            return;
        }
        let party = match call.direction {
            CallDirection::Inbound => &call.from,
            CallDirection::Outbound => &call.to,
        };
        let Ok(number) = E164Number::parse_international(party) else {
            return;
        };
        match self.contacts.identify(&number).await {
            Ok(Some(caller)) => {
                call.contact_id = Some(caller.id);
                call.contact_name = Some(caller.name);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "caller lookup failed"),
        }
    }
}

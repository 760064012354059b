//! The server as the host of the shared webhook receiver: every provider's call events go
//! into the team journal (once each, whichever desktop is on), and every voice request is
//! decided by the shared routing rule over the team's facts — the number's route, the agent's
//! presence from their desktops, their softphone login.

use std::sync::Arc;

use async_trait::async_trait;
use ringdesk_core::ports::{
    CallParty, ProviderAdapter, StepRequest, VoiceAnswer, VoiceRequest, WebhookEvent,
    WebhookEventKind,
};
use ringdesk_core::routing::{self, Facts};
use ringdesk_core::{
    follow_event, Call, CallDirection, NumberRoute, PhoneNumber, Provider, ProviderId,
    ProviderKind, Region, UserId,
};
use ringdesk_store::{CallRepository, QueueRepository, StoreError};
use ringdesk_webhooks::{Host, Unusable};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::recordings::Recordings;
use crate::voicemail::Voicemails;

/// What a caller hears when the server fails to decide where their call goes.
pub(crate) fn cannot_connect() -> VoiceAnswer {
    VoiceAnswer::Refuse {
        say: "Sorry, this call cannot be connected right now.".into(),
    }
}

/// Whether calls through `number` are recorded: its own setting, else the provider's.
pub(crate) fn records(provider: &Provider, number: Option<&PhoneNumber>) -> bool {
    let default = provider.settings.record_calls;
    number.map_or(default, |n| n.records(default))
}

/// A party of a voice request as the journal shows it: a number in E.164 (also one typed
/// as a SIP user), else the SIP address or the provider's text.
pub(crate) fn party_text(party: &CallParty, region: Region) -> String {
    match party {
        CallParty::Number(n) => n.to_string(),
        CallParty::Sip { user, host } => ringdesk_core::E164Number::parse(user, region)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| format!("sip:{user}@{host}")),
        CallParty::Other(text) => ringdesk_core::call::provider_party(text),
    }
}
use crate::team::{Team, TeamError};

pub struct Receiver {
    pub team: Arc<Team>,
    pub calls: CallRepository,
    pub recordings: Recordings,
    pub queues: QueueRepository,
    pub voicemails: Voicemails,
    pub sounds: crate::sounds::Sounds,
    /// One event applied at a time: a redelivery racing its original must see it as seen.
    pub apply: Mutex<()>,
}

impl Receiver {
    /// The team's number a call goes through: the one called, or the one an agent's call
    /// leaves with as its caller ID.
    async fn number_of(
        &self,
        provider: ProviderId,
        facts: &Facts,
        answer: &VoiceAnswer,
    ) -> Option<PhoneNumber> {
        if let Some(called) = &facts.called {
            return Some(called.clone());
        }
        let VoiceAnswer::Dial {
            caller_id: Some(shown),
            ..
        } = answer
        else {
            return None;
        };
        let numbers = self.team.agents.numbers.list(Some(provider)).await.ok()?;
        numbers.into_iter().find(|n| &n.phone_number == shown)
    }

    /// Whether a call connected through the provider is recorded — its number's setting, else
    /// the provider's "Record calls" — and, if so, the answer asks for it.
    async fn recorded(
        &self,
        id: ProviderId,
        request: &VoiceRequest,
        number: Option<&PhoneNumber>,
        answer: VoiceAnswer,
    ) -> VoiceAnswer {
        let VoiceAnswer::Dial {
            target,
            caller_id,
            transfer_url,
            record: None,
        } = answer
        else {
            return answer;
        };
        let provider = self.team.providers.get(id).await.ok();
        let record = provider
            .filter(|p| records(p, number))
            .map(|p| self.recording_events(&p, &request.provider_call_id));
        VoiceAnswer::Dial {
            target,
            caller_id,
            transfer_url,
            record,
        }
    }

    /// Where the provider tells of the recording of `provider_call_id`: its webhook (for
    /// Vonage, with the call's leg in the query: its recording event names only the
    /// conversation).
    pub(crate) fn recording_events(&self, provider: &Provider, provider_call_id: &str) -> String {
        let events = format!("{}/webhooks/{}", self.team.base_url, provider.id);
        match provider.kind {
            ProviderKind::Vonage => format!(
                "{events}?call={}",
                url::form_urlencoded::byte_serialize(provider_call_id.as_bytes())
                    .collect::<String>()
            ),
            _ => events,
        }
    }

    async fn apply_one(
        &self,
        provider: ProviderId,
        event: &WebhookEvent,
    ) -> Result<(), StoreError> {
        if self.calls.webhook_seen(provider, &event.id).await? {
            tracing::info!(provider_id = %provider, "webhook event seen before: ignored");
            return Ok(());
        }
        // A queue's caller who hangs up leaves it, journaled or not.
        if let WebhookEventKind::CallEnded { .. } = event.kind {
            self.queue_call_ended(provider, &event.provider_call_id)
                .await;
        }
        let at = OffsetDateTime::now_utc();
        let known = self
            .calls
            .find_by_provider_call(provider, &event.provider_call_id)
            .await?;
        // A recording copied already (a second event for it, another id) keeps its copy.
        let recording = match &event.kind {
            WebhookEventKind::RecordingReady { url, .. } => Some(url.clone()),
            _ => None,
        };
        if recording.is_some() && known.as_ref().is_some_and(|c| self.recordings.is_copied(c)) {
            return self.calls.mark_webhook(provider, &event.id).await;
        }
        let Some((call, followed)) = follow_event(provider, event, known, at) else {
            return self.calls.mark_webhook(provider, &event.id).await;
        };
        self.calls.save(&call).await?;
        if let Some(url) = recording {
            // Copied off the webhook's path: the provider gets its answer at once.
            tokio::spawn(self.recordings.clone().copy_soon(provider, call.id, url));
        }
        tracing::info!(provider_id = %provider, call = %call.id, ?followed, "team journal");
        self.calls.mark_webhook(provider, &event.id).await?;
        self.team.live.tell_agent(call).await;
        Ok(())
    }

    /// Whose call routing put through: the agent whose softphone dials out, or the agent a
    /// number's call goes to (softphone or forwarding number).
    async fn agent_of(
        &self,
        provider: ProviderId,
        request: &VoiceRequest,
        facts: &Facts,
        answer: &VoiceAnswer,
    ) -> Option<UserId> {
        if !matches!(answer, VoiceAnswer::Dial { .. }) {
            return None;
        }
        match &request.from {
            CallParty::Sip { user, .. } => self
                .team
                .repo
                .login_by_sip_user(provider, user)
                .await
                .ok()
                .flatten()
                .map(|l| l.user_id),
            _ => facts.target.as_ref()?.user.as_ref().map(|u| u.id),
        }
    }

    /// The team journal's row for a call, from its voice request (the provider's first word
    /// about it) or the event that came first, given to its agent, who hears of it on the live
    /// link — and of each change after, the recording too. `queue`: the queue it came
    /// through.
    pub(crate) async fn journal_routed(
        &self,
        provider: ProviderId,
        request: &VoiceRequest,
        answer: &VoiceAnswer,
        agent: UserId,
        queue: Option<&str>,
    ) -> Result<(), StoreError> {
        let _one_at_a_time = self.apply.lock().await;
        let known = self
            .calls
            .find_by_provider_call(provider, &request.provider_call_id)
            .await?;
        let mut call = match known {
            Some(call) if call.user_id == Some(agent) => return Ok(()),
            Some(call) => call,
            None => {
                let region = self.team.region;
                let (direction, from) = match (&request.from, answer) {
                    // The softphone's call leaves with the caller ID routing gave it.
                    (
                        CallParty::Sip { .. },
                        VoiceAnswer::Dial {
                            caller_id: Some(shown),
                            ..
                        },
                    ) => (CallDirection::Outbound, shown.to_string()),
                    (CallParty::Sip { .. }, _) => {
                        (CallDirection::Outbound, party_text(&request.from, region))
                    }
                    _ => (CallDirection::Inbound, party_text(&request.from, region)),
                };
                let to = party_text(&request.to, region);
                let mut call = Call::new(direction, from, to, OffsetDateTime::now_utc());
                call.provider_id = Some(provider);
                call.provider_call_id = Some(request.provider_call_id.clone());
                call
            }
        };
        call.user_id = Some(agent);
        if let Some(queue) = queue {
            call.queue = Some(queue.to_string());
        }
        self.calls.save(&call).await?;
        tracing::info!(provider_id = %provider, call = %call.id, user_id = %agent, "team journal: the call's agent");
        self.team.live.tell_agent(call).await;
        Ok(())
    }

    async fn facts(
        &self,
        provider: ProviderId,
        request: &VoiceRequest,
    ) -> Result<Facts, TeamError> {
        let team = &self.team;
        let caller = match &request.from {
            CallParty::Sip { user, .. } => {
                match team.repo.login_by_sip_user(provider, user).await? {
                    Some(login) => {
                        let agent = team.agents.users.get(login.user_id).await?;
                        let theirs = match &agent {
                            Some(agent) => team.agents.caller_id_of(agent, provider).await?,
                            None => None,
                        };
                        Some(match theirs {
                            Some(n) => Some(n),
                            None => {
                                team.providers
                                    .get(provider)
                                    .await?
                                    .settings
                                    .default_caller_id
                            }
                        })
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let called = match &request.to {
            CallParty::Number(to) => team
                .agents
                .numbers
                .list(Some(provider))
                .await?
                .into_iter()
                .find(|n| &n.phone_number == to),
            _ => None,
        };
        let target = match called.as_ref().and_then(|n| n.route.as_ref()) {
            Some(NumberRoute::User { user_id }) => team.target_of(*user_id, provider).await?,
            _ => None,
        };
        Ok(Facts {
            caller,
            called,
            target,
        })
    }
}

#[async_trait]
impl Host for Receiver {
    async fn adapter(&self, id: ProviderId) -> Result<Arc<dyn ProviderAdapter>, Unusable> {
        ringdesk_webhooks::adapter_of(&self.team.providers, id).await
    }

    async fn apply(
        &self,
        id: ProviderId,
        _adapter: &Arc<dyn ProviderAdapter>,
        events: Vec<WebhookEvent>,
    ) -> Result<(), ()> {
        let _one_at_a_time = self.apply.lock().await;
        for event in &events {
            if let Err(e) = self.apply_one(id, event).await {
                // The provider retries what we do not acknowledge: nothing is lost.
                tracing::error!(provider_id = %id, error = %e, "cannot apply a webhook event");
                return Err(());
            }
        }
        Ok(())
    }

    async fn voice(&self, id: ProviderId, request: &VoiceRequest) -> VoiceAnswer {
        match self.facts(id, request).await {
            Ok(Facts {
                called:
                    Some(
                        number @ PhoneNumber {
                            route: Some(NumberRoute::Queue { .. }),
                            ..
                        },
                    ),
                caller: None,
                ..
            }) => self
                .enqueue(id, request, &number)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(provider_id = %id, error = %e, "cannot queue a call");
                    cannot_connect()
                }),
            Ok(facts) => {
                let answer = routing::decide(request, &facts, self.team.region);
                if let Some(agent) = self.agent_of(id, request, &facts, &answer).await {
                    if let Err(e) = self.journal_routed(id, request, &answer, agent, None).await {
                        // The call still goes through; its events will journal it, unowned.
                        tracing::error!(provider_id = %id, error = %e, "cannot journal a call's agent");
                    }
                }
                let number = self.number_of(id, &facts, &answer).await;
                let answer = self.recorded(id, request, number.as_ref(), answer).await;
                self.agent_voicemail(id, request, &facts, answer)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(provider_id = %id, error = %e, "cannot offer voicemail");
                        cannot_connect()
                    })
            }
            Err(e) => {
                tracing::error!(provider_id = %id, error = %e, "cannot decide where a call goes");
                cannot_connect()
            }
        }
    }

    async fn step(
        &self,
        id: ProviderId,
        query: &[(String, String)],
        request: &StepRequest,
    ) -> VoiceAnswer {
        self.queue_step(id, query, request).await
    }

    fn region(&self) -> Region {
        self.team.region
    }
}

//! A queue's callers, served by the webhook host one stateless step at a time: a caller
//! arrives (the voice request of a number routed to a queue), each step reads the caller's
//! row and the members' presence, `queue::decide` says what next (offer, hold, overflow), the
//! row is moved on with a conditional update, and the answer tells the provider. The step
//! URLs the answers carry are signed by the server, so only steps it wrote are taken.

use std::collections::HashMap;

use ringdesk_core::ports::{
    CallParty, DialResult, DialTarget, Prompt, Ringing, StepRequest, VoiceAnswer, VoiceRequest,
};
use ringdesk_core::queue::{
    self, Decision, Member, Overflow, Queue, QueueCall, QueueCallId, QueueCallState, VoicemailBox,
    VoicemailId,
};
use ringdesk_core::routing::{self, Facts, SipLogin};
use ringdesk_core::team::{Presence, TeamEvent};
use ringdesk_core::{E164Number, NumberRoute, PhoneNumber, ProviderId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::host::Receiver;
use crate::sounds::{QueueSound, SoundOwner};
use crate::team::TeamError;

/// The longest message a caller can leave (Twilio transcribes up to two minutes).
const VOICEMAIL_MAX_SECS: u32 = 120;
const THANKS: &str = "Thank you. Goodbye.";
const NOBODY: &str = "Sorry, nobody can take your call right now. Please call again later.";
/// How long an agent's own softphone rings before the caller is asked for a message.
const AGENT_RING_SECS: u32 = 25;
/// How many plays of the hold music between two announcements of a caller's place in line.
const ANNOUNCE_EVERY: u32 = 4;
/// The recent callers whose waits make the expected wait a holding caller is told.
const TYPICAL_WAIT_OVER: time::Duration = time::Duration::hours(2);
/// Overflow into another queue that overflows again: a loop an admin made stops here.
const MAX_HOPS: u8 = 3;

/// The hold music the server serves (assets/audio/hold-music.wav, see its README).
pub const HOLD_MUSIC: &[u8] = include_bytes!("../../../assets/audio/hold-music.wav");
pub const HOLD_MUSIC_PATH: &str = "/audio/hold-music.wav";

fn party(caller: &str) -> CallParty {
    E164Number::parse_international(caller)
        .map(CallParty::Number)
        .unwrap_or_else(|_| CallParty::Other(caller.to_string()))
}

impl Receiver {
    /// A caller for `number`, routed to a queue (by its id, or its name).
    pub(crate) async fn enqueue(
        &self,
        provider: ProviderId,
        request: &VoiceRequest,
        number: &PhoneNumber,
    ) -> Result<VoiceAnswer, TeamError> {
        let Some(NumberRoute::Queue { queue: route }) = &number.route else {
            return Ok(VoiceAnswer::Refuse { say: NOBODY.into() });
        };
        let Some(queue) = self.queues.find(route).await? else {
            tracing::warn!(provider_id = %provider, route, "a number routed to a queue that is gone");
            return Ok(VoiceAnswer::Refuse { say: NOBODY.into() });
        };
        let now = OffsetDateTime::now_utc();
        let known = self
            .queues
            .call_of(provider, &request.provider_call_id)
            .await?;
        let full =
            known.is_none() && !queue::has_room(&queue, self.queues.open_count(queue.id).await?);
        let caller = crate::host::party_text(&request.from, self.team.region);
        let account = self.team.providers.get(provider).await?;
        let recorded = crate::host::records(&account, Some(number));
        let call = self
            .queues
            .enqueue(
                queue.id,
                provider,
                &request.provider_call_id,
                (&caller, recorded),
                now,
            )
            .await?;
        self.team.live.tell(TeamEvent::Queues).await;
        if full {
            tracing::info!(queue = %queue.id, "queue full: overflow");
            return self.overflow(provider, &queue, &call, 0).await;
        }
        self.serve(provider, call, 0, 0).await
    }

    /// A provider's request to one of the queue's step URLs.
    pub(crate) async fn queue_step(
        &self,
        provider: ProviderId,
        query: &[(String, String)],
        request: &StepRequest,
    ) -> VoiceAnswer {
        let Some(step) = self.step_of(provider, query) else {
            tracing::warn!(provider_id = %provider, "a step URL the server did not sign: refused");
            return VoiceAnswer::Hangup;
        };
        let result = match step.get("do").map(String::as_str) {
            Some("next") => self.next(provider, &step, request).await,
            Some("answered") => self.answered(provider, &step).await,
            Some("agent_next") => self.agent_unanswered(provider, &step, request).await,
            Some("vm_done") => Ok(VoiceAnswer::Refuse { say: THANKS.into() }),
            Some("vm_ready") => {
                self.voicemail_ready(provider, &step, request);
                Ok(VoiceAnswer::Connect)
            }
            Some("vm_text") => {
                self.voicemail_text(provider, &step, request).await;
                Ok(VoiceAnswer::Connect)
            }
            _ => Ok(VoiceAnswer::Hangup),
        };
        result.unwrap_or_else(|e| {
            tracing::error!(provider_id = %provider, error = %e, "a queue step failed");
            crate::host::cannot_connect()
        })
    }

    /// After a hold (`Redirect`) or a dial (`Dial action`): where the caller is now.
    async fn next(
        &self,
        provider: ProviderId,
        step: &HashMap<String, String>,
        request: &StepRequest,
    ) -> Result<VoiceAnswer, TeamError> {
        let Some(call) = self.queue_call(step).await? else {
            return Ok(VoiceAnswer::Hangup);
        };
        let now = OffsetDateTime::now_utc();
        // A late or repeated report about an agent no longer rung for this caller (who rings
        // someone else now).
        if let Some(agent) = id_of(step, "agent").map(UserId) {
            let offered =
                call.state != QueueCallState::Offering || call.offered_to.contains(&agent);
            if request.dial.is_some() && !offered {
                tracing::info!(queue_call = %call.id, user_id = %agent, "a stale dial report: ignored");
                return Ok(VoiceAnswer::Connect);
            }
        }
        match (call.state, request.dial) {
            // A dial reported while it goes on (Vonage): still ringing, nothing moves.
            (_, Some(DialResult::Ringing)) => Ok(VoiceAnswer::Connect),
            // …or the one agent rung (one at a time there) picked up.
            (QueueCallState::Offering, Some(DialResult::Connected)) => {
                self.answered(provider, step).await
            }
            (_, Some(DialResult::Connected)) => Ok(VoiceAnswer::Connect),
            (QueueCallState::Waiting, _) => {
                let held = step.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
                self.serve(provider, call, 0, held).await
            }
            (QueueCallState::Offering, Some(DialResult::Canceled)) => {
                self.queues
                    .finish(call.id, QueueCallState::Abandoned, now)
                    .await?;
                self.team.live.tell(TeamEvent::Queues).await;
                Ok(VoiceAnswer::Hangup)
            }
            // Answered, but the answering leg's own request never came (the provider does
            // not send it): the call was taken; it is over now.
            (QueueCallState::Offering, Some(DialResult::Answered)) => {
                self.queues
                    .finish(call.id, QueueCallState::Bridged, now)
                    .await?;
                self.team.live.tell(TeamEvent::Queues).await;
                Ok(VoiceAnswer::Hangup)
            }
            (QueueCallState::Offering, _) => {
                self.queues.unanswered(&call).await?;
                match self.queues.call(call.id).await? {
                    Some(call) => self.serve(provider, call, 0, 0).await,
                    None => Ok(VoiceAnswer::Hangup),
                }
            }
            // The agent's talk with the caller ended.
            (QueueCallState::Bridged, _) => {
                self.queues
                    .finish(call.id, QueueCallState::Bridged, now)
                    .await?;
                Ok(VoiceAnswer::Hangup)
            }
            (QueueCallState::Overflowed | QueueCallState::Abandoned, _) => Ok(VoiceAnswer::Hangup),
        }
    }

    /// An agent's leg answered: theirs if nobody's was before (the others are hung up by the
    /// provider, or refused here if they answered in the same instant).
    async fn answered(
        &self,
        provider: ProviderId,
        step: &HashMap<String, String>,
    ) -> Result<VoiceAnswer, TeamError> {
        let (Some(call), Some(agent)) = (self.queue_call(step).await?, id_of(step, "agent")) else {
            return Ok(VoiceAnswer::Hangup);
        };
        let agent = UserId(agent);
        if !self.queues.answer(call.id, agent).await? {
            tracing::info!(queue_call = %call.id, user_id = %agent, "answered second: refused");
            return Ok(VoiceAnswer::Hangup);
        }
        tracing::info!(queue_call = %call.id, user_id = %agent, "queue call answered");
        let queue = self.queues.get(call.queue_id).await?.map(|q| q.name);
        self.team.live.tell(TeamEvent::Queues).await;
        let request = VoiceRequest {
            provider_call_id: call.provider_call_id.clone(),
            from: party(&call.caller),
            to: CallParty::Other(String::new()),
        };
        if let Err(e) = self
            .journal_routed(
                provider,
                &request,
                &VoiceAnswer::Connect,
                agent,
                queue.as_deref(),
            )
            .await
        {
            tracing::error!(provider_id = %provider, error = %e, "cannot journal a queue call's agent");
        }
        Ok(VoiceAnswer::Connect)
    }

    /// The step for a caller ringing nobody: offer, hold or overflow.
    async fn serve(
        &self,
        provider: ProviderId,
        call: QueueCall,
        hops: u8,
        held: u32,
    ) -> Result<VoiceAnswer, TeamError> {
        let Some(queue) = self.queues.get(call.queue_id).await? else {
            return Ok(VoiceAnswer::Refuse { say: NOBODY.into() });
        };
        let now = OffsetDateTime::now_utc();
        let (members, logins) = self.members(provider, &queue).await?;
        let ahead = self.queues.ahead_of(&call).await?;
        let cursor = self.queues.cursor(queue.id).await?;
        let decision = queue::decide(&queue, &call, &members, ahead, cursor, now);
        tracing::info!(queue = %queue.id, queue_call = %call.id, ?decision, ahead, "queue step");
        match decision {
            Decision::Offer(mut agents) => {
                let account = self.team.providers.get(provider).await?;
                if account.kind.rings_one_at_a_time() {
                    agents.truncate(1);
                }
                if !self.queues.offer(&call, &agents, now).await? {
                    // Another step moved this caller meanwhile: keep them holding.
                    return self.hold(provider, &call, held, ahead).await;
                }
                self.team.live.tell(TeamEvent::Queues).await;
                let ring = agents
                    .iter()
                    .filter_map(|agent| {
                        let login = logins.get(agent)?;
                        Some(Ringing {
                            target: DialTarget::Sip {
                                user: login.user.clone(),
                                host: login.domain.clone(),
                                call: Some(call.provider_call_id.clone()),
                                queue: Some(queue.name.clone()),
                            },
                            on_answer: Some(self.step_url(
                                provider,
                                &[
                                    ("do", "answered".into()),
                                    ("qc", call.id.to_string()),
                                    ("agent", agent.to_string()),
                                ],
                            )),
                        })
                    })
                    .collect();
                // One agent rung: a provider that reports the answer on `after` (Vonage)
                // says whose it was there.
                let mut after = vec![("do", "next".into()), ("qc", call.id.to_string())];
                if let [agent] = agents.as_slice() {
                    after.push(("agent", agent.to_string()));
                }
                Ok(VoiceAnswer::Offer {
                    ring,
                    timeout_secs: queue.ring_timeout_secs,
                    after: self.step_url(provider, &after),
                    record: call
                        .recorded
                        .then(|| self.recording_events(&account, &call.provider_call_id)),
                    transfer_url: None,
                })
            }
            Decision::Hold { new_round } => {
                if new_round {
                    self.queues.new_round(call.id).await?;
                }
                self.hold(provider, &call, held, ahead).await
            }
            Decision::Overflow(reason) => {
                tracing::info!(queue = %queue.id, queue_call = %call.id, ?reason, "queue overflow");
                self.overflow(provider, &queue, &call, hops).await
            }
        }
    }

    /// Hold music, then the next step. The caller hears their place in line (and the wait
    /// the queue's recent callers had) when they start holding and every fourth play after
    /// (about every half minute), not at every loop.
    async fn hold(
        &self,
        provider: ProviderId,
        call: &QueueCall,
        held: u32,
        ahead: usize,
    ) -> Result<VoiceAnswer, TeamError> {
        let say = match held.is_multiple_of(ANNOUNCE_EVERY) {
            true => {
                let since = OffsetDateTime::now_utc() - TYPICAL_WAIT_OVER;
                let wait = self.queues.typical_wait(call.queue_id, since).await?;
                Some(queue::hold_announcement(ahead, wait))
            }
            false => None,
        };
        let music = self
            .sounds
            .url(
                &self.team.base_url,
                SoundOwner::Queue(call.queue_id),
                QueueSound::HoldMusic,
            )
            .unwrap_or_else(|| format!("{}{HOLD_MUSIC_PATH}", self.team.base_url));
        Ok(VoiceAnswer::Hold {
            say,
            music,
            then: self.step_url(
                provider,
                &[
                    ("do", "next".into()),
                    ("qc", call.id.to_string()),
                    ("n", (held + 1).to_string()),
                ],
            ),
        })
    }

    async fn overflow(
        &self,
        provider: ProviderId,
        queue: &Queue,
        call: &QueueCall,
        hops: u8,
    ) -> Result<VoiceAnswer, TeamError> {
        let now = OffsetDateTime::now_utc();
        if let Overflow::Queue { queue_id } = &queue.overflow {
            if hops < MAX_HOPS && self.queues.move_to(call.id, *queue_id, now).await? {
                self.team.live.tell(TeamEvent::Queues).await;
                if let Some(moved) = self.queues.call(call.id).await? {
                    return Box::pin(self.serve(provider, moved, hops + 1, 0)).await;
                }
            }
        }
        self.queues
            .finish(call.id, QueueCallState::Overflowed, now)
            .await?;
        self.team.live.tell(TeamEvent::Queues).await;
        Ok(match &queue.overflow {
            Overflow::Voicemail => {
                let mailbox = VoicemailBox::Queue { queue_id: queue.id };
                // The queue's recording, else its words, else ours.
                let greeting = match self.sounds.url(
                    &self.team.base_url,
                    SoundOwner::Queue(queue.id),
                    QueueSound::Greeting,
                ) {
                    Some(url) => Prompt::Play(url),
                    None => Prompt::Say(
                        queue
                            .greeting
                            .clone()
                            .unwrap_or_else(|| queue::DEFAULT_GREETING.into()),
                    ),
                };
                self.voicemail(
                    provider,
                    (&call.provider_call_id, &call.caller),
                    mailbox,
                    greeting,
                )
                .await?
            }
            Overflow::Number { number } => VoiceAnswer::Dial {
                target: DialTarget::Number(number.clone()),
                caller_id: None,
                transfer_url: None,
                record: None,
            },
            Overflow::User { user_id } => match self.team.target_of(*user_id, provider).await? {
                Some(target) => routing::ring(&target, &call.provider_call_id),
                None => VoiceAnswer::Refuse { say: NOBODY.into() },
            },
            Overflow::Queue { .. } => VoiceAnswer::Refuse { say: NOBODY.into() },
        })
    }

    /// The greeting, then the caller's message into `mailbox`.
    async fn voicemail(
        &self,
        provider: ProviderId,
        (provider_call_id, caller): (&str, &str),
        mailbox: VoicemailBox,
        greeting: Prompt,
    ) -> Result<VoiceAnswer, TeamError> {
        let id = self
            .queues
            .voicemail_for(
                mailbox,
                provider,
                provider_call_id,
                caller,
                OffsetDateTime::now_utc(),
            )
            .await?;
        let url =
            |what: &str| self.step_url(provider, &[("do", what.into()), ("vm", id.to_string())]);
        Ok(VoiceAnswer::Voicemail {
            greeting,
            max_secs: VOICEMAIL_MAX_SECS,
            after: url("vm_done"),
            ready: url("vm_ready"),
            transcribed: url("vm_text"),
        })
    }

    /// A call routed to an agent who takes voicemail: their softphone rings for a while and,
    /// unanswered, the caller leaves them a message; when it cannot ring them at all
    /// (offline, Do not disturb, no forwarding number), the message is asked for at once.
    pub(crate) async fn agent_voicemail(
        &self,
        provider: ProviderId,
        request: &VoiceRequest,
        facts: &Facts,
        answer: VoiceAnswer,
    ) -> Result<VoiceAnswer, TeamError> {
        let routed_to_agent = matches!(
            facts.called.as_ref().and_then(|n| n.route.as_ref()),
            Some(NumberRoute::User { .. })
        );
        let agent = facts.target.as_ref().and_then(|t| t.user.as_ref());
        // Not a softphone's own call.
        let ours = facts.caller.is_none();
        let Some(agent) = agent.filter(|a| ours && routed_to_agent && a.settings.voicemail_enabled)
        else {
            return Ok(answer);
        };
        let caller = crate::host::party_text(&request.from, self.team.region);
        Ok(match answer {
            VoiceAnswer::Dial {
                target: target @ DialTarget::Sip { .. },
                caller_id: None,
                transfer_url,
                record,
            } => VoiceAnswer::Offer {
                ring: vec![Ringing {
                    target,
                    on_answer: None,
                }],
                timeout_secs: AGENT_RING_SECS,
                after: self.step_url(
                    provider,
                    &[
                        ("do", "agent_next".into()),
                        ("agent", agent.id.to_string()),
                        ("caller", caller),
                        ("call", request.provider_call_id.clone()),
                    ],
                ),
                record,
                transfer_url,
            },
            VoiceAnswer::Refuse { .. } => {
                self.voicemail(
                    provider,
                    (&request.provider_call_id, &caller),
                    VoicemailBox::User { user_id: agent.id },
                    self.agent_greeting(agent.id, &agent.name),
                )
                .await?
            }
            other => other,
        })
    }

    /// The agent's own recorded greeting, else the provider says one with their name.
    fn agent_greeting(&self, agent: UserId, name: &str) -> Prompt {
        match self.sounds.url(
            &self.team.base_url,
            SoundOwner::Agent(agent),
            QueueSound::Greeting,
        ) {
            Some(url) => Prompt::Play(url),
            None => Prompt::Say(format!(
                "Sorry, {name} cannot take your call right now. Please leave a message after the tone."
            )),
        }
    }

    /// The agent's softphone rang out (or was busy): the caller leaves them a message.
    async fn agent_unanswered(
        &self,
        provider: ProviderId,
        step: &HashMap<String, String>,
        request: &StepRequest,
    ) -> Result<VoiceAnswer, TeamError> {
        match request.dial {
            // Still ringing, or picked up (Vonage reports both on the way).
            Some(DialResult::Ringing | DialResult::Connected) => return Ok(VoiceAnswer::Connect),
            Some(DialResult::Answered | DialResult::Canceled) | None => {
                return Ok(VoiceAnswer::Hangup)
            }
            Some(DialResult::NoAnswer | DialResult::Busy | DialResult::Failed) => {}
        }
        let Some(agent) = id_of(step, "agent").map(UserId) else {
            return Ok(VoiceAnswer::Hangup);
        };
        let name = match self.team.agents.users.get(agent).await? {
            Some(user) => user.name,
            None => return Ok(VoiceAnswer::Hangup),
        };
        let caller = step.get("caller").cloned().unwrap_or_default();
        // The caller's call (a provider may report the agent's leg here).
        let call = step.get("call").unwrap_or(&request.provider_call_id);
        self.voicemail(
            provider,
            (call, &caller),
            VoicemailBox::User { user_id: agent },
            self.agent_greeting(agent, &name),
        )
        .await
    }

    /// The message can be fetched: copied off the provider's request (it gets its answer at
    /// once).
    fn voicemail_ready(
        &self,
        provider: ProviderId,
        step: &HashMap<String, String>,
        request: &StepRequest,
    ) {
        let (Some(id), Some(recording)) = (id_of(step, "vm"), &request.recording) else {
            return;
        };
        tokio::spawn(self.voicemails.clone().ready(
            provider,
            VoicemailId(id),
            recording.url.clone(),
            recording.duration_secs,
        ));
    }

    /// A message's transcription: its text, that there is none, or a link to read it from.
    async fn voicemail_text(
        &self,
        provider: ProviderId,
        step: &HashMap<String, String>,
        request: &StepRequest,
    ) {
        let Some(id) = id_of(step, "vm").map(VoicemailId) else {
            return;
        };
        if let Some(text) = &request.transcription {
            self.voicemails
                .transcribed(id, text.as_deref().map_err(|_| ()))
                .await;
        } else if let Some(url) = &request.transcript_url {
            tokio::spawn(
                self.voicemails
                    .clone()
                    .transcript_soon(provider, id, url.clone()),
            );
        }
    }

    /// The queue's members as a step sees them, and the softphone each can be rung on.
    async fn members(
        &self,
        provider: ProviderId,
        queue: &Queue,
    ) -> Result<(Vec<Member>, HashMap<UserId, SipLogin>), TeamError> {
        let ringing = self.queues.ringing_agents().await?;
        let talking = self.queues.talking_agents().await?;
        let mut members = Vec::new();
        let mut logins = HashMap::new();
        for user_id in &queue.members {
            let Some(user) = self.team.agents.users.get(*user_id).await? else {
                continue;
            };
            let presence = self.team.presence_of(*user_id).await?;
            let login = match presence {
                Some(_) => self.team.repo.login_of(*user_id, provider).await?,
                None => None,
            };
            let available = presence == Some(Presence::Available)
                && !user.settings.dnd_enabled
                && login.is_some()
                && !ringing.contains(user_id)
                && !talking.contains(user_id);
            if let Some(login) = login {
                logins.insert(
                    *user_id,
                    SipLogin {
                        user: login.sip_user,
                        domain: login.sip_domain,
                    },
                );
            }
            members.push(Member {
                user_id: *user_id,
                signed_in: presence.is_some(),
                available,
                idle_since: self.queues.idle_since(*user_id).await?,
            });
        }
        Ok((members, logins))
    }

    /// A call the provider says is over: its caller leaves the queue (abandoned while still
    /// waiting), or the agent who took it is free again.
    pub(crate) async fn queue_call_ended(&self, provider: ProviderId, provider_call_id: &str) {
        let now = OffsetDateTime::now_utc();
        let ended = async {
            let Some(call) = self.queues.call_of(provider, provider_call_id).await? else {
                return Ok::<_, TeamError>(());
            };
            let state = match call.state {
                QueueCallState::Waiting | QueueCallState::Offering => QueueCallState::Abandoned,
                other => other,
            };
            if self.queues.finish(call.id, state, now).await? {
                tracing::info!(queue_call = %call.id, state = state.code(), "queue call over");
                self.team.live.tell(TeamEvent::Queues).await;
            }
            Ok(())
        };
        if let Err(e) = ended.await {
            tracing::error!(provider_id = %provider, error = %e, "cannot end a queue call");
        }
    }

    async fn queue_call(
        &self,
        step: &HashMap<String, String>,
    ) -> Result<Option<QueueCall>, TeamError> {
        match id_of(step, "qc") {
            Some(id) => Ok(self.queues.call(QueueCallId(id)).await?),
            None => Ok(None),
        }
    }

    /// A step URL: its parameters, signed with the server's key.
    fn step_url(&self, provider: ProviderId, params: &[(&str, String)]) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let sig = self.team.sealer.sign(&step_message(provider, &query));
        format!(
            "{}/webhooks/{provider}/step?{query}&sig={sig}",
            self.team.base_url
        )
    }

    /// A step URL's parameters, when the server signed them.
    fn step_of(
        &self,
        provider: ProviderId,
        query: &[(String, String)],
    ) -> Option<HashMap<String, String>> {
        let (sig, params) = query.split_last()?;
        if sig.0 != "sig" {
            return None;
        }
        let signed = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();
        self.team
            .sealer
            .verify(&step_message(provider, &signed), &sig.1)
            .then(|| params.iter().cloned().collect())
    }
}

fn step_message(provider: ProviderId, query: &str) -> String {
    format!("step:{provider}:{query}")
}

fn id_of(step: &HashMap<String, String>, key: &str) -> Option<Uuid> {
    step.get(key).and_then(|v| Uuid::parse_str(v).ok())
}

//! "Calls ring on: my phone": the active provider's call control rings the agent's own desk or
//! mobile phone first and then connects the contact (seed phase 4's makeCall/hangup). The call
//! is journaled when placed; its progress comes back through the webhook receiver, which
//! hands every applied notice to `on_notice` so the widget follows it and Telnyx (which cannot
//! carry "then connect" in the request) gets its transfer once the agent answers.

use ringdesk_core::ports::{CallRequest, ProviderAdapter};
use ringdesk_core::service::ProviderService;
use ringdesk_core::{
    Call, CallDirection, CallEndReason, ContactId, E164Number, Provider, ProviderKind, Region,
    TransferKind, TransferOutcome,
};
use ringdesk_store::{SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::calls::{ActiveCall, CallChannels, CallError, CallNotice, Journal};

const KEY: &str = "call_route";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallRouteMode {
    #[default]
    Softphone,
    Phone,
}

/// Settings → Telephony → "Calls ring on" (and whether a dial link waits for the agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRoute {
    pub mode: CallRouteMode,
    /// The agent's own phone, E.164.
    pub phone: Option<E164Number>,
    /// A `tel:`/`callto:`/`sip:`/`ringdesk:` link fills the dialpad and waits for Call (the
    /// default); off, it dials at once.
    #[serde(default = "yes")]
    pub confirm_links: bool,
}

fn yes() -> bool {
    true
}

impl Default for CallRoute {
    fn default() -> Self {
        CallRoute {
            mode: CallRouteMode::default(),
            phone: None,
            confirm_links: true,
        }
    }
}

/// The form as typed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRouteInput {
    pub mode: CallRouteMode,
    pub phone: Option<String>,
    /// None keeps asking (the safe default).
    pub confirm_links: Option<bool>,
}

impl CallRouteInput {
    pub fn validate(self, region: Region) -> Result<CallRoute, CallError> {
        let phone =
            match self.phone.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p) => Some(E164Number::parse(p, region).map_err(|e| {
                    CallError::BadNumber(ringdesk_core::sentence_case(&e.to_string()))
                })?),
            };
        if self.mode == CallRouteMode::Phone && phone.is_none() {
            return Err(CallError::BadNumber(
                "Enter the phone the provider should ring".into(),
            ));
        }
        Ok(CallRoute {
            mode: self.mode,
            phone,
            confirm_links: self.confirm_links.unwrap_or(true),
        })
    }
}

pub(crate) async fn load(settings: &SettingsRepository) -> Result<CallRoute, StoreError> {
    Ok(settings.get_json(KEY).await?.unwrap_or_default())
}

pub(crate) async fn save(
    settings: &SettingsRepository,
    route: &CallRoute,
) -> Result<(), StoreError> {
    settings.set_json(KEY, route).await
}

/// The call placed through the provider, while it lasts. The slot is held only between
/// awaits on the journal, never across the provider's HTTP requests: a slow or silent provider
/// must not block the agent's next command or the webhook that follows.
pub struct ProviderCalls {
    journal: Journal,
    channels: CallChannels,
    current: Mutex<Slot>,
    /// The provider's recording of the call: None when it records none, else whether it is
    /// recording now (false: paused).
    recording: std::sync::Mutex<Option<bool>>,
    /// Where the provider posts the call's events (this desktop's receiver), when it does.
    events: std::sync::Mutex<Option<String>>,
}

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Free,
    /// The provider is being asked to place it.
    Placing,
    Live(Box<Call>),
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn provider_error(e: impl std::fmt::Display) -> CallError {
    CallError::Provider(ringdesk_core::sentence_case(&e.to_string()))
}

impl ProviderCalls {
    pub fn new(journal: Journal, channels: CallChannels) -> Self {
        ProviderCalls {
            journal,
            channels,
            current: Mutex::new(Slot::Free),
            recording: Default::default(),
            events: Default::default(),
        }
    }

    pub async fn has_call(&self) -> bool {
        !matches!(*self.current.lock().await, Slot::Free)
    }

    /// Asks the active provider to ring `agent_phone`, then connect `target`.
    pub async fn dial(
        &self,
        providers: &ProviderService,
        webhook_base: Option<String>,
        agent_phone: E164Number,
        target: &str,
        contact: Option<ContactId>,
    ) -> Result<Call, CallError> {
        {
            let mut current = self.current.lock().await;
            if !matches!(*current, Slot::Free) || !self.channels.calls.borrow().is_empty() {
                return Err(CallError::Busy);
            }
            *current = Slot::Placing;
        }
        let placed = self
            .place(providers, webhook_base, agent_phone, target, contact)
            .await;
        let mut current = self.current.lock().await;
        match placed {
            Ok((call, recorded)) => {
                self.set_recording(recorded.then_some(true));
                *current = Slot::Live(Box::new(call.clone()));
                self.publish(Some(&call));
                Ok(call)
            }
            Err(e) => {
                *current = Slot::Free;
                Err(e)
            }
        }
    }

    async fn place(
        &self,
        providers: &ProviderService,
        webhook_base: Option<String>,
        agent_phone: E164Number,
        target: &str,
        contact: Option<ContactId>,
    ) -> Result<(Call, bool), CallError> {
        let to = E164Number::parse(target, self.journal.region)
            .map_err(|e| CallError::BadNumber(ringdesk_core::sentence_case(&e.to_string())))?;
        let (provider, adapter) = active_provider(providers, &self.journal.settings).await?;
        // The agent's primary number on this provider, else the provider's default.
        let mine = match self.journal.agents.me_on(provider.id).await {
            Ok((_, caller_id)) => caller_id,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the agent's caller ID");
                None
            }
        };
        let from = mine
            .or_else(|| provider.settings.default_caller_id.clone())
            .ok_or_else(|| {
                CallError::Provider(format!(
                    "Set a default caller ID on “{}” (Settings → Telephony) or your primary number (Settings → Users): the contact sees it",
                    provider.name
                ))
            })?;
        let request = CallRequest {
            from: from.clone(),
            to: agent_phone,
            connect_to: Some(to.clone()),
            webhook_url: webhook_base.map(|b| format!("{b}/webhooks/{}", provider.id.0)),
            record: provider.settings.record_calls,
        };
        let handle = adapter.make_call(&request).await.map_err(provider_error)?;
        let mut call = Call::new(
            CallDirection::Outbound,
            from.to_string(),
            to.to_string(),
            now(),
        );
        call.provider_id = Some(provider.id);
        call.provider_call_id = Some(handle.provider_call_id);
        self.journal.attribute(&mut call, contact).await;
        self.journal.save(&call).await;
        // Vonage's call is recorded from the answer this desktop gives once the agent's phone
        // is up (`answer`): it needs the receiver to hear Vonage.
        let recorded = request.record
            && (provider.kind != ProviderKind::Vonage || request.webhook_url.is_some());
        if let Ok(mut events) = self.events.lock() {
            events.clone_from(&request.webhook_url);
        }
        Ok((self.journal.named(call).await, recorded))
    }

    fn set_recording(&self, state: Option<bool>) {
        if let Ok(mut r) = self.recording.lock() {
            *r = state;
        }
    }

    fn recording(&self) -> Option<bool> {
        self.recording.lock().ok().and_then(|r| *r)
    }

    /// What to do once the agent's phone answered the call placed on it, when the provider
    /// asks (Vonage, for a call it records: `create_call_body`): connect the contact, with the
    /// caller ID placed, recorded — the recording's event to come with this leg in its URL,
    /// since it names only the conversation. None: not this desktop's call.
    pub async fn answer(
        &self,
        provider: ringdesk_core::ProviderId,
        request: &ringdesk_core::ports::VoiceRequest,
    ) -> Option<ringdesk_core::ports::VoiceAnswer> {
        let call = match &*self.current.lock().await {
            Slot::Live(call) => (**call).clone(),
            _ => return None,
        };
        let ours = call.provider_id == Some(provider)
            && call.provider_call_id.as_deref() == Some(request.provider_call_id.as_str());
        if !ours {
            return None;
        }
        let contact = E164Number::parse_international(&call.to).ok()?;
        let events = self.events.lock().ok().and_then(|e| e.clone());
        let record = match (self.recording(), events) {
            (Some(_), Some(events)) => Some(format!(
                "{events}?call={}",
                url::form_urlencoded::byte_serialize(request.provider_call_id.as_bytes())
                    .collect::<String>()
            )),
            _ => None,
        };
        Some(ringdesk_core::ports::VoiceAnswer::Dial {
            target: ringdesk_core::ports::DialTarget::Number(contact),
            caller_id: E164Number::parse_international(&call.from).ok(),
            transfer_url: None,
            record,
        })
    }

    /// Pauses (`on` false) or resumes the provider's recording of the call (card details).
    pub async fn record(&self, providers: &ProviderService, on: bool) -> Result<(), CallError> {
        let call = match &*self.current.lock().await {
            Slot::Live(call) if call.answered_at.is_some() => (**call).clone(),
            Slot::Live(_) => {
                return Err(CallError::NotNow(
                    "The call is not connected yet: its recording starts when it is".into(),
                ))
            }
            _ => return Err(CallError::NoCall("record")),
        };
        if self.recording().is_none() {
            let records = active_provider(providers, &self.journal.settings)
                .await
                .map(|(p, _)| p.settings.record_calls)
                .unwrap_or(false);
            return Err(CallError::NotNow(if records {
                // Vonage without the webhook receiver (`place`).
                "This call is not recorded: the provider records calls on your phone only when it reaches this computer's webhook receiver (Settings → Telephony → Webhooks)".into()
            } else {
                "The provider does not record this call: turn on “Record calls” on the provider for the next ones".into()
            }));
        }
        let Some(id) = &call.provider_call_id else {
            return Err(CallError::NoCall("record"));
        };
        let (_, adapter) = active_provider(providers, &self.journal.settings).await?;
        adapter
            .pause_recording(id, !on)
            .await
            .map_err(provider_error)?;
        self.set_recording(Some(on));
        tracing::info!(call = %call.id, recording = on, "provider recording paused or resumed");
        self.publish(Some(&call));
        Ok(())
    }

    pub async fn hangup(&self, providers: &ProviderService) -> Result<(), CallError> {
        let call = match &*self.current.lock().await {
            Slot::Live(call) => (**call).clone(),
            _ => return Err(CallError::NoCall("hang up")),
        };
        if let Some(id) = &call.provider_call_id {
            let (_, adapter) = active_provider(providers, &self.journal.settings).await?;
            adapter.hangup(id).await.map_err(provider_error)?;
        }
        let mut current = self.current.lock().await;
        // The provider's own event may have ended it meanwhile.
        let Slot::Live(call) = std::mem::take(&mut *current) else {
            return Ok(());
        };
        let mut call = *call;
        let reason = if call.answered_at.is_some() {
            CallEndReason::HungUp
        } else {
            CallEndReason::Canceled
        };
        call.end(reason, None, now());
        self.journal.save(&call).await;
        self.publish(None);
        let _ = self.channels.notices.send(CallNotice::Ended(call));
        Ok(())
    }

    /// Passes the contact on to `target` (blind): the provider moves the contact's leg and
    /// releases the agent's phone. The journal keeps the transfer, failed or done.
    pub async fn transfer(
        &self,
        providers: &ProviderService,
        webhook_base: Option<String>,
        target: &str,
    ) -> Result<(), CallError> {
        let call = match &*self.current.lock().await {
            Slot::Live(call) if call.answered_at.is_some() => (**call).clone(),
            Slot::Live(_) => {
                return Err(CallError::NotNow(
                    "The call is not connected yet: transfer it once it is".into(),
                ))
            }
            _ => return Err(CallError::NoCall("transfer")),
        };
        let to = E164Number::parse(target, self.journal.region).map_err(|e| {
            CallError::BadNumber(format!(
                "{} (calls on your phone are passed on to phone numbers)",
                ringdesk_core::sentence_case(&e.to_string())
            ))
        })?;
        let (Some(id), Ok(from)) = (
            call.provider_call_id.clone(),
            E164Number::parse_international(&call.from),
        ) else {
            return Err(CallError::NoCall("transfer"));
        };
        let (provider, adapter) = active_provider(providers, &self.journal.settings).await?;
        let webhook_url = webhook_base.map(|b| format!("{b}/webhooks/{}", provider.id.0));
        let moved = adapter
            .transfer_connected(&id, &to, &from, webhook_url.as_deref())
            .await
            .map_err(provider_error);
        let mut current = self.current.lock().await;
        // The provider's own event may have ended it meanwhile (and another call begun).
        let Slot::Live(live) = &mut *current else {
            return moved;
        };
        if live.id != call.id {
            return moved;
        }
        let outcome = match &moved {
            Ok(()) => TransferOutcome::Succeeded,
            Err(_) => TransferOutcome::Failed,
        };
        let detail = moved.as_ref().err().map(|e| e.to_string());
        live.transfer(TransferKind::Blind, to.as_str(), outcome, detail, now());
        if moved.is_err() {
            self.journal.save(live).await;
            return moved;
        }
        let Slot::Live(call) = std::mem::take(&mut *current) else {
            return moved;
        };
        let mut call = *call;
        call.end(CallEndReason::Transferred, Some(to.to_string()), now());
        self.journal.save(&call).await;
        self.publish(None);
        let _ = self.channels.notices.send(CallNotice::Ended(call));
        Ok(())
    }

    /// A webhook changed a call: follow it if it is ours, and connect the contact once the
    /// agent's leg is answered (for providers that need to be told).
    pub async fn on_notice(&self, notice: &CallNotice, adapter: &dyn ProviderAdapter) {
        let call = match notice {
            CallNotice::Incoming(_) => return,
            CallNotice::Answered(c) | CallNotice::Ended(c) => c,
        };
        {
            let mut current = self.current.lock().await;
            if !matches!(&*current, Slot::Live(c) if c.id == call.id) {
                return;
            }
            if let CallNotice::Ended(_) = notice {
                *current = Slot::Free;
                self.publish(None);
                return;
            }
            *current = Slot::Live(Box::new(call.clone()));
            self.publish(Some(call));
        }
        if let (Some(id), Ok(contact), Ok(from)) = (
            &call.provider_call_id,
            E164Number::parse_international(&call.to),
            E164Number::parse_international(&call.from),
        ) {
            if let Err(e) = adapter.connect_answered(id, &contact, &from).await {
                tracing::warn!(error = %e, "cannot connect the contact to the answered call");
            }
        }
    }

    fn publish(&self, call: Option<&Call>) {
        let recording = self.recording();
        let mine = call
            .map(|c| {
                let mut active = ActiveCall::of(c.clone());
                active.provider_recording = recording.is_some();
                active.recording = recording == Some(true);
                active
            })
            .into_iter()
            .collect();
        self.channels.publish(false, mine);
    }
}

/// The provider whose call control places and moves calls on the agent's phone: the active
/// one, or — when the active one is a softphone login set up from a provider's API — that
/// provider (the login and its provider are one to the agent).
async fn active_provider(
    providers: &ProviderService,
    settings: &SettingsRepository,
) -> Result<(Provider, Box<dyn ProviderAdapter>), CallError> {
    let all = providers.list().await.map_err(provider_error)?;
    let active = all.iter().find(|p| p.is_active);
    let provider = match active {
        Some(p) if p.kind != ProviderKind::Sip => Some(p.clone()),
        Some(login) => {
            let made = crate::softphone_setup::softphones(settings, &all)
                .await
                .map_err(provider_error)?;
            made.iter()
                .find(|(_, sip)| **sip == login.id)
                .and_then(|(api, _)| all.iter().find(|p| p.id == *api).cloned())
        }
        None => None,
    }
    .ok_or_else(|| {
        CallError::Provider(
            "Make a Telnyx, Twilio or Vonage provider active to ring your phone".into(),
        )
    })?;
    let adapter = providers
        .adapter_for(provider.id)
        .await
        .map_err(provider_error)?;
    Ok((provider, adapter))
}

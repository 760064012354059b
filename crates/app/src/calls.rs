//! Calls through the softphone: the agent's commands (dial, answer, decline, hang up, mute,
//! hold, keypad) and the SIP user agent's events meet here, in the softphone's task. Every state
//! change is written to the journal first and only then published (`ActiveCall` on a watch
//! channel, `CallNotice`s on a broadcast), so what the agent sees is always what is stored.

use ringdesk_core::ports::{WebhookEvent, WebhookEventKind};
use ringdesk_core::{
    end_reason_from_cause, Call, CallAudio, CallDirection, CallEndReason, ContactId, E164Number,
    ProviderId, Region, SipSettings, SipTransport,
};
use ringdesk_media::audio::{AudioSink, AudioSource, NullSink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::device::{DeviceSink, DeviceSource};
use ringdesk_media::quality::Quality;
use ringdesk_media::sdp::Direction;
use ringdesk_media::session::MediaEvent;
use ringdesk_sip::account::Phone;
use ringdesk_sip::header::NameAddr;
use ringdesk_sip::ua::{CallEvent, CallId as SipCallId, EndReason};
use ringdesk_sip::Uri;
use std::sync::Arc;

use ringdesk_store::{
    CallRepository, ContactRepository, OutboxRepository, SettingsRepository, StoreError,
};

use crate::crm::CrmKind;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{broadcast, oneshot, watch};

use crate::audio;
use crate::availability::{self, Availability};
use crate::device_follow::CallDevices;
use crate::tones::{self, Tone};

/// Why a call command could not be done; the message is for the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the softphone is off: make a SIP account active in Settings → Telephony")]
    NoSoftphone,
    #[error("the softphone is not connected to its SIP server yet")]
    NotConnected,
    #[error("finish the current call first")]
    Busy,
    #[error("there is no call to {0}")]
    NoCall(&'static str),
    #[error("{0}")]
    BadNumber(String),
    #[error("the call's audio could not start: {0}")]
    Media(String),
    #[error("DTMF keys are 0-9, *, # and A-D")]
    BadDigits,
    #[error("{0}")]
    Provider(String),
    #[error("this call is on your phone: use its own buttons for that")]
    OnYourPhone,
    #[error("the journal: {0}")]
    Journal(String),
}

/// Last RTCP-based estimate of the call's audio, for the widget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallQuality {
    pub mos: f32,
    /// Audio lost on the way or concealed when played (the worse of the two), in percent.
    pub loss_percent: f32,
    pub jitter_ms: u32,
    pub rtt_ms: Option<u32>,
    pub poor: bool,
    /// Packets arrive and none of them can be played: the agent hears nothing.
    pub stalled: bool,
}

impl From<&Quality> for CallQuality {
    fn from(q: &Quality) -> Self {
        CallQuality {
            mos: q.mos,
            loss_percent: q.loss_percent.max(q.concealed_percent),
            jitter_ms: q.jitter.as_millis() as u32,
            rtt_ms: q.round_trip.map(|r| r.as_millis() as u32),
            poor: q.is_poor(),
            stalled: q.stalled,
        }
    }
}

/// The call in progress as the widget and the incoming popup show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCall {
    pub call: Call,
    pub muted: bool,
    pub held: bool,
    pub quality: Option<CallQuality>,
    /// The microphone and speaker the call's audio uses now (None: not this computer's —
    /// the call rings the agent's phone, or is still ringing here).
    pub devices: Option<CallDevices>,
}

/// Moments the desktop reacts to (popup, notification, tray), after the journal has them.
#[derive(Debug, Clone, PartialEq)]
pub enum CallNotice {
    Incoming(Call),
    Answered(Call),
    Ended(Call),
}

/// What the agent asks of the call.
pub enum CallCommand {
    Dial {
        target: String,
        contact: Option<ContactId>,
        reply: oneshot::Sender<Result<Call, CallError>>,
    },
    Answer(oneshot::Sender<Result<(), CallError>>),
    Decline(oneshot::Sender<Result<(), CallError>>),
    Hangup(oneshot::Sender<Result<(), CallError>>),
    Mute(bool, oneshot::Sender<Result<(), CallError>>),
    Hold(bool, oneshot::Sender<Result<(), CallError>>),
    Dtmf(String, oneshot::Sender<Result<(), CallError>>),
}

impl CallCommand {
    /// Answers the command with `error` without doing it (no running phone).
    pub fn refuse(self, error: CallError) {
        match self {
            CallCommand::Dial { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            CallCommand::Answer(r)
            | CallCommand::Decline(r)
            | CallCommand::Hangup(r)
            | CallCommand::Mute(_, r)
            | CallCommand::Hold(_, r)
            | CallCommand::Dtmf(_, r) => {
                let _ = r.send(Err(error));
            }
        }
    }
}

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
    pub agents: crate::numbers::Agents,
}

/// How long an answered call's CRM activity waits for the agent's after-call notes.
pub const WRAP_UP_HOLD_MS: i64 = 120_000;

impl Journal {
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
    /// nothing. Returns what to announce. Write failures are errors here (unlike on the
    /// softphone's path): the provider retries what is not acknowledged.
    pub async fn apply_webhook(
        &self,
        provider: ProviderId,
        event: &WebhookEvent,
    ) -> Result<Option<CallNotice>, StoreError> {
        if self.calls.webhook_seen(provider, &event.id).await? {
            tracing::info!(provider_id = %provider, "webhook event seen before: ignored");
            return Ok(None);
        }
        let at = now();
        let known = self
            .calls
            .find_by_provider_call(provider, &event.provider_call_id)
            .await?;
        let changed = match (&event.kind, known) {
            (WebhookEventKind::IncomingCall { from, to }, None) => {
                let mut call =
                    Call::new(CallDirection::Inbound, self.party(from), self.party(to), at);
                call.provider_id = Some(provider);
                call.provider_call_id = Some(event.provider_call_id.clone());
                self.attribute(&mut call, None).await;
                Some((call, CallNotice::Incoming as fn(Call) -> CallNotice))
            }
            (WebhookEventKind::CallAnswered, Some(mut call))
                if call.answered_at.is_none() && !call.status.is_final() =>
            {
                call.answer(at);
                Some((call, CallNotice::Answered as fn(Call) -> CallNotice))
            }
            (WebhookEventKind::CallEnded { cause }, Some(mut call)) if !call.status.is_final() => {
                let (reason, detail) = end_reason_from_cause(
                    cause.as_deref(),
                    call.direction,
                    call.answered_at.is_some(),
                );
                call.end(reason, detail, at);
                Some((call, CallNotice::Ended as fn(Call) -> CallNotice))
            }
            (WebhookEventKind::RecordingReady { url }, Some(mut call)) => {
                call.recording_url = Some(url.clone());
                self.store(&call).await?;
                None
            }
            _ => None,
        };
        let notice = match changed {
            Some((call, notice)) => {
                self.store(&call).await?;
                Some(notice(self.named(call).await))
            }
            None => None,
        };
        self.calls.mark_webhook(provider, &event.id).await?;
        Ok(notice)
    }

    /// A number as providers send it (`+14155550100`, Vonage's `14155550100`) in E.164, else
    /// the text as it came (a SIP address, `anonymous`), bounded.
    fn party(&self, raw: &str) -> String {
        let raw = raw.trim();
        E164Number::parse_international(raw)
            .or_else(|_| E164Number::parse_international(&format!("+{raw}")))
            .map(|n| n.to_string())
            .unwrap_or_else(|_| raw.chars().filter(|c| !c.is_control()).take(200).collect())
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

/// The channels the app's surface listens to.
#[derive(Clone)]
pub struct CallChannels {
    pub active: watch::Sender<Option<ActiveCall>>,
    pub notices: broadcast::Sender<CallNotice>,
}

impl Default for CallChannels {
    fn default() -> Self {
        CallChannels {
            active: watch::channel(None).0,
            notices: broadcast::channel(32).0,
        }
    }
}

/// The account calls go out on.
#[derive(Clone)]
pub struct Line {
    pub provider: ProviderId,
    /// `sip:user@domain`: our party in the journal when there is no caller ID number.
    pub address: String,
    /// Where a dialled number is sent: `sip:<E.164>@domain`.
    pub domain: String,
    /// Signalling over TLS: SRTP offered and required.
    pub encrypted: bool,
    pub caller_id: Option<E164Number>,
}

impl Line {
    pub fn new(
        provider: ProviderId,
        settings: &SipSettings,
        caller_id: Option<E164Number>,
    ) -> Line {
        Line {
            provider,
            address: settings.address(),
            domain: settings
                .domain
                .clone()
                .unwrap_or_else(|| settings.registrar.clone()),
            encrypted: settings.transport == SipTransport::Tls,
            caller_id,
        }
    }

    fn own_party(&self) -> String {
        self.caller_id
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| self.address.clone())
    }
}

struct Current {
    sip: SipCallId,
    call: Call,
    media: Option<CallMedia>,
    /// The microphone and speaker the call's audio uses (ringback plays on that speaker).
    devices: CallDevices,
    /// The INVITE's offer, kept until the agent answers.
    offer: Vec<u8>,
    muted: bool,
    held: bool,
    quality: Option<CallQuality>,
    /// The ringtone while an inbound call rings, ringback while an outbound one does;
    /// dropped (silenced) when the call is answered, brings its own early media, or ends.
    tone: Option<tones::Playing>,
}

/// One call at a time, on one line.
pub struct CallDesk {
    journal: Journal,
    channels: CallChannels,
    line: Line,
    current: Option<Current>,
}

/// Offered in this order: Opus, then wideband G.722, then G.711 (what every peer has).
const CODECS: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl CallDesk {
    pub fn new(journal: Journal, channels: CallChannels, line: Line) -> CallDesk {
        CallDesk {
            journal,
            channels,
            line,
            current: None,
        }
    }

    /// Media events of the call in progress (None when there are none to wait for).
    pub async fn next_media_event(&mut self) -> Option<MediaEvent> {
        let events = self.current.as_mut()?.media.as_mut()?.events()?;
        events.recv().await
    }

    /// The devices the call should use changed (a headset came or went, or the agent chose
    /// another): the call's audio moves; a device that will not open leaves the old one.
    pub async fn on_devices(&mut self, wanted: CallDevices) {
        let Some(c) = self.current.as_ref() else {
            return;
        };
        if c.media.is_none() || c.devices == wanted {
            return;
        }
        let mic = (c.devices.microphone != wanted.microphone).then(|| wanted.microphone.clone());
        let speaker = (c.devices.speaker != wanted.speaker).then(|| wanted.speaker.clone());
        let (source, sink, mic, speaker) = tokio::task::spawn_blocking(move || {
            let source = mic.as_ref().and_then(open_microphone);
            let sink = speaker.as_ref().and_then(open_speaker);
            (source, sink, mic, speaker)
        })
        .await
        .unwrap_or((None, None, None, None));
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let moved = source.is_some() || sink.is_some();
        if let (Some(name), true) = (mic, source.is_some()) {
            c.devices.microphone = name;
        }
        if let (Some(name), true) = (speaker, sink.is_some()) {
            c.devices.speaker = name;
        }
        if let Some(media) = c.media.as_mut() {
            media.replace_devices(source, sink);
        }
        if moved {
            tracing::info!(devices = ?c.devices, "the call moved to other devices");
            self.publish_view();
        }
    }

    pub async fn on_media(&mut self, event: MediaEvent) {
        if let (MediaEvent::Quality(q), Some(c)) = (&event, self.current.as_mut()) {
            c.quality = Some(q.into());
            self.publish_view();
        }
    }

    pub async fn on_command(&mut self, phone: &Phone, command: CallCommand) {
        match command {
            CallCommand::Dial {
                target,
                contact,
                reply,
            } => {
                let _ = reply.send(self.dial(phone, &target, contact).await);
            }
            CallCommand::Answer(reply) => {
                let _ = reply.send(self.answer(phone).await);
            }
            CallCommand::Decline(reply) => {
                let _ = reply.send(self.decline(phone).await);
            }
            CallCommand::Hangup(reply) => {
                let _ = reply.send(self.hangup(phone).await);
            }
            CallCommand::Mute(muted, reply) => {
                let _ = reply.send(self.mute(muted));
            }
            CallCommand::Hold(held, reply) => {
                let _ = reply.send(self.hold(phone, held).await);
            }
            CallCommand::Dtmf(digits, reply) => {
                let _ = reply.send(self.dtmf(&digits).await);
            }
        }
    }

    pub async fn on_event(&mut self, phone: &Phone, event: CallEvent) {
        match event {
            CallEvent::Incoming {
                call,
                from,
                to,
                sdp,
                ..
            } => self.incoming(phone, call, &from, &to, sdp).await,
            CallEvent::Ringing { call, sdp } => {
                let Some(c) = self.current_for(call) else {
                    return;
                };
                tracing::info!(early_media = sdp.is_some(), "the far end is ringing");
                match (sdp, c.media.as_mut()) {
                    // Early media: the far end plays its own ringback (or an announcement).
                    (Some(sdp), Some(m)) => match m.answered(&sdp) {
                        Ok(()) => c.tone = None,
                        Err(e) => tracing::warn!(error = %e, "early media refused"),
                    },
                    // Ringback unless it plays already or early media flows (a 180 after a
                    // 183 with SDP keeps the far end's audio, RFC 3960).
                    (None, Some(m)) if c.tone.is_none() && m.negotiated().is_none() => {
                        let speaker = c.devices.speaker.clone();
                        c.tone = Some(tones::play(Tone::Ringback, move || speaker));
                    }
                    _ => {}
                }
            }
            CallEvent::Established { call, sdp } => {
                let Some(c) = self.current_for(call) else {
                    return;
                };
                if c.call.direction == CallDirection::Outbound {
                    let started = match (c.media.as_mut(), sdp.is_empty()) {
                        (Some(m), false) => m.answered(&sdp).map_err(|e| e.to_string()),
                        _ => Ok(()),
                    };
                    if let Err(reason) = started {
                        tracing::warn!(%reason, "cannot use the callee's answer");
                        let _ = phone.hangup(call).await;
                        self.finish(CallEndReason::Failed, Some(reason)).await;
                        return;
                    }
                    c.tone = None;
                    c.call.answer(now());
                    self.commit(CallNotice::Answered).await;
                }
            }
            CallEvent::Reoffer { call, sdp } => {
                let Some(c) = self.current_for(call) else {
                    return;
                };
                // Every re-INVITE gets a final answer: ours, or a refusal that keeps the call
                // as it was.
                let answer = match c.media.as_mut() {
                    Some(m) => m.reoffer(&sdp).map_err(|e| e.to_string()),
                    None => Err("no audio on this computer for this call".to_string()),
                };
                match answer {
                    Ok(answer) => {
                        let _ = phone
                            .act(move |ua, now| ua.answer_reoffer(call, answer, now))
                            .await;
                    }
                    Err(why) => {
                        tracing::warn!(%why, "refusing their new offer; the call keeps its audio");
                        let _ = phone
                            .act(move |ua, now| ua.reject_reoffer(call, 488, &why, now))
                            .await;
                    }
                }
            }
            CallEvent::ReofferAck { call, sdp } => {
                if let Some(m) = self.current_for(call).and_then(|c| c.media.as_mut()) {
                    if let Err(e) = m.answered(&sdp) {
                        tracing::warn!(error = %e, "cannot use the answer to our offer");
                    }
                }
            }
            CallEvent::ReofferCancelled { .. } => {
                tracing::info!("the far end cancelled its new offer; the call goes on as it was");
            }
            CallEvent::ReofferAnswered { call, sdp } => {
                if let Some(m) = self.current_for(call).and_then(|c| c.media.as_mut()) {
                    if let Err(e) = m.answered(&sdp) {
                        tracing::warn!(error = %e, "cannot use the answer to our re-offer");
                    }
                }
            }
            CallEvent::ReofferFailed { call, status } => {
                if let Some(c) = self.current_for(call) {
                    tracing::warn!(status, "hold/resume refused by the other side");
                    // The call stays as it was: audible if it was, held if it was.
                    c.held = !c.held;
                    if let Some(m) = c.media.as_mut() {
                        m.offer_refused();
                        m.mute(c.held || c.muted);
                    }
                    self.publish_view();
                }
            }
            CallEvent::Ended { call, reason } => {
                if self.current_for(call).is_some() {
                    let (reason, detail) = self.end_reason(reason);
                    self.finish(reason, detail).await;
                }
            }
            CallEvent::TransferRequested { .. }
            | CallEvent::TransferProgress { .. }
            | CallEvent::Info { .. } => {}
        }
    }

    /// Ends the call in progress as interrupted (the account is going away).
    pub async fn shutdown(&mut self, phone: &Phone) {
        if let Some(sip) = self.current.as_ref().map(|c| c.sip) {
            let _ = phone.hangup(sip).await;
            self.finish(
                CallEndReason::Interrupted,
                Some("the softphone stopped".into()),
            )
            .await;
        }
    }

    fn current_for(&mut self, sip: SipCallId) -> Option<&mut Current> {
        self.current.as_mut().filter(|c| c.sip == sip)
    }

    fn end_reason(&self, reason: EndReason) -> (CallEndReason, Option<String>) {
        let answered = self
            .current
            .as_ref()
            .is_some_and(|c| c.call.answered_at.is_some());
        match reason {
            EndReason::Local | EndReason::Replaced => (CallEndReason::HungUp, None),
            EndReason::Remote => (CallEndReason::RemoteHungUp, None),
            EndReason::Cancelled => (CallEndReason::Missed, None),
            EndReason::Busy => (CallEndReason::Busy, None),
            EndReason::Declined => (CallEndReason::Declined, None),
            EndReason::Timeout if !answered => (CallEndReason::NoAnswer, None),
            EndReason::Timeout => (
                CallEndReason::Failed,
                Some("the other side stopped answering".into()),
            ),
            EndReason::Failed {
                status: 408 | 480, ..
            } => (CallEndReason::NoAnswer, None),
            EndReason::Failed { status, reason } => {
                (CallEndReason::Failed, Some(format!("{status} {reason}")))
            }
        }
    }

    async fn dial(
        &mut self,
        phone: &Phone,
        target: &str,
        contact: Option<ContactId>,
    ) -> Result<Call, CallError> {
        if self.current.is_some() {
            return Err(CallError::Busy);
        }
        let (party, uri) = self.dial_target(target)?;
        let mut call = Call::new(CallDirection::Outbound, self.line.own_party(), party, now());
        call.provider_id = Some(self.line.provider);
        self.journal.attribute(&mut call, contact).await;
        let (mut media, devices) =
            open_media(phone, &self.journal.settings, self.line.encrypted).await?;
        let offer = media.offer(Direction::SendRecv);
        let sip = phone
            .call(uri, offer)
            .await
            .map_err(|_| CallError::NotConnected)?;
        let placed = call.clone();
        self.current = Some(Current {
            sip,
            call,
            media: Some(media),
            devices,
            offer: Vec::new(),
            muted: false,
            held: false,
            quality: None,
            tone: None,
        });
        self.commit_quiet().await;
        Ok(self.current.as_ref().map_or(placed, |c| c.call.clone()))
    }

    /// The journal's party and the request URI for what the agent typed: a SIP address as it
    /// is, anything else read as a phone number.
    fn dial_target(&self, target: &str) -> Result<(String, Uri), CallError> {
        let target = target.trim();
        if target.starts_with("sip:") || target.starts_with("sips:") {
            let uri = Uri::parse(target).map_err(|e| {
                CallError::BadNumber(format!("“{target}” is not a SIP address: {e}"))
            })?;
            return Ok((target.to_string(), uri));
        }
        let number = E164Number::parse(target, self.journal.region)
            .map_err(|e| CallError::BadNumber(ringdesk_core::sentence_case(&e.to_string())))?;
        let uri = Uri::parse(&format!("sip:{}@{}", number, self.line.domain))
            .map_err(|e| CallError::BadNumber(e.to_string()))?;
        Ok((number.to_string(), uri))
    }

    async fn incoming(
        &mut self,
        phone: &Phone,
        sip: SipCallId,
        from: &str,
        to: &str,
        sdp: Vec<u8>,
    ) {
        let party = party_of(from, self.journal.region);
        let mut call = Call::new(
            CallDirection::Inbound,
            party,
            party_of(to, self.journal.region),
            now(),
        );
        if let Some(own) = &self.line.caller_id {
            call.to = own.to_string();
        }
        call.provider_id = Some(self.line.provider);
        self.journal.attribute(&mut call, None).await;
        let dnd = availability::load(&self.journal.settings).await.ok()
            == Some(Availability::DoNotDisturb);
        let refusal = if self.current.is_some() {
            Some((486, "on another call"))
        } else if dnd {
            Some((486, "do not disturb"))
        } else {
            None
        };
        if let Some((status, why)) = refusal {
            let _ = phone.reject(sip, status).await;
            call.end(CallEndReason::Missed, Some(why.into()), now());
            self.journal.save(&call).await;
            let _ = self
                .channels
                .notices
                .send(CallNotice::Ended(self.journal.named(call).await));
            return;
        }
        self.current = Some(Current {
            sip,
            call,
            media: None,
            devices: CallDevices::default(),
            offer: sdp,
            muted: false,
            held: false,
            quality: None,
            tone: None,
        });
        // The agent hears of the call first; the ringer finds its device on its own thread.
        self.commit(CallNotice::Incoming).await;
        let preferences = audio::load(&self.journal.settings)
            .await
            .unwrap_or_default();
        if let Some(c) = self.current.as_mut() {
            c.tone = Some(tones::play(Tone::Ringtone, move || {
                audio::view(&preferences).ringer
            }));
        }
    }

    async fn answer(&mut self, phone: &Phone) -> Result<(), CallError> {
        let ringing = self.current.as_ref().is_some_and(|c| {
            c.call.direction == CallDirection::Inbound && c.call.answered_at.is_none()
        });
        if !ringing {
            return Err(CallError::NoCall("answer"));
        }
        if let Some(c) = self.current.as_mut() {
            c.tone = None;
        }
        let (mut media, devices) =
            open_media(phone, &self.journal.settings, self.line.encrypted).await?;
        let Some(c) = self.current.as_mut() else {
            return Err(CallError::NoCall("answer"));
        };
        c.devices = devices;
        // An INVITE without an offer gets ours; their answer comes in the ACK.
        let answer = if c.offer.is_empty() {
            Ok(media.offer(Direction::SendRecv))
        } else {
            media.answer(&c.offer)
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                let _ = phone.reject(c.sip, 488).await;
                let reason = e.to_string();
                self.finish(CallEndReason::Failed, Some(reason.clone()))
                    .await;
                return Err(CallError::Media(reason));
            }
        };
        if !phone.answer(c.sip, answer).await.unwrap_or(false) {
            // The caller gave up meanwhile; its Ended event closes the call.
            return Err(CallError::NoCall("answer"));
        }
        c.media = Some(media);
        c.call.answer(now());
        self.commit(CallNotice::Answered).await;
        Ok(())
    }

    async fn decline(&mut self, phone: &Phone) -> Result<(), CallError> {
        let Some(sip) = self
            .current
            .as_ref()
            .filter(|c| c.call.direction == CallDirection::Inbound && c.call.answered_at.is_none())
            .map(|c| c.sip)
        else {
            return Err(CallError::NoCall("decline"));
        };
        let _ = phone.reject(sip, 603).await;
        self.finish(CallEndReason::Declined, None).await;
        Ok(())
    }

    async fn hangup(&mut self, phone: &Phone) -> Result<(), CallError> {
        let Some((sip, direction, answered)) = self
            .current
            .as_ref()
            .map(|c| (c.sip, c.call.direction, c.call.answered_at.is_some()))
        else {
            return Err(CallError::NoCall("hang up"));
        };
        let reason = match (direction, answered) {
            (_, true) => CallEndReason::HungUp,
            (CallDirection::Outbound, false) => CallEndReason::Canceled,
            (CallDirection::Inbound, false) => return self.decline(phone).await,
        };
        let _ = phone.hangup(sip).await;
        self.finish(reason, None).await;
        Ok(())
    }

    fn mute(&mut self, muted: bool) -> Result<(), CallError> {
        let c = self.current.as_mut().ok_or(CallError::NoCall("mute"))?;
        if let Some(m) = &c.media {
            m.mute(muted);
        }
        c.muted = muted;
        self.publish_view();
        Ok(())
    }

    async fn hold(&mut self, phone: &Phone, held: bool) -> Result<(), CallError> {
        let c = self
            .current
            .as_mut()
            .filter(|c| c.call.answered_at.is_some())
            .ok_or(CallError::NoCall("hold"))?;
        if c.held == held {
            return Ok(());
        }
        let Some(media) = c.media.as_mut() else {
            return Err(CallError::NoCall("hold"));
        };
        let offer = media.offer(if held {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        });
        // Our own audio pauses on hold whatever the far end does with the offer.
        media.mute(held || c.muted);
        let _ = phone.reinvite(c.sip, offer).await;
        c.held = held;
        self.publish_view();
        Ok(())
    }

    async fn dtmf(&mut self, digits: &str) -> Result<(), CallError> {
        if digits.is_empty()
            || digits.len() > 32
            || !digits
                .chars()
                .all(|d| d.is_ascii_digit() || "*#ABCDabcd".contains(d))
        {
            return Err(CallError::BadDigits);
        }
        let media = self
            .current
            .as_mut()
            .filter(|c| c.call.answered_at.is_some())
            .and_then(|c| c.media.as_mut())
            .ok_or(CallError::NoCall("send keys to"))?;
        if media.press(&digits.to_ascii_uppercase()).await {
            Ok(())
        } else {
            Err(CallError::Media(
                "the other side takes no keypad tones".into(),
            ))
        }
    }

    /// Ends the call in progress: the audio stops (its report goes with the call), the
    /// journal has the end, then the agent hears.
    async fn finish(&mut self, reason: CallEndReason, detail: Option<String>) {
        let Some(mut c) = self.current.take() else {
            return;
        };
        if let Some(media) = c.media.take() {
            if let Some(report) = media.stop().await {
                let q = report.quality;
                tracing::info!(
                    mos = q.mos,
                    loss = q.loss_percent,
                    concealed = q.concealed_percent,
                    "call audio ended"
                );
                if report.stats.received_packets > 0 {
                    c.call.audio = Some(CallAudio {
                        mos: q.mos,
                        loss_percent: q.loss_percent.max(q.concealed_percent),
                    });
                }
            }
        }
        c.call.end(reason, detail, now());
        self.journal.save(&c.call).await;
        self.channels.active.send_replace(None);
        let call = self.journal.named(c.call).await;
        let _ = self.channels.notices.send(CallNotice::Ended(call));
    }

    /// Journals the current call, then publishes it with `notice`.
    async fn commit(&mut self, notice: fn(Call) -> CallNotice) {
        self.commit_quiet().await;
        if let Some(c) = &self.current {
            let _ = self.channels.notices.send(notice(c.call.clone()));
        }
    }

    async fn commit_quiet(&mut self) {
        let Some(call) = self.current.as_ref().map(|c| c.call.clone()) else {
            return;
        };
        self.journal.save(&call).await;
        let named = self.journal.named(call).await;
        if let Some(c) = self.current.as_mut() {
            c.call.contact_name = named.contact_name;
        }
        self.publish_view();
    }

    fn publish_view(&self) {
        let view = self.current.as_ref().map(|c| ActiveCall {
            call: c.call.clone(),
            muted: c.muted,
            held: c.held,
            quality: c.quality,
            devices: c.media.as_ref().map(|_| c.devices.clone()),
        });
        self.channels.active.send_replace(view);
    }
}

/// A From/To header as a journal party: E.164 when its user part is a phone number (as
/// every provider sends it, with or without `+`), else the bare SIP address.
pub(crate) fn party_of(header: &str, region: Region) -> String {
    let Ok(addr) = NameAddr::parse(header) else {
        return header.chars().take(200).collect();
    };
    let user = addr
        .uri
        .user
        .as_deref()
        .map(percent_decode)
        .unwrap_or_default();
    let user = user.split(';').next().unwrap_or("");
    let looks_like_number = !user.is_empty()
        && user
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit())
        && user.trim_start_matches('+').len() >= 6;
    if looks_like_number {
        if let Ok(n) = E164Number::parse(user, region) {
            return n.to_string();
        }
    }
    let mut bare = addr.uri.clone();
    bare.params = Default::default();
    bare.headers = None;
    bare.to_string()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The RTP ports and audio devices of one call, on the address the registrar saw us at.
/// The call's media, and the devices it uses.
async fn open_media(
    phone: &Phone,
    settings: &SettingsRepository,
    encrypted: bool,
) -> Result<(CallMedia, CallDevices), CallError> {
    let address = phone
        .media_address()
        .await
        .map_err(|_| CallError::NotConnected)?;
    let (source, sink, devices) = open_devices(settings).await;
    let media = CallMedia::new(address, CODECS.to_vec(), encrypted, source, sink)
        .await
        .map_err(|e| CallError::Media(e.to_string()))?;
    Ok((media, devices))
}

/// The microphone and speaker the agent chose (Settings → Audio), and their names;
/// silence and nothing heard rather than no call when a device cannot open.
async fn open_devices(
    settings: &SettingsRepository,
) -> (Box<dyn AudioSource>, Box<dyn AudioSink>, CallDevices) {
    let preferences = audio::load(settings).await.unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let chosen = CallDevices::of(&audio::view(&preferences));
        let source = open_microphone(&chosen.microphone)
            .unwrap_or_else(|| Box::new(WavSource::from_samples(8000, Vec::new())));
        let sink = open_speaker(&chosen.speaker).unwrap_or_else(|| Box::new(NullSink(8000)));
        (source, sink, chosen)
    })
    .await
    .unwrap_or_else(|_| {
        (
            Box::new(WavSource::from_samples(8000, Vec::new())),
            Box::new(NullSink(8000)),
            CallDevices::default(),
        )
    })
}

fn open_microphone(name: &Option<String>) -> Option<Box<dyn AudioSource>> {
    match DeviceSource::open(name.as_deref()) {
        Ok(mic) => Some(Box::new(mic)),
        Err(e) => {
            tracing::warn!(error = %e, "no microphone: the call sends silence");
            None
        }
    }
}

fn open_speaker(name: &Option<String>) -> Option<Box<dyn AudioSink>> {
    match DeviceSink::open(name.as_deref()) {
        Ok(speaker) => Some(Box::new(speaker)),
        Err(e) => {
            tracing::warn!(error = %e, "no speaker: the call is not heard");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::party_of;

    #[test]
    fn parties_from_sip_headers() {
        let us = "US".parse().unwrap();
        let cases = [
            (
                "\"Ada\" <sip:+14155552671@pbx.example.com>;tag=1",
                "+14155552671",
            ),
            (
                "<sip:14155552671@pbx.example.com;user=phone>",
                "+14155552671",
            ),
            ("sip:4155552671@10.0.0.1:5060", "+14155552671"),
            ("<sip:%2B442079460958@trunk.example>", "+442079460958"),
            ("<sip:+14155552671;isub=12@pbx>", "+14155552671"),
            (
                "<sip:alice@example.com;transport=tls>;tag=x",
                "sip:alice@example.com",
            ),
            ("<sip:123@pbx.example.com>", "sip:123@pbx.example.com"),
            (
                "<sip:anonymous@anonymous.invalid>",
                "sip:anonymous@anonymous.invalid",
            ),
        ];
        for (header, party) in cases {
            assert_eq!(party_of(header, us), party, "{header}");
        }
        // Not a header at all: kept, bounded.
        let junk = "x".repeat(500);
        assert_eq!(party_of(&junk, us).len(), 200);
    }
}

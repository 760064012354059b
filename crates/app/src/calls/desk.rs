//! The softphone's calls: the call controller (crates/phone) driven in the softphone's task.
//! Its SIP actions go to the user agent, its media actions open and stop each call's audio,
//! its tone follows the calls, and each change it reports is journaled first, then published.

use std::collections::BTreeMap;
use std::time::Instant;

use ringdesk_core::{CallId, ProviderKind, TransferKind, TransferOutcome};
use ringdesk_phone::{
    Action, CallView, Change, Command, Config, Controller, Ending, LegId, LegState,
};

use super::media::{Audio, LegAudio};
use super::*;

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
    /// Why calls on this line can only be passed on blind (None: attended works too).
    pub blind_only: Option<String>,
}

impl Line {
    pub fn new(
        provider: ProviderId,
        kind: ProviderKind,
        settings: &SipSettings,
        caller_id: Option<E164Number>,
    ) -> Line {
        Line {
            provider,
            // Twilio takes a REFER from a softphone only without Replaces (provider facts §0).
            blind_only: (kind == ProviderKind::Twilio)
                .then(|| "Twilio passes softphone calls on blind only".to_string()),
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

/// One call's journal row and what the call bar shows beside it.
struct Leg {
    call: Call,
    quality: Option<CallQuality>,
    notice: Option<String>,
    /// The file this call is recorded into (kept when paused: recording again goes on there).
    recording: Option<std::path::PathBuf>,
    recording_on: bool,
}

impl Leg {
    fn new(call: Call) -> Leg {
        Leg {
            call,
            quality: None,
            notice: None,
            recording: None,
            recording_on: false,
        }
    }
}

/// The softphone's calls on one line.
pub struct CallDesk {
    journal: Journal,
    channels: CallChannels,
    line: Line,
    controller: Controller,
    audio: Audio,
    legs: BTreeMap<LegId, Leg>,
    tone: Option<tones::Playing>,
    /// Why opening a call's audio failed, for the command that asked for it.
    open_failure: Option<CallError>,
    /// The last keypad press found no way to the far end.
    keys_refused: bool,
    /// Calls that ended while the current command or event was carried out.
    ended: Vec<(LegId, Call)>,
    /// Settings → Recordings, as they were at the last command or call.
    recording: recordings::RecordingSettings,
}

pub(super) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl CallDesk {
    pub fn new(journal: Journal, channels: CallChannels, line: Line) -> CallDesk {
        CallDesk {
            journal,
            channels,
            line,
            controller: Controller::new(Config::default()),
            audio: Audio::default(),
            legs: BTreeMap::new(),
            tone: None,
            open_failure: None,
            keys_refused: false,
            ended: Vec::new(),
            recording: Default::default(),
        }
    }

    /// Media events of the calls in progress (None when there are none to wait for).
    pub async fn next_media_event(&mut self) -> Option<(LegId, MediaEvent)> {
        self.audio.next_event().await
    }

    /// When [`on_timeout`](Self::on_timeout) has something to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.controller.poll_timeout()
    }

    pub async fn on_timeout(&mut self, phone: &Phone) {
        self.controller.handle_timeout(Instant::now());
        self.pump(phone).await;
    }

    /// The devices calls should use changed (a headset came or went, or the agent chose
    /// another): each call's audio moves; a device that will not open leaves the old one.
    pub async fn on_devices(&mut self, wanted: CallDevices) {
        let legs: Vec<LegId> = self.audio.calls.keys().copied().collect();
        let mut moved = false;
        for leg in legs {
            let Some(have) = self.audio.calls.get(&leg).map(|a| a.devices.clone()) else {
                continue;
            };
            if have == wanted {
                continue;
            }
            let mic = (have.microphone != wanted.microphone).then(|| wanted.microphone.clone());
            let speaker = (have.speaker != wanted.speaker).then(|| wanted.speaker.clone());
            let (source, sink, mic, speaker) = tokio::task::spawn_blocking(move || {
                let source = mic.as_ref().and_then(open_microphone);
                let sink = speaker.as_ref().and_then(open_speaker);
                (source, sink, mic, speaker)
            })
            .await
            .unwrap_or((None, None, None, None));
            let Some(audio) = self.audio.calls.get_mut(&leg) else {
                continue;
            };
            moved |= source.is_some() || sink.is_some();
            if let (Some(name), true) = (mic, source.is_some()) {
                audio.devices.microphone = name;
            }
            if let (Some(name), true) = (speaker, sink.is_some()) {
                audio.devices.speaker = name;
            }
            audio.media.replace_devices(source, sink);
            tracing::info!(devices = ?audio.devices, "the call moved to other devices");
        }
        if moved {
            self.publish();
        }
    }

    pub async fn on_media(&mut self, (leg, event): (LegId, MediaEvent)) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        match event {
            MediaEvent::Quality(q) => l.quality = Some((&q).into()),
            MediaEvent::RecordingStopped(why) => {
                tracing::warn!(call = %l.call.id, reason = %why, "recording stopped; the call goes on");
                l.recording_on = false;
                l.notice = Some(format!("Recording stopped: {why}. The call goes on."));
            }
            MediaEvent::Dtmf(_) | MediaEvent::Bye => return,
        }
        self.publish();
    }

    pub async fn on_command(&mut self, phone: &Phone, command: CallCommand) {
        self.refresh_settings().await;
        self.open_failure = None;
        self.ended.clear();
        match command {
            CallCommand::Dial {
                target,
                contact,
                reply,
            } => {
                let _ = reply.send(self.dial(phone, &target, contact).await);
            }
            CallCommand::Control {
                call,
                control,
                reply,
            } => {
                let _ = reply.send(self.control(phone, call, control).await);
            }
        }
    }

    pub async fn on_event(&mut self, phone: &Phone, event: CallEvent) {
        if matches!(event, CallEvent::Incoming { .. }) {
            self.refresh_settings().await;
        }
        self.controller.sip_event(event, &mut self.audio);
        self.pump(phone).await;
    }

    /// Ends every call as interrupted (the account is going away).
    pub async fn shutdown(&mut self, phone: &Phone) {
        for view in self.controller.calls() {
            if let Some(sip) = view.sip {
                let _ = phone.hangup(sip).await;
            }
            if let Some(audio) = self.audio.calls.remove(&view.leg) {
                self.stop_audio(view.leg, audio).await;
            }
            self.finish(
                view.leg,
                CallEndReason::Interrupted,
                Some("the softphone stopped".into()),
            )
            .await;
        }
        self.controller = Controller::new(Config::default());
        self.tone = None;
        self.publish();
    }

    /// Do not disturb and the number of calls at once, as the agent set them now.
    async fn refresh_settings(&mut self) {
        let settings = &self.journal.settings;
        let dnd = availability::load(settings).await.ok() == Some(Availability::DoNotDisturb);
        let max_calls = crate::calls_at_once::load(settings)
            .await
            .unwrap_or(crate::calls_at_once::DEFAULT);
        self.controller.set_do_not_disturb(dnd);
        self.controller.set_config(Config { max_calls });
        self.recording = recordings::load(settings).await.unwrap_or_default();
    }

    /// Records `leg` from now on (`on`), or pauses its recording.
    async fn record(&mut self, leg: LegId, on: bool) -> Result<(), CallError> {
        let (Some(audio), Some(l)) = (self.audio.calls.get_mut(&leg), self.legs.get_mut(&leg))
        else {
            return Err(CallError::NotNow(
                "This call has no audio on this computer to record".into(),
            ));
        };
        if !on {
            audio.media.record(None);
            l.recording_on = false;
            self.publish();
            return Ok(());
        }
        let path = l
            .recording
            .get_or_insert_with(|| recordings::file_for(&self.journal.recordings, &l.call))
            .clone();
        audio.media.record(Some(path.clone()));
        if self.recording.beep {
            audio.media.beep();
        }
        l.recording_on = true;
        if l.notice
            .as_deref()
            .is_some_and(|n| n.starts_with("Recording stopped"))
        {
            l.notice = None;
        }
        // Linked at once: a crash mid-call leaves the journal pointing at what was kept.
        if l.call.recording_url.is_none() {
            l.call.recording_url = recordings::url_of(&path);
            let call = l.call.clone();
            self.journal.save(&call).await;
        }
        self.publish();
        Ok(())
    }

    async fn dial(
        &mut self,
        phone: &Phone,
        target: &str,
        contact: Option<ContactId>,
    ) -> Result<Call, CallError> {
        let (party, uri) = self.dial_target(target)?;
        let leg = self
            .controller
            .command(
                Command::Dial {
                    target: uri,
                    remote: party.clone(),
                },
                &mut self.audio,
                Instant::now(),
            )?
            .ok_or(CallError::NotConnected)?;
        let mut call = Call::new(CallDirection::Outbound, self.line.own_party(), party, now());
        call.provider_id = Some(self.line.provider);
        self.journal.attribute(&mut call, contact).await;
        self.journal.save(&call).await;
        let call = self.journal.named(call).await;
        self.legs.insert(leg, Leg::new(call));
        self.pump(phone).await;
        self.failed(leg)?;
        self.legs
            .get(&leg)
            .map(|l| l.call.clone())
            .ok_or(CallError::NoCall("place"))
    }

    /// Why `leg` ended during the command, if it did: the command failed.
    fn failed(&mut self, leg: LegId) -> Result<(), CallError> {
        let Some((_, call)) = self.ended.iter().find(|(l, _)| *l == leg) else {
            return Ok(());
        };
        let detail = call.end_detail.clone().unwrap_or_default();
        Err(self.open_failure.take().unwrap_or(CallError::Media(detail)))
    }

    async fn control(
        &mut self,
        phone: &Phone,
        call: Option<CallId>,
        control: CallControl,
    ) -> Result<(), CallError> {
        let leg = self.leg_for(call, &control)?;
        let command = match control {
            CallControl::Record(on) => return self.record(leg, on).await,
            CallControl::Answer => Command::Answer(leg),
            CallControl::Decline => Command::Decline(leg),
            CallControl::Hangup => Command::Hangup(leg),
            CallControl::Mute(muted) => Command::Mute(muted),
            CallControl::Hold(held) => Command::Hold(leg, held),
            CallControl::Dtmf(ref digits) => Command::Dtmf(digits.clone()),
            CallControl::Swap => Command::Swap,
            CallControl::Transfer { ref target, kind } => Command::Transfer {
                leg,
                target: self.dial_target(target)?.1,
                kind,
            },
            // Completing or cancelling works from either call of an attended transfer.
            CallControl::CompleteTransfer => Command::CompleteTransfer(self.transferred(leg)),
            CallControl::CancelTransfer => Command::CancelTransfer(self.transferred(leg)),
        };
        self.keys_refused = false;
        let started = self
            .controller
            .command(command, &mut self.audio, Instant::now());
        self.pump(phone).await;
        let consult = started?;
        if let Some(consult) = consult {
            self.failed(consult)?;
        }
        if control == CallControl::Answer {
            self.failed(leg)?;
        }
        if self.keys_refused {
            return Err(CallError::Media(
                "the other side takes no keypad tones".into(),
            ));
        }
        Ok(())
    }

    /// The call a command names, or the one it means when it names none: the one ringing
    /// for answer and decline, else the one in focus.
    fn leg_for(&self, call: Option<CallId>, control: &CallControl) -> Result<LegId, CallError> {
        let what = match control {
            CallControl::Answer => "answer",
            CallControl::Decline => "decline",
            CallControl::Hold(_) => "hold",
            CallControl::Record(_) => "record",
            CallControl::Transfer { .. }
            | CallControl::CompleteTransfer
            | CallControl::CancelTransfer => "transfer",
            _ => "control",
        };
        if let Some(id) = call {
            return self
                .legs
                .iter()
                .find(|(_, l)| l.call.id == id)
                .map(|(leg, _)| *leg)
                .ok_or(CallError::NoCall(what));
        }
        let views = self.controller.calls();
        let ringing = views.iter().find(|v| v.state == LegState::Ringing);
        let chosen = match control {
            CallControl::Answer | CallControl::Decline => ringing,
            _ => views
                .iter()
                .find(|v| v.state == LegState::Active)
                .or(ringing)
                .or_else(|| views.iter().find(|v| !v.state.is_up()))
                .or_else(|| views.first()),
        };
        chosen.map(|v| v.leg).ok_or(CallError::NoCall(what))
    }

    /// The call being transferred, from it or from its consultation call.
    fn transferred(&self, leg: LegId) -> LegId {
        self.controller
            .call(leg)
            .and_then(|v| v.consult_of)
            .unwrap_or(leg)
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

    /// Carries out what the controller asks and records what it reports, until it is quiet;
    /// then the call bar shows the result.
    async fn pump(&mut self, phone: &Phone) {
        loop {
            let mut busy = false;
            while let Some(action) = self.controller.poll_action() {
                busy = true;
                self.act(phone, action).await;
            }
            while let Some(change) = self.controller.poll_change() {
                busy = true;
                self.on_change(change).await;
            }
            if !busy {
                break;
            }
        }
        self.publish();
    }

    async fn act(&mut self, phone: &Phone, action: Action) {
        match action {
            Action::OpenMedia(leg) => {
                let opened = open_media(phone, &self.journal.settings, self.line.encrypted).await;
                let result = match opened {
                    Ok((media, devices)) => {
                        self.audio.calls.insert(leg, LegAudio { media, devices });
                        Ok(())
                    }
                    Err(e) => {
                        let why = e.to_string();
                        self.open_failure = Some(e);
                        Err(why)
                    }
                };
                self.controller.media_opened(leg, result, &mut self.audio);
            }
            Action::CloseMedia(leg) => {
                if let Some(audio) = self.audio.calls.remove(&leg) {
                    self.stop_audio(leg, audio).await;
                }
            }
            Action::Dtmf { leg, digits } => {
                self.keys_refused = !self.audio.press(leg, &digits).await;
            }
            Action::Tone(tone) => self.sound(tone).await,
            sip => {
                let request = sip.clone();
                let outcome = phone
                    .act(move |ua, now| ringdesk_phone::apply(&request, ua, now))
                    .await
                    .unwrap_or(None);
                self.controller.applied(&sip, outcome, &mut self.audio);
            }
        }
    }

    /// Stops a call's audio; its report goes with the call.
    async fn stop_audio(&mut self, leg: LegId, audio: LegAudio) {
        let Some(report) = audio.media.stop().await else {
            return;
        };
        let q = report.quality;
        tracing::info!(
            mos = q.mos,
            loss = q.loss_percent,
            concealed = q.concealed_percent,
            "call audio ended"
        );
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if report.stats.received_packets > 0 {
            l.call.audio = Some(CallAudio {
                mos: q.mos,
                loss_percent: q.loss_percent.max(q.concealed_percent),
            });
        }
        if let Some(r) = report.recording {
            tracing::info!(
                call = %l.call.id,
                secs = r.duration.as_secs(),
                bytes = r.bytes,
                failed = r.failure.is_some(),
                "call recording ended"
            );
            l.call.recording_secs = Some(u32::try_from(r.duration.as_secs()).unwrap_or(u32::MAX));
            // Nothing could be written at all: no link to a file that is not there.
            if r.failure.is_some() && !r.path.exists() {
                l.call.recording_url = None;
                l.call.recording_secs = None;
            }
        }
    }

    /// The tone the calls call for: the ringtone on the ringer, call waiting and ringback on
    /// the speaker of the call concerned.
    async fn sound(&mut self, tone: Option<ringdesk_phone::Tone>) {
        self.tone = None;
        let speaker_of = |leg: Option<LegId>| {
            leg.and_then(|l| self.audio.calls.get(&l))
                .and_then(|a| a.devices.speaker.clone())
        };
        self.tone = match tone {
            None => None,
            Some(ringdesk_phone::Tone::Ringtone) => {
                let preferences = audio::load(&self.journal.settings)
                    .await
                    .unwrap_or_default();
                Some(tones::play(Tone::Ringtone, move || {
                    audio::view(&preferences).ringer
                }))
            }
            Some(ringdesk_phone::Tone::CallWaiting) => {
                let speaker = speaker_of(self.controller.active());
                Some(tones::play(Tone::CallWaiting, move || speaker))
            }
            Some(ringdesk_phone::Tone::Ringback(leg)) => {
                let speaker = speaker_of(Some(leg));
                Some(tones::play(Tone::Ringback, move || speaker))
            }
        };
    }

    async fn on_change(&mut self, change: Change) {
        match change {
            Change::Ringing { leg, .. } => {
                self.open_inbound(leg).await;
                self.commit(leg, CallNotice::Incoming).await;
            }
            Change::Refused { remote, local, why } => {
                let mut call = self.inbound_call(&remote, &local, None);
                self.journal.attribute(&mut call, None).await;
                call.end(CallEndReason::Missed, Some(why), now());
                self.journal.save(&call).await;
                let call = self.journal.named(call).await;
                let _ = self.channels.notices.send(CallNotice::Ended(call));
            }
            Change::Dialled { leg } => {
                // A call the controller placed on its own (an attended transfer's
                // consultation, or a transfer the far end asked of us) is journaled as it goes.
                if !self.legs.contains_key(&leg) {
                    self.open_outbound(leg).await;
                }
            }
            Change::Updated { .. } => {}
            Change::Answered { leg } => {
                // A call that replaced one of ours never rang: it is journaled now.
                if !self.legs.contains_key(&leg) {
                    self.open_inbound(leg).await;
                }
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.call.answer(now());
                }
                if self.recording.record_every_call {
                    if let Err(e) = self.record(leg, true).await {
                        tracing::warn!(error = %e, "cannot record the call");
                    }
                }
                self.commit(leg, CallNotice::Answered).await;
            }
            Change::Held { leg, .. } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.notice = None;
                }
            }
            Change::HoldRefused { leg, status } => {
                let held = self
                    .controller
                    .call(leg)
                    .is_some_and(|v| v.state == LegState::Held);
                let why = match status {
                    0 => "the call could not be asked now".to_string(),
                    408 => "the other side did not answer".to_string(),
                    s => format!("the other side refused ({s})"),
                };
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.notice = Some(if held {
                        format!("Not held properly: {why}. They hear silence.")
                    } else {
                        format!("Still live: {why}.")
                    });
                }
            }
            Change::Transfer {
                leg,
                kind,
                target,
                outcome,
                detail,
            } => self.transfer(leg, kind, &target, outcome, detail).await,
            Change::Ended { leg, ending } => {
                let (reason, detail) = self.end_reason(ending);
                self.finish(leg, reason, detail).await;
            }
        }
    }

    /// Journals the inbound call `leg` (it rings, or was answered at once).
    async fn open_inbound(&mut self, leg: LegId) {
        let Some(view) = self.controller.call(leg).filter(|v| !v.outbound) else {
            return;
        };
        let mut call = self.inbound_call(&view.remote, &view.local, view.transferred_by);
        call.queue = view.queue;
        // The provider named its call: the team journal's row for it is this one — and when
        // this desktop's own webhooks journaled it first, that row is this call's.
        if let Some(named) = view.provider_call {
            let provider = self.line.provider;
            if let Ok(Some(known)) = self
                .journal
                .calls
                .find_by_provider_call(provider, &named)
                .await
            {
                call.id = known.id;
            }
            call.provider_call_id = Some(named);
        }
        self.journal.attribute(&mut call, None).await;
        self.legs.insert(leg, Leg::new(call));
    }

    /// Journals the outbound call `leg` that the agent did not dial themselves.
    async fn open_outbound(&mut self, leg: LegId) {
        let Some(view) = self.controller.call(leg) else {
            return;
        };
        let to = party_of(&view.remote, self.journal.region);
        let mut call = Call::new(CallDirection::Outbound, self.line.own_party(), to, now());
        call.provider_id = Some(self.line.provider);
        self.journal.attribute(&mut call, None).await;
        self.journal.save(&call).await;
        let call = self.journal.named(call).await;
        self.legs.insert(leg, Leg::new(call));
    }

    fn inbound_call(&self, from: &str, to: &str, transferred_by: Option<String>) -> Call {
        let region = self.journal.region;
        let mut call = Call::new(
            CallDirection::Inbound,
            party_of(from, region),
            party_of(to, region),
            now(),
        );
        if let Some(own) = &self.line.caller_id {
            call.to = own.to_string();
        }
        call.provider_id = Some(self.line.provider);
        call.transferred_by = transferred_by.map(|t| party_of(&t, region));
        call
    }

    async fn transfer(
        &mut self,
        leg: LegId,
        kind: TransferKind,
        target: &str,
        outcome: TransferOutcome,
        detail: Option<String>,
    ) {
        let to = party_of(target, self.journal.region);
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.call.transfer(kind, &to, outcome, detail.clone(), now());
        l.notice = match outcome {
            TransferOutcome::Failed => Some(match detail {
                Some(why) => format!("The transfer to {to} failed: {why}."),
                None => format!("The transfer to {to} failed."),
            }),
            _ => None,
        };
        let call = l.call.clone();
        self.journal.save(&call).await;
    }

    fn end_reason(&self, ending: Ending) -> (CallEndReason, Option<String>) {
        match ending {
            Ending::HungUp => (CallEndReason::HungUp, None),
            Ending::RemoteHungUp => (CallEndReason::RemoteHungUp, None),
            Ending::Declined => (CallEndReason::Declined, None),
            Ending::Busy => (CallEndReason::Busy, None),
            Ending::NoAnswer => (CallEndReason::NoAnswer, None),
            Ending::Canceled => (CallEndReason::Canceled, None),
            Ending::Missed(why) => (CallEndReason::Missed, why),
            Ending::Failed(why) => (CallEndReason::Failed, Some(why)),
            Ending::Replaced => (
                CallEndReason::Transferred,
                Some("the transferred caller took it over".into()),
            ),
            Ending::Transferred { to } => (
                CallEndReason::Transferred,
                Some(party_of(&to, self.journal.region)),
            ),
        }
    }

    /// Ends `leg` in the journal, then the agent hears.
    async fn finish(&mut self, leg: LegId, reason: CallEndReason, detail: Option<String>) {
        let Some(mut l) = self.legs.remove(&leg) else {
            return;
        };
        l.call.end(reason, detail, now());
        self.journal.save(&l.call).await;
        let call = self.journal.named(l.call).await;
        self.ended.push((leg, call.clone()));
        self.publish();
        let _ = self.channels.notices.send(CallNotice::Ended(call));
    }

    /// Journals `leg` as it is now, then publishes it with `notice`.
    async fn commit(&mut self, leg: LegId, notice: fn(Call) -> CallNotice) {
        let Some(call) = self.legs.get(&leg).map(|l| l.call.clone()) else {
            return;
        };
        self.journal.save(&call).await;
        let named = self.journal.named(call).await;
        if let Some(l) = self.legs.get_mut(&leg) {
            l.call.contact_name = named.contact_name.clone();
        }
        self.publish();
        let _ = self.channels.notices.send(notice(named));
    }

    fn publish(&self) {
        let views = self.controller.calls();
        let up = views.iter().any(|v| v.state.is_up());
        let calls = views
            .iter()
            .filter_map(|v| self.view(v, up))
            .collect::<Vec<_>>();
        self.channels.publish(true, calls);
    }

    fn view(&self, v: &CallView, others_up: bool) -> Option<ActiveCall> {
        let l = self.legs.get(&v.leg)?;
        let region = self.journal.region;
        Some(ActiveCall {
            call: l.call.clone(),
            muted: v.muted,
            held: v.state == LegState::Held,
            quality: l.quality,
            devices: self
                .audio
                .calls
                .get(&v.leg)
                .filter(|_| v.state.is_up())
                .map(|a| a.devices.clone()),
            softphone: true,
            waiting: v.state == LegState::Ringing && others_up,
            hold_pending: v.hold_pending,
            connected: v.confirmed,
            transfer: v.transfer.as_ref().map(|(kind, to)| PendingTransfer {
                kind: *kind,
                to: party_of(to, region),
            }),
            consult_of: v
                .consult_of
                .and_then(|c| self.legs.get(&c))
                .map(|c| c.call.id),
            notice: l.notice.clone(),
            blind_only: self.line.blind_only.clone(),
            recording: l.recording_on,
            provider_recording: false,
        })
    }
}

//! The softphone's calls: the agent's commands and the user agent's events meet here, in the
//! softphone's task.

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

pub(super) fn now() -> OffsetDateTime {
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

//! The calling side: INVITE and its answers (provisional, final, the ACK of a 2xx), CANCEL,
//! BYE, re-INVITE, requests in and out of dialogs, and answering digest challenges to them.

use std::time::Instant;

use super::*;

impl UserAgent {
    /// Places a call to `target` with `sdp` as the offer.
    pub fn call(&mut self, target: Uri, sdp: Vec<u8>, now: Instant) -> CallId {
        self.call_with_headers(target, sdp, &[], now)
    }

    /// Places a call with extra header fields (e.g. `Replaces` when completing a transfer).
    pub fn call_with_headers(
        &mut self,
        target: Uri,
        sdp: Vec<u8>,
        extra: &[(&str, &str)],
        now: Instant,
    ) -> CallId {
        let id = self.next_call;
        self.next_call += 1;
        let (mut invite, local_tag) = self.out_of_dialog(Method::Invite, target);
        invite
            .headers
            .push("Contact", format!("<{}>", self.contact));
        invite.headers.push(
            "Allow",
            "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY",
        );
        invite.headers.push("Supported", "replaces");
        invite
            .headers
            .push("User-Agent", self.config.user_agent.clone());
        for (name, value) in extra {
            invite.headers.push(name, *value);
        }
        invite.headers.push("Content-Type", "application/sdp");
        invite.body = sdp;
        self.calls.insert(
            id,
            Call {
                invite: Some(invite.clone()),
                ..Call::new(id, true, CallState::Calling, local_tag)
            },
        );
        self.start_transaction(invite, Purpose::Invite(id), now);
        id
    }

    /// Ends a call whatever its state: CANCEL while ringing out, 603 while ringing in, BYE once up.
    pub fn hangup(&mut self, call: CallId, now: Instant) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        match (c.outbound, c.state) {
            (true, CallState::Calling) => {
                // CANCEL may only follow a provisional response (RFC 3261 §9.1).
                if let Some(c) = self.calls.get_mut(&call) {
                    c.cancel_pending = true;
                }
                true
            }
            (true, CallState::Early) => {
                self.send_cancel(call, now);
                true
            }
            (false, CallState::Early) => {
                self.final_failure(call, 603, "Decline", now, EndReason::Local)
            }
            (_, CallState::Answered | CallState::Confirmed) => {
                self.send_in_dialog(call, Method::Bye, None, Vec::new(), Purpose::Bye(call), now);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Terminating;
                    c.ok_retransmit = None;
                }
                true
            }
            _ => false,
        }
    }

    /// Sends a new offer in the call (hold: `a=sendonly`/`inactive`; resume: `a=sendrecv`).
    pub fn reinvite(&mut self, call: CallId, sdp: Vec<u8>, now: Instant) -> bool {
        let ready = self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Confirmed && !c.reinvite_in_flight);
        if !ready {
            return false;
        }
        self.send_in_dialog(
            call,
            Method::Invite,
            Some("application/sdp"),
            sdp,
            Purpose::ReInvite(call),
            now,
        );
        if let Some(c) = self.calls.get_mut(&call) {
            c.reinvite_in_flight = true;
        }
        true
    }

    /// Sends INFO (e.g. `application/dtmf-relay`) in the call.
    pub fn info(&mut self, call: CallId, content_type: &str, body: Vec<u8>, now: Instant) -> bool {
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Confirmed)
        {
            return false;
        }
        self.send_in_dialog(
            call,
            Method::Info,
            Some(content_type),
            body,
            Purpose::Info(call),
            now,
        );
        true
    }

    /// OPTIONS to `target` (a keep-alive or capability query).
    pub fn options(&mut self, target: Uri, now: Instant) {
        let (m, _) = self.out_of_dialog(Method::Options, target);
        self.start_transaction(m, Purpose::Options, now);
    }

    /// A request that starts something new: fresh Call-ID, From tag and branch, CSeq 1.
    /// Returns it with the From tag.
    pub(super) fn out_of_dialog(&mut self, method: Method, target: Uri) -> (Message, String) {
        let from = self.local_name_addr();
        let tag = from.tag().unwrap_or_default().to_string();
        let mut m = Message::request(method.clone(), target.clone());
        m.headers.push("Via", self.via());
        m.headers.push("Max-Forwards", "70");
        m.headers.push("From", from.to_string());
        m.headers.push("To", NameAddr::new(target).to_string());
        m.headers.push(
            "Call-ID",
            format!("{}@ringdesk", random_token(&mut self.rng, 20)),
        );
        m.headers.push("CSeq", format!("1 {method}"));
        (m, tag)
    }

    pub(super) fn send_in_dialog(
        &mut self,
        call: CallId,
        method: Method,
        content_type: Option<&str>,
        body: Vec<u8>,
        purpose: Purpose,
        now: Instant,
    ) {
        self.send_in_dialog_with(call, method, content_type, body, purpose, now, |_| {});
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_in_dialog_with(
        &mut self,
        call: CallId,
        method: Method,
        content_type: Option<&str>,
        body: Vec<u8>,
        purpose: Purpose,
        now: Instant,
        extra: impl Fn(&mut Message),
    ) {
        let via = self.via();
        let contact = self.contact.clone();
        let user_agent = self.config.user_agent.clone();
        let Some(dialog) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) else {
            return;
        };
        let mut m = dialog.request(method, via, &contact);
        extra(&mut m);
        m.headers.push("User-Agent", user_agent);
        if let Some(ct) = content_type {
            m.headers.push("Content-Type", ct);
        }
        m.body = body;
        self.start_transaction(m, purpose, now);
    }

    pub(super) fn send_cancel(&mut self, call: CallId, now: Instant) {
        let Some(invite) = self.calls.get(&call).and_then(|c| c.invite.clone()) else {
            return;
        };
        let StartLine::Request { uri, .. } = &invite.start else {
            return;
        };
        let mut cancel = Message::request(Method::Cancel, uri.clone());
        if let Some(via) = invite.headers.get_all("Via").first() {
            cancel.headers.push("Via", *via);
        }
        for route in invite.headers.get_all("Route") {
            cancel.headers.push("Route", route);
        }
        cancel.headers.push("Max-Forwards", "70");
        for h in ["From", "To", "Call-ID"] {
            if let Some(v) = invite.headers.get(h) {
                cancel.headers.push(h, v);
            }
        }
        if let Some(cseq) = invite.headers.get("CSeq").and_then(|c| CSeq::parse(c).ok()) {
            cancel.headers.push("CSeq", format!("{} CANCEL", cseq.seq));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Terminating;
            c.cancel_pending = false;
        }
        self.start_transaction(cancel, Purpose::Cancel(call), now);
    }

    pub(super) fn on_provisional(
        &mut self,
        purpose: &Purpose,
        request: &Message,
        response: Message,
        now: Instant,
    ) {
        let Purpose::Invite(call) = *purpose else {
            return;
        };
        let status = response.status().unwrap_or(100);
        let cancel_now;
        {
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            if c.state == CallState::Calling {
                c.state = CallState::Early;
            }
            if status > 100 && c.dialog.is_none() {
                c.dialog = Dialog::from_uac(request, &response).filter(|d| d.remote_tag.is_some());
            }
            cancel_now = c.cancel_pending;
        }
        if cancel_now {
            self.send_cancel(call, now);
            return;
        }
        if status > 100 {
            let sdp = (!response.body.is_empty()).then(|| response.body.clone());
            self.events.push_back(CallEvent::Ringing { call, sdp });
        }
    }

    pub(super) fn on_final(
        &mut self,
        purpose: &Purpose,
        request: &Message,
        rounds: u8,
        response: Message,
        now: Instant,
    ) {
        let status = response.status().unwrap_or(500);
        if (status == 401 || status == 407)
            && !matches!(purpose, Purpose::Cancel(_))
            && rounds < MAX_AUTH_ROUNDS
            && self.retry_with_credentials(purpose, request, rounds, &response, now)
        {
            return;
        }
        match purpose {
            Purpose::Invite(call) => self.on_invite_final(*call, request, response, now),
            Purpose::ReInvite(call) => {
                let call = *call;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reinvite_in_flight = false;
                }
                if (200..300).contains(&status) {
                    self.ack_2xx(call, request, &response);
                    if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) {
                        d.refresh_target(&response);
                    }
                    self.events.push_back(CallEvent::ReofferAnswered {
                        call,
                        sdp: response.body,
                    });
                } else {
                    self.events
                        .push_back(CallEvent::ReofferFailed { call, status });
                    if status == 481 || status == 408 {
                        // The dialog is gone (RFC 3261 §12.2.1.2): end the call.
                        self.end(
                            call,
                            EndReason::Failed {
                                status,
                                reason: reason_of(&response),
                            },
                        );
                    }
                }
            }
            Purpose::Bye(call) => self.end(*call, EndReason::Local),
            Purpose::Cancel(_) => {}
            Purpose::Refer(call) => self.events.push_back(CallEvent::TransferProgress {
                call: *call,
                status,
                reason: reason_of(&response),
            }),
            Purpose::Notify(_) | Purpose::Info(_) | Purpose::Options => {}
        }
    }

    pub(super) fn retry_with_credentials(
        &mut self,
        purpose: &Purpose,
        request: &Message,
        rounds: u8,
        response: &Message,
        now: Instant,
    ) -> bool {
        let Some((challenge, proxy)) = digest::challenge_in(response) else {
            return false;
        };
        if digest::answered_before(request, &challenge, proxy) {
            return false;
        }
        let mut retry = request.clone();
        retry.headers.set("Via", self.via());
        let Some(cseq) = retry.headers.get("CSeq").and_then(|c| CSeq::parse(c).ok()) else {
            return false;
        };
        let seq = cseq.seq + 1;
        retry.headers.set("CSeq", format!("{seq} {}", cseq.method));
        if let Some(call) = purpose.call() {
            if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) {
                d.local_cseq = d.local_cseq.max(seq);
            }
        }
        self.nonce_count += 1;
        let cnonce = random_token(&mut self.rng, 16);
        let credentials = (
            self.config.auth_username.as_str(),
            self.config.password.as_str(),
        );
        if digest::sign(
            &mut retry,
            &challenge,
            proxy,
            credentials,
            &cnonce,
            self.nonce_count,
        )
        .is_err()
        {
            return false;
        }
        if let Purpose::Invite(call) = purpose {
            if let Some(c) = self.calls.get_mut(call) {
                c.invite = Some(retry.clone());
                c.state = CallState::Calling;
            }
        }
        self.start_transaction(retry, purpose.clone(), now);
        if let Some(p) = self.pending.last_mut() {
            p.auth_rounds = rounds + 1;
        }
        true
    }

    pub(super) fn on_invite_final(
        &mut self,
        call: CallId,
        request: &Message,
        response: Message,
        now: Instant,
    ) {
        let status = response.status().unwrap_or(500);
        if (200..300).contains(&status) {
            let state = self.calls.get(&call).map(|c| c.state);
            let mut dialog = match Dialog::from_uac(request, &response) {
                Some(d) => d,
                None => {
                    self.end(
                        call,
                        EndReason::Failed {
                            status: 502,
                            reason: "unusable 2xx".into(),
                        },
                    );
                    return;
                }
            };
            dialog.confirmed = true;
            if let Some(c) = self.calls.get_mut(&call) {
                c.dialog = Some(dialog);
            }
            self.ack_2xx(call, request, &response);
            let hung_up = self.calls.get(&call).is_some_and(|c| c.cancel_pending);
            if state == Some(CallState::Terminating) || hung_up {
                // We cancelled, but the 200 crossed the CANCEL: hang up properly.
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Confirmed;
                }
                self.hangup(call, now);
                return;
            }
            if let Some(c) = self.calls.get_mut(&call) {
                c.state = CallState::Confirmed;
            }
            self.events.push_back(CallEvent::Established {
                call,
                sdp: response.body,
            });
            return;
        }
        let reason = match status {
            486 | 600 => EndReason::Busy,
            603 => EndReason::Declined,
            487 => EndReason::Local,
            408 => EndReason::Timeout,
            _ => EndReason::Failed {
                status,
                reason: reason_of(&response),
            },
        };
        self.end(call, reason);
    }

    pub(super) fn ack_2xx(&mut self, call: CallId, request: &Message, response: &Message) {
        let via = self.via();
        let contact = self.contact.clone();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(d) = c.dialog.as_mut() else { return };
        if let Some(tag) = NameAddr::parse(response.headers.get("To").unwrap_or_default())
            .ok()
            .and_then(|t| t.tag().map(str::to_string))
        {
            d.remote_tag = Some(tag);
        }
        let seq = request
            .headers
            .get("CSeq")
            .and_then(|s| CSeq::parse(s).ok())
            .map(|c| c.seq)
            .unwrap_or(d.local_cseq);
        let mut ack = d.request_with_cseq(Method::Ack, via, &contact, seq);
        for h in ["Proxy-Authorization", "Authorization"] {
            if let Some(v) = request.headers.get(h) {
                ack.headers.push(h, v);
            }
        }
        let bytes = ack.to_bytes();
        self.outbox.push_back(bytes.clone());
        c.last_ack = Some(bytes);
    }

    pub(super) fn on_timeout(&mut self, purpose: &Purpose, _now: Instant) {
        match purpose {
            Purpose::Invite(call) => self.end(*call, EndReason::Timeout),
            Purpose::Bye(call) => self.end(*call, EndReason::Local),
            Purpose::ReInvite(call) => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.reinvite_in_flight = false;
                }
                self.events.push_back(CallEvent::ReofferFailed {
                    call: *call,
                    status: 408,
                });
            }
            Purpose::Refer(call) => self.events.push_back(CallEvent::TransferProgress {
                call: *call,
                status: 408,
                reason: "Request Timeout".into(),
            }),
            _ => {}
        }
    }
}

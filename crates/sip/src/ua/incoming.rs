//! The answering side: an INVITE rings, is answered or refused; its ACK, a CANCEL while it
//! rings, re-offers (answered, refused, cancelled) and every other request inside a call.

use std::time::Instant;

use super::*;

impl UserAgent {
    /// The INVITE of `call` while it rings here and has no final answer yet.
    pub(super) fn ringing_invite(&self, call: CallId) -> Option<Message> {
        self.calls
            .get(&call)
            .filter(|c| !c.outbound && c.state == CallState::Early)
            .and_then(|c| c.received_invite.clone())
    }

    /// Answers a ringing incoming call with `sdp`.
    pub fn answer(&mut self, call: CallId, sdp: Vec<u8>, now: Instant) -> bool {
        let contact = self.contact.clone();
        let t1 = self.config.timers.t1;
        let Some(invite) = self.ringing_invite(call) else {
            return false;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let mut ok = response_to(&invite, 200, "OK", Some(&c.local_tag));
        ok.headers.push("Contact", format!("<{contact}>"));
        ok.headers.push("Supported", "replaces");
        ok.headers.push("Content-Type", "application/sdp");
        ok.body = sdp;
        let bytes = ok.to_bytes();
        self.outbox.push_back(bytes.clone());
        c.state = CallState::Answered;
        // The UAS core repeats the 2xx until the ACK (RFC 3261 §13.3.1.4).
        c.ok_retransmit = Some((bytes, now + t1, t1, now + t1 * 64));
        true
    }

    /// Declines a ringing call (486 Busy Here or 603 Decline).
    pub fn reject(&mut self, call: CallId, status: u16, now: Instant) -> bool {
        let reason = match status {
            486 => "Busy Here",
            603 => "Decline",
            480 => "Temporarily Unavailable",
            _ => "Rejected",
        };
        self.final_failure(call, status, reason, now, EndReason::Local)
    }

    pub(super) fn final_failure(
        &mut self,
        call: CallId,
        status: u16,
        reason: &str,
        now: Instant,
        end: EndReason,
    ) -> bool {
        let t1 = self.config.timers.t1;
        let reliable = self.config.reliable;
        let Some(invite) = self.ringing_invite(call) else {
            return false;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let bytes = response_to(&invite, status, reason, Some(&c.local_tag)).to_bytes();
        self.outbox.push_back(bytes.clone());
        c.state = CallState::Ended;
        if !reliable {
            c.final_retransmit = Some((bytes, now + t1, t1, now + t1 * 64));
        }
        self.events
            .push_back(CallEvent::Ended { call, reason: end });
        true
    }

    /// Answers the offer of a `Reoffer` event.
    pub fn answer_reoffer(&mut self, call: CallId, sdp: Vec<u8>, now: Instant) -> bool {
        let contact = self.contact.clone();
        let t1 = self.config.timers.t1;
        let reliable = self.config.reliable;
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some(request) = c.pending_reoffer.take() else {
            return false;
        };
        c.offer_in_reinvite_answer = request.body.is_empty();
        let mut ok = response_to(&request, 200, "OK", None);
        ok.headers.push("Contact", format!("<{contact}>"));
        ok.headers.push("Content-Type", "application/sdp");
        ok.body = sdp;
        let bytes = ok.to_bytes();
        self.outbox.push_back(bytes.clone());
        if let Some((_, last)) = c.reinvite_answer.as_mut() {
            *last = bytes.clone();
        }
        // Like the first 2xx, repeated until the ACK (RFC 3261 §13.3.1.4).
        if !reliable {
            c.ok_retransmit = Some((bytes, now + t1, t1, now + t1 * 64));
        }
        true
    }

    /// Refuses the offer of a `Reoffer` event — `status` 488 for an offer we cannot follow —
    /// with a Warning saying why (RFC 3261 §20.43: 305 incompatible media format, 399 else).
    /// The session stays as it was before the offer (§14.2).
    pub fn reject_reoffer(
        &mut self,
        call: CallId,
        status: u16,
        warning: &str,
        now: Instant,
    ) -> bool {
        let Some(request) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.pending_reoffer.take())
        else {
            return false;
        };
        let code = if status == 488 { 305 } else { 399 };
        let text: String = warning
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .take(200)
            .collect();
        let mut refusal = response_to(&request, status, reason_phrase(status), None);
        refusal
            .headers
            .push("Warning", format!("{code} ringdesk \"{text}\""));
        self.final_reoffer_answer(call, refusal.to_bytes(), now);
        true
    }

    /// A non-2xx final answer to a re-INVITE: sent, kept for its retransmissions, and repeated
    /// until the ACK over UDP (timers G/H).
    pub(super) fn final_reoffer_answer(&mut self, call: CallId, bytes: Vec<u8>, now: Instant) {
        let t1 = self.config.timers.t1;
        let reliable = self.config.reliable;
        self.outbox.push_back(bytes.clone());
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some((_, last)) = c.reinvite_answer.as_mut() {
                *last = bytes.clone();
            }
            if !reliable {
                c.final_retransmit = Some((bytes, now + t1, t1, now + t1 * 64));
            }
        }
    }

    pub(super) fn on_invite(&mut self, invite: Message, now: Instant) {
        let local_tag = random_token(&mut self.rng, 12);
        let Some(mut dialog) = Dialog::from_uas(&invite, &local_tag) else {
            self.respond(&invite, 400, "Bad Request", now);
            return;
        };
        // Attended transfer: does it replace one of our calls (RFC 3891)?
        let replaces = match invite.headers.get("Replaces") {
            Some(value) => match self.find_replaced(value) {
                Some(call) => Some(call),
                None => {
                    self.outbox.push_back(
                        response_to(
                            &invite,
                            481,
                            "Call/Transaction Does Not Exist",
                            Some(&local_tag),
                        )
                        .to_bytes(),
                    );
                    return;
                }
            },
            None => None,
        };
        dialog.confirmed = false;
        let id = self.next_call;
        self.next_call += 1;
        self.outbox
            .push_back(response_to(&invite, 100, "Trying", None).to_bytes());
        let mut ringing = response_to(&invite, 180, "Ringing", Some(&local_tag));
        ringing
            .headers
            .push("Contact", format!("<{}>", self.contact));
        self.outbox.push_back(ringing.to_bytes());
        let from = invite.headers.get("From").unwrap_or_default().to_string();
        let to = invite.headers.get("To").unwrap_or_default().to_string();
        let referred_by = invite.headers.get("Referred-By").map(str::to_string);
        let extensions = invite
            .headers
            .iter()
            .filter(|(name, _)| crate::message::is_extension_header(name))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let sdp = invite.body.clone();
        self.calls.insert(
            id,
            Call {
                dialog: Some(dialog),
                received_invite: Some(invite),
                ..Call::new(id, false, CallState::Early, local_tag)
            },
        );
        self.events.push_back(CallEvent::Incoming {
            call: id,
            from,
            to,
            sdp,
            replaces,
            referred_by,
            extensions,
        });
    }

    pub(super) fn on_ack(&mut self, ack: &Message) {
        let established = self.calls.values_mut().find_map(|c| {
            let matches = c.dialog.as_ref().is_some_and(|d| d.matches_request(ack));
            let ours = c.received_invite.as_ref().is_some_and(|inv| {
                // ACK for a non-2xx shares the INVITE's branch.
                top_branch(inv) == top_branch(ack)
            });
            if !(matches || ours) {
                return None;
            }
            c.final_retransmit = None;
            if matches {
                // Also the ACK of a re-INVITE's 2xx.
                c.ok_retransmit = None;
                if c.state == CallState::Confirmed
                    && std::mem::take(&mut c.offer_in_reinvite_answer)
                    && !ack.body.is_empty()
                {
                    return Some((c.id, true));
                }
            }
            if c.state == CallState::Answered {
                c.ok_retransmit = None;
                c.state = CallState::Confirmed;
                if let Some(d) = c.dialog.as_mut() {
                    d.confirmed = true;
                }
                return Some((c.id, false));
            }
            None
        });
        let sdp = ack.body.clone();
        match established {
            Some((call, false)) => self.events.push_back(CallEvent::Established { call, sdp }),
            Some((call, true)) => self.events.push_back(CallEvent::ReofferAck { call, sdp }),
            None => {}
        }
    }

    pub(super) fn on_cancel(&mut self, cancel: &Message, now: Instant) {
        let branch = top_branch(cancel);
        // A re-INVITE not answered yet: 200 for the CANCEL, 487 for the re-INVITE, and the
        // call goes on as it was (RFC 3261 §9.2).
        let reoffer = self.calls.values().find_map(|c| {
            let pending = c.pending_reoffer.as_ref()?;
            (branch.is_some()
                && top_branch(pending) == branch
                && pending.headers.get("Call-ID") == cancel.headers.get("Call-ID"))
            .then(|| (c.id, pending.clone()))
        });
        if let Some((call, reinvite)) = reoffer {
            self.respond(cancel, 200, "OK", now);
            if let Some(c) = self.calls.get_mut(&call) {
                c.pending_reoffer = None;
            }
            let terminated = response_to(&reinvite, 487, "Request Terminated", None).to_bytes();
            self.final_reoffer_answer(call, terminated, now);
            self.events.push_back(CallEvent::ReofferCancelled { call });
            return;
        }
        let found = self
            .calls
            .values()
            .find(|c| {
                !c.outbound
                    && c.received_invite.as_ref().and_then(top_branch) == branch
                    && branch.is_some()
            })
            .map(|c| (c.id, c.state));
        match found {
            Some((call, CallState::Early)) => {
                self.respond(cancel, 200, "OK", now);
                self.final_failure(call, 487, "Request Terminated", now, EndReason::Cancelled);
            }
            Some(_) => self.respond(cancel, 200, "OK", now),
            None => self.respond(cancel, 481, "Call/Transaction Does Not Exist", now),
        }
    }

    pub(super) fn on_in_dialog(&mut self, request: Message, method: Method, now: Instant) {
        let Some(call) = self
            .calls
            .values()
            .find(|c| {
                c.state != CallState::Ended
                    && c.dialog
                        .as_ref()
                        .is_some_and(|d| d.matches_request(&request))
            })
            .map(|c| c.id)
        else {
            self.respond(&request, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        // Requests must come in CSeq order (RFC 3261 §12.2.2).
        let seq = request
            .headers
            .get("CSeq")
            .and_then(|c| CSeq::parse(c).ok())
            .map(|c| c.seq)
            .unwrap_or(0);
        if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) {
            if d.remote_cseq.is_some_and(|r| seq <= r) {
                self.respond(&request, 500, "Server Internal Error", now);
                return;
            }
            d.remote_cseq = Some(seq);
        }
        match method {
            Method::Bye => {
                self.respond(&request, 200, "OK", now);
                self.end(call, EndReason::Remote);
            }
            Method::Invite => {
                let busy = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.pending_reoffer.is_some() || c.reinvite_in_flight);
                if busy {
                    self.outbox
                        .push_back(response_to(&request, 491, "Request Pending", None).to_bytes());
                    return;
                }
                let trying = response_to(&request, 100, "Trying", None).to_bytes();
                if let Some(c) = self.calls.get_mut(&call) {
                    if let Some(d) = c.dialog.as_mut() {
                        d.refresh_target(&request);
                    }
                    c.pending_reoffer = Some(request.clone());
                    c.reinvite_answer = top_branch(&request).map(|b| (b, trying.clone()));
                }
                self.outbox.push_back(trying);
                self.events.push_back(CallEvent::Reoffer {
                    call,
                    sdp: request.body,
                });
            }
            Method::Refer => {
                let target = request
                    .headers
                    .get("Refer-To")
                    .and_then(|r| NameAddr::parse(r).ok());
                match target {
                    Some(t) => {
                        self.respond(&request, 202, "Accepted", now);
                        self.events.push_back(CallEvent::TransferRequested {
                            call,
                            target: t.uri.to_string(),
                        });
                    }
                    None => self.respond(&request, 400, "Bad Refer-To", now),
                }
            }
            Method::Notify => {
                self.respond(&request, 200, "OK", now);
                let frag = String::from_utf8_lossy(&request.body);
                if let Some(line) = frag.lines().next() {
                    let mut parts = line.splitn(3, ' ');
                    if let (Some(_), Some(code), reason) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        if let Ok(status) = code.parse() {
                            self.events.push_back(CallEvent::TransferProgress {
                                call,
                                status,
                                reason: reason.unwrap_or("").to_string(),
                            });
                        }
                    }
                }
            }
            Method::Info => {
                self.respond(&request, 200, "OK", now);
                let content_type = request.headers.get("Content-Type").map(str::to_string);
                self.events.push_back(CallEvent::Info {
                    call,
                    content_type,
                    body: request.body,
                });
            }
            Method::Options => self.respond(&request, 200, "OK", now),
            Method::Other(_) => self.respond(&request, 501, "Not Implemented", now),
            _ => self.respond(&request, 405, "Method Not Allowed", now),
        }
    }
}

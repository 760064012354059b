//! The user agent core: one SIP account's registration and calls as a sans-IO state machine.
//! Outbound and inbound INVITE (100/180/183/200/ACK), CANCEL while ringing, BYE from either side,
//! busy/decline, re-INVITE (hold/resume), REFER with NOTIFY progress, INFO, OPTIONS, digest
//! challenges on any request, answers to retransmitted requests, and 400/481/501 for what it
//! cannot take. Media is opaque here: SDP bodies in, SDP bodies out.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::dialog::Dialog;
use crate::digest::{authorization, supported, DigestRequest};
use crate::header::{CSeq, Challenge, NameAddr, Via};
use crate::message::{Limits, Message, Method, ParseError, StartLine};
use crate::random_token;
use crate::transaction::{top_branch, ClientTransaction, Timers, TransactionEvent};
use crate::uri::Uri;
use crate::validate::check_request;

/// A call's handle, local to this user agent.
pub type CallId = u64;

#[derive(Clone)]
pub struct UaConfig {
    /// Our address of record (`sip:alice@example.com`).
    pub aor: Uri,
    pub display_name: Option<String>,
    pub auth_username: String,
    pub password: String,
    /// Transport token for Via (`UDP`, `TCP`, `TLS`).
    pub transport: String,
    pub local_host: String,
    pub local_port: u16,
    pub reliable: bool,
    pub user_agent: String,
    pub timers: Timers,
}

impl UaConfig {
    /// An agent for `aor` on UDP at `local_host:local_port`, authenticating as the AoR's user
    /// with `password`, with the standard timers.
    pub fn udp(aor: Uri, password: &str, local_host: &str, local_port: u16) -> Self {
        UaConfig {
            auth_username: aor.user.clone().unwrap_or_default(),
            aor,
            display_name: None,
            password: password.to_string(),
            transport: "UDP".into(),
            local_host: local_host.to_string(),
            local_port,
            reliable: false,
            user_agent: concat!("Ringdesk/", env!("CARGO_PKG_VERSION")).into(),
            timers: Timers::default(),
        }
    }
}

impl std::fmt::Debug for UaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaConfig")
            .field("aor", &self.aor.to_string())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up, cancelled or declined.
    Local,
    /// The other side hung up.
    Remote,
    /// The caller cancelled before we answered.
    Cancelled,
    Busy,
    Declined,
    /// Any other final failure.
    Failed {
        status: u16,
        reason: String,
    },
    /// No answer from the network.
    Timeout,
    /// Replaced by another call (attended transfer, RFC 3891).
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Incoming {
        call: CallId,
        from: String,
        to: String,
        sdp: Vec<u8>,
        replaces: Option<CallId>,
    },
    Ringing {
        call: CallId,
        sdp: Option<Vec<u8>>,
    },
    /// The call is up: for calls we placed, with the answer SDP.
    Established {
        call: CallId,
        sdp: Vec<u8>,
    },
    /// The other side sent a new offer (hold, resume, codec change): answer with
    /// `answer_reoffer`, or refuse it with `reject_reoffer` (the call keeps its media). An
    /// empty `sdp` asks for our offer (RFC 3261 §14.2): answer with one, and the far end's
    /// answer comes in `ReofferAck`.
    Reoffer {
        call: CallId,
        sdp: Vec<u8>,
    },
    /// The other side cancelled its re-INVITE before we answered (RFC 3261 §9.2): it got
    /// 487, and the call goes on as it was.
    ReofferCancelled {
        call: CallId,
    },
    /// The answer to the offer we made for an offer-less re-INVITE, in its ACK.
    ReofferAck {
        call: CallId,
        sdp: Vec<u8>,
    },
    /// Our re-INVITE was answered.
    ReofferAnswered {
        call: CallId,
        sdp: Vec<u8>,
    },
    ReofferFailed {
        call: CallId,
        status: u16,
    },
    /// The other side asks us to call `target` (REFER).
    TransferRequested {
        call: CallId,
        target: String,
    },
    /// Our REFER: accepted (202) or refused, then the NOTIFY progress lines (`SIP/2.0 200 OK`).
    TransferProgress {
        call: CallId,
        status: u16,
        reason: String,
    },
    Info {
        call: CallId,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    Ended {
        call: CallId,
        reason: EndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// INVITE sent, no response yet.
    Calling,
    /// Provisional received (outbound) or sent (inbound).
    Early,
    /// Inbound: 200 sent, waiting for the ACK.
    Answered,
    Confirmed,
    Terminating,
    Ended,
}

struct Call {
    id: CallId,
    outbound: bool,
    state: CallState,
    dialog: Option<Dialog>,
    /// Outbound: the INVITE as last sent (for CANCEL and re-sending with credentials).
    invite: Option<Message>,
    /// Inbound: the INVITE we received (for responses).
    received_invite: Option<Message>,
    local_tag: String,
    cancel_pending: bool,
    /// Inbound: the 200 OK we retransmit until the ACK.
    ok_retransmit: Option<(Vec<u8>, Instant, Duration, Instant)>,
    /// The last re-INVITE received: its branch and our latest answer, repeated when the
    /// re-INVITE is (a lost 100 or 200).
    reinvite_answer: Option<(String, Vec<u8>)>,
    /// Outbound: the ACK for the 2xx, repeated when the 2xx is.
    last_ack: Option<Vec<u8>>,
    /// Inbound: our non-2xx final, retransmitted until the ACK (timers G/H).
    final_retransmit: Option<(Vec<u8>, Instant, Duration, Instant)>,
    /// An incoming re-INVITE waiting for `answer_reoffer`.
    pending_reoffer: Option<Message>,
    /// We answered an offer-less re-INVITE with an offer: its ACK carries the answer.
    offer_in_reinvite_answer: bool,
    /// Our re-INVITE in flight.
    reinvite_in_flight: bool,
}

impl Call {
    fn new(id: CallId, outbound: bool, state: CallState, local_tag: String) -> Self {
        Call {
            id,
            outbound,
            state,
            dialog: None,
            invite: None,
            received_invite: None,
            local_tag,
            cancel_pending: false,
            ok_retransmit: None,
            reinvite_answer: None,
            last_ack: None,
            final_retransmit: None,
            pending_reoffer: None,
            offer_in_reinvite_answer: false,
            reinvite_in_flight: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    Invite(CallId),
    ReInvite(CallId),
    Cancel(CallId),
    Bye(CallId),
    Refer(CallId),
    Notify(CallId),
    Info(CallId),
    Options,
}

impl Purpose {
    fn call(&self) -> Option<CallId> {
        match self {
            Purpose::Invite(c)
            | Purpose::ReInvite(c)
            | Purpose::Cancel(c)
            | Purpose::Bye(c)
            | Purpose::Refer(c)
            | Purpose::Notify(c)
            | Purpose::Info(c) => Some(*c),
            Purpose::Options => None,
        }
    }
}

struct Pending {
    txn: ClientTransaction,
    purpose: Purpose,
    /// Challenges answered to get here: a server that keeps challenging is not followed forever.
    auth_rounds: u8,
}

const MAX_AUTH_ROUNDS: u8 = 3;

pub struct UserAgent {
    config: UaConfig,
    contact: Uri,
    rng: StdRng,
    limits: Limits,
    next_call: CallId,
    calls: HashMap<CallId, Call>,
    pending: Vec<Pending>,
    /// Answers to non-INVITE requests, kept for their retransmissions: (branch, method) → bytes.
    answered: HashMap<(String, String), (Vec<u8>, Instant)>,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<CallEvent>,
    nonce_count: u32,
}

fn reason_of(m: &Message) -> String {
    match &m.start {
        StartLine::Response { reason, .. } => reason.clone(),
        _ => String::new(),
    }
}

impl UserAgent {
    pub fn new(config: UaConfig, seed: u64) -> Self {
        let contact = Uri::contact(
            config.aor.user.clone(),
            &config.local_host,
            config.local_port,
            &config.transport,
        );
        UserAgent {
            config,
            contact,
            rng: StdRng::seed_from_u64(seed),
            limits: Limits::default(),
            next_call: 1,
            calls: HashMap::new(),
            pending: Vec::new(),
            answered: HashMap::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            nonce_count: 0,
        }
    }

    /// A new local address (a new connection): Via and Contact of what follows use it.
    pub fn rebind(&mut self, local_host: &str, local_port: u16) {
        self.config.local_host = local_host.to_string();
        self.config.local_port = local_port;
        self.contact = Uri::contact(
            self.config.aor.user.clone(),
            local_host,
            local_port,
            &self.config.transport,
        );
    }

    /// Use the Contact the registrar saw (after a NAT rewrite).
    pub fn set_contact(&mut self, contact: Uri) {
        self.contact = contact;
    }

    pub fn contact(&self) -> &Uri {
        &self.contact
    }

    /// Calls not yet ended, oldest first.
    pub fn live_calls(&self) -> Vec<CallId> {
        let mut ids: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn via(&mut self) -> String {
        format!(
            "SIP/2.0/{} {}:{};rport;branch=z9hG4bK{}",
            self.config.transport,
            self.config.local_host,
            self.config.local_port,
            random_token(&mut self.rng, 16)
        )
    }

    fn local_name_addr(&mut self) -> NameAddr {
        let mut from = NameAddr::new(self.config.aor.clone());
        from.display = self.config.display_name.clone();
        from.params
            .set("tag", Some(&random_token(&mut self.rng, 12)));
        from
    }

    fn start_transaction(&mut self, request: Message, purpose: Purpose, now: Instant) {
        match ClientTransaction::new(request, self.config.reliable, self.config.timers, now) {
            Ok(mut txn) => {
                while let Some(bytes) = txn.poll_transmit() {
                    self.outbox.push_back(bytes);
                }
                self.pending.push(Pending {
                    txn,
                    purpose,
                    auth_rounds: 0,
                });
            }
            Err(e) => tracing::warn!(error = %e, "could not start a transaction"),
        }
    }

    // ----- API: what the application asks for -----

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

    /// The INVITE of `call` while it rings here and has no final answer yet.
    fn ringing_invite(&self, call: CallId) -> Option<Message> {
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

    fn final_failure(
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
    fn final_reoffer_answer(&mut self, call: CallId, bytes: Vec<u8>, now: Instant) {
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

    /// Blind transfer: asks the other side to call `target` (REFER, RFC 3515).
    pub fn refer(&mut self, call: CallId, target: &Uri, now: Instant) -> bool {
        self.refer_to(call, format!("<{target}>"), now)
    }

    /// Attended transfer: asks the other side of `call` to replace `other` (RFC 3891) — the
    /// Refer-To carries the other dialog's Call-ID with both tags.
    pub fn refer_replacing(&mut self, call: CallId, other: CallId, now: Instant) -> bool {
        let Some(d) = self.calls.get(&other).and_then(|c| c.dialog.clone()) else {
            return false;
        };
        let Some(remote_tag) = d.remote_tag.clone() else {
            return false;
        };
        let escape = |s: &str| {
            s.replace('%', "%25")
                .replace('@', "%40")
                .replace(';', "%3B")
                .replace('=', "%3D")
        };
        let replaces = format!(
            "{};to-tag={};from-tag={}",
            d.call_id, remote_tag, d.local_tag
        );
        // The target's address of record, not its Contact: a Contact is only reachable from
        // elsewhere when it is a GRUU (RFC 5589 §7.3), while the AoR routes through the proxy.
        let mut target = d.remote.uri.clone();
        target.params = Default::default();
        self.refer_to(
            call,
            format!("<{target}?Replaces={}>", escape(&replaces)),
            now,
        )
    }

    fn refer_to(&mut self, call: CallId, refer_to: String, now: Instant) -> bool {
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Confirmed)
        {
            return false;
        }
        let referred_by = format!("<{}>", self.config.aor);
        self.send_in_dialog_with(
            call,
            Method::Refer,
            None,
            Vec::new(),
            Purpose::Refer(call),
            now,
            |m| {
                m.headers.push("Refer-To", refer_to.clone());
                m.headers.push("Referred-By", referred_by.clone());
            },
        );
        true
    }

    /// Reports the progress of a transfer we were asked to make (NOTIFY with a sipfrag).
    pub fn notify_transfer(
        &mut self,
        call: CallId,
        status: u16,
        reason: &str,
        now: Instant,
    ) -> bool {
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Confirmed | CallState::Terminating))
        {
            return false;
        }
        let state = if status >= 200 {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let body = format!("SIP/2.0 {status} {reason}\r\n").into_bytes();
        self.send_in_dialog_with(
            call,
            Method::Notify,
            Some("message/sipfrag;version=2.0"),
            body,
            Purpose::Notify(call),
            now,
            |m| {
                m.headers.push("Event", "refer");
                m.headers.push("Subscription-State", state);
            },
        );
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
    fn out_of_dialog(&mut self, method: Method, target: Uri) -> (Message, String) {
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

    fn send_in_dialog(
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
    fn send_in_dialog_with(
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

    fn send_cancel(&mut self, call: CallId, now: Instant) {
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

    // ----- input -----

    /// Feeds one received datagram (or stream-framed message).
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        match Message::parse_datagram(bytes, &self.limits) {
            Ok(m) => self.handle_message(m, now),
            Err(e) => {
                tracing::debug!(error = %e, "malformed SIP message");
                self.bad_request(bytes, &e);
            }
        }
    }

    /// A 400 (505, 416) for a request that failed to parse, when enough of it survives to
    /// address an answer.
    fn bad_request(&mut self, bytes: &[u8], error: &ParseError) {
        let (status, reason) = match error {
            ParseError::Version(_) => (505, "Version Not Supported"),
            ParseError::UriScheme(_) => (416, "Unsupported URI Scheme"),
            _ => (400, "Bad Request"),
        };
        let why = error.to_string();
        let within = bytes.get(..self.limits.max_message).unwrap_or(bytes);
        let Ok(text) = std::str::from_utf8(within) else {
            return;
        };
        if text.starts_with("SIP/") {
            return;
        }
        let mut resp = Message::response(status, reason);
        let mut found = 0;
        for line in text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                let is = |n: &str, short: &str| {
                    name.eq_ignore_ascii_case(n) || name.eq_ignore_ascii_case(short)
                };
                if is("Via", "v")
                    || is("From", "f")
                    || is("To", "t")
                    || is("Call-ID", "i")
                    || name.eq_ignore_ascii_case("CSeq")
                {
                    if value.chars().any(|c| c.is_control()) {
                        return;
                    }
                    resp.headers.push(name, value.trim());
                    found += 1;
                }
            }
        }
        // A Via of another version (505) does not parse, but still says where to answer.
        let addressable = resp
            .headers
            .get("Via")
            .is_some_and(|v| status == 505 || Via::parse(v).is_ok());
        if found >= 5 && addressable {
            resp.headers.push(
                "Warning",
                format!("399 ringdesk \"{}\"", why.replace('"', "'")),
            );
            self.outbox.push_back(resp.to_bytes());
        }
    }

    pub fn handle_message(&mut self, message: Message, now: Instant) {
        if message.is_request() {
            self.handle_request(message, now);
        } else {
            self.handle_response(message, now);
        }
    }

    fn handle_response(&mut self, response: Message, now: Instant) {
        if let Some(i) = self.pending.iter().position(|p| p.txn.matches(&response)) {
            if let Some(p) = self.pending.get_mut(i) {
                p.txn.handle_response(response, now);
            }
            self.drain_pending(i, now);
            return;
        }
        // A retransmitted 2xx to our INVITE: the transaction is gone, the dialog repeats its ACK.
        if response.status().is_some_and(|s| (200..300).contains(&s)) {
            let call_id = response.headers.get("Call-ID").map(str::to_string);
            if let Some(c) = self
                .calls
                .values()
                .find(|c| c.dialog.as_ref().map(|d| Some(&d.call_id)) == Some(call_id.as_ref()))
            {
                if let Some(ack) = &c.last_ack {
                    self.outbox.push_back(ack.clone());
                }
            }
        }
    }

    fn drain_pending(&mut self, i: usize, now: Instant) {
        let mut events = Vec::new();
        let Some(p) = self.pending.get_mut(i) else {
            return;
        };
        while let Some(bytes) = p.txn.poll_transmit() {
            self.outbox.push_back(bytes);
        }
        while let Some(e) = p.txn.poll_event() {
            events.push(e);
        }
        let purpose = p.purpose.clone();
        let rounds = p.auth_rounds;
        let request = p.txn.request().clone();
        if p.txn.is_terminated() {
            self.pending.remove(i);
        }
        for event in events {
            match event {
                TransactionEvent::Provisional(r) => self.on_provisional(&purpose, &request, r, now),
                TransactionEvent::Final(r) => self.on_final(&purpose, &request, rounds, r, now),
                TransactionEvent::Timeout => self.on_timeout(&purpose, now),
            }
        }
    }

    fn on_provisional(
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

    fn on_final(
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

    fn retry_with_credentials(
        &mut self,
        purpose: &Purpose,
        request: &Message,
        rounds: u8,
        response: &Message,
        now: Instant,
    ) -> bool {
        let proxy = response.status() == Some(407);
        let header = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let Some(challenge) = response
            .headers
            .get_all(header)
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .find(supported)
        else {
            return false;
        };
        // The same realm answered already and not merely stale: the credentials are wrong.
        let sent = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let answered_before = request
            .headers
            .get_all(sent)
            .into_iter()
            .any(|v| Challenge::parse(v).is_ok_and(|prev| prev.realm == challenge.realm));
        if answered_before && !challenge.stale {
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
        let uri = match &retry.start {
            StartLine::Request { uri, .. } => uri.to_string(),
            StartLine::Response { .. } => return false,
        };
        let method = cseq.method.to_string();
        let value = match authorization(
            &challenge,
            &DigestRequest {
                username: &self.config.auth_username,
                password: &self.config.password,
                method: &method,
                uri: &uri,
                body: &retry.body,
                cnonce: &cnonce,
                nonce_count: self.nonce_count,
            },
        ) {
            Ok(v) => v,
            Err(_) => return false,
        };
        retry.headers.remove(if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        });
        retry.headers.push(
            if proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            },
            value,
        );
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

    fn on_invite_final(
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

    fn ack_2xx(&mut self, call: CallId, request: &Message, response: &Message) {
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

    fn on_timeout(&mut self, purpose: &Purpose, _now: Instant) {
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

    fn end(&mut self, call: CallId, reason: EndReason) {
        if let Some(c) = self.calls.get_mut(&call) {
            if c.state != CallState::Ended {
                c.state = CallState::Ended;
                c.ok_retransmit = None;
                self.events.push_back(CallEvent::Ended { call, reason });
            }
        }
    }

    fn respond(&mut self, request: &Message, status: u16, reason: &str, now: Instant) {
        let bytes = response_to(request, status, reason, None).to_bytes();
        self.remember_answer(request, &bytes, now);
        self.outbox.push_back(bytes);
    }

    fn remember_answer(&mut self, request: &Message, bytes: &[u8], now: Instant) {
        if let (Some(branch), Some(method)) = (top_branch(request), request.method()) {
            if *method != Method::Invite && *method != Method::Ack {
                self.answered.insert(
                    (branch, method.to_string()),
                    (bytes.to_vec(), now + self.config.timers.t1 * 64),
                );
            }
        }
    }

    fn handle_request(&mut self, request: Message, now: Instant) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        if request.headers.get("Via").is_none() {
            return;
        }
        if let Err(rejection) = check_request(&request) {
            if method != Method::Ack {
                let mut answer = response_to(&request, rejection.status, rejection.reason, None);
                for (name, value) in rejection.headers {
                    answer.headers.push(name, value);
                }
                self.outbox.push_back(answer.to_bytes());
            }
            return;
        }
        // A retransmission of a request we already answered: answer the same way.
        if let Some(branch) = top_branch(&request) {
            if let Some((bytes, _)) = self.answered.get(&(branch.clone(), method.to_string())) {
                self.outbox.push_back(bytes.clone());
                return;
            }
            if method == Method::Invite {
                let repeated_reinvite = self.calls.values().find_map(|c| {
                    c.reinvite_answer
                        .as_ref()
                        .filter(|(b, _)| *b == branch)
                        .map(|(_, last)| last.clone())
                });
                if let Some(last) = repeated_reinvite {
                    self.outbox.push_back(last);
                    return;
                }
                if let Some(c) = self.calls.values().find(|c| {
                    c.received_invite.as_ref().and_then(top_branch).as_deref()
                        == Some(branch.as_str())
                }) {
                    // Re-send our latest answer to that INVITE.
                    if let Some((bytes, ..)) =
                        c.ok_retransmit.as_ref().or(c.final_retransmit.as_ref())
                    {
                        self.outbox.push_back(bytes.clone());
                    } else if let Some(inv) = &c.received_invite {
                        let ringing =
                            response_to(inv, 180, "Ringing", Some(&c.local_tag)).to_bytes();
                        self.outbox.push_back(ringing);
                    }
                    return;
                }
            }
        }
        let to_tag = request
            .headers
            .get("To")
            .and_then(|t| NameAddr::parse(t).ok())
            .and_then(|t| t.tag().map(str::to_string));
        match method {
            Method::Ack => self.on_ack(&request),
            Method::Cancel => self.on_cancel(&request, now),
            _ if to_tag.is_some() => self.on_in_dialog(request, method, now),
            Method::Invite => self.on_invite(request, now),
            Method::Options => {
                let mut ok = response_to(&request, 200, "OK", None);
                ok.headers.push(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY",
                );
                ok.headers.push("Accept", "application/sdp");
                ok.headers.push("Supported", "replaces");
                let bytes = ok.to_bytes();
                self.remember_answer(&request, &bytes, now);
                self.outbox.push_back(bytes);
            }
            Method::Bye
            | Method::Refer
            | Method::Notify
            | Method::Info
            | Method::Prack
            | Method::Update => self.respond(&request, 481, "Call/Transaction Does Not Exist", now),
            Method::Register | Method::Subscribe | Method::Message => {
                let mut r = response_to(&request, 405, "Method Not Allowed", None);
                r.headers.push(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY",
                );
                let bytes = r.to_bytes();
                self.remember_answer(&request, &bytes, now);
                self.outbox.push_back(bytes);
            }
            Method::Other(_) => self.respond(&request, 501, "Not Implemented", now),
        }
    }

    fn on_invite(&mut self, invite: Message, now: Instant) {
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
        });
    }

    fn find_replaced(&self, value: &str) -> Option<CallId> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        let params = crate::uri::Params::parse(&value[call_id.len()..]);
        let (to_tag, from_tag) = (params.get("to-tag")?, params.get("from-tag")?);
        self.calls
            .values()
            .find(|c| {
                c.state != CallState::Ended
                    && c.dialog.as_ref().is_some_and(|d| {
                        d.call_id == call_id
                            && d.local_tag == to_tag
                            && d.remote_tag.as_deref() == Some(from_tag)
                    })
            })
            .map(|c| c.id)
    }

    /// Ends `call` because an incoming call replaced it (the app answers the new one).
    pub fn replaced(&mut self, call: CallId, now: Instant) {
        if self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Confirmed | CallState::Answered))
        {
            self.send_in_dialog(call, Method::Bye, None, Vec::new(), Purpose::Bye(call), now);
            self.end(call, EndReason::Replaced);
        }
    }

    fn on_ack(&mut self, ack: &Message) {
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

    fn on_cancel(&mut self, cancel: &Message, now: Instant) {
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

    fn on_in_dialog(&mut self, request: Message, method: Method, now: Instant) {
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

    // ----- time and output -----

    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            let before = self.pending.len();
            if let Some(p) = self.pending.get_mut(i) {
                p.txn.handle_timeout(now);
            }
            self.drain_pending(i, now);
            if self.pending.len() >= before {
                i += 1;
            }
        }
        let t2 = self.config.timers.t2;
        let mut no_ack = Vec::new();
        for c in self.calls.values_mut() {
            for slot in [&mut c.ok_retransmit, &mut c.final_retransmit] {
                if let Some((bytes, at, interval, give_up)) = slot.as_mut() {
                    if now >= *give_up {
                        *slot = None;
                        if c.state == CallState::Answered {
                            no_ack.push(c.id);
                        }
                    } else if now >= *at {
                        self.outbox.push_back(bytes.clone());
                        *interval = (*interval * 2).min(t2);
                        *at = now + *interval;
                    }
                }
            }
        }
        for call in no_ack {
            // No ACK for our 200 (RFC 3261 §13.3.1.4): confirm and end the dialog with a BYE.
            if let Some(c) = self.calls.get_mut(&call) {
                c.state = CallState::Confirmed;
            }
            self.hangup(call, now);
            self.end(
                call,
                EndReason::Failed {
                    status: 408,
                    reason: "no ACK from the caller".into(),
                },
            );
        }
        self.answered.retain(|_, (_, until)| *until > now);
        self.calls
            .retain(|_, c| c.state != CallState::Ended || c.final_retransmit.is_some());
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let txns = self.pending.iter().filter_map(|p| p.txn.poll_timeout());
        let calls = self
            .calls
            .values()
            .flat_map(|c| [c.ok_retransmit.as_ref(), c.final_retransmit.as_ref()])
            .flatten()
            .map(|(_, at, _, give_up)| (*at).min(*give_up));
        let answers = self.answered.values().map(|(_, until)| *until);
        txns.chain(calls).chain(answers).min()
    }
}

/// A response to `request`: Via, From, To (with our tag if given and absent), Call-ID, CSeq
/// copied as RFC 3261 §8.2.6.2 requires; Record-Route copied for dialog-creating answers.
pub fn response_to(
    request: &Message,
    status: u16,
    reason: &str,
    local_tag: Option<&str>,
) -> Message {
    let mut r = Message::response(status, reason);
    for via in request.headers.get_all("Via") {
        r.headers.push("Via", via);
    }
    if let Some(from) = request.headers.get("From") {
        r.headers.push("From", from);
    }
    if let Some(to) = request.headers.get("To") {
        let tagged = match (local_tag, NameAddr::parse(to)) {
            (Some(tag), Ok(mut addr)) if addr.tag().is_none() && status > 100 => {
                addr.params.set("tag", Some(tag));
                addr.to_string()
            }
            _ => to.to_string(),
        };
        r.headers.push("To", tagged);
    }
    for h in ["Call-ID", "CSeq"] {
        if let Some(v) = request.headers.get(h) {
            r.headers.push(h, v);
        }
    }
    if (101..300).contains(&status) && request.method() == Some(&Method::Invite) {
        for rr in request.headers.get_all("Record-Route") {
            r.headers.push("Record-Route", rr);
        }
    }
    r
}

/// The reason phrase of the final answers the user agent refuses with.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        415 => "Unsupported Media Type",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        606 => "Not Acceptable",
        _ => "Refused",
    }
}

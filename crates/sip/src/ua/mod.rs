//! The user agent core: one SIP account's registration and calls as a sans-IO state machine.
//! Outbound and inbound INVITE (100/180/183/200/ACK), CANCEL while ringing, BYE from either side,
//! busy/decline, re-INVITE (hold/resume), REFER with NOTIFY progress, INFO, OPTIONS, digest
//! challenges on any request, answers to retransmitted requests, and 400/481/501 for what it
//! cannot take. Media is opaque here: SDP bodies in, SDP bodies out.
//!
//! This module holds the agent's state and routes what comes in; `outgoing` is the calling
//! side, `incoming` the answering side, `transfer` REFER and Replaces.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::dialog::Dialog;
use crate::digest;
use crate::header::{CSeq, NameAddr, Via};
use crate::message::{Limits, Message, Method, ParseError, StartLine};
use crate::random_token;
use crate::transaction::{top_branch, ClientTransaction, Timers, TransactionEvent};
use crate::uri::Uri;
use crate::validate::check_request;

mod incoming;
mod outgoing;
mod transfer;

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
        /// Who passed the caller on to us (the Referred-By of a transferred call, RFC 3892).
        referred_by: Option<String>,
        /// The INVITE's extension header fields (`X-…`): what the caller's service tells
        /// about the call (a provider naming its call).
        extensions: Vec<(String, String)>,
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

//! Client transactions (RFC 3261 §17.1) on an injected clock: retransmission over unreliable
//! transports, timers A/B/D for INVITE and E/F/K otherwise, responses matched by branch and
//! CSeq method.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::header::{CSeq, Via};
use crate::message::{Message, Method, StartLine};

/// RFC 3261's T1, T2 and T4 (§17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// INVITE sent, nothing heard (INVITE) / request sent (non-INVITE: Trying).
    Calling,
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    Provisional(Message),
    Final(Message),
    /// Timer B or F fired: no final response.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("a request needs a top Via with an RFC 3261 branch (z9hG4bK…)")]
    NoBranch,
    #[error("a request needs a valid CSeq")]
    NoCSeq,
    #[error("only requests start client transactions")]
    NotARequest,
}

pub struct ClientTransaction {
    branch: String,
    method: Method,
    request: Message,
    wire: Vec<u8>,
    reliable: bool,
    timers: Timers,
    state: State,
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer B/F while waiting; D/K once completed.
    deadline: Option<Instant>,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<TransactionEvent>,
    ack: Option<Vec<u8>>,
}

/// The branch of a message's top Via.
pub fn top_branch(message: &Message) -> Option<String> {
    let via = message
        .headers
        .get_all("Via")
        .first()
        .and_then(|v| Via::parse(v).ok())?;
    via.branch().map(str::to_string)
}

impl ClientTransaction {
    /// Starts the transaction: the request is queued for sending at once.
    pub fn new(
        request: Message,
        reliable: bool,
        timers: Timers,
        now: Instant,
    ) -> Result<Self, TransactionError> {
        let method = request
            .method()
            .cloned()
            .ok_or(TransactionError::NotARequest)?;
        let branch = top_branch(&request)
            .filter(|b| b.starts_with("z9hG4bK"))
            .ok_or(TransactionError::NoBranch)?;
        request
            .headers
            .get("CSeq")
            .and_then(|c| CSeq::parse(c).ok())
            .ok_or(TransactionError::NoCSeq)?;
        let wire = request.to_bytes();
        let invite = method == Method::Invite;
        let mut t = ClientTransaction {
            branch,
            method,
            request,
            wire: wire.clone(),
            reliable,
            timers,
            state: if invite {
                State::Calling
            } else {
                State::Trying
            },
            retransmit_at: (!reliable).then(|| now + timers.t1),
            interval: timers.t1,
            deadline: Some(now + timers.t1 * 64),
            outbox: VecDeque::from([wire]),
            events: VecDeque::new(),
            ack: None,
        };
        if t.reliable {
            t.retransmit_at = None;
        }
        Ok(t)
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// Whether `response` belongs to this transaction (RFC 3261 §17.1.3).
    pub fn matches(&self, response: &Message) -> bool {
        response.status().is_some()
            && top_branch(response).as_deref() == Some(self.branch.as_str())
            && response
                .headers
                .get("CSeq")
                .and_then(|c| CSeq::parse(c).ok())
                .is_some_and(|c| c.method == self.method)
    }

    pub fn handle_response(&mut self, response: Message, now: Instant) {
        let Some(status) = response.status() else {
            return;
        };
        let invite = self.method == Method::Invite;
        match (self.state, status) {
            (State::Calling | State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                if invite {
                    // Timers A and B stop once anything is heard: the call may ring as long as
                    // the far end lets it (RFC 3261 §17.1.1.2); hanging up sends CANCEL.
                    self.retransmit_at = None;
                    self.deadline = None;
                } else if !self.reliable {
                    self.interval = self.timers.t2;
                    self.retransmit_at = Some(now + self.timers.t2);
                }
                self.events
                    .push_back(TransactionEvent::Provisional(response));
            }
            (State::Calling | State::Proceeding, 200..=299) if invite => {
                // The 2xx ACK belongs to the dialog, not to the transaction.
                self.terminate();
                self.events.push_back(TransactionEvent::Final(response));
            }
            (State::Calling | State::Proceeding, 300..=699) if invite => {
                let ack = ack_for(&self.request, &response).to_bytes();
                self.outbox.push_back(ack.clone());
                self.ack = Some(ack);
                self.complete(now, Duration::from_secs(32));
                self.events.push_back(TransactionEvent::Final(response));
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                self.complete(now, self.timers.t4);
                self.events.push_back(TransactionEvent::Final(response));
            }
            (State::Completed, 300..=699) if invite => {
                // Our ACK was lost: the final response is retransmitted, the ACK is too.
                if let Some(ack) = &self.ack {
                    self.outbox.push_back(ack.clone());
                }
            }
            _ => {}
        }
    }

    fn complete(&mut self, now: Instant, unreliable_wait: Duration) {
        self.state = State::Completed;
        self.retransmit_at = None;
        if self.reliable {
            self.terminate();
        } else {
            self.deadline = Some(now + unreliable_wait);
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.retransmit_at = None;
        self.deadline = None;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            if self.state != State::Completed {
                self.events.push_back(TransactionEvent::Timeout);
            }
            self.terminate();
            return;
        }
        if let Some(at) = self.retransmit_at.filter(|at| now >= *at) {
            self.outbox.push_back(self.wire.clone());
            self.interval = if self.method == Method::Invite {
                self.interval * 2
            } else {
                (self.interval * 2).min(self.timers.t2)
            };
            self.retransmit_at = Some(at.max(now) + self.interval);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.retransmit_at, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The ACK for a non-2xx final response to `invite` (RFC 3261 §17.1.1.3).
pub fn ack_for(invite: &Message, response: &Message) -> Message {
    let uri = match &invite.start {
        StartLine::Request { uri, .. } => uri.clone(),
        StartLine::Response { .. } => unreachable!("client transactions hold requests"),
    };
    let mut ack = Message::request(Method::Ack, uri);
    if let Some(via) = invite.headers.get_all("Via").first() {
        ack.headers.push("Via", *via);
    }
    for route in invite.headers.get_all("Route") {
        ack.headers.push("Route", route);
    }
    ack.headers.push("Max-Forwards", "70");
    for name in ["From", "Call-ID"] {
        if let Some(v) = invite.headers.get(name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(to) = response.headers.get("To") {
        ack.headers.push("To", to);
    }
    if let Some(cseq) = invite.headers.get("CSeq").and_then(|c| CSeq::parse(c).ok()) {
        ack.headers.push("CSeq", format!("{} ACK", cseq.seq));
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Limits;
    use crate::uri::Uri;

    fn request(method: Method) -> Message {
        let mut m = Message::request(
            method.clone(),
            Uri::parse("sip:bob@127.0.0.1:5060").unwrap(),
        );
        m.headers
            .push("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport");
        m.headers.push("From", "<sip:alice@127.0.0.1>;tag=a1");
        m.headers.push("To", "<sip:bob@127.0.0.1>");
        m.headers.push("Call-ID", "c1@127.0.0.1");
        m.headers.push("CSeq", format!("1 {method}"));
        m
    }

    fn response(status: u16, method: &str) -> Message {
        let raw = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070\r\n\
             From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>;tag=b2\r\nCall-ID: c1@127.0.0.1\r\n\
             CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse_datagram(raw.as_bytes(), &Limits::default()).unwrap()
    }

    fn drain(t: &mut ClientTransaction) -> usize {
        std::iter::from_fn(|| t.poll_transmit()).count()
    }

    #[test]
    fn non_invite_retransmits_then_times_out_at_64_t1() {
        let t0 = Instant::now();
        let mut t = ClientTransaction::new(request(Method::Register), false, Timers::default(), t0)
            .unwrap();
        assert_eq!(drain(&mut t), 1);
        let mut sent_at = Vec::new();
        let mut now = t0;
        while let Some(next) = t.poll_timeout() {
            now = next;
            t.handle_timeout(now);
            if drain(&mut t) > 0 {
                sent_at.push((now - t0).as_millis());
            }
        }
        // Timer E doubles from T1 up to T2, timer F fires at 64·T1.
        assert_eq!(&sent_at[..5], &[500, 1500, 3500, 7500, 11500]);
        assert_eq!(*sent_at.last().unwrap(), 31500);
        assert_eq!((now - t0).as_millis(), 32000);
        assert_eq!(t.poll_event(), Some(TransactionEvent::Timeout));
        assert!(t.is_terminated());
    }

    #[test]
    fn non_invite_final_response_completes_then_timer_k() {
        let t0 = Instant::now();
        let mut t = ClientTransaction::new(request(Method::Register), false, Timers::default(), t0)
            .unwrap();
        drain(&mut t);
        let other_branch = {
            let mut r = response(200, "REGISTER");
            r.headers
                .set("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKother");
            r
        };
        assert!(!t.matches(&other_branch));
        assert!(!t.matches(&response(200, "INVITE")));
        assert!(t.matches(&response(200, "REGISTER")));
        t.handle_response(response(100, "REGISTER"), t0 + Duration::from_millis(100));
        assert_eq!(t.state(), State::Proceeding);
        t.handle_response(response(200, "REGISTER"), t0 + Duration::from_millis(200));
        assert!(matches!(
            t.poll_event(),
            Some(TransactionEvent::Provisional(_))
        ));
        assert!(matches!(t.poll_event(), Some(TransactionEvent::Final(_))));
        assert_eq!(t.state(), State::Completed);
        // A retransmitted 200 is absorbed.
        t.handle_response(response(200, "REGISTER"), t0 + Duration::from_millis(300));
        assert_eq!(t.poll_event(), None);
        t.handle_timeout(t0 + Duration::from_millis(5200));
        assert!(t.is_terminated());
        assert_eq!(drain(&mut t), 0);
    }

    #[test]
    fn invite_acks_an_error_and_reacks_its_retransmission() {
        let t0 = Instant::now();
        let mut t =
            ClientTransaction::new(request(Method::Invite), false, Timers::default(), t0).unwrap();
        drain(&mut t);
        t.handle_timeout(t0 + Duration::from_millis(500));
        t.handle_timeout(t0 + Duration::from_millis(1500));
        assert_eq!(drain(&mut t), 2, "timer A: 500 ms then 1 s");
        t.handle_response(response(180, "INVITE"), t0 + Duration::from_secs(2));
        t.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(drain(&mut t), 0, "no retransmission once proceeding");
        t.handle_response(response(486, "INVITE"), t0 + Duration::from_secs(11));
        let ack = t.poll_transmit().unwrap();
        let ack = Message::parse_datagram(&ack, &Limits::default()).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
        assert_eq!(ack.headers.get("To"), Some("<sip:bob@127.0.0.1>;tag=b2"));
        assert_eq!(top_branch(&ack).as_deref(), Some("z9hG4bKabc"));
        t.handle_response(response(486, "INVITE"), t0 + Duration::from_secs(12));
        assert_eq!(drain(&mut t), 1, "the ACK is repeated");
        t.handle_timeout(t0 + Duration::from_secs(11 + 32));
        assert!(t.is_terminated());
    }

    #[test]
    fn reliable_transports_do_not_retransmit() {
        let t0 = Instant::now();
        let mut t =
            ClientTransaction::new(request(Method::Options), true, Timers::default(), t0).unwrap();
        assert_eq!(drain(&mut t), 1);
        t.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(drain(&mut t), 0);
        t.handle_response(response(200, "OPTIONS"), t0 + Duration::from_secs(6));
        assert!(t.is_terminated());
    }

    #[test]
    fn requests_without_a_proper_branch_are_refused() {
        let mut r = request(Method::Register);
        r.headers
            .set("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=1234");
        assert!(matches!(
            ClientTransaction::new(r, false, Timers::default(), Instant::now()),
            Err(TransactionError::NoBranch)
        ));
    }
}

//! Registration (RFC 3261 §10) as a sans-IO state machine: REGISTER with expiry, digest
//! challenges (401/407, stale nonces), 423 Interval Too Brief, refresh before expiry, retry with
//! back-off after failures, a Contact rewritten to the address the registrar saw (rport,
//! RFC 3581), and unregistering.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::digest;
use crate::header::{Challenge, NameAddr, Via};
use crate::message::{Message, Method};
use crate::random_token;
use crate::transaction::{ClientTransaction, Timers, TransactionEvent};
use crate::uri::Uri;

/// Where and as whom to register. `password` is only ever used to compute digests.
#[derive(Clone)]
pub struct RegistrationConfig {
    /// Request-URI of the REGISTER (`sip:example.com`).
    pub registrar: Uri,
    /// Address of record (`sip:alice@example.com`).
    pub aor: Uri,
    pub auth_username: String,
    pub password: String,
    /// Our transport and address as put in Via and Contact.
    pub transport: String,
    pub local_host: String,
    pub local_port: u16,
    pub expires: u32,
    pub user_agent: String,
    pub reliable: bool,
    pub timers: Timers,
}

impl std::fmt::Debug for RegistrationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationConfig")
            .field("registrar", &self.registrar.to_string())
            .field("aor", &self.aor.to_string())
            .field("auth_username", &self.auth_username)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    Registered {
        expires: u32,
        contact: String,
    },
    /// Why registration failed, and when it will be tried again (None: it will not).
    Failed {
        status: Option<u16>,
        reason: String,
        retry_in: Option<Duration>,
    },
    Unregistered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    Idle,
    Registering,
    Registered,
    Failing,
    Unregistering,
    Unregistered,
}

const MAX_BACKOFF: Duration = Duration::from_secs(600);
const FIRST_BACKOFF: Duration = Duration::from_secs(15);

pub struct Registration {
    config: RegistrationConfig,
    contact: Uri,
    rng: StdRng,
    call_id: String,
    from_tag: String,
    cseq: u32,
    state: RegistrationState,
    expires: u32,
    txn: Option<ClientTransaction>,
    /// Challenge answered by the request in flight, and whether it was a 407.
    answered: Option<(Challenge, bool)>,
    nonce_count: u32,
    /// Challenges answered since the last success: a registrar that keeps saying "stale" is
    /// not followed forever.
    auth_rounds: u8,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    contact_rewritten: bool,
    /// OPTIONS to the registrar while registered: proves the flow (and NAT binding) alive.
    keepalive_every: Option<Duration>,
    keepalive_at: Option<Instant>,
    keepalive: Option<ClientTransaction>,
    keepalive_call_id: String,
    keepalive_cseq: u32,
    /// Set when a keep-alive went unanswered: the way to the registrar may have changed
    /// (another network, a new address), so the driver opens a new flow.
    flow_suspect: bool,
    events: VecDeque<RegistrationEvent>,
    outbox: VecDeque<Vec<u8>>,
}

impl Registration {
    /// `seed` drives Call-ID, tags, branches and cnonces (fixed in tests, random in the driver).
    pub fn new(config: RegistrationConfig, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let contact = Uri::contact(
            config.aor.user.clone(),
            &config.local_host,
            config.local_port,
            &config.transport,
        );
        let call_id = format!("{}@ringdesk", random_token(&mut rng, 20));
        let from_tag = random_token(&mut rng, 12);
        let keepalive_call_id = format!("{}@ringdesk", random_token(&mut rng, 20));
        Registration {
            call_id,
            from_tag,
            expires: config.expires,
            config,
            contact,
            rng,
            cseq: 0,
            state: RegistrationState::Idle,
            txn: None,
            answered: None,
            nonce_count: 0,
            auth_rounds: 0,
            refresh_at: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            contact_rewritten: false,
            keepalive_every: None,
            keepalive_at: None,
            keepalive: None,
            keepalive_call_id,
            keepalive_cseq: 0,
            flow_suspect: false,
            events: VecDeque::new(),
            outbox: VecDeque::new(),
        }
    }

    pub fn state(&self) -> RegistrationState {
        self.state
    }

    pub fn contact(&self) -> &Uri {
        &self.contact
    }

    /// Sends an OPTIONS to the registrar `every` so long while registered; when one goes
    /// unanswered the flow is taken as broken and the registration starts again.
    pub fn set_keepalive(&mut self, every: Duration) {
        self.keepalive_every = Some(every);
    }

    /// Our address changed (a new connection): register the new Contact now.
    pub fn rebind(&mut self, local_host: &str, local_port: u16, now: Instant) {
        self.config.local_host = local_host.to_string();
        self.config.local_port = local_port;
        self.contact = Uri::contact(
            self.config.aor.user.clone(),
            local_host,
            local_port,
            &self.config.transport,
        );
        self.contact_rewritten = false;
        self.txn = None;
        self.keepalive = None;
        self.keepalive_at = None;
        self.refresh_now(now);
    }

    /// The connection to the registrar broke; `rebind` follows once a new one stands.
    pub fn connection_lost(&mut self, reason: &str, retry_in: Duration) {
        if matches!(
            self.state,
            RegistrationState::Unregistering | RegistrationState::Unregistered
        ) {
            return;
        }
        self.txn = None;
        self.keepalive = None;
        self.keepalive_at = None;
        self.refresh_at = None;
        self.retry_at = None;
        self.state = RegistrationState::Failing;
        self.events.push_back(RegistrationEvent::Failed {
            status: None,
            reason: reason.to_string(),
            retry_in: Some(retry_in),
        });
    }

    /// Whether the flow should be opened anew (a keep-alive went unanswered); asking clears it.
    pub fn take_flow_suspect(&mut self) -> bool {
        std::mem::take(&mut self.flow_suspect)
    }

    /// Whether `message` answers one of our requests (REGISTER or keep-alive).
    pub fn owns(&self, message: &Message) -> bool {
        [self.txn.as_ref(), self.keepalive.as_ref()]
            .into_iter()
            .flatten()
            .any(|t| t.matches(message))
    }

    fn send_keepalive(&mut self, now: Instant) {
        self.keepalive_cseq += 1;
        let to = self.config.registrar.clone();
        let (call_id, cseq) = (self.keepalive_call_id.clone(), self.keepalive_cseq);
        let mut m = self.request(Method::Options, &to, call_id, cseq);
        m.headers.push("User-Agent", self.config.user_agent.clone());
        if let Ok(mut txn) =
            ClientTransaction::new(m, self.config.reliable, self.config.timers, now)
        {
            while let Some(bytes) = txn.poll_transmit() {
                self.outbox.push_back(bytes);
            }
            self.keepalive = Some(txn);
        }
    }

    fn drain_keepalive(&mut self, now: Instant) {
        let Some(txn) = self.keepalive.as_mut() else {
            return;
        };
        while let Some(bytes) = txn.poll_transmit() {
            self.outbox.push_back(bytes);
        }
        let mut answered = false;
        let mut timed_out = false;
        while let Some(event) = txn.poll_event() {
            match event {
                TransactionEvent::Final(_) => answered = true,
                TransactionEvent::Timeout => timed_out = true,
                TransactionEvent::Provisional(_) => {}
            }
        }
        if txn.is_terminated() || answered || timed_out {
            self.keepalive = None;
        }
        if answered {
            // Any answer, even 404 or 405, proves the way there and back works.
            self.keepalive_at = self.keepalive_every.map(|every| now + every);
        } else if timed_out && self.state == RegistrationState::Registered {
            self.flow_suspect = true;
            self.events.push_back(RegistrationEvent::Failed {
                status: None,
                reason: "the registrar stopped answering; registering again".into(),
                retry_in: Some(Duration::ZERO),
            });
            self.start(now);
        }
    }

    pub fn start(&mut self, now: Instant) {
        self.state = RegistrationState::Registering;
        self.answered = None;
        self.send(now, self.expires, None);
    }

    /// Removes our binding (Expires: 0); `Unregistered` follows.
    pub fn stop(&mut self, now: Instant) {
        self.refresh_at = None;
        self.retry_at = None;
        self.keepalive_at = None;
        self.keepalive = None;
        if matches!(
            self.state,
            RegistrationState::Idle | RegistrationState::Unregistered
        ) {
            self.state = RegistrationState::Unregistered;
            self.events.push_back(RegistrationEvent::Unregistered);
            return;
        }
        self.state = RegistrationState::Unregistering;
        self.answered = None;
        self.send(now, 0, None);
    }

    /// The network changed or the registrar restarted: register again now.
    pub fn refresh_now(&mut self, now: Instant) {
        if self.state != RegistrationState::Unregistering
            && self.state != RegistrationState::Unregistered
        {
            self.start(now);
        }
    }

    /// A request to the registrar from our AoR, with a fresh branch.
    fn request(&mut self, method: Method, to: &Uri, call_id: String, cseq: u32) -> Message {
        let branch = format!("z9hG4bK{}", random_token(&mut self.rng, 16));
        let mut m = Message::request(method.clone(), self.config.registrar.clone());
        m.headers.push(
            "Via",
            format!(
                "SIP/2.0/{} {}:{};rport;branch={branch}",
                self.config.transport, self.config.local_host, self.config.local_port
            ),
        );
        m.headers.push("Max-Forwards", "70");
        m.headers.push(
            "From",
            format!("<{}>;tag={}", self.config.aor, self.from_tag),
        );
        m.headers.push("To", format!("<{to}>"));
        m.headers.push("Call-ID", call_id);
        m.headers.push("CSeq", format!("{cseq} {method}"));
        m
    }

    fn send(&mut self, now: Instant, expires: u32, auth: Option<(Challenge, bool)>) {
        self.cseq += 1;
        let to = self.config.aor.clone();
        let (call_id, cseq) = (self.call_id.clone(), self.cseq);
        let mut m = self.request(Method::Register, &to, call_id, cseq);
        m.headers.push("Contact", format!("<{}>", self.contact));
        m.headers.push("Expires", expires.to_string());
        m.headers.push(
            "Allow",
            "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY",
        );
        m.headers.push("User-Agent", self.config.user_agent.clone());
        if let Some((challenge, proxy)) = &auth {
            self.nonce_count += 1;
            let cnonce = random_token(&mut self.rng, 16);
            let credentials = (
                self.config.auth_username.as_str(),
                self.config.password.as_str(),
            );
            let signed = digest::sign(
                &mut m,
                challenge,
                *proxy,
                credentials,
                &cnonce,
                self.nonce_count,
            );
            if let Err(e) = signed {
                self.fail(now, None, format!("the registrar asks for {e}"));
                return;
            }
        }
        self.answered = auth;
        match ClientTransaction::new(m, self.config.reliable, self.config.timers, now) {
            Ok(mut txn) => {
                while let Some(bytes) = txn.poll_transmit() {
                    self.outbox.push_back(bytes);
                }
                self.txn = Some(txn);
            }
            Err(e) => self.fail(now, None, e.to_string()),
        }
    }

    fn fail(&mut self, now: Instant, status: Option<u16>, reason: String) {
        let unregistering = self.state == RegistrationState::Unregistering;
        self.auth_rounds = 0;
        self.txn = None;
        self.refresh_at = None;
        if unregistering {
            // Nothing more to do: the binding expires by itself.
            self.state = RegistrationState::Unregistered;
            self.events.push_back(RegistrationEvent::Unregistered);
            return;
        }
        self.state = RegistrationState::Failing;
        let retry_in = self.backoff;
        self.retry_at = Some(now + retry_in);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.events.push_back(RegistrationEvent::Failed {
            status,
            reason,
            retry_in: Some(retry_in),
        });
    }

    /// Feeds a received message; returns false if it was not for us.
    pub fn handle_message(&mut self, message: Message, now: Instant) -> bool {
        if let Some(keepalive) = self.keepalive.as_mut() {
            if keepalive.matches(&message) {
                keepalive.handle_response(message, now);
                self.drain_keepalive(now);
                return true;
            }
        }
        let Some(txn) = self.txn.as_mut() else {
            return false;
        };
        if !txn.matches(&message) {
            return false;
        }
        txn.handle_response(message, now);
        self.drain_transaction(now);
        true
    }

    fn drain_transaction(&mut self, now: Instant) {
        let Some(txn) = self.txn.as_mut() else { return };
        let mut finals = Vec::new();
        while let Some(bytes) = txn.poll_transmit() {
            self.outbox.push_back(bytes);
        }
        while let Some(event) = txn.poll_event() {
            finals.push(event);
        }
        if txn.is_terminated() {
            self.txn = None;
        }
        for event in finals {
            match event {
                TransactionEvent::Provisional(_) => {}
                TransactionEvent::Final(response) => self.on_final(response, now),
                TransactionEvent::Timeout => {
                    self.fail(now, None, "the registrar did not answer".into())
                }
            }
        }
    }

    fn on_final(&mut self, response: Message, now: Instant) {
        let status = response.status().unwrap_or(500);
        let reason = match &response.start {
            crate::message::StartLine::Response { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        let unregistering = self.state == RegistrationState::Unregistering;
        match status {
            200..=299 if unregistering => {
                self.state = RegistrationState::Unregistered;
                self.events.push_back(RegistrationEvent::Unregistered);
            }
            200..=299 => {
                if !self.contact_rewritten && self.rewrite_contact(&response) {
                    // Register the address the registrar can reach, replacing the private one.
                    self.contact_rewritten = true;
                    self.answered = None;
                    self.send(now, self.expires, None);
                    return;
                }
                let granted = self.granted_expires(&response).unwrap_or(self.expires);
                self.state = RegistrationState::Registered;
                self.backoff = FIRST_BACKOFF;
                self.auth_rounds = 0;
                self.answered = None;
                self.retry_at = None;
                self.refresh_at = Some(now + refresh_after(granted));
                self.keepalive_at = self.keepalive_every.map(|every| now + every);
                self.events.push_back(RegistrationEvent::Registered {
                    expires: granted,
                    contact: self.contact.to_string(),
                });
            }
            401 | 407 => {
                let Some((challenge, proxy)) = digest::challenge_in(&response) else {
                    self.fail(
                        now,
                        Some(status),
                        "the registrar's challenge cannot be answered".into(),
                    );
                    return;
                };
                // Answering the same nonce again is pointless unless it went stale.
                let repeated = self
                    .answered
                    .as_ref()
                    .is_some_and(|(prev, _)| prev.realm == challenge.realm)
                    && !challenge.stale;
                if repeated {
                    self.fail(now, Some(status), "wrong username or password".into());
                    return;
                }
                self.auth_rounds += 1;
                if self.auth_rounds > 3 {
                    self.fail(
                        now,
                        Some(status),
                        "the registrar keeps asking for credentials".into(),
                    );
                    return;
                }
                if self.answered.as_ref().map(|(c, _)| &c.nonce) != Some(&challenge.nonce) {
                    self.nonce_count = 0;
                }
                let expires = if unregistering { 0 } else { self.expires };
                self.send(now, expires, Some((challenge, proxy)));
            }
            423 => {
                let min = response
                    .headers
                    .get("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(min) if min > self.expires && !unregistering => {
                        self.expires = min;
                        self.send(now, min, self.answered.clone());
                    }
                    _ => self.fail(now, Some(423), "the registrar refused every expiry".into()),
                }
            }
            403 => self.fail(
                now,
                Some(403),
                "wrong username or password, or this account may not register".into(),
            ),
            _ => self.fail(
                now,
                Some(status),
                format!("{status} {reason}").trim().to_string(),
            ),
        }
    }

    /// The expiry the registrar granted our Contact: its `expires` parameter, else Expires.
    fn granted_expires(&self, response: &Message) -> Option<u32> {
        let ours = self.contact.to_string();
        for value in response.headers.get_all("Contact") {
            if let Ok(addr) = NameAddr::parse(value) {
                let same = addr.uri.to_string() == ours
                    || (addr.uri.user == self.contact.user
                        && addr.uri.host == self.contact.host
                        && addr.uri.port == self.contact.port);
                if same {
                    if let Some(e) = addr.params.get("expires").and_then(|e| e.parse().ok()) {
                        return Some(e);
                    }
                }
            }
        }
        response
            .headers
            .get("Expires")
            .and_then(|e| e.trim().parse().ok())
    }

    /// Uses Via `received`/`rport` of the answer as our Contact when they differ from it.
    fn rewrite_contact(&mut self, response: &Message) -> bool {
        let Some(via) = response
            .headers
            .get_all("Via")
            .first()
            .and_then(|v| Via::parse(v).ok())
        else {
            return false;
        };
        let host = via
            .params
            .get("received")
            .map(str::to_string)
            .unwrap_or_else(|| self.contact.host.clone());
        let port = via
            .params
            .get("rport")
            .and_then(|p| p.parse::<u16>().ok())
            .or(self.contact.port);
        if host == self.contact.host && port == self.contact.port {
            return false;
        }
        self.contact.host = host;
        self.contact.port = port;
        true
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(txn) = self.txn.as_mut() {
            txn.handle_timeout(now);
            self.drain_transaction(now);
        }
        if let Some(txn) = self.keepalive.as_mut() {
            txn.handle_timeout(now);
            self.drain_keepalive(now);
        }
        let keepalive_due = self.keepalive_at.is_some_and(|at| now >= at);
        if keepalive_due && self.keepalive.is_none() && self.txn.is_none() {
            self.keepalive_at = None;
            if self.state == RegistrationState::Registered {
                self.send_keepalive(now);
            }
        }
        if self.txn.is_none() {
            let due = |at: Option<Instant>| at.is_some_and(|at| now >= at);
            if due(self.refresh_at) || due(self.retry_at) {
                self.refresh_at = None;
                self.retry_at = None;
                if self.state != RegistrationState::Registered {
                    self.state = RegistrationState::Registering;
                }
                self.answered = None;
                self.send(now, self.expires, None);
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.txn.as_ref().and_then(|t| t.poll_timeout()),
            self.keepalive.as_ref().and_then(|t| t.poll_timeout()),
            self.refresh_at,
            self.retry_at,
            self.keepalive_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// When to refresh a binding granted for `expires` seconds: well before it lapses.
fn refresh_after(expires: u32) -> Duration {
    let secs = u64::from(expires);
    Duration::from_secs(if secs > 64 {
        secs - 32
    } else {
        (secs / 2).max(1)
    })
}

//! One run of the CLI: the account registered, and the call controller (crates/phone) driven
//! the way the app drives it — its SIP actions to the user agent, its media actions to real
//! ports and files — with the command line's plan in place of an agent's clicks.

use std::time::Duration;

use ringdesk_media::session::MediaEvent;
use ringdesk_phone::{
    Action, Change, Command, Config, Controller, Ending, LegId, LegState, Stream, Streams,
    TransferKind,
};
use ringdesk_sip::account::{Phone, SipAccount};
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::flow::{TlsTrust, Transport};
use ringdesk_sip::registration::RegistrationEvent;
use ringdesk_sip::ua::CallEvent;
use ringdesk_sip::Uri;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::{password, AccountArgs, MediaArgs};

/// What `run` does.
pub struct CallPlan {
    /// Call this target; None: wait for a call.
    pub to: Option<String>,
    /// Decline calls (603) instead of answering them.
    pub decline: bool,
    /// Let a call ring this long before answering it (None: at once).
    pub answer_after: Option<Duration>,
    pub hangup_after: Option<Duration>,
    /// Give up when no call arrives within this time.
    pub wait: Option<Duration>,
    pub transfer: Option<TransferPlan>,
    pub media: MediaArgs,
    /// Take call after call (a team's agent) instead of stopping when the first is over.
    pub keep_going: bool,
}

/// Passes the first call on once it has been up for `after`.
pub struct TransferPlan {
    pub to: String,
    pub kind: TransferKind,
    pub after: Duration,
    /// Attended: talk with the target this long, then hand the call over.
    pub complete_after: Duration,
}

fn describe_registration(event: &RegistrationEvent) -> String {
    match event {
        RegistrationEvent::Registered { expires, contact } => {
            format!("registered as {contact} for {expires} s")
        }
        RegistrationEvent::Failed {
            status,
            reason,
            retry_in,
        } => format!(
            "registration failed{}: {reason}{}",
            status.map(|s| format!(" ({s})")).unwrap_or_default(),
            retry_in
                .map(|d| format!("; retrying in {} s", d.as_secs()))
                .unwrap_or_default()
        ),
        RegistrationEvent::Unregistered => "unregistered".to_string(),
    }
}

fn describe_end(ending: &Ending) -> String {
    match ending {
        Ending::HungUp => "you hung up".into(),
        Ending::RemoteHungUp => "the other side hung up".into(),
        Ending::Declined => "declined".into(),
        Ending::Busy => "busy".into(),
        Ending::NoAnswer => "no answer".into(),
        Ending::Canceled => "you gave up before an answer".into(),
        Ending::Missed(None) => "the caller gave up".into(),
        Ending::Missed(Some(why)) => format!("missed: {why}"),
        Ending::Failed(why) => format!("failed ({why})"),
        Ending::Replaced => "replaced by a transferred call".into(),
        Ending::Transferred { to } => format!("transferred to {to}"),
    }
}

/// The events a person cares about that the controller's changes do not say.
fn describe(event: &EndpointEvent) -> Option<String> {
    match event {
        EndpointEvent::Registration(r) => Some(describe_registration(r)),
        EndpointEvent::Call(CallEvent::Incoming { from, .. }) => {
            Some(format!("incoming call from {from}"))
        }
        EndpointEvent::Call(CallEvent::Ringing { .. }) => Some("ringing".into()),
        EndpointEvent::Call(CallEvent::TransferRequested { target, .. }) => {
            Some(format!("asked to transfer to {target}"))
        }
        EndpointEvent::Call(_) => None,
    }
}

fn start_account(args: AccountArgs) -> Result<(SipAccount, bool), String> {
    let tls = match &args.ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            TlsTrust::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => TlsTrust::default(),
    };
    let encrypted = args.transport == "tls";
    let account = SipAccount {
        registrar: args.registrar,
        domain: args.domain,
        username: args.user,
        auth_username: args.auth_user,
        password: password()?,
        expires: if args.no_register { 0 } else { args.expires },
        display_name: None,
        transport: match args.transport.as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        },
        dns_server: None,
        tls,
        keepalive: Some(Duration::from_secs(60)),
    };
    Ok((account, encrypted))
}

async fn start(args: AccountArgs) -> Result<(Phone, bool), String> {
    let (account, encrypted) = start_account(args)?;
    let phone = account
        .start(rand::random())
        .await
        .map_err(|e| e.to_string())?;
    Ok((phone, encrypted))
}

/// Register, stay registered until Ctrl+C or `duration`; true when it registered.
pub async fn register(args: AccountArgs, duration: Option<u64>) -> Result<bool, String> {
    let (mut phone, _) = start(args).await?;
    let deadline = sleep_for(duration.map(Duration::from_secs));
    tokio::pin!(deadline);
    let mut registered = false;
    loop {
        tokio::select! {
            event = phone.events.recv() => {
                let Some(event) = event else { break };
                if let Some(line) = describe(&event) {
                    println!("{line}");
                }
                registered |= matches!(event, EndpointEvent::Registration(RegistrationEvent::Registered { .. }));
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut deadline => break,
        }
    }
    print_stop(phone).await;
    Ok(registered)
}

async fn print_stop(phone: Phone) {
    for event in phone.stop(Duration::from_secs(10)).await {
        if let Some(line) = describe(&event) {
            println!("{line}");
        }
    }
}

fn sleep_for(duration: Option<Duration>) -> tokio::time::Sleep {
    tokio::time::sleep(duration.unwrap_or(Duration::from_secs(u64::MAX / 4)))
}

/// A moment the plan waits for, then does something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Answer(LegId),
    Hangup,
    Transfer(LegId),
    Complete(LegId),
}

struct Session {
    phone: Phone,
    encrypted: bool,
    plan: CallPlan,
    target: Option<Uri>,
    controller: Controller,
    streams: Streams<()>,
    /// Calls this run has had (each records to its own file).
    calls: usize,
    established: bool,
    declined: bool,
    transferred: bool,
    due: Vec<(Instant, Due)>,
    /// Told whether a call is in progress (a team agent's presence).
    on_call: Option<watch::Sender<bool>>,
}

/// Places or takes calls as planned, until every call is over; true when one was established
/// (or, declining, one was declined).
pub async fn run(args: AccountArgs, plan: CallPlan) -> Result<bool, String> {
    let (account, encrypted) = start_account(args)?;
    run_account(account, encrypted, plan, None).await
}

/// `run` on an account given whole (a team's softphone login), saying on `on_call` whether a
/// call is in progress.
pub async fn run_account(
    account: SipAccount,
    encrypted: bool,
    plan: CallPlan,
    on_call: Option<watch::Sender<bool>>,
) -> Result<bool, String> {
    let domain = account
        .domain
        .clone()
        .unwrap_or_else(|| account.registrar.clone());
    let target = plan
        .to
        .as_deref()
        .map(|t| address(t, &domain))
        .transpose()?;
    let transfer_to = plan
        .transfer
        .as_ref()
        .map(|t| address(&t.to, &domain))
        .transpose()?;
    plan.media.codecs()?;
    let registers = account.expires > 0;
    let phone = account
        .start(rand::random())
        .await
        .map_err(|e| e.to_string())?;
    let mut session = Session {
        phone,
        encrypted,
        plan,
        target,
        // A second call: the consultation of an attended transfer, or the call a transfer
        // asked of us makes beside the one it came on.
        controller: Controller::new(Config { max_calls: 2 }),
        streams: Streams::default(),
        calls: 0,
        established: false,
        declined: false,
        transferred: false,
        due: Vec::new(),
        on_call,
    };
    if !registers {
        session.dial().await;
    }
    let outcome = session.drive(transfer_to).await;
    let ok = session.established || session.declined;
    session.stop().await;
    outcome.map(|()| ok)
}

/// A SIP address as given, else a user or number at the account's domain.
fn address(target: &str, domain: &str) -> Result<Uri, String> {
    if target.starts_with("sip:") || target.starts_with("sips:") {
        return Uri::parse(target).map_err(|e| format!("“{target}” is not a SIP address: {e}"));
    }
    Uri::parse(&format!("sip:{target}@{domain}"))
        .map_err(|e| format!("“{target}” is not a user or number: {e}"))
}

impl Session {
    async fn drive(&mut self, transfer_to: Option<Uri>) -> Result<(), String> {
        let give_up = sleep_for(self.plan.wait);
        tokio::pin!(give_up);
        loop {
            let calls = !self.controller.calls().is_empty();
            if let Some(on_call) = &self.on_call {
                on_call.send_if_modified(|was| std::mem::replace(was, calls) != calls);
            }
            // Every call is over (or the one asked for could not even start).
            if self.calls > 0 && !calls && !self.plan.keep_going {
                return Ok(());
            }
            let next = self
                .due
                .iter()
                .map(|(at, _)| *at)
                .chain(self.controller.poll_timeout().map(Instant::from_std))
                .min();
            tokio::select! {
                event = self.phone.events.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    if let Some(line) = describe(&event) {
                        println!("{line}");
                    }
                    match event {
                        EndpointEvent::Registration(RegistrationEvent::Registered { .. }) => {
                            if self.calls == 0 && self.target.is_some() {
                                self.dial().await;
                            }
                        }
                        EndpointEvent::Registration(RegistrationEvent::Failed { .. }) if self.calls == 0 => {
                            return Ok(());
                        }
                        EndpointEvent::Registration(_) => {}
                        EndpointEvent::Call(event) => {
                            self.controller.sip_event(event, &mut self.streams);
                            self.pump().await;
                        }
                    }
                }
                Some((_, event)) = self.streams.next_event() => match event {
                    MediaEvent::Dtmf(d) => println!("dtmf {d}"),
                    MediaEvent::Quality(q) if q.is_poor() => println!(
                        "poor audio: loss {:.1} %, jitter {} ms, MOS {:.1}",
                        q.loss_percent, q.jitter.as_millis(), q.mos
                    ),
                    _ => {}
                },
                _ = tokio::time::sleep_until(next.unwrap_or_else(far)), if next.is_some() => {
                    self.controller.handle_timeout(Instant::now().into_std());
                    self.pump().await;
                    self.carry_out_due(transfer_to.as_ref()).await;
                }
                _ = &mut give_up, if self.calls == 0 => {
                    if let Some(wait) = self.plan.wait {
                        println!("no call within {} s", wait.as_secs());
                    }
                    return Ok(());
                }
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    }

    async fn dial(&mut self) {
        let Some(target) = self.target.clone() else {
            return;
        };
        let remote = target.to_string();
        self.command(Command::Dial { target, remote }).await;
    }

    async fn command(&mut self, command: Command) {
        self.issue(command);
        self.pump().await;
    }

    /// Gives the controller a command; what it asks for is carried out by the pump.
    fn issue(&mut self, command: Command) {
        let done = self
            .controller
            .command(command, &mut self.streams, Instant::now().into_std());
        if let Err(e) = done {
            println!("cannot: {e}");
        }
    }

    async fn carry_out_due(&mut self, transfer_to: Option<&Uri>) {
        let now = Instant::now();
        let (ready, later): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|(at, _)| *at <= now);
        self.due = later;
        for (_, due) in ready {
            match due {
                Due::Hangup => {
                    for view in self.controller.calls() {
                        self.command(Command::Hangup(view.leg)).await;
                    }
                }
                Due::Transfer(leg) => {
                    let (Some(target), Some(plan)) = (transfer_to, &self.plan.transfer) else {
                        continue;
                    };
                    println!("transferring to {target} ({})", plan.kind.code());
                    let kind = plan.kind;
                    let target = target.clone();
                    self.command(Command::Transfer { leg, target, kind }).await;
                }
                Due::Complete(leg) => self.command(Command::CompleteTransfer(leg)).await,
                // Still ringing (the caller may have given up meanwhile: then nothing).
                Due::Answer(leg) => {
                    if self.controller.call(leg).is_some() {
                        self.command(Command::Answer(leg)).await;
                    }
                }
            }
        }
    }

    /// Carries out what the controller asks and reports what it says, until it is quiet.
    async fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(action) = self.controller.poll_action() {
                busy = true;
                self.act(action).await;
            }
            while let Some(change) = self.controller.poll_change() {
                busy = true;
                self.on_change(change);
            }
            if !busy {
                break;
            }
        }
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::OpenMedia(leg) => {
                self.calls += 1;
                let opened = self.open_media(self.calls).await;
                let result = opened.map(|media| {
                    self.streams
                        .calls
                        .insert(leg, Stream { media, devices: () });
                });
                if let Err(e) = &result {
                    println!("cannot open the call's audio: {e}");
                }
                self.controller.media_opened(leg, result, &mut self.streams);
            }
            Action::CloseMedia(leg) => {
                if let Some(stream) = self.streams.calls.remove(&leg) {
                    report(stream.media.stop().await);
                }
            }
            Action::Dtmf { leg, digits } => {
                if !self.streams.press(leg, &digits).await {
                    println!("cannot send DTMF “{digits}”");
                }
            }
            // A terminal plays no tones.
            Action::Tone(_) => {}
            sip => {
                let request = sip.clone();
                let outcome = self
                    .phone
                    .act(move |ua, now| ringdesk_phone::apply(&request, ua, now))
                    .await
                    .unwrap_or(None);
                self.controller.applied(&sip, outcome, &mut self.streams);
            }
        }
    }

    async fn open_media(&mut self, nth: usize) -> Result<ringdesk_media::call::CallMedia, String> {
        let address = self
            .phone
            .media_address()
            .await
            .map_err(|e| e.to_string())?;
        self.plan.media.open(address, self.encrypted, nth).await
    }

    fn on_change(&mut self, change: Change) {
        match change {
            Change::Ringing { leg, .. } => {
                if let Some(view) = self.controller.call(leg) {
                    if let Some(id) = view.provider_call {
                        println!("the provider's call: {id}");
                    }
                    if let Some(queue) = view.queue {
                        println!("through the queue: {queue}");
                    }
                }
                if self.plan.decline {
                    self.declined = true;
                    self.issue(Command::Decline(leg));
                } else if let Some(after) = self.plan.answer_after {
                    self.due.push((Instant::now() + after, Due::Answer(leg)));
                } else {
                    self.issue(Command::Answer(leg));
                }
            }
            Change::Refused { remote, why, .. } => println!("refused a call from {remote}: {why}"),
            Change::Answered { leg } => {
                println!("established");
                let first = !self.established;
                self.established = true;
                let consult = self.controller.call(leg).and_then(|v| v.consult_of);
                if let (Some(of), Some(plan)) = (consult, &self.plan.transfer) {
                    self.due
                        .push((Instant::now() + plan.complete_after, Due::Complete(of)));
                    return;
                }
                if !first {
                    return;
                }
                if let Some(digits) = self.plan.media.dtmf.clone() {
                    self.issue(Command::Dtmf(digits));
                }
                if let Some(after) = self.plan.hangup_after {
                    self.due.push((Instant::now() + after, Due::Hangup));
                }
                if let (Some(plan), false) = (&self.plan.transfer, self.transferred) {
                    self.transferred = true;
                    self.due
                        .push((Instant::now() + plan.after, Due::Transfer(leg)));
                }
            }
            Change::Held { held, .. } => println!("{}", if held { "held" } else { "resumed" }),
            Change::HoldRefused { status, .. } => println!("hold refused ({status})"),
            Change::Transfer {
                kind,
                target,
                outcome,
                detail,
                ..
            } => println!(
                "transfer ({}) to {target}: {}{}",
                kind.code(),
                outcome.code(),
                detail.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            Change::Ended { ending, .. } => println!("ended: {}", describe_end(&ending)),
            Change::Dialled { .. } | Change::Updated { .. } => {}
        }
    }

    /// Hangs up what is left, stops every call's audio, unregisters.
    async fn stop(mut self) {
        for view in self.controller.calls() {
            if view.state != LegState::Ended {
                if let Some(sip) = view.sip {
                    let _ = self.phone.hangup(sip).await;
                }
            }
        }
        for (_, stream) in std::mem::take(&mut self.streams.calls) {
            report(stream.media.stop().await);
        }
        print_stop(self.phone).await;
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

fn report(report: Option<ringdesk_media::driver::MediaReport>) {
    let Some(report) = report else {
        return;
    };
    let q = report.quality;
    let j = report.stats.jitter;
    println!(
        "audio: {} packets sent, {} received, loss {:.1} %, jitter {} ms, MOS {:.1}; \
         buffer {} ms, {} late, {} concealed, {} stretched, {} dropped",
        report.stats.sent_packets,
        report.stats.received_packets,
        q.loss_percent,
        q.jitter.as_millis(),
        q.mos,
        q.buffer_delay.as_millis(),
        j.late,
        j.concealed,
        j.stretched,
        j.dropped
    );
}

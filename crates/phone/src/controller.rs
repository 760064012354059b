//! The controller itself: its calls ("legs"), what moves them, what it asks for.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

pub use ringdesk_core::{TransferKind, TransferOutcome};
use ringdesk_sip::ua::{CallEvent, CallId as SipCallId, EndReason};
use ringdesk_sip::Uri;

use crate::apply::SipOutcome;

/// The controller's handle for one call.
pub type LegId = u64;

/// How long a transfer waits for the far end to say how it went.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Session descriptions for each call's media, lent to the controller on every call. The
/// driver keeps the media (ports, devices) behind it; a test keeps strings.
pub trait Media {
    /// Our offer for `leg`: for a new call (`held` false), or to hold or resume it.
    fn offer(&mut self, leg: LegId, held: bool) -> Option<Vec<u8>>;
    /// Their offer (an incoming call): our answer, the stream following it.
    fn answer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String>;
    /// Their answer to our offer (or early media).
    fn answered(&mut self, leg: LegId, answer: &[u8]) -> Result<(), String>;
    /// Their new offer in the call (or our offer for an offer-less re-INVITE); an offer that
    /// cannot be followed changes nothing.
    fn reoffer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String>;
    /// Our offer was refused: the media stays as it was.
    fn offer_refused(&mut self, leg: LegId);
    /// Whether our microphone reaches this call (muted, or held).
    fn mute(&mut self, leg: LegId, muted: bool);
}

/// What the agent (or a script) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A new call to `target`; `remote` names the far party (what was dialled).
    Dial {
        target: Uri,
        remote: String,
    },
    Answer(LegId),
    Decline(LegId),
    Hangup(LegId),
    Hold(LegId, bool),
    /// The held call becomes the one talked to, and the other is held.
    Swap,
    /// The agent's microphone, for the call talked to.
    Mute(bool),
    /// Keypad tones, to the call talked to.
    Dtmf(String),
    /// Passes `leg` on to `target`: at once (blind), or after calling `target` first
    /// (attended: the caller waits on hold meanwhile).
    Transfer {
        leg: LegId,
        target: Uri,
        kind: TransferKind,
    },
    /// Attended: hands the caller over to the colleague on the consultation call.
    CompleteTransfer(LegId),
    /// Attended: ends the consultation and goes back to the caller.
    CancelTransfer(LegId),
}

/// Why a command could not be done; the message is for the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("you are on as many calls as you can take")]
    Busy,
    #[error("there is no such call to {0}")]
    NoCall(&'static str),
    #[error("{0}")]
    NotNow(String),
    #[error("keys are 0–9, *, # and A–D")]
    BadDigits,
}

/// What the driver does for the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Opens RTP ports and devices for `leg`; the outcome comes back in
    /// [`Controller::media_opened`].
    OpenMedia(LegId),
    /// Stops `leg`'s media.
    CloseMedia(LegId),
    /// Sends the INVITE; the user agent's handle comes back in [`Controller::placed`].
    Call {
        leg: LegId,
        target: Uri,
        offer: Vec<u8>,
        /// Header fields for a call the far end of another asked us to make: `Referred-By`
        /// (RFC 3892), and `Replaces` (RFC 3891) when we take over a consultation call.
        headers: Vec<(String, String)>,
    },
    Answer {
        sip: SipCallId,
        sdp: Vec<u8>,
    },
    Reject {
        sip: SipCallId,
        status: u16,
    },
    Hangup {
        sip: SipCallId,
    },
    Reinvite {
        sip: SipCallId,
        sdp: Vec<u8>,
    },
    AnswerReoffer {
        sip: SipCallId,
        sdp: Vec<u8>,
    },
    RejectReoffer {
        sip: SipCallId,
        status: u16,
        why: String,
    },
    Refer {
        sip: SipCallId,
        target: Uri,
    },
    ReferReplacing {
        sip: SipCallId,
        other: SipCallId,
    },
    /// Ends `sip` because the call just answered replaced it (RFC 3891): BYE, ended as
    /// replaced.
    Replaced {
        sip: SipCallId,
    },
    /// How the transfer the far end asked of us is going (RFC 3515 NOTIFY).
    Notify {
        sip: SipCallId,
        status: u16,
        reason: String,
    },
    Dtmf {
        leg: LegId,
        digits: String,
    },
    /// The tone that should sound now (None: silence).
    Tone(Option<Tone>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A call rings and nothing else is up.
    Ringtone,
    /// A call rings while the agent is on another.
    CallWaiting,
    /// The far end of this call rings (and sends no sound of its own).
    Ringback(LegId),
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    HungUp,
    RemoteHungUp,
    Declined,
    Busy,
    NoAnswer,
    /// The agent gave up on a call before it was answered.
    Canceled,
    /// The caller gave up (or was sent away) before the agent answered.
    Missed(Option<String>),
    Failed(String),
    /// Replaced by another call (the far end of an attended transfer to us).
    Replaced,
    /// Passed on to `to`.
    Transferred {
        to: String,
    },
}

/// What happened, for the journal and the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An inbound call rings here (`waiting`: while the agent is on another).
    Ringing {
        leg: LegId,
        waiting: bool,
    },
    /// An inbound call sent away at once (too many calls, do not disturb).
    Refused {
        remote: String,
        local: String,
        why: String,
    },
    /// An outbound call is on its way (the user agent has it).
    Dialled {
        leg: LegId,
    },
    Answered {
        leg: LegId,
    },
    Held {
        leg: LegId,
        held: bool,
    },
    /// The far end refused (or never answered) our hold or resume: the call is as it was.
    HoldRefused {
        leg: LegId,
        status: u16,
    },
    /// A transfer of `leg`: started, passed on, cancelled, or failed (`detail`: why).
    Transfer {
        leg: LegId,
        kind: TransferKind,
        target: String,
        outcome: TransferOutcome,
        detail: Option<String>,
    },
    Ended {
        leg: LegId,
        ending: Ending,
    },
    /// Mute or another detail of the view changed.
    Updated {
        leg: LegId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// Outbound: media being opened, the INVITE not sent yet.
    Opening,
    /// Outbound: INVITE sent, nothing back yet.
    Dialling,
    /// Outbound: the far end rings.
    Alerting,
    /// Inbound: rings here.
    Ringing,
    /// Inbound: answered by the agent, its media being opened.
    Answering,
    /// Up, talked to.
    Active,
    /// Up, on hold.
    Held,
    Ended,
}

impl LegState {
    pub fn is_up(self) -> bool {
        matches!(self, LegState::Active | LegState::Held)
    }
}

/// One call as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    pub leg: LegId,
    pub sip: Option<SipCallId>,
    pub outbound: bool,
    pub remote: String,
    pub local: String,
    pub state: LegState,
    pub muted: bool,
    /// A hold or resume is on its way.
    pub hold_pending: bool,
    /// Up, and both sides know it: hold and transfer can be asked.
    pub confirmed: bool,
    /// This call is the consultation of an attended transfer of that one.
    pub consult_of: Option<LegId>,
    /// A transfer of this call in progress: its kind and target.
    pub transfer: Option<(TransferKind, String)>,
    /// Who passed the caller on to us (a transferred call).
    pub transferred_by: Option<String>,
    /// The provider's id for this call, when its INVITE named it (`X-Ringdesk-Call`): the
    /// team journal knows the call by it.
    pub provider_call: Option<String>,
    /// The queue the call came through, when its INVITE named it (`X-Ringdesk-Queue`).
    pub queue: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Calls an agent may have at once; a call beyond that is refused 486 (1: no call waiting).
    pub max_calls: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_calls: 2 }
    }
}

#[derive(Debug)]
struct Transfer {
    kind: TransferKind,
    target: Uri,
    /// Attended: the consultation call.
    consult: Option<LegId>,
    /// The REFER is out: its outcome is awaited until then.
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct Leg {
    id: LegId,
    sip: Option<SipCallId>,
    outbound: bool,
    remote: String,
    local: String,
    target: Option<Uri>,
    state: LegState,
    /// It was up once (the far end or the agent answered).
    answered: bool,
    /// Both sides know it is up (the 2xx was acknowledged): requests within the call can go.
    confirmed: bool,
    /// Inbound: the INVITE's offer, until the agent answers.
    offer: Vec<u8>,
    media: bool,
    muted: bool,
    early_media: bool,
    hold_pending: Option<bool>,
    /// How it ends when the end comes from us.
    ending: Option<Ending>,
    transfer: Option<Transfer>,
    consult_of: Option<LegId>,
    /// We call this target because the far end of that call asked us to (REFER): its
    /// progress goes back there.
    notify: Option<SipCallId>,
    /// Inbound: this call replaces that one of ours (answered at once, the old one ended).
    replaces: Option<SipCallId>,
    /// Outbound: header fields to send (a transfer asked of us).
    headers: Vec<(String, String)>,
    /// Inbound: who passed the caller on to us.
    transferred_by: Option<String>,
    /// Inbound: the provider's id for the call, when its INVITE named it.
    provider_call: Option<String>,
    queue: Option<String>,
}

pub struct Controller {
    config: Config,
    do_not_disturb: bool,
    next_leg: LegId,
    legs: BTreeMap<LegId, Leg>,
    actions: VecDeque<Action>,
    changes: VecDeque<Change>,
    tone: Option<Tone>,
}

impl Controller {
    pub fn new(config: Config) -> Self {
        Controller {
            config,
            do_not_disturb: false,
            next_leg: 1,
            legs: BTreeMap::new(),
            actions: VecDeque::new(),
            changes: VecDeque::new(),
            tone: None,
        }
    }

    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    pub fn set_do_not_disturb(&mut self, on: bool) {
        self.do_not_disturb = on;
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .filter_map(|l| l.transfer.as_ref()?.deadline)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<LegId> = self
            .legs
            .values()
            .filter(|l| {
                l.transfer
                    .as_ref()
                    .and_then(|t| t.deadline)
                    .is_some_and(|d| d <= now)
            })
            .map(|l| l.id)
            .collect();
        for leg in due {
            self.transfer_failed(leg, "no word from the far end about the transfer".into());
        }
        self.settle_tone();
    }

    /// The calls as the screen shows them, oldest first; ended ones are gone.
    pub fn calls(&self) -> Vec<CallView> {
        self.legs
            .values()
            .filter(|l| l.state != LegState::Ended)
            .map(|l| CallView {
                leg: l.id,
                sip: l.sip,
                outbound: l.outbound,
                remote: l.remote.clone(),
                local: l.local.clone(),
                state: l.state,
                muted: l.muted,
                hold_pending: l.hold_pending.is_some(),
                confirmed: l.confirmed,
                consult_of: l.consult_of,
                transfer: l.transfer.as_ref().map(|t| (t.kind, t.target.to_string())),
                transferred_by: l.transferred_by.clone(),
                provider_call: l.provider_call.clone(),
                queue: l.queue.clone(),
            })
            .collect()
    }

    pub fn call(&self, leg: LegId) -> Option<CallView> {
        self.calls().into_iter().find(|c| c.leg == leg)
    }

    /// The call the agent talks to (at most one).
    pub fn active(&self) -> Option<LegId> {
        self.legs
            .values()
            .find(|l| l.state == LegState::Active)
            .map(|l| l.id)
    }

    fn live(&self) -> usize {
        self.legs
            .values()
            .filter(|l| l.state != LegState::Ended)
            .count()
    }

    fn by_sip(&self, sip: SipCallId) -> Option<LegId> {
        self.legs
            .values()
            .find(|l| l.sip == Some(sip) && l.state != LegState::Ended)
            .map(|l| l.id)
    }

    fn new_leg(&mut self, outbound: bool, remote: String, local: String) -> LegId {
        let id = self.next_leg;
        self.next_leg += 1;
        self.legs.insert(
            id,
            Leg {
                id,
                sip: None,
                outbound,
                remote,
                local,
                target: None,
                state: if outbound {
                    LegState::Opening
                } else {
                    LegState::Ringing
                },
                answered: false,
                confirmed: false,
                offer: Vec::new(),
                media: false,
                muted: false,
                early_media: false,
                hold_pending: None,
                ending: None,
                transfer: None,
                consult_of: None,
                notify: None,
                replaces: None,
                headers: Vec::new(),
                transferred_by: None,
                provider_call: None,
                queue: None,
            },
        );
        id
    }

    // ----- the agent's commands -----

    /// Carries out `command`; for `Dial` (and an attended transfer), the new call's handle.
    pub fn command(
        &mut self,
        command: Command,
        media: &mut dyn Media,
        now: Instant,
    ) -> Result<Option<LegId>, CallError> {
        let result = match command {
            Command::Dial { target, remote } => self.dial(target, remote, None, media).map(Some),
            Command::Answer(leg) => self.answer(leg, media).map(|_| None),
            Command::Decline(leg) => self.decline(leg).map(|_| None),
            Command::Hangup(leg) => self.hangup(leg).map(|_| None),
            Command::Hold(leg, held) => self.hold(leg, held, media).map(|_| None),
            Command::Swap => self.swap(media).map(|_| None),
            Command::Mute(muted) => self.mute(muted, media).map(|_| None),
            Command::Dtmf(digits) => self.dtmf(digits).map(|_| None),
            Command::Transfer { leg, target, kind } => self.transfer(leg, target, kind, media, now),
            Command::CompleteTransfer(leg) => self.complete_transfer(leg, now).map(|_| None),
            Command::CancelTransfer(leg) => self.cancel_transfer(leg, media).map(|_| None),
        };
        self.settle_tone();
        result
    }

    fn dial(
        &mut self,
        target: Uri,
        remote: String,
        consult_of: Option<LegId>,
        media: &mut dyn Media,
    ) -> Result<LegId, CallError> {
        if self.live() >= self.config.max_calls.max(1) {
            return Err(CallError::Busy);
        }
        // A new call puts the one talked to on hold, as desk phones do.
        if let Some(active) = self.active() {
            self.hold(active, true, media)?;
        }
        // A URI's headers (RFC 3261 §19.1.5) go into the INVITE, extension (X-) ones only: a
        // typed or linked address cannot make us send a Replaces, a Route or a second body.
        let mut target = target;
        let extensions = target
            .embedded_headers()
            .into_iter()
            .filter(|(name, value)| {
                ringdesk_sip::message::is_extension_header(name)
                    && !value.chars().any(char::is_control)
            })
            .collect();
        target.headers = None;
        let leg = self.new_leg(true, remote, String::new());
        if let Some(l) = self.legs.get_mut(&leg) {
            l.target = Some(target);
            l.consult_of = consult_of;
            l.headers = extensions;
        }
        self.actions.push_back(Action::OpenMedia(leg));
        Ok(leg)
    }

    fn answer(&mut self, leg: LegId, media: &mut dyn Media) -> Result<(), CallError> {
        if self.legs.get(&leg).map(|l| l.state) != Some(LegState::Ringing) {
            return Err(CallError::NoCall("answer"));
        }
        // Call waiting: the call talked to goes on hold.
        if let Some(active) = self.active() {
            self.hold(active, true, media)?;
        }
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Answering;
        }
        self.actions.push_back(Action::OpenMedia(leg));
        Ok(())
    }

    fn decline(&mut self, leg: LegId) -> Result<(), CallError> {
        let Some(l) = self
            .legs
            .get_mut(&leg)
            .filter(|l| l.state == LegState::Ringing)
        else {
            return Err(CallError::NoCall("decline"));
        };
        let sip = l.sip;
        l.ending = Some(Ending::Declined);
        if let Some(sip) = sip {
            self.actions.push_back(Action::Reject { sip, status: 603 });
        }
        self.end(leg, Ending::Declined);
        Ok(())
    }

    fn hangup(&mut self, leg: LegId) -> Result<(), CallError> {
        let Some(l) = self.legs.get(&leg).filter(|l| l.state != LegState::Ended) else {
            return Err(CallError::NoCall("hang up"));
        };
        match l.state {
            LegState::Ringing => return self.decline(leg),
            LegState::Opening | LegState::Answering if l.sip.is_none() => {
                // Nothing sent yet.
                self.end(leg, Ending::Canceled);
                return Ok(());
            }
            _ => {}
        }
        let ending = if l.state.is_up() {
            Ending::HungUp
        } else if l.outbound {
            Ending::Canceled
        } else {
            Ending::Declined
        };
        let sip = l.sip;
        if let Some(l) = self.legs.get_mut(&leg) {
            l.ending = Some(ending.clone());
        }
        match sip {
            Some(sip) => self.actions.push_back(Action::Hangup { sip }),
            None => self.end(leg, ending),
        }
        Ok(())
    }

    fn hold(&mut self, leg: LegId, held: bool, media: &mut dyn Media) -> Result<(), CallError> {
        let Some(l) = self.legs.get_mut(&leg).filter(|l| l.state.is_up()) else {
            return Err(CallError::NoCall("hold"));
        };
        if !l.confirmed {
            return Err(CallError::NotNow("the call is still connecting".into()));
        }
        if (l.state == LegState::Held) == held && l.hold_pending.is_none() {
            return Ok(());
        }
        if l.hold_pending.is_some() {
            return Err(CallError::NotNow(
                "the last hold or resume is still on its way".into(),
            ));
        }
        let Some(sip) = l.sip else {
            return Err(CallError::NoCall("hold"));
        };
        let Some(offer) = media.offer(leg, held) else {
            return Err(CallError::NotNow("the call has no audio here".into()));
        };
        // Our audio pauses at once on hold, whatever the far end does with the offer.
        media.mute(leg, held || l.muted);
        l.hold_pending = Some(held);
        self.actions.push_back(Action::Reinvite { sip, sdp: offer });
        Ok(())
    }

    fn swap(&mut self, media: &mut dyn Media) -> Result<(), CallError> {
        let held = self
            .legs
            .values()
            .filter(|l| l.state == LegState::Held && l.hold_pending.is_none())
            .map(|l| l.id)
            .next();
        let Some(held) = held else {
            return Err(CallError::NoCall("swap to"));
        };
        if let Some(active) = self.active() {
            self.hold(active, true, media)?;
        }
        self.hold(held, false, media)
    }

    fn mute(&mut self, muted: bool, media: &mut dyn Media) -> Result<(), CallError> {
        let Some(leg) = self.active() else {
            return Err(CallError::NoCall("mute"));
        };
        if let Some(l) = self.legs.get_mut(&leg) {
            l.muted = muted;
            media.mute(leg, muted);
        }
        self.changes.push_back(Change::Updated { leg });
        Ok(())
    }

    fn dtmf(&mut self, digits: String) -> Result<(), CallError> {
        if digits.is_empty()
            || digits.len() > 32
            || !digits
                .chars()
                .all(|d| d.is_ascii_digit() || "*#ABCDabcd".contains(d))
        {
            return Err(CallError::BadDigits);
        }
        let Some(leg) = self.active() else {
            return Err(CallError::NoCall("send keys to"));
        };
        self.actions.push_back(Action::Dtmf {
            leg,
            digits: digits.to_ascii_uppercase(),
        });
        Ok(())
    }

    fn transfer(
        &mut self,
        leg: LegId,
        target: Uri,
        kind: TransferKind,
        media: &mut dyn Media,
        now: Instant,
    ) -> Result<Option<LegId>, CallError> {
        let Some(l) = self.legs.get(&leg).filter(|l| l.state.is_up()) else {
            return Err(CallError::NoCall("transfer"));
        };
        if l.transfer.is_some() {
            return Err(CallError::NotNow("this call is being transferred".into()));
        }
        if !l.confirmed {
            return Err(CallError::NotNow("the call is still connecting".into()));
        }
        let Some(sip) = l.sip else {
            return Err(CallError::NoCall("transfer"));
        };
        let display = target.to_string();
        match kind {
            TransferKind::Blind => {
                self.actions.push_back(Action::Refer {
                    sip,
                    target: target.clone(),
                });
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.transfer = Some(Transfer {
                        kind,
                        target,
                        consult: None,
                        deadline: Some(now + TRANSFER_TIMEOUT),
                    });
                }
                self.transfer_change(leg, kind, display, TransferOutcome::Started, None);
                Ok(None)
            }
            TransferKind::Attended => {
                // The caller waits on hold while the colleague is asked.
                let consult = self.dial(target.clone(), display.clone(), Some(leg), media)?;
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.transfer = Some(Transfer {
                        kind,
                        target,
                        consult: Some(consult),
                        deadline: None,
                    });
                }
                self.transfer_change(leg, kind, display, TransferOutcome::Started, None);
                Ok(Some(consult))
            }
        }
    }

    fn complete_transfer(&mut self, leg: LegId, now: Instant) -> Result<(), CallError> {
        let Some(l) = self.legs.get(&leg) else {
            return Err(CallError::NoCall("transfer"));
        };
        let (Some(sip), Some(consult)) = (l.sip, l.transfer.as_ref().and_then(|t| t.consult))
        else {
            return Err(CallError::NoCall("transfer"));
        };
        let Some(other) = self
            .legs
            .get(&consult)
            .filter(|c| c.state.is_up())
            .and_then(|c| c.sip)
        else {
            return Err(CallError::NotNow(
                "the colleague has not taken the call yet".into(),
            ));
        };
        self.actions
            .push_back(Action::ReferReplacing { sip, other });
        let caller = l.remote.clone();
        if let Some(t) = self.legs.get_mut(&leg).and_then(|l| l.transfer.as_mut()) {
            t.deadline = Some(now + TRANSFER_TIMEOUT);
        }
        // The caller's INVITE replaces the colleague's call with us: that call ends passed on.
        if let Some(c) = self.legs.get_mut(&consult) {
            c.ending = Some(Ending::Transferred { to: caller });
        }
        Ok(())
    }

    fn cancel_transfer(&mut self, leg: LegId, media: &mut dyn Media) -> Result<(), CallError> {
        let Some(t) = self.legs.get_mut(&leg).and_then(|l| l.transfer.take()) else {
            return Err(CallError::NoCall("cancel the transfer of"));
        };
        if let Some(consult) = t.consult {
            let _ = self.hangup(consult);
        }
        self.transfer_change(
            leg,
            t.kind,
            t.target.to_string(),
            TransferOutcome::Cancelled,
            None,
        );
        // Back to the caller.
        self.hold(leg, false, media)
    }

    // ----- what the driver reports -----

    /// The media asked for with [`Action::OpenMedia`] is open (or could not be).
    pub fn media_opened(&mut self, leg: LegId, opened: Result<(), String>, media: &mut dyn Media) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if l.state == LegState::Ended {
            // Ended meanwhile (the caller gave up): nothing to use it for.
            self.actions.push_back(Action::CloseMedia(leg));
            return;
        }
        if let Err(why) = opened {
            let sip = l.sip;
            if let (Some(sip), LegState::Answering) = (sip, l.state) {
                self.actions.push_back(Action::Reject { sip, status: 500 });
            }
            self.end(leg, Ending::Failed(why));
            self.settle_tone();
            return;
        }
        l.media = true;
        match l.state {
            LegState::Opening => {
                let Some(target) = l.target.clone() else {
                    return;
                };
                let Some(offer) = media.offer(leg, false) else {
                    self.end(leg, Ending::Failed("no audio for the call".into()));
                    return;
                };
                l.state = LegState::Dialling;
                let headers = l.headers.clone();
                self.actions.push_back(Action::Call {
                    leg,
                    target,
                    offer,
                    headers,
                });
            }
            LegState::Answering => {
                let Some(sip) = l.sip else {
                    return;
                };
                // An INVITE without an offer gets ours; the answer comes in the ACK.
                let answer = if l.offer.is_empty() {
                    media
                        .offer(leg, false)
                        .ok_or_else(|| "no audio".to_string())
                } else {
                    media.answer(leg, &l.offer)
                };
                match answer {
                    Ok(sdp) => {
                        l.state = LegState::Active;
                        l.answered = true;
                        l.offer.clear();
                        let replaces = l.replaces;
                        self.actions.push_back(Action::Answer { sip, sdp });
                        if let Some(old) = replaces {
                            self.actions.push_back(Action::Replaced { sip: old });
                        }
                        self.changes.push_back(Change::Answered { leg });
                    }
                    Err(why) => {
                        self.actions.push_back(Action::Reject { sip, status: 488 });
                        self.end(leg, Ending::Failed(why));
                    }
                }
            }
            _ => {}
        }
        self.settle_tone();
    }

    /// What became of a SIP action the driver carried out with [`apply`](crate::apply):
    /// `None` when the user agent is gone. The one place both drivers report it.
    pub fn applied(&mut self, action: &Action, outcome: Option<SipOutcome>, media: &mut dyn Media) {
        match (outcome, action) {
            (Some(SipOutcome::Placed(call)), Action::Call { leg, .. }) => {
                self.placed(*leg, Some(call))
            }
            (Some(SipOutcome::Refused), _) => self.request_failed(action, media),
            (None, Action::Call { leg, .. }) => self.placed(*leg, None),
            _ => {}
        }
    }

    /// The INVITE of [`Action::Call`] went out as `sip` (None: the user agent is gone).
    pub fn placed(&mut self, leg: LegId, sip: Option<SipCallId>) {
        match (sip, self.legs.get_mut(&leg)) {
            (Some(sip), Some(l)) if l.state != LegState::Ended => {
                l.sip = Some(sip);
                self.changes.push_back(Change::Dialled { leg });
            }
            (Some(sip), _) => self.actions.push_back(Action::Hangup { sip }),
            (None, Some(_)) => self.end(leg, Ending::Failed("not connected".into())),
            (None, None) => {}
        }
        self.settle_tone();
    }

    /// A request the driver could not send (the user agent refused it: a re-INVITE while
    /// another is on its way, a call no longer there).
    pub fn request_failed(&mut self, action: &Action, media: &mut dyn Media) {
        match action {
            Action::Reinvite { sip, .. } => {
                if let Some(leg) = self.by_sip(*sip) {
                    self.reoffer_failed(leg, 0, media);
                }
            }
            Action::Refer { sip, .. } | Action::ReferReplacing { sip, .. } => {
                if let Some(leg) = self.by_sip(*sip) {
                    self.transfer_failed(leg, "the call could not be passed on now".into());
                }
            }
            _ => {}
        }
        self.settle_tone();
    }

    /// The do-not-disturb state and the call count decide whether a new call rings.
    pub fn sip_event(&mut self, event: CallEvent, media: &mut dyn Media) {
        match event {
            CallEvent::Incoming {
                call,
                from,
                to,
                sdp,
                replaces,
                referred_by,
                extensions,
            } => {
                self.incoming(call, from, to, sdp, replaces, referred_by);
                // The provider's name for the call (and its queue), when its INVITE gave them.
                let named = header_of(&extensions, ringdesk_core::ports::CALL_HEADER);
                let queue = header_of(&extensions, ringdesk_core::ports::QUEUE_HEADER);
                if let Some(l) = self.by_sip(call).and_then(|leg| self.legs.get_mut(&leg)) {
                    l.provider_call = named;
                    l.queue = queue;
                }
            }
            CallEvent::Ringing { call, sdp } => {
                let Some(leg) = self.by_sip(call) else {
                    return;
                };
                if let Some(l) = self.legs.get_mut(&leg) {
                    if matches!(l.state, LegState::Dialling | LegState::Alerting) {
                        l.state = LegState::Alerting;
                    }
                    if let Some(sdp) = sdp.filter(|s| !s.is_empty()) {
                        // Early media: their own ringback or announcement plays instead.
                        match media.answered(leg, &sdp) {
                            Ok(()) => l.early_media = true,
                            Err(e) => tracing::info!(error = %e, "early media refused"),
                        }
                    }
                }
            }
            CallEvent::Established { call, sdp } => self.established(call, sdp, media),
            CallEvent::Reoffer { call, sdp } => {
                let Some(leg) = self
                    .by_sip(call)
                    .filter(|l| self.legs.get(l).is_some_and(|l| l.media))
                else {
                    self.actions.push_back(Action::RejectReoffer {
                        sip: call,
                        status: 488,
                        why: "no audio for this call here".into(),
                    });
                    return;
                };
                match media.reoffer(leg, &sdp) {
                    Ok(answer) => self.actions.push_back(Action::AnswerReoffer {
                        sip: call,
                        sdp: answer,
                    }),
                    Err(why) => self.actions.push_back(Action::RejectReoffer {
                        sip: call,
                        status: 488,
                        why,
                    }),
                }
            }
            CallEvent::ReofferAck { call, sdp } => {
                if let Some(leg) = self.by_sip(call) {
                    if let Err(e) = media.answered(leg, &sdp) {
                        tracing::warn!(error = %e, "cannot use the answer to our offer");
                    }
                }
            }
            CallEvent::ReofferCancelled { .. } => {}
            CallEvent::ReofferAnswered { call, sdp } => {
                let Some(leg) = self.by_sip(call) else {
                    return;
                };
                if let Err(e) = media.answered(leg, &sdp) {
                    tracing::warn!(error = %e, "cannot use the answer to our re-offer");
                }
                if let Some(l) = self.legs.get_mut(&leg) {
                    if let Some(held) = l.hold_pending.take() {
                        l.state = if held {
                            LegState::Held
                        } else {
                            LegState::Active
                        };
                        media.mute(leg, held || l.muted);
                        self.changes.push_back(Change::Held { leg, held });
                    }
                }
            }
            CallEvent::ReofferFailed { call, status } => {
                if let Some(leg) = self.by_sip(call) {
                    self.reoffer_failed(leg, status, media);
                }
            }
            CallEvent::TransferRequested { call, target } => {
                self.transfer_requested(call, target, media)
            }
            CallEvent::TransferProgress {
                call,
                status,
                reason,
            } => self.transfer_progress(call, status, reason),
            CallEvent::Info { .. } => {}
            CallEvent::Ended { call, reason } => {
                if let Some(leg) = self.by_sip(call) {
                    let ending = self.ending_of(leg, reason);
                    let asked_by = self
                        .legs
                        .get(&leg)
                        .filter(|l| !l.answered)
                        .and_then(|l| l.notify)
                        .and_then(|sip| self.by_sip(sip));
                    self.end(leg, ending);
                    // A transfer we were asked to make did not come through: back to the
                    // one who asked, whom we held meanwhile.
                    if let (Some(back), None) = (asked_by, self.active()) {
                        let _ = self.hold(back, false, media);
                    }
                }
            }
        }
        self.settle_tone();
    }

    fn incoming(
        &mut self,
        call: SipCallId,
        from: String,
        to: String,
        sdp: Vec<u8>,
        replaces: Option<SipCallId>,
        transferred_by: Option<String>,
    ) {
        // An attended transfer to us: the caller replaces its colleague's call with us.
        if let Some((old, replaced)) = replaces.and_then(|r| Some((self.by_sip(r)?, r))) {
            let leg = self.new_leg(false, from, to);
            if let Some(l) = self.legs.get_mut(&leg) {
                l.sip = Some(call);
                l.offer = sdp;
                l.replaces = Some(replaced);
                l.state = LegState::Answering;
            }
            self.actions.push_back(Action::OpenMedia(leg));
            if let Some(l) = self.legs.get_mut(&old) {
                l.ending = Some(Ending::Replaced);
            }
            return;
        }
        let why = if self.live() >= self.config.max_calls.max(1) {
            Some("on another call")
        } else if self.do_not_disturb {
            Some("do not disturb")
        } else {
            None
        };
        if let Some(why) = why {
            self.actions.push_back(Action::Reject {
                sip: call,
                status: 486,
            });
            self.changes.push_back(Change::Refused {
                remote: from,
                local: to,
                why: why.into(),
            });
            return;
        }
        let waiting = self.legs.values().any(|l| l.state.is_up());
        let leg = self.new_leg(false, from, to);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.sip = Some(call);
            l.offer = sdp;
            l.transferred_by = transferred_by;
        }
        self.changes.push_back(Change::Ringing { leg, waiting });
    }

    fn established(&mut self, call: SipCallId, sdp: Vec<u8>, media: &mut dyn Media) {
        let Some(leg) = self.by_sip(call) else {
            return;
        };
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.confirmed = true;
        if !l.outbound {
            // The ACK of an offer-less INVITE carries the answer.
            if !sdp.is_empty() {
                if let Err(e) = media.answered(leg, &sdp) {
                    tracing::warn!(error = %e, "cannot use the caller's answer");
                }
            }
            return;
        }
        if !sdp.is_empty() {
            if let Err(why) = media.answered(leg, &sdp) {
                l.ending = Some(Ending::Failed(why));
                self.actions.push_back(Action::Hangup { sip: call });
                return;
            }
        }
        l.state = LegState::Active;
        l.answered = true;
        self.changes.push_back(Change::Answered { leg });
        // A call placed because the far end of another asked us to (REFER): it is answered.
        if let Some(notify) = l.notify {
            self.actions.push_back(Action::Notify {
                sip: notify,
                status: 200,
                reason: "OK".into(),
            });
        }
    }

    fn reoffer_failed(&mut self, leg: LegId, status: u16, media: &mut dyn Media) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        media.offer_refused(leg);
        let Some(held) = l.hold_pending.take() else {
            return;
        };
        let other_active = self
            .legs
            .values()
            .any(|o| o.id != leg && o.state == LegState::Active);
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if held && other_active {
            // The agent talks to another call now: this one is held here, its far end
            // hearing silence, since it could not be held properly.
            l.state = LegState::Held;
        }
        // Else as it was: audible if it was, held if it was.
        media.mute(leg, l.state == LegState::Held || l.muted);
        self.changes.push_back(Change::HoldRefused { leg, status });
    }

    /// The far end asks us to call someone else (REFER): we call, and tell it how that goes.
    fn transfer_requested(&mut self, call: SipCallId, target: String, media: &mut dyn Media) {
        if self.by_sip(call).is_none() {
            return;
        }
        let referrer = self
            .by_sip(call)
            .and_then(|l| self.legs.get(&l))
            .map(|l| l.remote.clone());
        let started = Uri::parse(&target)
            .map_err(|e| e.to_string())
            .and_then(|mut uri| {
                // An attended transfer's target carries the Replaces header to send.
                let replaces = uri.embedded_header("Replaces");
                uri.headers = None;
                let remote = uri.to_string();
                // Room for the new call: this one goes when the new one is up.
                let max = self.config.max_calls;
                self.config.max_calls = max.max(self.live() + 1);
                let placed = self
                    .dial(uri, remote, None, media)
                    .map_err(|e| e.to_string());
                self.config.max_calls = max;
                let new = placed?;
                if let Some(l) = self.legs.get_mut(&new) {
                    l.notify = Some(call);
                    l.headers = referrer
                        .into_iter()
                        .map(|r| ("Referred-By".to_string(), referred_by(&r)))
                        .chain(replaces.map(|r| ("Replaces".to_string(), r)))
                        .collect();
                }
                Ok(())
            });
        let (status, reason) = match started {
            Ok(()) => (100, "Trying".to_string()),
            Err(why) => (503, why),
        };
        self.actions.push_back(Action::Notify {
            sip: call,
            status,
            reason,
        });
    }

    fn transfer_progress(&mut self, call: SipCallId, status: u16, reason: String) {
        let Some(leg) = self.by_sip(call) else {
            return;
        };
        let Some(t) = self.legs.get(&leg).and_then(|l| l.transfer.as_ref()) else {
            return;
        };
        let (kind, target) = (t.kind, t.target.to_string());
        match status {
            // Accepted, or on its way: wait for the outcome.
            100..=199 | 202 if t.deadline.is_some() => {}
            200..=299 if t.deadline.is_some() => {
                // Passed on: our part of the call is over (RFC 5589 §6).
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.transfer = None;
                    l.ending = Some(Ending::Transferred { to: target.clone() });
                }
                self.actions.push_back(Action::Hangup { sip: call });
                self.transfer_change(leg, kind, target, TransferOutcome::Succeeded, None);
            }
            300.. => self.transfer_failed(leg, format!("{status} {reason}")),
            _ => {}
        }
    }

    fn transfer_failed(&mut self, leg: LegId, why: String) {
        let Some(t) = self.legs.get_mut(&leg).and_then(|l| l.transfer.take()) else {
            return;
        };
        if let Some(consult) = t.consult {
            // The colleague stays on the line with the agent; the caller stays on hold.
            if let Some(c) = self.legs.get_mut(&consult) {
                c.consult_of = None;
                if matches!(c.ending, Some(Ending::Transferred { .. })) {
                    c.ending = None;
                }
            }
        }
        self.transfer_change(
            leg,
            t.kind,
            t.target.to_string(),
            TransferOutcome::Failed,
            Some(why),
        );
    }

    fn transfer_change(
        &mut self,
        leg: LegId,
        kind: TransferKind,
        target: String,
        outcome: TransferOutcome,
        detail: Option<String>,
    ) {
        self.changes.push_back(Change::Transfer {
            leg,
            kind,
            target,
            outcome,
            detail,
        });
    }

    /// How a call ended, from what the user agent says and what we asked for.
    fn ending_of(&self, leg: LegId, reason: EndReason) -> Ending {
        let Some(l) = self.legs.get(&leg) else {
            return Ending::HungUp;
        };
        if let Some(ending) = &l.ending {
            return ending.clone();
        }
        let answered = l.state.is_up();
        match reason {
            EndReason::Local if answered => Ending::HungUp,
            EndReason::Local if l.outbound => Ending::Canceled,
            EndReason::Local => Ending::Declined,
            EndReason::Replaced => Ending::Replaced,
            EndReason::Remote => Ending::RemoteHungUp,
            EndReason::Cancelled => Ending::Missed(None),
            EndReason::Busy => Ending::Busy,
            EndReason::Declined => Ending::Declined,
            EndReason::Timeout if !answered => Ending::NoAnswer,
            EndReason::Timeout => Ending::Failed("the other side stopped answering".into()),
            EndReason::Failed {
                status: 408 | 480, ..
            } => Ending::NoAnswer,
            EndReason::Failed { status, reason } => Ending::Failed(format!("{status} {reason}")),
        }
    }

    fn end(&mut self, leg: LegId, ending: Ending) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if l.state == LegState::Ended {
            return;
        }
        l.state = LegState::Ended;
        let (had_media, consult_of, notify) = (l.media, l.consult_of, l.notify);
        let consult = l.transfer.as_ref().and_then(|t| t.consult);
        if had_media {
            self.actions.push_back(Action::CloseMedia(leg));
        }
        self.changes.push_back(Change::Ended {
            leg,
            ending: ending.clone(),
        });
        // A consultation that ended before the hand-over: the transfer did not happen.
        if let Some(original) = consult_of {
            let pending = self
                .legs
                .get(&original)
                .and_then(|o| o.transfer.as_ref())
                .is_some_and(|t| t.consult == Some(leg) && t.deadline.is_none());
            if pending {
                self.transfer_failed(original, "the colleague's call ended".into());
            }
        }
        // The call being transferred ended: its consultation is the agent's to finish.
        if let Some(consult) = consult {
            if let Some(c) = self.legs.get_mut(&consult) {
                c.consult_of = None;
            }
        }
        // A call we placed for the far end of another (REFER) that never came up: the final
        // NOTIFY says how it failed (RFC 3515 §2.4.5).
        let answered = self.legs.get(&leg).is_some_and(|l| l.answered);
        if let (Some(notify), false) = (notify, answered) {
            let (status, reason) = match &ending {
                Ending::Busy => (486, "Busy Here"),
                Ending::Declined => (603, "Decline"),
                Ending::NoAnswer => (480, "Temporarily Unavailable"),
                Ending::Canceled => (487, "Request Terminated"),
                _ => (503, "Service Unavailable"),
            };
            self.actions.push_back(Action::Notify {
                sip: notify,
                status,
                reason: reason.into(),
            });
        }
        self.legs
            .retain(|_, l| l.state != LegState::Ended || l.id == leg);
    }

    /// Emits the tone for the calls as they are now, if it changed.
    fn settle_tone(&mut self) {
        let ringing = self.legs.values().any(|l| l.state == LegState::Ringing);
        let up = self.legs.values().any(|l| l.state.is_up());
        let tone = if ringing {
            Some(if up {
                Tone::CallWaiting
            } else {
                Tone::Ringtone
            })
        } else {
            self.legs
                .values()
                .find(|l| l.outbound && l.state == LegState::Alerting && !l.early_media)
                .map(|l| Tone::Ringback(l.id))
        };
        if tone != self.tone {
            self.tone = tone;
            self.actions.push_back(Action::Tone(tone));
        }
        // Ended calls are kept only until this point: their changes are out.
        self.legs.retain(|_, l| l.state != LegState::Ended);
    }
}

/// A Ringdesk header of an INVITE (the provider's call, its queue), when it reads as one:
/// printable, bounded (a queue's name may have spaces, decoded from the URI's `%20`).
fn header_of(extensions: &[(String, String)], header: &str) -> Option<String> {
    extensions
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(header))
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128 && !v.chars().any(char::is_control))
        .map(str::to_string)
}

/// A `Referred-By` value for a party as the user agent reported it (`"Bob" <sip:bob@host>;tag=x`
/// or a bare URI): the name-addr without its tag.
fn referred_by(party: &str) -> String {
    let bare = match (party.find('<'), party.find('>')) {
        (Some(open), Some(close)) if open < close => &party[..=close],
        _ => party.split(';').next().unwrap_or(party),
    };
    if bare.contains('<') {
        bare.trim().to_string()
    } else {
        format!("<{}>", bare.trim())
    }
}

//! What the surface sees of calls: the calls in progress, the notices, the agent's commands
//! and why one could not be done, and the channels they travel on.

use ringdesk_core::{CallId, CallStatus, TransferKind};

use super::*;

/// Why a call command could not be done; the message is for the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the softphone is off: make a SIP account active in Settings → Telephony")]
    NoSoftphone,
    #[error("the softphone is not connected to its SIP server yet")]
    NotConnected,
    #[error("you are on as many calls as you can take: end one first")]
    Busy,
    #[error("there is no call to {0}")]
    NoCall(&'static str),
    #[error("{0}")]
    BadNumber(String),
    #[error("Calls at once is 1 to {0}")]
    CallsAtOnce(usize),
    #[error("the call's audio could not start: {0}")]
    Media(String),
    #[error("DTMF keys are 0-9, *, # and A-D")]
    BadDigits,
    #[error("{0}")]
    Provider(String),
    #[error("this call is on your phone: use its own buttons for that")]
    OnYourPhone,
    #[error("the journal: {0}")]
    Journal(String),
    /// Possible later, not now (the message says why).
    #[error("{0}")]
    NotNow(String),
}

impl From<ringdesk_phone::CallError> for CallError {
    fn from(e: ringdesk_phone::CallError) -> Self {
        match e {
            ringdesk_phone::CallError::Busy => CallError::Busy,
            ringdesk_phone::CallError::NoCall(what) => CallError::NoCall(what),
            ringdesk_phone::CallError::NotNow(why) => CallError::NotNow(why),
            ringdesk_phone::CallError::BadDigits => CallError::BadDigits,
        }
    }
}

/// Last RTCP-based estimate of the call's audio, for the widget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallQuality {
    pub mos: f32,
    /// Audio lost on the way or concealed when played (the worse of the two), in percent.
    pub loss_percent: f32,
    pub jitter_ms: u32,
    pub rtt_ms: Option<u32>,
    pub poor: bool,
    /// Packets arrive and none of them can be played: the agent hears nothing.
    pub stalled: bool,
}

impl From<&Quality> for CallQuality {
    fn from(q: &Quality) -> Self {
        CallQuality {
            mos: q.mos,
            loss_percent: q.loss_percent.max(q.concealed_percent),
            jitter_ms: q.jitter.as_millis() as u32,
            rtt_ms: q.round_trip.map(|r| r.as_millis() as u32),
            poor: q.is_poor(),
            stalled: q.stalled,
        }
    }
}

/// A call in progress as the call bar and the incoming popup show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCall {
    pub call: Call,
    pub muted: bool,
    pub held: bool,
    pub quality: Option<CallQuality>,
    /// The microphone and speaker the call's audio uses now (None: not this computer's —
    /// the call rings the agent's phone, or is still ringing here).
    pub devices: Option<CallDevices>,
    /// Through the softphone (else through the provider, on the agent's phone).
    pub softphone: bool,
    /// Rings while the agent is on another call.
    pub waiting: bool,
    /// A hold or resume is on its way to the far end.
    pub hold_pending: bool,
    /// Up, and both sides know it: hold and transfer can be asked.
    pub connected: bool,
    /// A transfer of this call on its way.
    pub transfer: Option<PendingTransfer>,
    /// This call is the agent's word with a colleague before handing that call over.
    pub consult_of: Option<CallId>,
    /// Something the agent should know about this call now (a hold the far end refused, a
    /// transfer that failed).
    pub notice: Option<String>,
    /// Why this call can only be passed on blind (None: attended works too).
    pub blind_only: Option<String>,
    /// Being recorded: on this computer (softphone), or by the provider (calls on the agent's
    /// phone, see `provider_recording`).
    pub recording: bool,
    /// The provider records this call: Record pauses and resumes its recording.
    pub provider_recording: bool,
}

impl ActiveCall {
    /// A call with nothing more than its journal row to show (the agent's phone rings):
    /// connected once answered; passed on blind through the provider.
    pub fn of(call: Call) -> ActiveCall {
        let connected = call.status == CallStatus::InProgress;
        ActiveCall {
            call,
            muted: false,
            held: false,
            quality: None,
            devices: None,
            softphone: false,
            waiting: false,
            hold_pending: false,
            connected,
            transfer: None,
            consult_of: None,
            notice: None,
            blind_only: Some("Calls on your phone are passed on blind, by the provider".into()),
            recording: false,
            provider_recording: false,
        }
    }

    pub fn ringing_inbound(&self) -> bool {
        self.call.direction == CallDirection::Inbound && self.call.status == CallStatus::Ringing
    }
}

/// A transfer on its way: what kind, to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTransfer {
    pub kind: TransferKind,
    pub to: String,
}

/// Moments the desktop reacts to (popup, notification, tray), after the journal has them.
#[derive(Debug, Clone, PartialEq)]
pub enum CallNotice {
    Incoming(Call),
    Answered(Call),
    Ended(Call),
}

/// What the agent asks of a call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallControl {
    Answer,
    Decline,
    Hangup,
    Mute(bool),
    Hold(bool),
    Dtmf(String),
    /// The held call becomes the one talked to; the other is held.
    Swap,
    /// Passes the call on to `target` (a number in any format or a SIP address).
    Transfer {
        target: String,
        kind: TransferKind,
    },
    /// Attended: hands the caller to the colleague on the consultation call.
    CompleteTransfer,
    /// Attended: back to the caller.
    CancelTransfer,
    /// Records the call on this computer (true) or pauses its recording.
    Record(bool),
}

/// What the agent asks of the softphone.
pub enum CallCommand {
    Dial {
        target: String,
        contact: Option<ContactId>,
        reply: oneshot::Sender<Result<Call, CallError>>,
    },
    /// `call` None: the call in focus (the one talked to, else the one ringing in, else the
    /// one being placed, else the first).
    Control {
        call: Option<CallId>,
        control: CallControl,
        reply: oneshot::Sender<Result<(), CallError>>,
    },
}

impl CallCommand {
    /// Answers the command with `error` without doing it (no running phone).
    pub fn refuse(self, error: CallError) {
        match self {
            CallCommand::Dial { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            CallCommand::Control { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// The channels the app's surface listens to.
#[derive(Clone)]
pub struct CallChannels {
    /// Every call in progress, oldest first: the softphone's and the one on the agent's phone.
    pub calls: watch::Sender<Vec<ActiveCall>>,
    pub notices: broadcast::Sender<CallNotice>,
}

impl CallChannels {
    /// Publishes the calls of one side (`softphone` or not), keeping the other side's.
    pub fn publish(&self, softphone: bool, mine: Vec<ActiveCall>) {
        self.calls.send_if_modified(|all| {
            let others = all.iter().filter(|c| c.softphone != softphone).cloned();
            let next: Vec<ActiveCall> = others.chain(mine).collect();
            let changed = *all != next;
            *all = next;
            changed
        });
    }
}

impl Default for CallChannels {
    fn default() -> Self {
        CallChannels {
            calls: watch::channel(Vec::new()).0,
            notices: broadcast::channel(32).0,
        }
    }
}

//! What the surface sees of calls: the call in progress, the notices, the agent's commands
//! and why one could not be done, and the channels they travel on.

use super::*;

/// Why a call command could not be done; the message is for the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the softphone is off: make a SIP account active in Settings → Telephony")]
    NoSoftphone,
    #[error("the softphone is not connected to its SIP server yet")]
    NotConnected,
    #[error("finish the current call first")]
    Busy,
    #[error("there is no call to {0}")]
    NoCall(&'static str),
    #[error("{0}")]
    BadNumber(String),
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

/// The call in progress as the widget and the incoming popup show it.
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
}

/// Moments the desktop reacts to (popup, notification, tray), after the journal has them.
#[derive(Debug, Clone, PartialEq)]
pub enum CallNotice {
    Incoming(Call),
    Answered(Call),
    Ended(Call),
}

/// What the agent asks of the call.
pub enum CallCommand {
    Dial {
        target: String,
        contact: Option<ContactId>,
        reply: oneshot::Sender<Result<Call, CallError>>,
    },
    Answer(oneshot::Sender<Result<(), CallError>>),
    Decline(oneshot::Sender<Result<(), CallError>>),
    Hangup(oneshot::Sender<Result<(), CallError>>),
    Mute(bool, oneshot::Sender<Result<(), CallError>>),
    Hold(bool, oneshot::Sender<Result<(), CallError>>),
    Dtmf(String, oneshot::Sender<Result<(), CallError>>),
}

impl CallCommand {
    /// Answers the command with `error` without doing it (no running phone).
    pub fn refuse(self, error: CallError) {
        match self {
            CallCommand::Dial { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            CallCommand::Answer(r)
            | CallCommand::Decline(r)
            | CallCommand::Hangup(r)
            | CallCommand::Mute(_, r)
            | CallCommand::Hold(_, r)
            | CallCommand::Dtmf(_, r) => {
                let _ = r.send(Err(error));
            }
        }
    }
}

/// The channels the app's surface listens to.
#[derive(Clone)]
pub struct CallChannels {
    pub active: watch::Sender<Option<ActiveCall>>,
    pub notices: broadcast::Sender<CallNotice>,
}

impl Default for CallChannels {
    fn default() -> Self {
        CallChannels {
            active: watch::channel(None).0,
            notices: broadcast::channel(32).0,
        }
    }
}

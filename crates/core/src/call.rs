//! Calls as the journal keeps them (the seed's Call): who, which way, how it went.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{ContactId, ProviderId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub Uuid);

impl CallId {
    pub fn new() -> Self {
        CallId(Uuid::new_v4())
    }
}

impl Default for CallId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    Inbound,
    Outbound,
}

/// The seed's statuses: a call rings, is in progress, then is completed (it was answered) or
/// failed (it never was).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ringing,
    InProgress,
    Completed,
    Failed,
}

impl CallStatus {
    pub fn is_final(self) -> bool {
        matches!(self, CallStatus::Completed | CallStatus::Failed)
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEndReason {
    /// The agent hung up.
    HungUp,
    /// The other side hung up.
    RemoteHungUp,
    /// The agent or the callee declined.
    Declined,
    Busy,
    NoAnswer,
    /// The agent cancelled an outbound call before it was answered.
    Canceled,
    /// The caller gave up before the agent answered.
    Missed,
    /// A network or provider failure (the detail says which).
    Failed,
    /// Ringdesk stopped while the call was live; found at the next start.
    Interrupted,
    /// Passed on to someone else (the detail says to whom), or taken over by the caller of an
    /// attended transfer.
    Transferred,
}

/// How a call is passed on: at once (blind, a REFER), or after a word with the colleague
/// (attended: the caller waits on hold, then the consultation call is replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    Blind,
    Attended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferOutcome {
    /// Asked for; the far end has not said how it went yet.
    Started,
    Succeeded,
    Failed,
    /// The agent went back to the caller (attended).
    Cancelled,
}

/// One transfer of a call — the seed's `Call.transfers[{timestamp, toNumber, type}]` — and how
/// it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Whom to: E.164 for a number, else the SIP address.
    pub to: String,
    pub kind: TransferKind,
    pub outcome: TransferOutcome,
    /// Why it failed.
    pub detail: Option<String>,
}

/// The agent's after-call disposition (the CRM's call outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Interested,
    NotInterested,
    CallBack,
    LeftVoicemail,
    WrongNumber,
}

macro_rules! codes {
    ($ty:ty { $($variant:ident = $code:literal),* $(,)? }) => {
        impl $ty {
            pub fn code(self) -> &'static str {
                match self { $(<$ty>::$variant => $code),* }
            }
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(<$ty>::$variant),)* _ => None }
            }
        }
    };
}

codes!(CallDirection { Inbound = "inbound", Outbound = "outbound" });
codes!(Disposition {
    Interested = "interested", NotInterested = "not_interested", CallBack = "call_back",
    LeftVoicemail = "left_voicemail", WrongNumber = "wrong_number",
});
codes!(TransferKind { Blind = "blind", Attended = "attended" });
codes!(TransferOutcome {
    Started = "started", Succeeded = "succeeded", Failed = "failed", Cancelled = "cancelled",
});
codes!(CallStatus { Ringing = "ringing", InProgress = "in_progress", Completed = "completed", Failed = "failed" });
codes!(CallEndReason {
    HungUp = "hung_up", RemoteHungUp = "remote_hung_up", Declined = "declined", Busy = "busy",
    NoAnswer = "no_answer", Canceled = "canceled", Missed = "missed", Failed = "failed",
    Interrupted = "interrupted", Transferred = "transferred",
});

/// A call in the journal. `from`/`to` are E.164 when the party is a phone number, else the
/// SIP address as signalled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: CallId,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub from: String,
    pub to: String,
    pub contact_id: Option<ContactId>,
    /// Read from the contact, not stored with the call.
    pub contact_name: Option<String>,
    /// The agent who made or took it.
    pub user_id: Option<crate::UserId>,
    pub provider_id: Option<ProviderId>,
    /// The provider's id for the call (call control and webhooks), when it went through its API.
    pub provider_call_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub initiated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub duration_secs: Option<u32>,
    pub end_reason: Option<CallEndReason>,
    pub end_detail: Option<String>,
    /// The call's recording: a provider's link, or a `file:` URL for one made on this
    /// computer.
    pub recording_url: Option<String>,
    /// How long the recording is, when known.
    pub recording_secs: Option<u32>,
    /// After-call work.
    pub notes: Option<String>,
    pub disposition: Option<Disposition>,
    /// What the agent heard, for a call whose audio ran here.
    pub audio: Option<CallAudio>,
    /// Every time the agent passed this call on (or tried to), oldest first.
    pub transfers: Vec<Transfer>,
    /// Who passed this caller on to us, when the call came by a transfer.
    pub transferred_by: Option<String>,
    /// The queue this call came through (its name), when it did.
    pub queue: Option<String>,
    /// The message the caller left when nobody answered (team voicemail).
    #[serde(default)]
    pub voicemail: Option<CallVoicemail>,
}

/// A caller's message, as the call it came with keeps it (its audio stays on the team server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallVoicemail {
    pub duration_secs: Option<u32>,
    pub transcription: Option<String>,
}

/// How a call sounded to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAudio {
    /// E-model estimate, 1 (bad) to 4.5.
    pub mos: f32,
    /// Audio lost on the way or concealed when played, in percent.
    pub loss_percent: f32,
}

/// Notes longer than this are cut (a CRM field, not a document).
pub const MAX_NOTES: usize = 4000;

impl Call {
    /// Records the agent's after-call work: notes trimmed, bounded, without control characters
    /// other than line breaks; blank notes are none.
    pub fn wrap_up(&mut self, notes: Option<&str>, disposition: Option<Disposition>) {
        self.notes = notes
            .map(|n| {
                n.trim()
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\n')
                    .take(MAX_NOTES)
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty());
        self.disposition = disposition;
    }

    /// A call starting now.
    pub fn new(direction: CallDirection, from: String, to: String, now: OffsetDateTime) -> Call {
        Call {
            id: CallId::new(),
            direction,
            status: CallStatus::Ringing,
            from,
            to,
            contact_id: None,
            contact_name: None,
            user_id: None,
            provider_id: None,
            provider_call_id: None,
            initiated_at: now,
            answered_at: None,
            ended_at: None,
            duration_secs: None,
            end_reason: None,
            end_detail: None,
            recording_url: None,
            recording_secs: None,
            notes: None,
            disposition: None,
            audio: None,
            transfers: Vec::new(),
            transferred_by: None,
            queue: None,
            voicemail: None,
        }
    }

    /// Records a transfer's start or outcome: an outcome settles the transfer still waiting
    /// for one (the latest to `to` of that kind), or is recorded on its own.
    pub fn transfer(
        &mut self,
        kind: TransferKind,
        to: &str,
        outcome: TransferOutcome,
        detail: Option<String>,
        now: OffsetDateTime,
    ) {
        let waiting = self
            .transfers
            .iter_mut()
            .rev()
            .find(|t| t.outcome == TransferOutcome::Started && t.kind == kind && t.to == to);
        match (outcome, waiting) {
            (TransferOutcome::Started, _) | (_, None) => self.transfers.push(Transfer {
                at: now,
                to: to.to_string(),
                kind,
                outcome,
                detail,
            }),
            (_, Some(t)) => {
                t.outcome = outcome;
                t.detail = detail;
            }
        }
    }

    /// The party that is not us.
    pub fn other_party(&self) -> &str {
        match self.direction {
            CallDirection::Inbound => &self.from,
            CallDirection::Outbound => &self.to,
        }
    }

    pub fn answer(&mut self, now: OffsetDateTime) {
        if self.status == CallStatus::Ringing {
            self.status = CallStatus::InProgress;
            self.answered_at = Some(now);
        }
    }

    /// Ends the call (once: a later end changes nothing). Answered calls complete, others fail;
    /// the duration is the talk time.
    pub fn end(&mut self, reason: CallEndReason, detail: Option<String>, now: OffsetDateTime) {
        if self.status.is_final() {
            return;
        }
        self.status = if self.answered_at.is_some() {
            CallStatus::Completed
        } else {
            CallStatus::Failed
        };
        self.ended_at = Some(now);
        self.duration_secs = Some(
            self.answered_at
                .map(|a| (now - a).whole_seconds().clamp(0, u32::MAX as i64) as u32)
                .unwrap_or(0),
        );
        self.end_reason = Some(reason);
        self.end_detail = detail;
    }
}

/// How a provider's end cause (Telnyx `hangup_cause`, Twilio `CallStatus`, Vonage `status`)
/// reads for this call.
pub fn end_reason_from_cause(
    cause: Option<&str>,
    direction: CallDirection,
    answered: bool,
) -> (CallEndReason, Option<String>) {
    let cause = cause.unwrap_or("").to_ascii_lowercase();
    let unanswered = match direction {
        CallDirection::Inbound => CallEndReason::Missed,
        CallDirection::Outbound => CallEndReason::NoAnswer,
    };
    match cause.as_str() {
        "busy" | "user_busy" => (CallEndReason::Busy, None),
        "no-answer" | "no_answer" | "timeout" | "unanswered" => (CallEndReason::NoAnswer, None),
        "rejected" | "call_rejected" => (CallEndReason::Declined, None),
        "canceled" | "cancelled" | "originator_cancel" if !answered => match direction {
            CallDirection::Inbound => (CallEndReason::Missed, None),
            CallDirection::Outbound => (CallEndReason::Canceled, None),
        },
        "failed" | "unallocated_number" | "normal_temporary_failure" => {
            (CallEndReason::Failed, Some(cause.clone()))
        }
        _ if answered => (CallEndReason::RemoteHungUp, None),
        _ => (unanswered, None),
    }
}

/// What the journal page asks for. Newest first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CallFilter {
    /// Words matched against the numbers, the contact's name and the notes.
    pub query: Option<String>,
    pub direction: Option<CallDirection>,
    pub status: Option<CallStatus>,
    pub contact_id: Option<ContactId>,
    pub user_id: Option<crate::UserId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    /// Paging: the last call of the previous page.
    pub before: Option<CallId>,
    pub limit: Option<u32>,
}

impl CallFilter {
    pub const MAX_LIMIT: u32 = 500;
    pub const DEFAULT_LIMIT: u32 = 50;

    pub fn limit(&self) -> u32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn answered_calls_complete_with_talk_time() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut call = Call::new(CallDirection::Outbound, "+1".into(), "+2".into(), t0);
        call.answer(t0 + Duration::seconds(5));
        call.end(CallEndReason::HungUp, None, t0 + Duration::seconds(65));
        assert_eq!(call.status, CallStatus::Completed);
        assert_eq!(call.duration_secs, Some(60));
        // A second end (the BYE's echo) changes nothing.
        call.end(CallEndReason::Failed, None, t0 + Duration::seconds(99));
        assert_eq!(call.end_reason, Some(CallEndReason::HungUp));
    }

    #[test]
    fn unanswered_calls_fail_and_cannot_be_answered_after() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut call = Call::new(CallDirection::Inbound, "+1".into(), "+2".into(), t0);
        call.end(CallEndReason::Missed, None, t0 + Duration::seconds(20));
        call.answer(t0 + Duration::seconds(21));
        assert_eq!(call.status, CallStatus::Failed);
        assert_eq!(call.duration_secs, Some(0));
        assert_eq!(call.answered_at, None);
    }

    #[test]
    fn wrap_up_notes_are_cleaned_and_bounded() {
        let mut call = Call::new(
            CallDirection::Inbound,
            "a".into(),
            "b".into(),
            OffsetDateTime::UNIX_EPOCH,
        );
        call.wrap_up(
            Some("  Wants a demo\n\u{7}next week  "),
            Some(Disposition::CallBack),
        );
        assert_eq!(call.notes.as_deref(), Some("Wants a demo\nnext week"));
        assert_eq!(call.disposition, Some(Disposition::CallBack));
        call.wrap_up(Some("   "), None);
        assert_eq!(call.notes, None);
        call.wrap_up(Some(&"x".repeat(10_000)), None);
        assert_eq!(call.notes.map(|n| n.len()), Some(MAX_NOTES));
    }

    #[test]
    fn provider_causes() {
        use CallDirection::*;
        assert_eq!(
            end_reason_from_cause(Some("user_busy"), Outbound, false).0,
            CallEndReason::Busy
        );
        assert_eq!(
            end_reason_from_cause(Some("canceled"), Inbound, false).0,
            CallEndReason::Missed
        );
        assert_eq!(
            end_reason_from_cause(Some("completed"), Inbound, true).0,
            CallEndReason::RemoteHungUp
        );
        assert_eq!(
            end_reason_from_cause(Some("normal_clearing"), Outbound, false).0,
            CallEndReason::NoAnswer
        );
        let (reason, detail) = end_reason_from_cause(Some("failed"), Outbound, false);
        assert_eq!(
            (reason, detail.as_deref()),
            (CallEndReason::Failed, Some("failed"))
        );
    }

    #[test]
    fn codes_round_trip() {
        for r in [
            CallEndReason::HungUp,
            CallEndReason::Interrupted,
            CallEndReason::NoAnswer,
        ] {
            assert_eq!(CallEndReason::from_code(r.code()), Some(r));
        }
        assert_eq!(
            CallStatus::from_code("in_progress"),
            Some(CallStatus::InProgress)
        );
        assert_eq!(CallDirection::from_code("sideways"), None);
    }
}

/// What a provider's call event did to the journal's row for that call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// A call the journal did not know rang in: a new row.
    Started,
    Answered,
    Ended,
    /// Its recording is ready (nothing to announce).
    Recorded,
}

/// A provider's call event applied to the call it is about (`known`, if the journal has it):
/// the call as it is now and what happened, or None when the event changes nothing (late,
/// repeated, or about a call already over). One rule for every host that journals provider
/// calls.
pub fn follow_event(
    provider: ProviderId,
    event: &crate::ports::WebhookEvent,
    known: Option<Call>,
    at: OffsetDateTime,
) -> Option<(Call, Followed)> {
    use crate::ports::WebhookEventKind as Kind;
    match (&event.kind, known) {
        (Kind::IncomingCall { from, to }, None) => {
            let mut call = Call::new(
                CallDirection::Inbound,
                provider_party(from),
                provider_party(to),
                at,
            );
            call.provider_id = Some(provider);
            call.provider_call_id = Some(event.provider_call_id.clone());
            Some((call, Followed::Started))
        }
        (Kind::CallAnswered, Some(mut call))
            if call.answered_at.is_none() && !call.status.is_final() =>
        {
            call.answer(at);
            Some((call, Followed::Answered))
        }
        (Kind::CallEnded { cause }, Some(mut call)) if !call.status.is_final() => {
            let (reason, detail) =
                end_reason_from_cause(cause.as_deref(), call.direction, call.answered_at.is_some());
            call.end(reason, detail, at);
            Some((call, Followed::Ended))
        }
        (Kind::RecordingReady { url, duration_secs }, Some(mut call)) => {
            call.recording_url = Some(url.clone());
            call.recording_secs = *duration_secs;
            Some((call, Followed::Recorded))
        }
        _ => None,
    }
}

/// A party as a provider names it (`+14155550100`, Vonage's `14155550100`) in E.164, else the
/// text as it came (a SIP address, `anonymous`), bounded and without control characters.
pub fn provider_party(raw: &str) -> String {
    let raw = raw.trim();
    crate::E164Number::parse_international(raw)
        .or_else(|_| crate::E164Number::parse_international(&format!("+{raw}")))
        .map(|n| n.to_string())
        .unwrap_or_else(|_| raw.chars().filter(|c| !c.is_control()).take(200).collect())
}

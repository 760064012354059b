//! Queues (the seed's CallQueue): a number's callers spread over a team's agents. The server
//! keeps each waiting caller as a row and answers every provider request about them with one
//! stateless step (`decide`): offer the call to agents, hold the caller with music for a
//! while, or overflow. Everything the step reads is gathered beforehand, so every strategy and
//! race is a plain function of its facts, tested without a provider, a clock or a database.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{E164Number, Region, UserId};

id_type!(QueueId);
id_type!(QueueCallId);
id_type!(VoicemailId);

/// How a queue's callers are spread over its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every available member rings; the first to answer takes the call.
    RingAll,
    /// One member at a time, in the queue's order, starting after the last one offered a call.
    RoundRobin,
    /// One member at a time: the one whose last queue call ended longest ago first.
    LongestIdle,
}

impl Strategy {
    pub fn code(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring_all",
            Strategy::RoundRobin => "round_robin",
            Strategy::LongestIdle => "longest_idle",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Strategy::RingAll,
            Strategy::RoundRobin,
            Strategy::LongestIdle,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// Where a caller goes when the queue cannot serve them (waited too long, nobody signed in,
/// the queue full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Overflow {
    /// The queue's voicemail: its greeting, then the caller's message.
    Voicemail,
    /// An outside number (the caller keeps their own number as caller ID).
    Number { number: E164Number },
    /// One agent, as a call routed to them (softphone, else their forwarding number).
    User { user_id: UserId },
    /// Another queue, the wait starting again there.
    Queue { queue_id: QueueId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub id: QueueId,
    pub name: String,
    pub strategy: Strategy,
    /// In the order round-robin follows.
    pub members: Vec<UserId>,
    pub ring_timeout_secs: u32,
    pub max_wait_secs: u32,
    /// Callers waiting at most; one more overflows at once.
    pub max_size: u32,
    pub overflow: Overflow,
    /// Spoken before a voicemail message (text to speech by the provider).
    pub greeting: Option<String>,
}

/// A queue with its callers now, as the team sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueNow {
    #[serde(flatten)]
    pub queue: Queue,
    /// Callers holding or ringing an agent.
    pub waiting: u32,
    /// How long the one waiting longest has waited.
    pub longest_wait_secs: Option<i64>,
    /// The queue plays its own hold music (an admin's upload), not the server's.
    #[serde(default)]
    pub hold_music_uploaded: bool,
    /// Its voicemail greeting is an admin's recording, not the provider's speech.
    #[serde(default)]
    pub greeting_uploaded: bool,
}

/// A recording an admin can give a queue in place of the default: its hold music, or its
/// voicemail greeting (instead of the provider's speech).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueSound {
    HoldMusic,
    Greeting,
}

impl QueueSound {
    pub fn code(self) -> &'static str {
        match self {
            Self::HoldMusic => "hold-music",
            Self::Greeting => "greeting",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Self::HoldMusic, Self::Greeting]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

pub const DEFAULT_GREETING: &str =
    "Sorry, nobody can take your call right now. Please leave a message after the tone.";

/// A queue as an admin describes it (validated by [`QueueInput::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueInput {
    pub name: String,
    pub strategy: Strategy,
    pub members: Vec<UserId>,
    pub ring_timeout_secs: u32,
    pub max_wait_secs: u32,
    pub max_size: u32,
    pub overflow: OverflowInput,
    #[serde(default)]
    pub greeting: Option<String>,
}

/// An overflow as typed: the number still a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum OverflowInput {
    Voicemail,
    Number { number: String },
    User { user_id: UserId },
    Queue { queue_id: QueueId },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("name the queue (at most 64 characters)")]
    Name,
    #[error("a member appears twice")]
    DuplicateMember,
    #[error("ring each member for 5 to 120 seconds")]
    RingTimeout,
    #[error("keep callers waiting 10 seconds to 2 hours at most")]
    MaxWait,
    #[error("let 1 to 1000 callers wait")]
    MaxSize,
    #[error("the overflow number is not a phone number: {0}")]
    OverflowNumber(String),
    #[error("a queue cannot overflow into itself")]
    OverflowLoop,
    #[error("the greeting is too long (at most 500 characters)")]
    Greeting,
}

impl QueueInput {
    /// The queue this input describes, for `id` (new or kept).
    pub fn validate(self, id: QueueId, region: Region) -> Result<Queue, QueueError> {
        let name = self.name.trim();
        // Twilio's queue names are at most 64 characters: ours are shown, not sent, but kept
        // as short as the shortest provider's.
        if name.is_empty() || name.chars().count() > 64 {
            return Err(QueueError::Name);
        }
        let mut seen = std::collections::HashSet::new();
        if !self.members.iter().all(|m| seen.insert(*m)) {
            return Err(QueueError::DuplicateMember);
        }
        if !(5..=120).contains(&self.ring_timeout_secs) {
            return Err(QueueError::RingTimeout);
        }
        if !(10..=7200).contains(&self.max_wait_secs) {
            return Err(QueueError::MaxWait);
        }
        if !(1..=1000).contains(&self.max_size) {
            return Err(QueueError::MaxSize);
        }
        let overflow = match self.overflow {
            OverflowInput::Voicemail => Overflow::Voicemail,
            OverflowInput::Number { number } => Overflow::Number {
                number: E164Number::parse(&number, region)
                    .map_err(|e| QueueError::OverflowNumber(e.to_string()))?,
            },
            OverflowInput::User { user_id } => Overflow::User { user_id },
            OverflowInput::Queue { queue_id } if queue_id == id => {
                return Err(QueueError::OverflowLoop)
            }
            OverflowInput::Queue { queue_id } => Overflow::Queue { queue_id },
        };
        let greeting = self
            .greeting
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty());
        if greeting.as_ref().is_some_and(|g| g.chars().count() > 500) {
            return Err(QueueError::Greeting);
        }
        Ok(Queue {
            id,
            name: name.to_string(),
            strategy: self.strategy,
            members: self.members,
            ring_timeout_secs: self.ring_timeout_secs,
            max_wait_secs: self.max_wait_secs,
            max_size: self.max_size,
            overflow,
            greeting,
        })
    }
}

/// Where one caller is in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueCallState {
    /// Holding (music), nobody ringing.
    Waiting,
    /// Ringing `offered_to`.
    Offering,
    /// An agent answered.
    Bridged,
    /// Sent on to the overflow.
    Overflowed,
    /// The caller hung up before anyone answered.
    Abandoned,
}

impl QueueCallState {
    pub fn code(self) -> &'static str {
        match self {
            QueueCallState::Waiting => "waiting",
            QueueCallState::Offering => "offering",
            QueueCallState::Bridged => "bridged",
            QueueCallState::Overflowed => "overflowed",
            QueueCallState::Abandoned => "abandoned",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        use QueueCallState::*;
        [Waiting, Offering, Bridged, Overflowed, Abandoned]
            .into_iter()
            .find(|s| s.code() == code)
    }

    /// Still in the queue (holding or ringing someone).
    pub fn is_open(self) -> bool {
        matches!(self, QueueCallState::Waiting | QueueCallState::Offering)
    }
}

/// One caller in a queue: the server's row, which every provider request about them reads
/// and moves on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCall {
    pub id: QueueCallId,
    pub queue_id: QueueId,
    pub provider_call_id: String,
    pub caller: String,
    pub state: QueueCallState,
    #[serde(with = "time::serde::rfc3339")]
    pub enqueued_at: OffsetDateTime,
    /// Who rings now (state Offering).
    pub offered_to: Vec<UserId>,
    /// Who was offered this call in the current round and did not answer.
    pub tried: Vec<UserId>,
    pub answered_by: Option<UserId>,
    /// The number called records its calls: the agent's talk with this caller is recorded.
    #[serde(default)]
    pub recorded: bool,
}

/// A member as the step sees them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    /// A desktop of theirs is heard from (any presence).
    pub signed_in: bool,
    /// Signed in, Available (not on a call, in wrap-up or on Do not disturb), with a softphone
    /// that can ring, and not ringing for another queue caller.
    pub available: bool,
    /// When their last queue call ended (None: none yet — the longest idle of all).
    pub idle_since: Option<OffsetDateTime>,
}

/// What the step does with a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ring these members (one, or all for ring-all) for the queue's ring timeout.
    Offer(Vec<UserId>),
    /// Keep the caller on hold music, then ask again. `new_round`: every available member
    /// was tried; the next ask starts over.
    Hold {
        new_round: bool,
    },
    Overflow(OverflowReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowReason {
    WaitedTooLong,
    NobodySignedIn,
    Full,
}

/// The step for a caller that is not ringing anyone now (just arrived, or back from a round
/// nobody answered). `ahead`: callers of the same queue who arrived earlier and hold now (they
/// are served first); `cursor`: the member round-robin offered a call to last.
pub fn decide(
    queue: &Queue,
    call: &QueueCall,
    members: &[Member],
    ahead: usize,
    cursor: Option<UserId>,
    now: OffsetDateTime,
) -> Decision {
    let waited = now - call.enqueued_at;
    if waited >= time::Duration::seconds(i64::from(queue.max_wait_secs)) {
        return Decision::Overflow(OverflowReason::WaitedTooLong);
    }
    let of_queue = |m: &&Member| queue.members.contains(&m.user_id);
    if !members.iter().filter(of_queue).any(|m| m.signed_in) {
        return Decision::Overflow(OverflowReason::NobodySignedIn);
    }
    let available: Vec<&Member> = queue
        .members
        .iter()
        .filter_map(|id| members.iter().find(|m| m.user_id == *id && m.available))
        .collect();
    // Those who came first are served first: a caller only takes an agent the callers ahead
    // of them leave free.
    if available.len() <= ahead {
        return Decision::Hold { new_round: false };
    }
    let untried: Vec<&Member> = available
        .iter()
        .copied()
        .filter(|m| !call.tried.contains(&m.user_id))
        .collect();
    if untried.is_empty() {
        return Decision::Hold { new_round: true };
    }
    match queue.strategy {
        Strategy::RingAll => Decision::Offer(untried.iter().map(|m| m.user_id).collect()),
        Strategy::RoundRobin => {
            let order = &queue.members;
            let start = cursor
                .and_then(|c| order.iter().position(|m| *m == c))
                .map_or(0, |i| i + 1);
            let next = (0..order.len())
                .map(|k| order[(start + k) % order.len()])
                .find(|id| untried.iter().any(|m| m.user_id == *id));
            match next {
                Some(id) => Decision::Offer(vec![id]),
                None => Decision::Hold { new_round: true },
            }
        }
        Strategy::LongestIdle => {
            // Never had a queue call counts as idle the longest; ties keep the queue's order.
            let pick = untried.iter().min_by_key(|m| {
                m.idle_since
                    .map(|t| (1, t))
                    .unwrap_or((0, call.enqueued_at))
            });
            match pick {
                Some(m) => Decision::Offer(vec![m.user_id]),
                None => Decision::Hold { new_round: true },
            }
        }
    }
}

/// Whether a new caller can join a queue holding `waiting` callers.
pub fn has_room(queue: &Queue, waiting: usize) -> bool {
    waiting < queue.max_size as usize
}

/// What a holding caller is told: their place in line and, when the queue's recent callers
/// say so, how long they can expect to wait (Asterisk's `announce-holdtime`: the average wait
/// of the callers answered lately; under 45 seconds is not worth saying).
pub fn hold_announcement(ahead: usize, expected_wait_secs: Option<u32>) -> String {
    let place = match ahead {
        0 => "You are next in line.".to_string(),
        n => format!("You are caller number {} in line.", n + 1),
    };
    let wait = match expected_wait_secs {
        Some(s) if s >= 90 => format!(" The expected wait is about {} minutes.", (s + 30) / 60),
        Some(s) if s >= 45 => " The expected wait is about a minute.".to_string(),
        _ => String::new(),
    };
    format!("{place}{wait} Thank you for waiting.")
}

/// A caller's recorded message, for an agent or a queue's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailStatus {
    New,
    Listened,
    Archived,
}

impl VoicemailStatus {
    pub fn code(self) -> &'static str {
        match self {
            VoicemailStatus::New => "new",
            VoicemailStatus::Listened => "listened",
            VoicemailStatus::Archived => "archived",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        use VoicemailStatus::*;
        [New, Listened, Archived]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// Whose voicemail box a message is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum VoicemailBox {
    User { user_id: UserId },
    Queue { queue_id: QueueId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Voicemail {
    pub id: VoicemailId,
    #[serde(rename = "box")]
    pub mailbox: VoicemailBox,
    pub provider_call_id: String,
    pub caller: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub duration_secs: Option<u32>,
    /// The message is on the server's disk (copied from the provider).
    pub has_audio: bool,
    pub transcription: Option<String>,
    /// As the agent reading it left it.
    pub status: VoicemailStatus,
    /// This agent's desktop writes the message to the CRM: the box's agent, or a queue's first
    /// member (one writer, so the CRM gets it once).
    #[serde(default)]
    pub writes_crm: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holding_caller_hears_their_place_and_the_expected_wait() {
        assert_eq!(
            hold_announcement(0, None),
            "You are next in line. Thank you for waiting."
        );
        assert_eq!(
            hold_announcement(2, Some(20)),
            "You are caller number 3 in line. Thank you for waiting.",
            "too short to say"
        );
        assert_eq!(
            hold_announcement(1, Some(70)),
            "You are caller number 2 in line. The expected wait is about a minute. Thank you for waiting."
        );
        assert_eq!(
            hold_announcement(0, Some(230)),
            "You are next in line. The expected wait is about 4 minutes. Thank you for waiting."
        );
    }

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn users(n: usize) -> Vec<UserId> {
        (0..n).map(|_| UserId::new()).collect()
    }

    fn queue(strategy: Strategy, members: &[UserId]) -> Queue {
        Queue {
            id: QueueId::new(),
            name: "Sales".into(),
            strategy,
            members: members.to_vec(),
            ring_timeout_secs: 20,
            max_wait_secs: 120,
            max_size: 10,
            overflow: Overflow::Voicemail,
            greeting: None,
        }
    }

    fn call(q: &Queue) -> QueueCall {
        QueueCall {
            id: QueueCallId::new(),
            queue_id: q.id,
            provider_call_id: "CA1".into(),
            caller: "+14155552671".into(),
            state: QueueCallState::Waiting,
            enqueued_at: at(0),
            offered_to: vec![],
            tried: vec![],
            answered_by: None,
            recorded: false,
        }
    }

    fn free(ids: &[UserId]) -> Vec<Member> {
        ids.iter()
            .map(|id| Member {
                user_id: *id,
                signed_in: true,
                available: true,
                idle_since: None,
            })
            .collect()
    }

    #[test]
    fn ring_all_offers_every_available_member_and_skips_the_busy() {
        let ids = users(3);
        let q = queue(Strategy::RingAll, &ids);
        let mut members = free(&ids);
        members[1].available = false; // on a call, Do not disturb or ringing elsewhere
        assert_eq!(
            decide(&q, &call(&q), &members, 0, None, at(1)),
            Decision::Offer(vec![ids[0], ids[2]])
        );
    }

    #[test]
    fn round_robin_starts_after_the_last_offered_and_wraps() {
        let ids = users(3);
        let q = queue(Strategy::RoundRobin, &ids);
        let members = free(&ids);
        let c = call(&q);
        assert_eq!(
            decide(&q, &c, &members, 0, None, at(1)),
            Decision::Offer(vec![ids[0]])
        );
        assert_eq!(
            decide(&q, &c, &members, 0, Some(ids[0]), at(1)),
            Decision::Offer(vec![ids[1]])
        );
        assert_eq!(
            decide(&q, &c, &members, 0, Some(ids[2]), at(1)),
            Decision::Offer(vec![ids[0]])
        );
        // A member removed from the queue since: start from the top.
        assert_eq!(
            decide(&q, &c, &members, 0, Some(UserId::new()), at(1)),
            Decision::Offer(vec![ids[0]])
        );
    }

    #[test]
    fn round_robin_passes_over_who_did_not_answer_then_starts_a_new_round() {
        let ids = users(3);
        let q = queue(Strategy::RoundRobin, &ids);
        let mut members = free(&ids);
        members[2].available = false;
        let mut c = call(&q);
        c.tried = vec![ids[1]];
        assert_eq!(
            decide(&q, &c, &members, 0, Some(ids[1]), at(30)),
            Decision::Offer(vec![ids[0]]),
            "ids[2] busy, ids[1] tried"
        );
        c.tried = vec![ids[1], ids[0]];
        assert_eq!(
            decide(&q, &c, &members, 0, Some(ids[0]), at(60)),
            Decision::Hold { new_round: true }
        );
    }

    #[test]
    fn longest_idle_takes_who_waited_longest_since_their_last_call() {
        let ids = users(3);
        let q = queue(Strategy::LongestIdle, &ids);
        let mut members = free(&ids);
        members[0].idle_since = Some(at(-10));
        members[1].idle_since = Some(at(-300));
        members[2].idle_since = Some(at(-60));
        assert_eq!(
            decide(&q, &call(&q), &members, 0, None, at(1)),
            Decision::Offer(vec![ids[1]])
        );
        members[2].idle_since = None;
        assert_eq!(
            decide(&q, &call(&q), &members, 0, None, at(1)),
            Decision::Offer(vec![ids[2]]),
            "no queue call yet: idle the longest"
        );
    }

    #[test]
    fn callers_who_came_first_are_served_first() {
        let ids = users(2);
        let q = queue(Strategy::RingAll, &ids);
        let mut members = free(&ids);
        assert_eq!(
            decide(&q, &call(&q), &members, 2, None, at(1)),
            Decision::Hold { new_round: false },
            "two callers ahead take both agents"
        );
        assert!(matches!(
            decide(&q, &call(&q), &members, 1, None, at(1)),
            Decision::Offer(_)
        ));
        members[0].available = false;
        assert_eq!(
            decide(&q, &call(&q), &members, 1, None, at(1)),
            Decision::Hold { new_round: false }
        );
    }

    #[test]
    fn overflow_after_the_maximum_wait_or_at_once_when_nobody_is_signed_in() {
        let ids = users(2);
        let q = queue(Strategy::RingAll, &ids);
        let mut members = free(&ids);
        assert_eq!(
            decide(&q, &call(&q), &members, 0, None, at(120)),
            Decision::Overflow(OverflowReason::WaitedTooLong)
        );
        for m in &mut members {
            m.signed_in = false;
            m.available = false;
        }
        assert_eq!(
            decide(&q, &call(&q), &members, 0, None, at(0)),
            Decision::Overflow(OverflowReason::NobodySignedIn)
        );
        // Signed in but all busy: the caller waits.
        members[0].signed_in = true;
        assert_eq!(
            decide(&q, &call(&q), &members, 0, None, at(1)),
            Decision::Hold { new_round: false }
        );
        // A queue with no members at all has nobody signed in.
        let empty = queue(Strategy::RoundRobin, &[]);
        assert_eq!(
            decide(&empty, &call(&empty), &members, 0, None, at(1)),
            Decision::Overflow(OverflowReason::NobodySignedIn)
        );
    }

    #[test]
    fn round_robin_is_fair_over_many_calls() {
        let ids = users(3);
        let q = queue(Strategy::RoundRobin, &ids);
        let members = free(&ids);
        let mut cursor = None;
        let mut offers = std::collections::HashMap::new();
        for _ in 0..999 {
            let Decision::Offer(who) = decide(&q, &call(&q), &members, 0, cursor, at(1)) else {
                panic!("all free");
            };
            *offers.entry(who[0]).or_insert(0) += 1;
            cursor = Some(who[0]);
        }
        assert!(ids.iter().all(|id| offers[id] == 333), "{offers:?}");
    }

    #[test]
    fn an_admins_queue_is_checked() {
        let ids = users(2);
        let us: Region = "US".parse().unwrap();
        let input = QueueInput {
            name: " Sales ".into(),
            strategy: Strategy::RoundRobin,
            members: ids.clone(),
            ring_timeout_secs: 20,
            max_wait_secs: 300,
            max_size: 20,
            overflow: OverflowInput::Number {
                number: "(415) 555-0199".into(),
            },
            greeting: Some("  ".into()),
        };
        let id = QueueId::new();
        let q = input.clone().validate(id, us).unwrap();
        assert_eq!(q.name, "Sales");
        assert_eq!(q.greeting, None);
        assert_eq!(
            q.overflow,
            Overflow::Number {
                number: E164Number::parse_international("+14155550199").unwrap()
            }
        );
        let bad = |f: &dyn Fn(&mut QueueInput)| {
            let mut i = input.clone();
            f(&mut i);
            i.validate(id, us).unwrap_err()
        };
        assert_eq!(bad(&|i| i.name = " ".into()), QueueError::Name);
        assert_eq!(
            bad(&|i| i.members = vec![ids[0], ids[0]]),
            QueueError::DuplicateMember
        );
        assert_eq!(bad(&|i| i.ring_timeout_secs = 2), QueueError::RingTimeout);
        assert_eq!(bad(&|i| i.max_wait_secs = 0), QueueError::MaxWait);
        assert_eq!(bad(&|i| i.max_size = 0), QueueError::MaxSize);
        assert_eq!(
            bad(&|i| i.overflow = OverflowInput::Queue { queue_id: id }),
            QueueError::OverflowLoop
        );
        assert!(matches!(
            bad(&|i| i.overflow = OverflowInput::Number {
                number: "nope".into()
            }),
            QueueError::OverflowNumber(_)
        ));
    }

    #[test]
    fn codes_read_back() {
        for s in [
            Strategy::RingAll,
            Strategy::RoundRobin,
            Strategy::LongestIdle,
        ] {
            assert_eq!(Strategy::from_code(s.code()), Some(s));
        }
        for s in [
            QueueCallState::Waiting,
            QueueCallState::Offering,
            QueueCallState::Bridged,
            QueueCallState::Overflowed,
            QueueCallState::Abandoned,
        ] {
            assert_eq!(QueueCallState::from_code(s.code()), Some(s));
        }
        for s in [
            VoicemailStatus::New,
            VoicemailStatus::Listened,
            VoicemailStatus::Archived,
        ] {
            assert_eq!(VoicemailStatus::from_code(s.code()), Some(s));
        }
    }
}

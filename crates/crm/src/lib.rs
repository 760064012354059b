//! CRM connectors behind one port, and the outbox's delivery policy. A call that ended is an
//! `Activity`; a connector logs it in its CRM as that CRM's call activity, idempotently (the
//! same key never makes two), and can say whether a key was logged already — what makes an
//! ambiguous failure (a timeout after the request left) safe to retry.
//!
//! Knows HTTP (reqwest) and nothing of SQL or Tauri: the outbox table lives in the store, the
//! worker that drives it in the app.

pub mod generic;
mod http;
pub mod hubspot;
pub mod outbox;
pub mod pipedrive;
pub mod sync;

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::{
    Call, CallDirection, CallEndReason, CallStatus, TransferKind, TransferOutcome,
};
use serde::Serialize;

/// What the CRM is told about one call (the seed's Interaction of type "call"). Absent
/// values are left out rather than sent as null (the contract's schema has no nulls).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub call_id: String,
    pub direction: CallDirection,
    pub from: String,
    pub to: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub answered_at: Option<time::OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<time::OffsetDateTime>,
    pub duration_secs: u32,
    pub status: CallStatus,
    /// How it went, in the CRM's common vocabulary (`connected`, `no_answer`, `busy`, …).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The agent's disposition (`interested`, `call_back`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// The contact's id in this CRM, when the caller matched one that came from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The agent who made or took the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<Agent>,
}

/// The agent on a call, as CRMs can match their users: a name and, when known, an email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Activity {
    pub fn of(call: &Call, contact_crm_id: Option<String>) -> Activity {
        let outcome = match (call.answered_at.is_some(), call.end_reason) {
            (true, _) => "connected",
            (false, Some(CallEndReason::Busy)) => "busy",
            (false, Some(CallEndReason::Declined)) => "declined",
            (false, Some(CallEndReason::Missed)) => "missed",
            (false, Some(CallEndReason::Canceled)) => "canceled",
            (false, Some(CallEndReason::NoAnswer)) => "no_answer",
            (false, _) => "failed",
        };
        Activity {
            call_id: call.id.to_string(),
            direction: call.direction,
            from: call.from.clone(),
            to: call.to.clone(),
            started_at: call.initiated_at,
            answered_at: call.answered_at,
            ended_at: call.ended_at,
            duration_secs: call.duration_secs.unwrap_or(0),
            status: call.status,
            outcome,
            notes: notes_of(call),
            disposition: call.disposition.map(|d| d.code()),
            // A recording kept on the agent's computer is no link for the CRM.
            recording_url: call
                .recording_url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            contact_id: contact_crm_id,
            agent: None,
        }
    }

    /// The same, naming the agent.
    pub fn by(mut self, agent: Option<Agent>) -> Activity {
        self.agent = agent;
        self
    }
}

/// The longest notes a CRM is sent (the generic contract's limit; HubSpot and Pipedrive take
/// more).
const NOTES_MOST: usize = 4000;

/// The agent's notes, then a line per transfer of the call ("Transferred to +1… (talked
/// first)") and the message the caller left, so every CRM shows who the caller was passed on
/// to and what they said without a field of its own.
fn notes_of(call: &Call) -> Option<String> {
    let transfers = call.transfers.iter().map(|t| {
        let how = match t.kind {
            TransferKind::Blind => "",
            TransferKind::Attended => " (talked first)",
        };
        match t.outcome {
            TransferOutcome::Succeeded => format!("Transferred to {}{how}", t.to),
            TransferOutcome::Failed => match &t.detail {
                Some(why) => format!("Transfer to {} failed: {why}", t.to),
                None => format!("Transfer to {} failed", t.to),
            },
            TransferOutcome::Cancelled => format!("Transfer to {} cancelled{how}", t.to),
            TransferOutcome::Started => format!("Transfer to {} asked{how}", t.to),
        }
    });
    let voicemail = call.voicemail.as_ref().map(|v| {
        let length = v
            .duration_secs
            .map(|s| format!(" ({}:{:02})", s / 60, s % 60))
            .unwrap_or_default();
        match &v.transcription {
            Some(text) => format!("Voicemail{length}: {text}"),
            None => format!("Voicemail{length} left (no transcription)"),
        }
    });
    let lines: Vec<String> = call
        .notes
        .clone()
        .into_iter()
        .chain(transfers)
        .chain(voicemail)
        .collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines.join("\n").chars().take(NOTES_MOST).collect())
}

/// The CRM's own id for something Ringdesk wrote or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteRef(pub String);

/// A contact as a CRM returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmContact {
    pub id: String,
    pub name: String,
    pub company: Option<String>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    /// When the CRM last changed it (for sync cursors).
    #[serde(skip)]
    pub updated_at: Option<time::OffsetDateTime>,
}

/// One page of contacts changed in the CRM, oldest change first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    pub contacts: Vec<CrmContact>,
    /// Ids of contacts deleted in the CRM (from CRMs that report them).
    pub deleted: Vec<String>,
    /// Where the pull goes on: stored with the page, handed back for the next one.
    pub cursor: String,
    /// More pages wait now; false: the pull reached the present and `cursor` is where the
    /// next one starts.
    pub more: bool,
}

/// A contact the agent adds to the CRM (an unknown caller, a typed contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub name: String,
    pub company: Option<String>,
    /// E.164.
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

impl NewContact {
    /// First and last name the way CRMs with split names want them (the last word is the
    /// last name).
    pub fn split_name(&self) -> (String, Option<String>) {
        match self.name.trim().rsplit_once(' ') {
            Some((first, last)) => (first.trim().to_string(), Some(last.to_string())),
            None => (self.name.trim().to_string(), None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    #[error("the CRM refused the token: {0}")]
    Unauthorized(String),
    #[error("the CRM asks to slow down")]
    RateLimited { retry_after: Option<Duration> },
    /// Nothing was applied (refused connection, 5xx before processing): retry as is.
    #[error("the CRM is unavailable: {0}")]
    Transient(String),
    /// The request may have been applied (a timeout after it was sent, a broken answer):
    /// check before retrying.
    #[error("no clear answer from the CRM: {0}")]
    Ambiguous(String),
    /// The CRM has no way to do this (e.g. change a logged call).
    #[error("the CRM cannot {0}")]
    Unsupported(String),
    /// The CRM will refuse it again (validation): no retry, shown to the agent.
    #[error("the CRM refused the activity ({status}): {message}")]
    Permanent { status: u16, message: String },
}

#[async_trait]
pub trait CrmConnector: Send + Sync {
    /// The cheapest authenticated read, for Settings → CRM → Test.
    async fn test(&self) -> Result<String, CrmError>;

    async fn find_contacts_by_phone(&self, e164: &str) -> Result<Vec<CrmContact>, CrmError>;

    /// Logs the activity under `key`; the same key twice must not make two.
    async fn log_call(&self, activity: &Activity, key: &str) -> Result<RemoteRef, CrmError>;

    /// The activity logged under `key`, if any (after an ambiguous failure).
    async fn find_logged_call(&self, key: &str) -> Result<Option<RemoteRef>, CrmError>;

    /// Brings the call logged as `remote` up to date with `activity` (notes, outcome and
    /// recording saved after it was logged).
    async fn update_call(&self, remote: &RemoteRef, activity: &Activity) -> Result<(), CrmError>;

    /// The next page of contacts changed since `cursor` (None: from the beginning).
    async fn list_changed_contacts(&self, cursor: Option<&str>) -> Result<ChangePage, CrmError>;

    /// Creates the contact in the CRM and returns it as stored there.
    async fn create_contact(&self, contact: &NewContact) -> Result<CrmContact, CrmError>;

    /// Where the agent sees the contact in the CRM's own web app.
    async fn contact_url(&self, id: &str) -> Result<Option<url::Url>, CrmError>;
}

/// The idempotency key of the activity for `call_id` in the CRM named `crm`: stable across
/// restarts and retries (UUID v5 of both).
pub fn idempotency_key(crm: &str, call_id: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5f1c_0d7a_2b8e_4c11_9a0e_1d2c_3b4a_5968);
    uuid::Uuid::new_v5(&NAMESPACE, format!("{crm}/log_call/{call_id}").as_bytes()).to_string()
}

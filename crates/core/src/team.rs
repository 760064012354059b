//! The team server's own domain: who may do what (`Role`), what a signed-in desktop says
//! about its agent (`Presence`), and the desktops themselves (`Device`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{ProviderId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Changes the team: providers, numbers, routes, agents, devices.
    Admin,
    /// Takes and makes calls; sees the team read-only.
    Agent,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        match code {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// What a desktop says about its agent (a desktop that stopped saying it is offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    OnCall,
    WrapUp,
    Dnd,
}

impl Presence {
    pub fn code(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::OnCall => "on_call",
            Presence::WrapUp => "wrap_up",
            Presence::Dnd => "dnd",
        }
    }

    pub fn from_code(code: &str) -> Option<Presence> {
        match code {
            "available" => Some(Presence::Available),
            "on_call" => Some(Presence::OnCall),
            "wrap_up" => Some(Presence::WrapUp),
            "dnd" => Some(Presence::Dnd),
            _ => None,
        }
    }
}

impl Presence {
    /// An agent's status from what their desktops say (None: none heard from: offline).
    pub fn status(presence: Option<Presence>) -> crate::UserStatus {
        use crate::UserStatus;
        match presence {
            None => UserStatus::Offline,
            Some(Presence::Available) => UserStatus::Online,
            Some(Presence::OnCall | Presence::WrapUp) => UserStatus::Busy,
            Some(Presence::Dnd) => UserStatus::Dnd,
        }
    }
}

id_type!(DeviceId);

/// A signed-in desktop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    pub role: Role,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub revoked: bool,
    pub presence: Presence,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
}

/// An agent's softphone login on a provider, made by the team server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentLogin {
    pub user_id: UserId,
    pub provider_id: ProviderId,
    pub sip_user: String,
    pub sip_domain: String,
    pub registrar: String,
}

/// What the team server tells its desktops on the live link. Each comes with a cursor (the
/// event's id); a desktop that reconnects asks for what came after the last one it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum TeamEvent {
    /// An agent's presence changed (None: none of their desktops is heard from: offline).
    Presence {
        user_id: UserId,
        presence: Option<Presence>,
    },
    /// Agents were added or changed: read the list again.
    Agents,
    /// Numbers or their routes changed.
    Numbers,
    /// Providers were added or one was made active.
    Providers,
    /// One of this agent's calls, as the team journal has it now.
    Call { call: Box<crate::Call> },
    /// The server made (or remade) this agent's softphone login: read it again.
    Softphone { user_id: UserId },
    /// This desktop was signed out by an admin: the link ends after this.
    Revoked { device_id: DeviceId },
    /// The cursor asked for is older than what the server keeps: read everything again.
    Resync,
    /// A message in this agent's voicemail (theirs or a queue's), new or changed, as they
    /// read it (their own status).
    Voicemail {
        user_id: UserId,
        voicemail: Box<crate::queue::Voicemail>,
    },
    /// Queues were changed, or their callers came and went: read them again.
    Queues,
}

impl TeamEvent {
    /// The one agent an event is for (None: the whole team).
    pub fn audience(&self) -> Option<UserId> {
        match self {
            TeamEvent::Call { call } => call.user_id,
            TeamEvent::Softphone { user_id } => Some(*user_id),
            TeamEvent::Voicemail { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }
}

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

//! The account's phone numbers (the seed's TelephonyNumber), where each one's calls go, and
//! the agents who use them (the seed's TelephonyUser, here `User`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ports::{NumberCapabilities, NumberType};
use crate::{E164Number, ProviderId, Region};

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                $name(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(PhoneNumberId);
id_type!(UserId);

/// Where a number's inbound calls go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum NumberRoute {
    /// Rings this agent (their softphone, or their forwarding number per their settings).
    User { user_id: UserId },
    /// Spreads over a queue's agents (queues arrive later; the route is kept until then).
    Queue { queue: String },
    /// Forwards to a number outside Ringdesk.
    External { number: E164Number },
}

/// A number in a provider account, as Ringdesk keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    pub id: PhoneNumberId,
    pub provider_id: ProviderId,
    pub provider_number_id: String,
    pub phone_number: E164Number,
    pub friendly_name: Option<String>,
    pub number_type: NumberType,
    pub country: Option<String>,
    pub capabilities: NumberCapabilities,
    pub route: Option<NumberRoute>,
    /// Calls through this number recorded (`Some(true)`), not (`Some(false)`), or as its
    /// provider's "Record calls" says (`None`).
    #[serde(default)]
    pub record_calls: Option<bool>,
    /// False once the number left the account (kept for its calls' history).
    pub active: bool,
}

impl PhoneNumber {
    /// Whether a call through this number is recorded, given its provider's setting.
    pub fn records(&self, provider_records: bool) -> bool {
        self.record_calls.unwrap_or(provider_records)
    }
}

/// What a sync of an account's numbers changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberSyncReport {
    pub added: Vec<E164Number>,
    pub updated: Vec<E164Number>,
    pub deactivated: Vec<E164Number>,
    pub unchanged: usize,
}

/// A route as the form sends it: checked into a `NumberRoute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum RouteInput {
    User { user_id: UserId },
    Queue { queue: String },
    External { number: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("“{0}” is not a phone number to forward to")]
    BadNumber(String),
    #[error("name the queue")]
    NoQueue,
}

impl RouteInput {
    pub fn validate(self, region: Region) -> Result<NumberRoute, RouteError> {
        Ok(match self {
            RouteInput::User { user_id } => NumberRoute::User { user_id },
            RouteInput::Queue { queue } => {
                let queue = queue.trim();
                if queue.is_empty() || queue.chars().count() > 100 {
                    return Err(RouteError::NoQueue);
                }
                NumberRoute::Queue {
                    queue: queue.to_string(),
                }
            }
            RouteInput::External { number } => NumberRoute::External {
                number: E164Number::parse(&number, region)
                    .map_err(|_| RouteError::BadNumber(number.trim().to_string()))?,
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Online,
    Offline,
    Busy,
    Dnd,
}

impl UserStatus {
    pub fn code(self) -> &'static str {
        match self {
            UserStatus::Online => "online",
            UserStatus::Offline => "offline",
            UserStatus::Busy => "busy",
            UserStatus::Dnd => "dnd",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "online" => Some(UserStatus::Online),
            "offline" => Some(UserStatus::Offline),
            "busy" => Some(UserStatus::Busy),
            "dnd" => Some(UserStatus::Dnd),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSettings {
    pub receive_calls_in_app: bool,
    pub forward_when_offline: bool,
    pub voicemail_enabled: bool,
    pub dnd_enabled: bool,
}

impl Default for UserSettings {
    fn default() -> Self {
        UserSettings {
            receive_calls_in_app: true,
            forward_when_offline: false,
            voicemail_enabled: true,
            dnd_enabled: false,
        }
    }
}

/// An agent (the seed's TelephonyUser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: Option<String>,
    /// The agent at this desktop.
    pub is_me: bool,
    pub assigned_numbers: Vec<PhoneNumberId>,
    /// The caller ID of their calls; one of `assigned_numbers`.
    pub primary_number: Option<PhoneNumberId>,
    pub forwarding_number: Option<E164Number>,
    pub settings: UserSettings,
    pub status: UserStatus,
}

/// The user form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInput {
    pub name: String,
    pub email: Option<String>,
    pub is_me: bool,
    pub assigned_numbers: Vec<PhoneNumberId>,
    pub primary_number: Option<PhoneNumberId>,
    pub forwarding_number: Option<String>,
    pub settings: UserSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("enter the agent's name")]
    NoName,
    #[error("“{0}” is not an email address")]
    Email(String),
    #[error("“{0}” is not a phone number to forward to")]
    ForwardingNumber(String),
    #[error("the primary number must be one of the agent's numbers")]
    PrimaryNotAssigned,
    #[error("forwarding when offline needs a forwarding number")]
    ForwardWithoutNumber,
}

impl UserError {
    /// The form field the error belongs to.
    pub fn field(&self) -> &'static str {
        match self {
            UserError::NoName => "name",
            UserError::Email(_) => "email",
            UserError::ForwardingNumber(_) | UserError::ForwardWithoutNumber => "forwardingNumber",
            UserError::PrimaryNotAssigned => "primaryNumber",
        }
    }
}

/// A user form that passed `UserInput::validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUser {
    pub name: String,
    pub email: Option<String>,
    pub is_me: bool,
    pub assigned_numbers: Vec<PhoneNumberId>,
    pub primary_number: Option<PhoneNumberId>,
    pub forwarding_number: Option<E164Number>,
    pub settings: UserSettings,
}

impl UserInput {
    pub fn validate(self, region: Region) -> Result<ValidUser, UserError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(UserError::NoName);
        }
        let email = match self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(e) if e.contains('@') && !e.contains(char::is_whitespace) && e.len() <= 200 => {
                Some(e.to_string())
            }
            Some(e) => return Err(UserError::Email(e.to_string())),
            None => None,
        };
        let forwarding_number = match self
            .forwarding_number
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(n) => Some(
                E164Number::parse(n, region)
                    .map_err(|_| UserError::ForwardingNumber(n.to_string()))?,
            ),
            None => None,
        };
        if self.settings.forward_when_offline && forwarding_number.is_none() {
            return Err(UserError::ForwardWithoutNumber);
        }
        let mut assigned = self.assigned_numbers;
        assigned.dedup();
        if let Some(primary) = self.primary_number {
            if !assigned.contains(&primary) {
                return Err(UserError::PrimaryNotAssigned);
            }
        }
        Ok(ValidUser {
            name: name.to_string(),
            email,
            is_me: self.is_me,
            assigned_numbers: assigned,
            primary_number: self.primary_number,
            forwarding_number,
            settings: self.settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> UserInput {
        UserInput {
            name: " Ada ".into(),
            email: Some("ada@example.com".into()),
            is_me: true,
            assigned_numbers: vec![],
            primary_number: None,
            forwarding_number: Some("(415) 555-2671".into()),
            settings: UserSettings::default(),
        }
    }

    #[test]
    fn users_are_checked_field_by_field() {
        let ok = input().validate(Region::default()).unwrap();
        assert_eq!(ok.name, "Ada");
        assert_eq!(ok.forwarding_number.unwrap().as_str(), "+14155552671");
        let n = PhoneNumberId::new();
        let bad = UserInput {
            primary_number: Some(n),
            ..input()
        };
        assert_eq!(
            bad.validate(Region::default()).unwrap_err().field(),
            "primaryNumber"
        );
        let bad = UserInput {
            forwarding_number: None,
            settings: UserSettings {
                forward_when_offline: true,
                ..UserSettings::default()
            },
            ..input()
        };
        assert_eq!(
            bad.validate(Region::default()),
            Err(UserError::ForwardWithoutNumber)
        );
        let bad = UserInput {
            email: Some("nope".into()),
            ..input()
        };
        assert_eq!(
            bad.validate(Region::default()).unwrap_err().field(),
            "email"
        );
    }

    #[test]
    fn routes_are_checked() {
        let r = RouteInput::External {
            number: "020 7946 0958".into(),
        }
        .validate("GB".parse().unwrap())
        .unwrap();
        assert_eq!(
            r,
            NumberRoute::External {
                number: E164Number::parse_international("+442079460958").unwrap()
            }
        );
        assert!(matches!(
            RouteInput::External {
                number: "12".into()
            }
            .validate(Region::default()),
            Err(RouteError::BadNumber(_))
        ));
        assert_eq!(
            RouteInput::Queue { queue: " ".into() }.validate(Region::default()),
            Err(RouteError::NoQueue)
        );
    }
}

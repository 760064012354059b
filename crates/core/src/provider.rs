//! The telephony provider an agent's company uses (the seed's TelephonyProvider).
//!
//! A `Provider` as stored and shown carries only *flags* for its keys; the keys themselves travel
//! as `ProviderCredentials`, whose fields are `SecretString`s that never print and are only ever
//! handed to the keyring and to the provider's HTTP client.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::phone::E164Number;
use crate::sip_settings::SipSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Telnyx,
    Twilio,
    Vonage,
    /// A plain SIP account on any registrar or PBX.
    Sip,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [Self::Telnyx, Self::Twilio, Self::Vonage, Self::Sip];

    pub fn code(self) -> &'static str {
        match self {
            Self::Telnyx => "telnyx",
            Self::Twilio => "twilio",
            Self::Vonage => "vonage",
            Self::Sip => "sip",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Telnyx => "Telnyx",
            Self::Twilio => "Twilio",
            Self::Vonage => "Vonage",
            Self::Sip => "SIP account",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Vonage's `connect` takes one endpoint: a queue's members are rung one after another
    /// there, never several at once.
    pub fn rings_one_at_a_time(self) -> bool {
        self == Self::Vonage
    }

    /// The credential fields still needed before this provider can be used, given what is stored.
    pub fn missing_credentials(self, has: &CredentialFlags) -> Vec<CredentialField> {
        use CredentialField::*;
        let mut missing = Vec::new();
        let mut need = |present: bool, field| {
            if !present {
                missing.push(field)
            }
        };
        match self {
            Self::Telnyx => need(has.api_key, ApiKey),
            Self::Twilio => {
                need(has.account_sid, AccountSid);
                // Either the Auth Token or an API key pair authenticates.
                let key_pair = has.api_key && has.api_secret;
                if !(has.auth_token || key_pair) {
                    if has.api_key || has.api_secret {
                        need(has.api_key, ApiKey);
                        need(has.api_secret, ApiSecret);
                    } else {
                        need(false, AuthToken);
                    }
                }
            }
            Self::Vonage => {
                need(has.api_key, ApiKey);
                need(has.api_secret, ApiSecret);
                // Voice calls need the application's id and private key: both or neither.
                if has.application_id != has.private_key {
                    need(has.application_id, ApplicationId);
                    need(has.private_key, PrivateKey);
                }
            }
            Self::Sip => need(has.sip_password, SipPassword),
        }
        missing
    }

    /// Checks one credential's shape before it is stored, so a typo is reported at the field
    /// instead of as a failed request later (and nothing odd is ever put into a URL).
    pub fn check_credential(self, field: CredentialField, value: &str) -> Result<(), String> {
        let max = if field == CredentialField::PrivateKey {
            16 * 1024
        } else {
            512
        };
        if value.len() > max {
            return Err(format!("{} is too long", field.label()));
        }
        let allows_newlines = field == CredentialField::PrivateKey;
        if value
            .chars()
            .any(|c| c.is_control() && !(allows_newlines && matches!(c, '\n' | '\r' | '\t')))
        {
            return Err(format!("{} contains control characters", field.label()));
        }
        // A SIP password is chosen by people, and people put spaces in passwords.
        if !allows_newlines
            && field != CredentialField::SipPassword
            && value.chars().any(char::is_whitespace)
        {
            return Err(format!("{} must not contain spaces", field.label()));
        }
        let sid = |prefix: &str, what: &str| {
            let ok = value.len() == 34
                && value.starts_with(prefix)
                && value[2..].chars().all(|c| c.is_ascii_hexdigit());
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{what} looks like {prefix} followed by 32 hex characters"
                ))
            }
        };
        match (self, field) {
            (Self::Twilio, CredentialField::AccountSid) => sid("AC", "An Account SID"),
            (Self::Twilio, CredentialField::ApiKey) => sid("SK", "An API key SID"),
            (Self::Vonage, CredentialField::ApplicationId) => {
                Uuid::parse_str(value).map(|_| ()).map_err(|_| {
                    "An application id looks like aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into()
                })
            }
            (Self::Vonage, CredentialField::PrivateKey) if !value.contains("PRIVATE KEY") => {
                Err("paste the whole private key file, from -----BEGIN PRIVATE KEY-----".into())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One key field of a provider account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CredentialField {
    ApiKey,
    ApiSecret,
    AccountSid,
    AuthToken,
    ApplicationId,
    PrivateKey,
    WebhookSecret,
    SipPassword,
}

impl CredentialField {
    pub const ALL: [CredentialField; 8] = [
        Self::ApiKey,
        Self::ApiSecret,
        Self::AccountSid,
        Self::AuthToken,
        Self::ApplicationId,
        Self::PrivateKey,
        Self::WebhookSecret,
        Self::SipPassword,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::ApiKey => "apiKey",
            Self::ApiSecret => "apiSecret",
            Self::AccountSid => "accountSid",
            Self::AuthToken => "authToken",
            Self::ApplicationId => "applicationId",
            Self::PrivateKey => "privateKey",
            Self::WebhookSecret => "webhookSecret",
            Self::SipPassword => "sipPassword",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ApiKey => "API key",
            Self::ApiSecret => "API secret",
            Self::AccountSid => "Account SID",
            Self::AuthToken => "Auth Token",
            Self::ApplicationId => "Application ID",
            Self::PrivateKey => "Private key",
            Self::WebhookSecret => "Webhook secret",
            Self::SipPassword => "SIP password",
        }
    }
}

/// Which keys are stored, without the keys: all that SQLite and the UI ever see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialFlags {
    pub api_key: bool,
    pub api_secret: bool,
    pub account_sid: bool,
    pub auth_token: bool,
    pub application_id: bool,
    pub private_key: bool,
    pub webhook_secret: bool,
    pub sip_password: bool,
}

impl CredentialFlags {
    pub fn get(&self, field: CredentialField) -> bool {
        match field {
            CredentialField::ApiKey => self.api_key,
            CredentialField::ApiSecret => self.api_secret,
            CredentialField::AccountSid => self.account_sid,
            CredentialField::AuthToken => self.auth_token,
            CredentialField::ApplicationId => self.application_id,
            CredentialField::PrivateKey => self.private_key,
            CredentialField::WebhookSecret => self.webhook_secret,
            CredentialField::SipPassword => self.sip_password,
        }
    }
}

/// A provider account's keys. Empty fields are absent; `Debug` never shows a value.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderCredentials {
    pub api_key: Option<SecretString>,
    pub api_secret: Option<SecretString>,
    pub account_sid: Option<SecretString>,
    pub auth_token: Option<SecretString>,
    pub application_id: Option<SecretString>,
    pub private_key: Option<SecretString>,
    pub webhook_secret: Option<SecretString>,
    pub sip_password: Option<SecretString>,
}

impl ProviderCredentials {
    pub fn field(&self, field: CredentialField) -> Option<&SecretString> {
        self.slot(field).as_ref()
    }

    /// The value of a field, for the one place that must send it (an HTTP client).
    pub fn expose(&self, field: CredentialField) -> Option<&str> {
        self.field(field).map(|s| s.expose_secret())
    }

    pub fn set(&mut self, field: CredentialField, value: Option<SecretString>) {
        *self.slot_mut(field) = value;
    }

    fn slot(&self, field: CredentialField) -> &Option<SecretString> {
        match field {
            CredentialField::ApiKey => &self.api_key,
            CredentialField::ApiSecret => &self.api_secret,
            CredentialField::AccountSid => &self.account_sid,
            CredentialField::AuthToken => &self.auth_token,
            CredentialField::ApplicationId => &self.application_id,
            CredentialField::PrivateKey => &self.private_key,
            CredentialField::WebhookSecret => &self.webhook_secret,
            CredentialField::SipPassword => &self.sip_password,
        }
    }

    fn slot_mut(&mut self, field: CredentialField) -> &mut Option<SecretString> {
        match field {
            CredentialField::ApiKey => &mut self.api_key,
            CredentialField::ApiSecret => &mut self.api_secret,
            CredentialField::AccountSid => &mut self.account_sid,
            CredentialField::AuthToken => &mut self.auth_token,
            CredentialField::ApplicationId => &mut self.application_id,
            CredentialField::PrivateKey => &mut self.private_key,
            CredentialField::WebhookSecret => &mut self.webhook_secret,
            CredentialField::SipPassword => &mut self.sip_password,
        }
    }

    /// Drops blank values and trims the single-line ones (pasted keys often carry a newline).
    pub fn normalised(mut self) -> Self {
        for field in CredentialField::ALL {
            let slot = self.slot_mut(field);
            if let Some(value) = slot.take() {
                let raw = value.expose_secret();
                let kept = if field == CredentialField::PrivateKey {
                    raw.trim_matches(|c: char| c.is_whitespace())
                } else {
                    raw.trim()
                };
                if !kept.is_empty() {
                    *slot = Some(SecretString::from(kept.to_owned()));
                }
            }
        }
        self
    }

    pub fn flags(&self) -> CredentialFlags {
        CredentialFlags {
            api_key: self.api_key.is_some(),
            api_secret: self.api_secret.is_some(),
            account_sid: self.account_sid.is_some(),
            auth_token: self.auth_token.is_some(),
            application_id: self.application_id.is_some(),
            private_key: self.private_key.is_some(),
            webhook_secret: self.webhook_secret.is_some(),
            sip_password: self.sip_password.is_some(),
        }
    }

    /// Fields set in `update` replace ours; the rest are kept (editing without retyping a key).
    pub fn merge(&mut self, update: ProviderCredentials) {
        for field in CredentialField::ALL {
            if let Some(value) = update.slot(field).clone() {
                *self.slot_mut(field) = Some(value);
            }
        }
    }

    /// The keyring payload: one JSON object per provider, itself a secret.
    pub fn to_secret_json(&self) -> SecretString {
        let map: serde_json::Map<String, serde_json::Value> = CredentialField::ALL
            .into_iter()
            .filter_map(|f| {
                self.expose(f)
                    .map(|v| (f.code().to_owned(), serde_json::Value::String(v.to_owned())))
            })
            .collect();
        SecretString::from(serde_json::Value::Object(map).to_string())
    }

    pub fn from_secret_json(json: &SecretString) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json.expose_secret())
    }
}

impl fmt::Debug for ProviderCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderCredentials")
            .field("flags", &self.flags())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderId(pub Uuid);

impl ProviderId {
    pub fn new() -> Self {
        ProviderId(Uuid::new_v4())
    }

    /// Where this provider's keys live in the keyring.
    pub fn secret_key(&self) -> String {
        format!("provider/{}", self.0)
    }
}

impl Default for ProviderId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSettings {
    /// The number shown to people we call when the agent has no primary number of their own.
    pub default_caller_id: Option<E164Number>,
    pub record_calls: bool,
    /// Where and as whom a `sip` provider registers (None for the REST providers).
    pub sip: Option<SipSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    Active,
    Configured,
    NotConfigured,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: ProviderId,
    pub kind: ProviderKind,
    pub name: String,
    pub enabled: bool,
    pub is_active: bool,
    pub credentials: CredentialFlags,
    pub settings: ProviderSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Provider {
    pub fn status(&self) -> ProviderStatus {
        let settings_complete = self.kind != ProviderKind::Sip || self.settings.sip.is_some();
        if self.is_active {
            ProviderStatus::Active
        } else if settings_complete && self.kind.missing_credentials(&self.credentials).is_empty() {
            ProviderStatus::Configured
        } else {
            ProviderStatus::NotConfigured
        }
    }
}

/// What the settings form sends to add a provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProvider {
    pub kind: ProviderKind,
    pub name: String,
    #[serde(default)]
    pub credentials: ProviderCredentials,
    #[serde(default)]
    pub default_caller_id: Option<String>,
    #[serde(default)]
    pub record_calls: bool,
    /// Required for, and only for, a `sip` provider.
    #[serde(default)]
    pub sip: Option<SipSettings>,
}

/// What the settings form sends to change a provider: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderUpdate {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Keys typed anew; keys left blank are kept.
    pub credentials: ProviderCredentials,
    /// Keys to forget (e.g. Twilio's Auth Token after switching to an API key).
    pub clear_credentials: Vec<CredentialField>,
    /// `Some("")` removes the default caller ID.
    pub default_caller_id: Option<String>,
    pub record_calls: Option<bool>,
    /// A `sip` provider's new settings, whole.
    pub sip: Option<SipSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(fields: &[(CredentialField, &str)]) -> ProviderCredentials {
        let mut c = ProviderCredentials::default();
        for (f, v) in fields {
            c.set(*f, Some(SecretString::from(v.to_string())));
        }
        c
    }

    #[test]
    fn required_fields_per_provider() {
        use CredentialField::*;
        let none = CredentialFlags::default();
        assert_eq!(
            ProviderKind::Telnyx.missing_credentials(&none),
            vec![ApiKey]
        );
        assert_eq!(
            ProviderKind::Twilio.missing_credentials(&none),
            vec![AccountSid, AuthToken]
        );
        let twilio_key = creds(&[(AccountSid, "x"), (ApiKey, "SK"), (ApiSecret, "s")]).flags();
        assert!(ProviderKind::Twilio
            .missing_credentials(&twilio_key)
            .is_empty());
        let half_key = creds(&[(AccountSid, "x"), (ApiKey, "SK")]).flags();
        assert_eq!(
            ProviderKind::Twilio.missing_credentials(&half_key),
            vec![ApiSecret]
        );
        let vonage = creds(&[(ApiKey, "k"), (ApiSecret, "s"), (ApplicationId, "a")]).flags();
        assert_eq!(
            ProviderKind::Vonage.missing_credentials(&vonage),
            vec![PrivateKey]
        );
    }

    #[test]
    fn debug_and_json_never_leak_into_logs() {
        let c = creds(&[(CredentialField::ApiKey, "KEYsecret123")]);
        assert!(!format!("{c:?}").contains("KEYsecret123"));
        let json = c.to_secret_json();
        let back = ProviderCredentials::from_secret_json(&json).unwrap();
        assert_eq!(back.expose(CredentialField::ApiKey), Some("KEYsecret123"));
        assert!(back.flags().api_key);
        assert!(!back.flags().api_secret);
    }

    #[test]
    fn merge_keeps_untyped_keys_and_normalises_blanks() {
        let mut stored = creds(&[
            (CredentialField::ApiKey, "old"),
            (CredentialField::ApiSecret, "s"),
        ]);
        let typed = creds(&[
            (CredentialField::ApiKey, "  new \n"),
            (CredentialField::ApiSecret, "  "),
        ])
        .normalised();
        stored.merge(typed);
        assert_eq!(stored.expose(CredentialField::ApiKey), Some("new"));
        assert_eq!(stored.expose(CredentialField::ApiSecret), Some("s"));
    }

    #[test]
    fn credential_shapes_are_checked() {
        use CredentialField::*;
        let sid = format!("AC{}", "a".repeat(32));
        assert!(ProviderKind::Twilio
            .check_credential(AccountSid, &sid)
            .is_ok());
        assert!(ProviderKind::Twilio
            .check_credential(AccountSid, "AC../../x")
            .is_err());
        assert!(ProviderKind::Telnyx
            .check_credential(ApiKey, "KEY abc")
            .is_err());
        assert!(ProviderKind::Telnyx
            .check_credential(ApiKey, "KEY\u{7}")
            .is_err());
        assert!(ProviderKind::Vonage
            .check_credential(ApplicationId, "nope")
            .is_err());
        assert!(ProviderKind::Vonage
            .check_credential(
                PrivateKey,
                "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
            )
            .is_ok());
    }
}

//! Ringdesk's domain: the types every other crate speaks (Provider, PhoneNumber, …), the ports
//! (traits) the outer crates implement, and the provider-neutral services built on those ports.
//!
//! Invariant: no I/O, no async runtime choice, no Tauri, no SQL, no keyring here.

pub mod call;
pub mod contact;
pub mod contact_import;
pub mod dial_link;
#[macro_use]
pub mod number;
pub mod phone;
pub mod ports;
pub mod provider;
pub mod provider_error;
pub mod queue;
pub mod routing;
pub mod service;
pub mod sip_settings;
pub mod team;

pub use call::{
    end_reason_from_cause, follow_event, provider_party, Call, CallAudio, CallDirection,
    CallEndReason, CallFilter, CallId, CallStatus, CallVoicemail, Disposition, Followed, Transfer,
    TransferKind, TransferOutcome,
};
pub use contact::{
    Contact, ContactError, ContactId, ContactInput, ContactPhone, PhoneInput, ValidContact,
};
pub use dial_link::{parse_dial_link, DialLinkError, DialRequest};
pub use number::{
    NumberRoute, NumberSyncReport, PhoneNumber, PhoneNumberId, RouteError, RouteInput, User,
    UserError, UserId, UserInput, UserSettings, UserStatus, ValidUser,
};
pub use phone::{E164Number, PhoneNumberError, Region};
pub use provider::{
    CredentialField, CredentialFlags, NewProvider, Provider, ProviderCredentials, ProviderId,
    ProviderKind, ProviderSettings, ProviderStatus, ProviderUpdate,
};
pub use provider_error::ProviderError;
pub use sip_settings::{SipSettings, SipSettingsError, SipTransport};

/// Error messages compose as lower-case clauses; shown alone they start with a capital.
pub fn sentence_case(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

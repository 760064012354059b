//! Shared helpers for the adapter tests.
#![allow(dead_code)]

use std::time::Duration;

use ringdesk_core::ports::{AdapterFactory, ProviderAdapter};
use ringdesk_core::{CredentialField, ProviderCredentials, ProviderKind};
use ringdesk_providers::{Endpoints, HttpAdapterFactory};
use secrecy::SecretString;

pub const TWILIO_SID: &str = "AC00000000000000000000000000000001";
pub const TWILIO_KEY_SID: &str = "SK00000000000000000000000000000002";
pub const VONAGE_APP_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

pub fn creds(fields: &[(CredentialField, &str)]) -> ProviderCredentials {
    let mut c = ProviderCredentials::default();
    for (field, value) in fields {
        c.set(*field, Some(SecretString::from(value.to_string())));
    }
    c
}

pub fn vonage_private_key() -> &'static str {
    include_str!("fixtures/vonage_test_private.pem")
}

pub fn vonage_public_key() -> &'static str {
    include_str!("fixtures/vonage_test_public.pem")
}

pub fn adapter(
    endpoints: Endpoints,
    kind: ProviderKind,
    c: ProviderCredentials,
) -> Box<dyn ProviderAdapter> {
    HttpAdapterFactory::new(endpoints)
        .adapter(kind, &Default::default(), c)
        .expect("adapter builds")
}

pub fn at(base: &str) -> Endpoints {
    let mut e = Endpoints::all_at(base).expect("mock URL");
    e.timeout = Duration::from_secs(2);
    e
}

pub fn telnyx(base: &str) -> Box<dyn ProviderAdapter> {
    adapter(
        at(base),
        ProviderKind::Telnyx,
        creds(&[(CredentialField::ApiKey, "KEYtest-telnyx-key")]),
    )
}

pub fn twilio(base: &str) -> Box<dyn ProviderAdapter> {
    adapter(
        at(base),
        ProviderKind::Twilio,
        creds(&[
            (CredentialField::AccountSid, TWILIO_SID),
            (CredentialField::AuthToken, "twilio-auth-token"),
        ]),
    )
}

pub fn vonage_fields() -> Vec<(CredentialField, &'static str)> {
    vec![
        (CredentialField::ApiKey, "abcd1234"),
        (CredentialField::ApiSecret, "vonage-api-secret-xyz"),
        (CredentialField::ApplicationId, VONAGE_APP_ID),
        (CredentialField::PrivateKey, vonage_private_key()),
    ]
}

pub fn vonage(endpoints: Endpoints) -> Box<dyn ProviderAdapter> {
    adapter(endpoints, ProviderKind::Vonage, creds(&vonage_fields()))
}

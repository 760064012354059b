use ringdesk_core::ports::{AdapterFactory, ProviderAdapter};
use ringdesk_core::{
    CredentialField, ProviderCredentials, ProviderError, ProviderKind, ProviderSettings,
};
use secrecy::SecretString;

use crate::endpoints::Endpoints;
use crate::sip::SipAdapter;
use crate::telnyx::TelnyxAdapter;
use crate::twilio::{TwilioAdapter, TwilioAuth};
use crate::vonage::{VoiceApplication, VonageAdapter};

/// Builds the real adapters (the seed's getAdapter()): HTTP for the REST providers, SIP for a
/// plain SIP account.
#[derive(Debug, Clone)]
pub struct HttpAdapterFactory {
    endpoints: Endpoints,
}

impl HttpAdapterFactory {
    pub fn new(endpoints: Endpoints) -> Self {
        Self { endpoints }
    }
}

fn take(
    credentials: &mut ProviderCredentials,
    field: CredentialField,
) -> Result<SecretString, ProviderError> {
    let value = credentials.field(field).cloned();
    credentials.set(field, None);
    value.ok_or_else(|| ProviderError::MissingCredentials {
        fields: field.label().to_string(),
    })
}

impl AdapterFactory for HttpAdapterFactory {
    fn adapter(
        &self,
        kind: ProviderKind,
        settings: &ProviderSettings,
        mut c: ProviderCredentials,
    ) -> Result<Box<dyn ProviderAdapter>, ProviderError> {
        let e = &self.endpoints;
        Ok(match kind {
            ProviderKind::Telnyx => Box::new(
                TelnyxAdapter::new(
                    e.telnyx.clone(),
                    take(&mut c, CredentialField::ApiKey)?,
                    e.timeout,
                )?
                .with_webhook_key(c.webhook_secret.clone())
                .with_sip_registrar(e.telnyx_sip.clone()),
            ),
            ProviderKind::Twilio => {
                let account_sid = take(&mut c, CredentialField::AccountSid)?;
                let webhook_key = c.webhook_secret.clone().or_else(|| c.auth_token.clone());
                // An API key pair wins over the Auth Token when both are stored.
                let auth = match (c.api_key.clone(), c.api_secret.clone()) {
                    (Some(sid), Some(secret)) => TwilioAuth::ApiKey { sid, secret },
                    _ => TwilioAuth::AuthToken(take(&mut c, CredentialField::AuthToken)?),
                };
                Box::new(
                    TwilioAdapter::new(e.twilio.clone(), account_sid, auth, e.timeout)?
                        .with_webhook_key(webhook_key)
                        .with_sip_registrar(e.twilio_sip.clone()),
                )
            }
            ProviderKind::Vonage => {
                let api_key = take(&mut c, CredentialField::ApiKey)?;
                let api_secret = take(&mut c, CredentialField::ApiSecret)?;
                let application = match (c.application_id.clone(), c.private_key.clone()) {
                    (Some(id), Some(key)) => Some(VoiceApplication::new(id, &key)?),
                    _ => None,
                };
                Box::new(
                    VonageAdapter::new(e.clone(), api_key, api_secret, application)?
                        .with_webhook_key(c.webhook_secret.clone()),
                )
            }
            ProviderKind::Sip => {
                let sip =
                    settings
                        .sip
                        .clone()
                        .ok_or_else(|| ProviderError::MissingCredentials {
                            fields: "registrar and user name".into(),
                        })?;
                Box::new(SipAdapter::new(
                    sip,
                    take(&mut c, CredentialField::SipPassword)?,
                    e.timeout,
                ))
            }
        })
    }
}

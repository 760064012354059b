//! A plain SIP account: there is no REST API, so "Test connection" registers once (digest
//! challenge and all) and removes the binding again.

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::ports::{AccountInfo, ProviderAdapter};
use ringdesk_core::{ProviderError, ProviderKind, SipSettings, SipTransport};
use ringdesk_sip::account::{AccountError, SipAccount};
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::flow::{TlsTrust, Transport};
use ringdesk_sip::registration::RegistrationEvent;
use secrecy::{ExposeSecret, SecretString};

pub struct SipAdapter {
    settings: SipSettings,
    password: SecretString,
    timeout: Duration,
}

impl SipAdapter {
    pub fn new(settings: SipSettings, password: SecretString, timeout: Duration) -> Self {
        SipAdapter {
            settings,
            password,
            timeout,
        }
    }

    /// The account the softphone registers with these settings.
    pub fn account(settings: &SipSettings, password: &SecretString, expires: u32) -> SipAccount {
        SipAccount {
            registrar: settings.server().to_string(),
            domain: Some(
                settings
                    .domain
                    .clone()
                    .unwrap_or_else(|| settings.registrar.clone()),
            ),
            username: settings.username.clone(),
            auth_username: settings.auth_username.clone(),
            password: password.expose_secret().to_string(),
            expires,
            display_name: None,
            transport: match settings.transport {
                SipTransport::Auto => None,
                SipTransport::Udp => Some(Transport::Udp),
                SipTransport::Tcp => Some(Transport::Tcp),
                SipTransport::Tls => Some(Transport::Tls),
            },
            dns_server: None,
            tls: trust(settings),
            // A NAT binding on UDP commonly lasts 30 s or more; a minute keeps it and
            // notices a registrar that went away.
            keepalive: Some(Duration::from_secs(60)),
        }
    }
}

/// The account's own CA besides the public roots; a certificate that cannot be read is
/// logged and left out (the connection then fails on the server's certificate, and says so).
fn trust(settings: &SipSettings) -> TlsTrust {
    let Some(pem) = settings.ca_certificate.as_deref() else {
        return TlsTrust::default();
    };
    TlsTrust::from_pem(pem.as_bytes()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the SIP account's CA certificate cannot be read");
        TlsTrust::default()
    })
}

#[async_trait]
impl ProviderAdapter for SipAdapter {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sip
    }

    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
        // A short binding: it only has to prove the account works.
        let account = Self::account(&self.settings, &self.password, 60);
        let mut phone = account.start(rand::random()).await.map_err(|e| match e {
            AccountError::Network(_, io) => ProviderError::Unreachable {
                reason: io.to_string(),
            },
            other => ProviderError::Rejected {
                status: 0,
                code: None,
                message: other.to_string(),
            },
        })?;
        let first = tokio::time::timeout(self.timeout, async {
            while let Some(event) = phone.events.recv().await {
                if let EndpointEvent::Registration(r) = event {
                    return Some(r);
                }
            }
            None
        })
        .await;
        phone.stop(Duration::from_secs(3)).await;
        match first {
            Err(_) => Err(ProviderError::Timeout {
                secs: self.timeout.as_secs(),
            }),
            Ok(Some(RegistrationEvent::Registered { expires, .. })) => Ok(AccountInfo {
                name: Some(self.settings.address()),
                detail: Some(format!(
                    "registered at {} (binding for {expires} s)",
                    self.settings.server()
                )),
            }),
            Ok(Some(RegistrationEvent::Failed {
                status: Some(401 | 403 | 407),
                reason,
                ..
            })) => Err(ProviderError::WrongKeys { message: reason }),
            Ok(Some(RegistrationEvent::Failed {
                status: Some(status),
                reason,
                ..
            })) => Err(ProviderError::Rejected {
                status,
                code: None,
                message: reason,
            }),
            Ok(Some(RegistrationEvent::Failed { reason, .. })) => {
                Err(ProviderError::Unreachable { reason })
            }
            Ok(Some(RegistrationEvent::Unregistered) | None) => Err(ProviderError::Unreachable {
                reason: "the SIP connection closed".into(),
            }),
        }
    }
}

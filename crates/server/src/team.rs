//! The team as the server keeps it: agents and the desktops they sign in with (invites,
//! device tokens, revocation), what each desktop says about its agent (presence), and each
//! agent's softphone login, made by the server on the team's provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::RngCore;
use ringdesk_core::ports::SoftphoneRequest;
use ringdesk_core::routing::{SipLogin, Target};
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::team::{AgentLogin, Device, DeviceId, Presence, Role, TeamEvent};
use ringdesk_core::{ProviderError, ProviderId, Region, UserId, UserStatus};
use ringdesk_store::{Agents, NumbersError, StoreError, TeamRepository};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::live::Live;
use crate::sealing::{SealError, Sealer};

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("there is no such agent")]
    NoUser,
    #[error("there is no active provider to make softphone logins on")]
    NoProvider,
    #[error("this agent has no softphone login yet")]
    NoLogin,
    #[error("a device name is 1 to 100 characters")]
    BadDeviceName,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Numbers(#[from] NumbersError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A one-time invitation to sign a desktop in as an agent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub code: String,
    /// The app's deep link that joins with it.
    pub link: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What an agent's desktop registers with (its password is sent to that agent only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftphoneCredentials {
    pub provider_id: ProviderId,
    pub registrar: String,
    pub domain: String,
    pub username: String,
    pub password: String,
}

pub struct Team {
    pub live: Arc<Live>,
    pub providers: ProviderService,
    pub agents: Agents,
    pub repo: TeamRepository,
    pub sealer: Arc<Sealer>,
    pub region: Region,
    /// The address providers and desktops are given.
    pub base_url: String,
    pub grace: Duration,
    pub invite_ttl: Duration,
}

/// A random secret to hand out once, and the hash kept of it.
fn secret(prefix: &str) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let text = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&text);
    (text, hash)
}

/// Tokens and codes are 256 random bits: a fast hash is enough to keep them unusable at rest.
fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The shared SIP domain's name part on providers that have one (Twilio).
const TEAM_GROUP: &str = "ringdesk-team";

fn login_key(user: UserId, provider: ProviderId) -> String {
    format!("login/{user}/{provider}")
}

impl Team {
    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    pub async fn invite(&self, user: UserId, role: Role) -> Result<Invite, TeamError> {
        self.agents
            .users
            .get(user)
            .await?
            .ok_or(TeamError::NoUser)?;
        let (code, code_hash) = secret("rdi_");
        let expires_at = Self::now() + self.invite_ttl;
        self.repo
            .create_invite(&code_hash, user, role, expires_at)
            .await?;
        let link = format!(
            "ringdesk://join?server={}&code={code}",
            utf8_percent_encode(&self.base_url, NON_ALPHANUMERIC)
        );
        tracing::info!(user_id = %user, role = role.code(), "invite made");
        Ok(Invite {
            code,
            link,
            expires_at,
        })
    }

    /// An invite traded for a device token (shown once). None: no such invite, used or
    /// expired — the caller is not told which.
    pub async fn join(
        &self,
        code: &str,
        device_name: &str,
    ) -> Result<Option<(String, Device)>, TeamError> {
        let name: String = device_name.chars().filter(|c| !c.is_control()).collect();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(TeamError::BadDeviceName);
        }
        let (token, token_hash) = secret("rdt_");
        let device = self
            .repo
            .redeem_invite(&hash(code.trim()), name, &token_hash, Self::now())
            .await?;
        Ok(device.map(|d| {
            tracing::info!(device_id = %d.id, user_id = %d.user_id, "desktop joined");
            (token, d)
        }))
    }

    /// The device a token belongs to, unless revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Device>, TeamError> {
        Ok(self.repo.device_by_token(&hash(token.trim())).await?)
    }

    pub async fn revoke(&self, id: DeviceId) -> Result<bool, TeamError> {
        let revoked = self.repo.revoke(id).await?;
        if revoked {
            tracing::info!(device_id = %id, "device revoked");
            self.live.tell(TeamEvent::Revoked { device_id: id }).await;
        }
        Ok(revoked)
    }

    /// Signs the agent's desktops out, then removes the agent.
    pub async fn remove_agent(&self, user: UserId) -> Result<(), TeamError> {
        for device in self.repo.devices().await? {
            if device.user_id == user && !device.revoked {
                self.revoke(device.id).await?;
            }
        }
        Ok(self.agents.delete_user(user).await?)
    }

    pub async fn set_presence(
        &self,
        device: DeviceId,
        presence: Presence,
    ) -> Result<(), TeamError> {
        self.repo
            .set_presence(device, presence, Self::now())
            .await?;
        self.live.spoke();
        Ok(())
    }

    /// What the agent's desktops say now; None when none was heard within the grace period.
    pub async fn presence_of(&self, user: UserId) -> Result<Option<Presence>, TeamError> {
        let since = Self::now() - self.grace;
        Ok(self.repo.presence_of(user, since).await?)
    }

    /// Every agent heard from within the grace period, with what their desktops say.
    pub async fn presences(&self) -> Result<HashMap<UserId, Presence>, TeamError> {
        let since = Self::now() - self.grace;
        Ok(self.repo.presences(since).await?.into_iter().collect())
    }

    /// The agent's status for routing, from their desktops' presence.
    pub async fn status_of(&self, user: UserId) -> Result<UserStatus, TeamError> {
        Ok(Presence::status(self.presence_of(user).await?))
    }

    /// An agent as routing rings them on `provider`: their status now and, while they are
    /// signed in, their softphone login.
    pub async fn target_of(
        &self,
        user_id: UserId,
        provider: ProviderId,
    ) -> Result<Option<Target>, TeamError> {
        let Some(mut user) = self.agents.users.get(user_id).await? else {
            return Ok(None);
        };
        user.status = self.status_of(user.id).await?;
        let softphone = match user.status != UserStatus::Offline {
            true => self
                .repo
                .login_of(user.id, provider)
                .await?
                .map(|l| SipLogin {
                    user: l.sip_user,
                    domain: l.sip_domain,
                }),
            false => None,
        };
        Ok(Some(Target {
            user: Some(user),
            softphone,
        }))
    }

    async fn active_provider(&self) -> Result<ringdesk_core::Provider, TeamError> {
        self.providers
            .list()
            .await?
            .into_iter()
            .find(|p| p.is_active)
            .ok_or(TeamError::NoProvider)
    }

    /// Makes (or finds again) the agent's softphone login on the active provider, pointed at
    /// the server's voice URL; every team number of that provider asks there too (whatever
    /// its route: the server decides each call). Safe to run again.
    pub async fn provision_softphone(&self, user_id: UserId) -> Result<AgentLogin, TeamError> {
        let user = self
            .agents
            .users
            .get(user_id)
            .await?
            .ok_or(TeamError::NoUser)?;
        let provider = self.active_provider().await?;
        let adapter = self.providers.adapter_for(provider.id).await?;
        let numbers = self
            .agents
            .numbers
            .list(Some(provider.id))
            .await?
            .into_iter()
            .filter(|n| n.active)
            .map(|n| n.provider_number_id)
            .collect();
        let made = adapter
            .provision_softphone(&SoftphoneRequest {
                label: format!("ringdesk-{}", &user.id.to_string()[..8]),
                // One team domain, one voice URL (this server) for every agent.
                group: Some(TEAM_GROUP.into()),
                numbers,
                voice_url: Some(format!("{}/webhooks/{}/voice", self.base_url, provider.id)),
            })
            .await?;
        let login = AgentLogin {
            user_id,
            provider_id: provider.id,
            sip_domain: made
                .domain
                .clone()
                .unwrap_or_else(|| made.registrar.clone()),
            sip_user: made.username.clone(),
            registrar: made.registrar.clone(),
        };
        self.keep_login(&login, &made.password).await?;
        tracing::info!(user_id = %user_id, provider_id = %provider.id, "softphone login made");
        // Their desktops take it at once (a new password too: Twilio gives none back).
        self.live.tell(TeamEvent::Softphone { user_id }).await;
        Ok(login)
    }

    /// Keeps a login an admin's PBX gave the agent, for the active provider (one that makes
    /// none itself, like Vonage, rings agents there).
    pub async fn give_login(
        &self,
        user_id: UserId,
        sip_user: String,
        sip_domain: String,
        registrar: String,
        password: &SecretString,
    ) -> Result<AgentLogin, TeamError> {
        self.agents
            .users
            .get(user_id)
            .await?
            .ok_or(TeamError::NoUser)?;
        let provider = self.active_provider().await?;
        let login = AgentLogin {
            user_id,
            provider_id: provider.id,
            sip_domain,
            sip_user,
            registrar,
        };
        self.keep_login(&login, password).await?;
        tracing::info!(user_id = %user_id, provider_id = %provider.id, "softphone login given");
        self.live.tell(TeamEvent::Softphone { user_id }).await;
        Ok(login)
    }

    /// Makes the softphone logins that are missing on the active provider — after it was
    /// made active, or an agent was added. Best effort: a provider that refuses is logged, and
    /// an admin asks again (`POST /agents/{id}/softphone`).
    pub async fn provision_missing(&self, only: Option<UserId>) {
        let Ok(provider) = self.active_provider().await else {
            return;
        };
        let users = match self.agents.users().await {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the agents to make softphone logins");
                return;
            }
        };
        for user in users
            .into_iter()
            .filter(|u| only.is_none_or(|id| id == u.id))
        {
            if matches!(self.repo.login_of(user.id, provider.id).await, Ok(Some(_))) {
                continue;
            }
            if let Err(e) = self.provision_softphone(user.id).await {
                tracing::warn!(user_id = %user.id, error = %e, "cannot make a softphone login");
            }
        }
    }

    /// Keeps an agent's softphone login on a provider, its password sealed (a login made on
    /// the provider, or one an admin's PBX gave).
    pub async fn keep_login(
        &self,
        login: &AgentLogin,
        password: &SecretString,
    ) -> Result<(), TeamError> {
        let key = login_key(login.user_id, login.provider_id);
        let sealed = self.sealer.seal(&key, password.expose_secret().as_bytes());
        self.repo.put_sealed(&key, &sealed).await?;
        self.repo.save_login(login).await?;
        Ok(())
    }

    /// The agent's softphone login on the active provider, password included (for that
    /// agent's own desktop only).
    pub async fn softphone_of(&self, user: UserId) -> Result<SoftphoneCredentials, TeamError> {
        let provider = self.active_provider().await?;
        let login = self
            .repo
            .login_of(user, provider.id)
            .await?
            .ok_or(TeamError::NoLogin)?;
        let key = login_key(user, provider.id);
        let sealed = self.repo.sealed(&key).await?.ok_or(TeamError::NoLogin)?;
        let password = String::from_utf8(self.sealer.open(&key, &sealed)?)
            .map(SecretString::from)
            .map_err(|_| TeamError::Seal(SealError::Unseal))?;
        Ok(SoftphoneCredentials {
            provider_id: provider.id,
            registrar: login.registrar,
            domain: login.sip_domain,
            username: login.sip_user,
            password: password.expose_secret().to_string(),
        })
    }
}

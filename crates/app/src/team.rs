//! Team mode: this desktop joined a team server with an invite. The device token is kept in
//! the keyring (never in SQLite); the settings keep where the server is and who we are there.
//! While joined, a heartbeat tells the server how the agent is — on a call, Do not disturb or
//! available — at once when that changes and every `HEARTBEAT` otherwise, so the server
//! routes calls to this desktop's softphone only while it is really here. The softphone
//! login the server made for the agent becomes this desktop's active SIP account. The live
//! link brings the server's news down (presence, agents, numbers, being signed out).

use std::sync::Arc;
use std::time::Duration;

use ringdesk_core::ports::SecretStore;
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::team::{DeviceId, Presence, Role, TeamEvent};
use ringdesk_core::{ProviderKind, UserId};
use ringdesk_store::{SettingsRepository, StoreError};
use ringdesk_team::{Invite, LinkEvent, SoftphoneLogin, TeamClient};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch, Notify};

use crate::availability::{self, Availability};
use crate::calls::ActiveCall;
use crate::softphone_setup::{save_sip_account, SipAccount};

const SETTINGS: &str = "team";
const TOKEN: &str = "team/device-token";
/// Well inside the server's grace period (30 s by default): one lost heartbeat is not an
/// absence.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
const SOFTPHONE_NAME: &str = "Team softphone";

#[derive(Debug, thiserror::Error)]
pub enum TeamSetupError {
    #[error(transparent)]
    Team(#[from] ringdesk_team::TeamError),
    #[error("the keyring refused: {0}")]
    Keyring(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Where this desktop is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamSettings {
    pub server: String,
    pub device_id: DeviceId,
    pub agent: Option<String>,
    /// Who we are in the team (absent in settings saved before it was kept).
    #[serde(default)]
    pub user_id: Option<UserId>,
    pub role: Role,
}

/// How the link to the team server is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum TeamLink {
    #[default]
    Off,
    /// The server heard the last heartbeat.
    Connected { presence: Presence },
    /// Not heard: the server will route around this desktop after its grace period.
    Unreachable { reason: String },
    /// The server refused this desktop (revoked): join again with a new invite.
    SignedOut { reason: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    pub joined: Option<TeamSettings>,
    pub link: TeamLink,
}

pub(crate) async fn load(
    settings: &SettingsRepository,
) -> Result<Option<TeamSettings>, StoreError> {
    settings.get_json(SETTINGS).await
}

async fn token(secrets: &dyn SecretStore) -> Result<Option<SecretString>, TeamSetupError> {
    secrets
        .get(TOKEN)
        .await
        .map_err(|e| TeamSetupError::Keyring(e.to_string()))
}

/// Trades the invite for a device token (kept in the keyring) and remembers the team; the
/// client and token to go on with.
pub(crate) async fn join(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
    invite: &Invite,
    device_name: &str,
) -> Result<(TeamClient, SecretString), TeamSetupError> {
    let client = TeamClient::new(invite.server.clone())?;
    let joined = client.join(&invite.code, device_name).await?;
    let token = SecretString::from(joined.token);
    secrets
        .set(TOKEN, &token)
        .await
        .map_err(|e| TeamSetupError::Keyring(e.to_string()))?;
    let team = TeamSettings {
        server: invite.server.as_str().trim_end_matches('/').to_string(),
        device_id: joined.device.id,
        user_id: joined.user.as_ref().map(|u| u.id),
        agent: joined.user.map(|u| u.name),
        role: joined.device.role,
    };
    settings.set_json(SETTINGS, &team).await?;
    tracing::info!(server = %team.server, device_id = %team.device_id, "joined a team");
    Ok((client, token))
}

/// Forgets the team here (the token leaves the keyring); the server's admin revokes the
/// device there.
pub(crate) async fn leave(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
) -> Result<(), TeamSetupError> {
    secrets
        .delete(TOKEN)
        .await
        .map_err(|e| TeamSetupError::Keyring(e.to_string()))?;
    settings.delete(SETTINGS).await?;
    Ok(())
}

/// The client, token and device of the team this desktop joined, if any.
pub(crate) async fn joined(
    settings: &SettingsRepository,
    secrets: &dyn SecretStore,
) -> Result<Option<(TeamClient, SecretString, DeviceId)>, TeamSetupError> {
    let Some(team) = load(settings).await? else {
        return Ok(None);
    };
    let Some(token) = token(secrets).await? else {
        return Ok(None);
    };
    let server = ringdesk_team::server_url(&team.server)?;
    Ok(Some((TeamClient::new(server)?, token, team.device_id)))
}

/// The agent's softphone login from the server as this desktop's active SIP account
/// (updated in place when it exists). None: the server has made no login for the agent yet.
pub(crate) async fn apply_softphone(
    providers: &ProviderService,
    login: SoftphoneLogin,
) -> Result<(), TeamSetupError> {
    let existing = providers
        .list()
        .await?
        .into_iter()
        .find(|p| p.kind == ProviderKind::Sip && p.name == SOFTPHONE_NAME);
    let account = save_sip_account(
        providers,
        existing,
        SipAccount {
            name: SOFTPHONE_NAME.into(),
            registrar: login.registrar,
            domain: Some(login.domain),
            username: login.username,
            password: login.password,
            default_caller_id: None,
        },
    )
    .await?;
    providers.activate(account.id).await?;
    Ok(())
}

pub(crate) fn presence_of(on_call: bool, availability: Availability) -> Presence {
    if on_call {
        Presence::OnCall
    } else if availability == Availability::DoNotDisturb {
        Presence::Dnd
    } else {
        Presence::Available
    }
}

/// Tells the server how the agent is, until the app stops or the desktop leaves the team.
pub(crate) struct Heartbeat {
    pub client: TeamClient,
    pub token: SecretString,
    pub settings: SettingsRepository,
    pub calls: watch::Receiver<Vec<ActiveCall>>,
    /// Availability changed.
    pub changed: Arc<Notify>,
    pub link: watch::Sender<TeamLink>,
}

impl Heartbeat {
    pub async fn run(mut self) {
        loop {
            let on_call = !self.calls.borrow_and_update().is_empty();
            let availability = availability::load(&self.settings)
                .await
                .unwrap_or(Availability::Available);
            let presence = presence_of(on_call, availability);
            let link = match self.client.set_presence(&self.token, presence).await {
                Ok(()) => TeamLink::Connected { presence },
                Err(e) if e.is_signed_out() => {
                    tracing::warn!("the team server signed this desktop out");
                    self.link.send_replace(TeamLink::SignedOut {
                        reason: e.to_string(),
                    });
                    return;
                }
                Err(e) => TeamLink::Unreachable {
                    reason: e.to_string(),
                },
            };
            // Only a change is news: an unchanged link every heartbeat would have the window
            // read the team again on top of its own 10 s look.
            self.link.send_if_modified(|current| {
                let changed = *current != link;
                *current = link;
                changed
            });
            tokio::select! {
                r = self.calls.changed() => if r.is_err() { return },
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
        }
    }
}

/// Keeps the live link to the team server open (reconnecting with back-off and catching up
/// from the last cursor) and passes its events on to the shell.
pub(crate) struct Listener {
    pub client: TeamClient,
    pub token: SecretString,
    pub device_id: DeviceId,
    pub link: watch::Sender<TeamLink>,
    pub news: broadcast::Sender<TeamEvent>,
}

/// The longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Listener {
    pub async fn run(self) {
        let mut cursor = None;
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.client.events(&self.token, cursor).await {
                Ok(mut live) => loop {
                    match live.next().await {
                        Ok(Some(LinkEvent::Ready(c))) => {
                            cursor = Some(c);
                            backoff = Duration::from_secs(1);
                        }
                        Ok(Some(LinkEvent::Event(c, event))) => {
                            cursor = Some(c);
                            if event
                                == (TeamEvent::Revoked {
                                    device_id: self.device_id,
                                })
                            {
                                tracing::warn!("an admin signed this desktop out of the team");
                                self.link.send_replace(TeamLink::SignedOut {
                                    reason: "an admin signed this desktop out".into(),
                                });
                                return;
                            }
                            // Nobody listening (no window) is fine: the next look reads all.
                            let _ = self.news.send(event);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::info!(error = %e, "the live link to the team server dropped");
                            break;
                        }
                    }
                },
                Err(e) if e.is_signed_out() => {
                    self.link.send_replace(TeamLink::SignedOut {
                        reason: e.to_string(),
                    });
                    return;
                }
                Err(e) => {
                    tracing::info!(error = %e, "cannot open the live link to the team server")
                }
            }
            // Full jitter: a restarted server is not met by every desktop at the same instant.
            let wait = backoff.mul_f64(rand::random::<f64>().max(0.1));
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

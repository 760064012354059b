//! Numbers and agents as Settings shows them: this desktop's own (solo), or the team's as its
//! server keeps them (team mode) — read by everyone, changed by admins, the server saying no
//! to anyone else. One place decides which, so every page and command follows the same rule.

use ringdesk_core::team::{AgentLogin, Presence, Role};
use ringdesk_core::{
    NewProvider, NumberSyncReport, PhoneNumber, PhoneNumberId, Provider, ProviderId, RouteInput,
    User, UserId, UserInput,
};
use ringdesk_store::{Agents, NumbersError};
use ringdesk_team::{InviteLink, TeamClient, TeamError};
use secrecy::SecretString;
use serde::Serialize;

use crate::team::{self, TeamSetupError};
use crate::Ringdesk;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Local(#[from] NumbersError),
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error(transparent)]
    Setup(#[from] TeamSetupError),
    #[error("that is done on a team server: join one in Settings → Team first")]
    NotInTeam,
}

/// An agent saved; a new one on a team server comes with the invite their desktop joins with.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedUser {
    pub user: User,
    pub invite: Option<InviteLink>,
}

/// Where Settings' numbers and agents live.
pub enum Directory<'a> {
    Solo(&'a Ringdesk),
    Team {
        client: TeamClient,
        token: SecretString,
        me: Option<UserId>,
        role: Role,
    },
}

impl Ringdesk {
    /// The team's directory when this desktop is in a team, else its own.
    pub async fn directory(&self) -> Result<Directory<'_>, DirectoryError> {
        let settings = self.store.settings();
        let Some(joined) = team::load(&settings).await.map_err(TeamSetupError::from)? else {
            return Ok(Directory::Solo(self));
        };
        match team::joined(&settings, self.secrets.as_ref()).await? {
            Some((client, token, _)) => Ok(Directory::Team {
                client,
                token,
                me: joined.user_id,
                role: joined.role,
            }),
            // Joined, but the token is gone from the keyring: solo until joined again.
            None => Ok(Directory::Solo(self)),
        }
    }
}

impl Directory<'_> {
    /// The team server and this desktop's token, for what only a team server does.
    pub(crate) fn team(&self) -> Result<(&TeamClient, &SecretString), DirectoryError> {
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => Ok((client, token)),
        }
    }

    fn agents(ringdesk: &Ringdesk) -> &Agents {
        &ringdesk.agents
    }

    /// True when this desktop may change what it shows (solo, or a team's admin).
    pub fn editable(&self) -> bool {
        match self {
            Directory::Solo(_) => true,
            Directory::Team { role, .. } => *role == Role::Admin,
        }
    }

    pub async fn numbers(&self) -> Result<Vec<PhoneNumber>, DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(Self::agents(r).numbers().await?),
            Directory::Team { client, token, .. } => Ok(client.numbers(token).await?),
        }
    }

    pub async fn set_route(
        &self,
        number: PhoneNumberId,
        route: Option<RouteInput>,
    ) -> Result<PhoneNumber, DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(Self::agents(r).set_route(number, route).await?),
            Directory::Team { client, token, .. } => {
                Ok(client.set_route(token, number, route.as_ref()).await?)
            }
        }
    }

    /// Whether a number's calls are recorded (None: as its provider says) — the team
    /// server's answers ask for it; a desktop alone records its softphone calls itself
    /// (Settings → Recordings) and its calls on the agent's phone by the provider's setting.
    pub async fn set_number_recording(
        &self,
        number: PhoneNumberId,
        record_calls: Option<bool>,
    ) -> Result<PhoneNumber, DirectoryError> {
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => Ok(client
                .set_number_recording(token, number, record_calls)
                .await?),
        }
    }

    /// The agents; in a team, "me" is the agent this desktop signed in as.
    pub async fn users(&self) -> Result<Vec<User>, DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(Self::agents(r).users().await?),
            Directory::Team {
                client, token, me, ..
            } => {
                let agents = client.agents(token).await?;
                Ok(agents
                    .into_iter()
                    .map(|a| User {
                        is_me: Some(a.user.id) == *me,
                        // How they are is what their desktops tell the server.
                        status: Presence::status(a.presence),
                        ..a.user
                    })
                    .collect())
            }
        }
    }

    pub async fn save_user(
        &self,
        id: Option<UserId>,
        input: UserInput,
    ) -> Result<SavedUser, DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(SavedUser {
                user: r.save_user(id, input).await?,
                invite: None,
            }),
            Directory::Team { client, token, .. } => {
                let (user, invite) = client.save_agent(token, id, &input).await?;
                Ok(SavedUser { user, invite })
            }
        }
    }

    pub async fn delete_user(&self, id: UserId) -> Result<(), DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(Self::agents(r).delete_user(id).await?),
            Directory::Team { client, token, .. } => Ok(client.delete_agent(token, id).await?),
        }
    }

    /// Reads a provider's numbers again (in a team: the team's provider, on the server).
    pub async fn sync_numbers(
        &self,
        provider: ProviderId,
    ) -> Result<NumberSyncReport, DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(r.sync_numbers(provider).await?),
            Directory::Team { client, token, .. } => {
                Ok(client.sync_numbers(token, provider).await?)
            }
        }
    }

    /// The providers whose numbers these are: this desktop's, or the team's.
    pub async fn providers(&self) -> Result<Vec<Provider>, DirectoryError> {
        match self {
            Directory::Solo(r) => Ok(r
                .providers
                .list()
                .await
                .map_err(|e| DirectoryError::Local(NumbersError::Service(e)))?),
            Directory::Team { client, token, .. } => Ok(client.providers(token).await?),
        }
    }

    /// Adds a provider account to the team (its keys go to the server, never kept here).
    pub async fn add_team_provider(&self, new: &NewProvider) -> Result<Provider, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.add_provider(token, new).await?)
    }

    pub async fn activate_team_provider(
        &self,
        provider: ProviderId,
    ) -> Result<Provider, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.activate_provider(token, provider).await?)
    }

    /// Makes (or remakes) an agent's softphone login on the team's active provider.
    pub async fn provision_softphone(&self, user: UserId) -> Result<AgentLogin, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.provision_softphone(token, user).await?)
    }

    /// Keeps a login the team's PBX gave an agent (Vonage makes none).
    pub async fn give_softphone(
        &self,
        user: UserId,
        login: &ringdesk_team::GivenLogin,
    ) -> Result<AgentLogin, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.give_softphone(token, user, login).await?)
    }

    /// A new invite for an agent's (next) desktop.
    pub async fn invite(&self, user: UserId) -> Result<InviteLink, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.invite(token, user).await?)
    }
}

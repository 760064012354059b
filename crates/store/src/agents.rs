//! The numbers and agents as a service over their repositories (the desktop's Settings →
//! Numbers and Users, the team server's API): the accounts' numbers synced from the
//! providers, where each number's calls go, and the agents with their numbers and caller ID.
//! On a desktop, the agent there ("me") places calls with their primary number as caller ID.

use crate::{NumberRepository, StoreError, UserRepository};
use ringdesk_core::service::{ProviderService, ServiceError};
use ringdesk_core::{
    E164Number, NumberRoute, NumberSyncReport, PhoneNumber, PhoneNumberId, ProviderError,
    ProviderId, Region, RouteError, RouteInput, User, UserError, UserId, UserInput,
};

#[derive(Debug, thiserror::Error)]
pub enum NumbersError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("there is no such number")]
    NoNumber,
    #[error("there is no such agent")]
    NoUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NumbersError {
    /// The form field the error belongs to, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            NumbersError::Route(RouteError::BadNumber(_)) => Some("externalNumber"),
            NumbersError::Route(RouteError::NoQueue) => Some("queue"),
            NumbersError::User(e) => Some(e.field()),
            NumbersError::NoUser => Some("userId"),
            _ => None,
        }
    }
}

/// The numbers and agents, as the app offers them.
#[derive(Clone)]
pub struct Agents {
    pub numbers: NumberRepository,
    pub users: UserRepository,
    pub region: Region,
}

impl Agents {
    pub async fn numbers(&self) -> Result<Vec<PhoneNumber>, NumbersError> {
        Ok(self.numbers.list(None).await?)
    }

    /// Reads the provider's complete number list, then applies it in one step: a provider
    /// failing on any page changes nothing.
    pub async fn sync(
        &self,
        providers: &ProviderService,
        provider: ProviderId,
    ) -> Result<NumberSyncReport, NumbersError> {
        let adapter = providers.adapter_for(provider).await?;
        let listed = adapter.list_numbers().await?;
        let report = self.numbers.sync(provider, &listed).await?;
        tracing::info!(
            added = report.added.len(),
            updated = report.updated.len(),
            deactivated = report.deactivated.len(),
            "numbers synced"
        );
        Ok(report)
    }

    pub async fn set_route(
        &self,
        id: PhoneNumberId,
        route: Option<RouteInput>,
    ) -> Result<PhoneNumber, NumbersError> {
        let route = route.map(|r| r.validate(self.region)).transpose()?;
        if let Some(NumberRoute::User { user_id }) = &route {
            self.users
                .get(*user_id)
                .await?
                .ok_or(NumbersError::NoUser)?;
        }
        if !self.numbers.set_route(id, route.as_ref()).await? {
            return Err(NumbersError::NoNumber);
        }
        self.numbers.get(id).await?.ok_or(NumbersError::NoNumber)
    }

    /// Whether the number's calls are recorded (None: as its provider says).
    pub async fn set_recording(
        &self,
        id: PhoneNumberId,
        record_calls: Option<bool>,
    ) -> Result<PhoneNumber, NumbersError> {
        if !self.numbers.set_recording(id, record_calls).await? {
            return Err(NumbersError::NoNumber);
        }
        self.numbers.get(id).await?.ok_or(NumbersError::NoNumber)
    }

    pub async fn users(&self) -> Result<Vec<User>, NumbersError> {
        Ok(self.users.list().await?)
    }

    /// Creates (`id` None) or changes an agent; their numbers must exist.
    pub async fn save_user(
        &self,
        id: Option<UserId>,
        input: UserInput,
    ) -> Result<User, NumbersError> {
        let valid = input.validate(self.region)?;
        for n in &valid.assigned_numbers {
            self.numbers.get(*n).await?.ok_or(NumbersError::NoNumber)?;
        }
        self.users
            .save(id, &valid)
            .await?
            .ok_or(NumbersError::NoUser)
    }

    pub async fn delete_user(&self, id: UserId) -> Result<(), NumbersError> {
        if !self.users.delete(id).await? {
            return Err(NumbersError::NoUser);
        }
        Ok(())
    }

    /// The agent at this desktop and their caller ID on `provider`'s calls: their primary
    /// number when it is an active number of that provider.
    pub async fn me_on(
        &self,
        provider: ProviderId,
    ) -> Result<(Option<UserId>, Option<E164Number>), NumbersError> {
        let Some(me) = self.users.me().await? else {
            return Ok((None, None));
        };
        Ok((Some(me.id), self.caller_id_of(&me, provider).await?))
    }

    /// `user`'s caller ID on `provider`'s calls: their primary number when it is an active
    /// number of that provider.
    pub async fn caller_id_of(
        &self,
        user: &User,
        provider: ProviderId,
    ) -> Result<Option<E164Number>, NumbersError> {
        Ok(match user.primary_number {
            Some(n) => self
                .numbers
                .get(n)
                .await?
                .filter(|n| n.active && n.provider_id == provider)
                .map(|n| n.phone_number),
            None => None,
        })
    }
}

//! Providers and what follows from them: the softphone registers with the active SIP account
//! after every change, the zero-typing softphone set-up, numbers and agents.

use crate::*;

impl Ringdesk {
    /// Creates (or finds again) the softphone's SIP login through the provider's API, points my
    /// numbers at it, and makes it the active SIP account.
    pub async fn setup_softphone(
        &self,
        provider: ProviderId,
    ) -> Result<ringdesk_core::Provider, SetupError> {
        let webhook_base = self.webhook_base().await;
        let account = self.softphone_setup().run(provider, webhook_base).await?;
        self.refresh_softphone().await;
        Ok(account)
    }

    pub(crate) fn softphone_setup(&self) -> softphone_setup::Setup<'_> {
        softphone_setup::Setup {
            providers: &self.providers,
            settings: self.store.settings(),
            agents: &self.agents,
        }
    }

    /// What runs once the app is up: the webhook receiver (when turned on) and the
    /// softphone's first registration. The shell calls it once; the services are ready before.
    pub async fn start(&self) {
        self.start_webhooks().await;
        self.refresh_softphone().await;
    }

    /// Adds a provider; the first one with its keys complete becomes the active one (an agent
    /// who saves one provider means to use it). The softphone follows (a SIP account may now
    /// be the one to register).
    pub async fn create_provider(
        &self,
        provider: ringdesk_core::NewProvider,
    ) -> Result<ringdesk_core::Provider, ringdesk_core::service::ServiceError> {
        let mut provider = self.providers.create(provider).await?;
        let complete = provider
            .kind
            .missing_credentials(&provider.credentials)
            .is_empty();
        if complete && !self.providers.list().await?.iter().any(|p| p.is_active) {
            provider = self.providers.activate(provider.id).await?;
        }
        self.refresh_softphone().await;
        Ok(provider)
    }

    /// Every provider, each with the softphone login set up from its API (if any).
    pub async fn list_providers(
        &self,
    ) -> Result<Vec<(ringdesk_core::Provider, Option<ProviderId>)>, SetupError> {
        let providers = self.providers.list().await?;
        let made = softphone_setup::softphones(&self.store.settings(), &providers).await?;
        Ok(providers
            .into_iter()
            .map(|p| {
                let softphone = made.get(&p.id).copied();
                (p, softphone)
            })
            .collect())
    }

    /// Changes a provider; the softphone follows (new password, registrar, transport…).
    pub async fn update_provider(
        &self,
        id: ProviderId,
        update: ringdesk_core::ProviderUpdate,
    ) -> Result<ringdesk_core::Provider, ringdesk_core::service::ServiceError> {
        let provider = self.providers.update(id, update).await?;
        self.refresh_softphone().await;
        Ok(provider)
    }

    /// Makes a provider the active one; the softphone registers with it or stops.
    pub async fn activate_provider(
        &self,
        id: ProviderId,
    ) -> Result<ringdesk_core::Provider, ringdesk_core::service::ServiceError> {
        let provider = self.providers.activate(id).await?;
        self.refresh_softphone().await;
        Ok(provider)
    }

    /// Removes a provider, and first what Ringdesk created for it (its softphone login in the
    /// account and the SIP account made from it).
    pub async fn delete_provider(&self, provider: ProviderId) -> Result<(), SetupError> {
        self.softphone_setup().tear_down(provider).await?;
        self.providers.delete(provider).await?;
        self.refresh_softphone().await;
        Ok(())
    }

    /// Syncs the provider's numbers into Settings → Numbers.
    pub async fn sync_numbers(
        &self,
        provider: ProviderId,
    ) -> Result<NumberSyncReport, NumbersError> {
        self.agents.sync(&self.providers, provider).await
    }

    /// Saves an agent; the softphone's caller ID follows the primary number of "me".
    pub async fn save_user(
        &self,
        id: Option<UserId>,
        input: UserInput,
    ) -> Result<User, NumbersError> {
        let user = self.agents.save_user(id, input).await?;
        self.refresh_softphone().await;
        self.presence.notify_one();
        Ok(user)
    }

    /// Registers the active provider's SIP account, or stops registering: after start-up and
    /// after any change to providers.
    pub async fn refresh_softphone(&self) {
        match self.providers.softphone_account().await {
            Ok(Some(mut account)) => {
                // The agent's primary number on this account is their caller ID.
                if let Ok((_, Some(mine))) = self.agents.me_on(account.provider).await {
                    account.caller_id = Some(mine);
                }
                self.softphone.apply(Some(account)).await
            }
            Ok(None) => self.softphone.apply(None).await,
            Err(e) => tracing::warn!(error = %e, "cannot read the softphone's account"),
        }
    }
}

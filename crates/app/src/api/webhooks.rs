//! The webhook receiver: its settings, starting and stopping it, the base URL providers are
//! given.

use crate::*;

impl Ringdesk {
    /// The receiver's base URL while it runs (calls placed through a provider report to it).
    pub(crate) async fn webhook_base(&self) -> Option<String> {
        let address = self.webhooks.lock().await.as_ref().map(|r| r.address)?;
        let settings = webhooks::load(&self.store.settings()).await.ok()?;
        Some(settings.base_url(Some(address)))
    }

    pub async fn webhooks(&self) -> Result<WebhookView, AppError> {
        let settings = webhooks::load(&self.store.settings()).await?;
        let listening = self.webhooks.lock().await.as_ref().map(|r| r.address);
        Ok(WebhookView {
            base_url: settings.base_url(listening),
            listening: listening.map(|a| a.to_string()),
            settings,
        })
    }

    /// Saves the receiver's settings and starts, restarts or stops it to match.
    pub async fn set_webhooks(
        &self,
        settings: WebhookSettings,
    ) -> Result<WebhookView, WebhookError> {
        let settings = settings.checked()?;
        self.apply_webhooks(&settings).await?;
        webhooks::save(&self.store.settings(), &settings).await?;
        self.webhooks().await.map_err(|e| match e {
            AppError::Store(s) => WebhookError::Store(s),
            AppError::DataDir { source, path } => WebhookError::Listen { bind: path, source },
        })
    }

    /// Starts the receiver when the saved settings say so (at start-up).
    pub async fn start_webhooks(&self) {
        match webhooks::load(&self.store.settings()).await {
            Ok(settings) if settings.enabled => {
                if let Err(e) = self.apply_webhooks(&settings).await {
                    tracing::warn!(error = %e, "webhook receiver not started");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the webhook settings"),
        }
    }

    pub(crate) async fn apply_webhooks(
        &self,
        settings: &WebhookSettings,
    ) -> Result<(), WebhookError> {
        let mut running = self.webhooks.lock().await;
        if let Some(old) = running.take() {
            old.stop().await;
        }
        if !settings.enabled {
            return Ok(());
        }
        let receiver = webhooks::Receiver {
            providers: self.providers.clone(),
            journal: self.journal.clone(),
            notices: self.softphone.calls.notices.clone(),
            provider_calls: self.provider_calls.clone(),
            apply: Default::default(),
        };
        let base_url = |address| settings.base_url(Some(address));
        *running = Some(webhooks::start(&settings.bind, receiver, base_url).await?);
        Ok(())
    }
}

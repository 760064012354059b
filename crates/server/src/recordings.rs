//! Provider recordings kept by the team: copied to the server's disk the moment the provider
//! says one is ready (Telnyx's links live ten minutes, Vonage deletes after thirty days), linked
//! to the call in the team journal with its length, served to the team's desktops, and found
//! again by a periodic pass over the providers' recording lists when an event was lost or its
//! link expired before the copy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ringdesk_core::ports::ProviderAdapter;
use ringdesk_core::{Call, CallId, ProviderId};
use ringdesk_store::{CallRepository, StoreError};
use time::OffsetDateTime;

use crate::team::Team;

/// Waits before each attempt at a copy after the first; the reconcile pass takes over after
/// the last.
const RETRIES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(25),
];
/// How often the providers' recording lists are read, and how far back.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(600);
const RECONCILE_SPAN: time::Duration = time::Duration::days(2);

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Keep(#[from] ringdesk_webhooks::recordings::KeepError),
    #[error("the provider cannot be used: {0}")]
    Unusable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a share link plays: a CRM keeps the activity for good, the team keeps the
/// recording until an admin deletes it.
pub const SHARE_FOR: time::Duration = time::Duration::days(365);

fn share_message(call: CallId, expires: i64) -> String {
    format!("recording:{call}:{expires}")
}

#[derive(Clone)]
pub struct Recordings {
    pub team: Arc<Team>,
    pub calls: CallRepository,
    pub folder: PathBuf,
}

impl Recordings {
    /// The team journal's link to a copied recording (what desktops and the CRM get).
    pub fn link(&self, call: CallId) -> String {
        format!("{}/api/v1/calls/{call}/recording", self.team.base_url)
    }

    /// A link that plays `call`'s recording for anyone who holds it, until `expires` — what
    /// a CRM's activity stores (HubSpot and Pipedrive fetch a recording's link themselves, with
    /// no login of ours). Signed with a key derived from the sealing key.
    pub fn share_link(&self, call: CallId, expires: OffsetDateTime) -> String {
        let expires = expires.unix_timestamp();
        let signature = self.team.sealer.sign(&share_message(call, expires));
        format!(
            "{}/recordings/{call}?expires={expires}&sig={signature}",
            self.team.base_url
        )
    }

    /// Whether a share link's `expires` and `sig` are the server's own and still good.
    pub fn link_holds(&self, call: CallId, expires: i64, sig: &str, now: OffsetDateTime) -> bool {
        expires > now.unix_timestamp()
            && self.team.sealer.verify(&share_message(call, expires), sig)
    }

    /// Deletes `call`'s copy and unlinks it: its share links stop working.
    pub async fn delete(&self, call: CallId) -> Result<bool, StoreError> {
        let Some(mut row) = self.calls.get(call).await? else {
            return Ok(false);
        };
        let mut removed = false;
        while let Some((path, _)) = self.file_of(call) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(call = %call, error = %e, "cannot delete a recording");
                return Ok(false);
            }
            removed = true;
        }
        if row.recording_url.is_some() {
            row.recording_url = None;
            row.recording_secs = None;
            self.calls.save(&row).await?;
            removed = true;
        }
        if removed {
            tracing::info!(call = %call, "recording deleted");
            self.team.live.tell_agent(row).await;
        }
        Ok(removed)
    }

    /// Whether `call`'s recording is the server's copy already.
    pub fn is_copied(&self, call: &Call) -> bool {
        call.recording_url.as_deref() == Some(self.link(call.id).as_str())
    }

    /// The copy of `call`'s recording on disk, and what kind of audio it is.
    pub fn file_of(&self, call: CallId) -> Option<(PathBuf, &'static str)> {
        ["mp3", "wav"]
            .into_iter()
            .map(|ext| (self.folder.join(format!("{call}.{ext}")), ext))
            .find(|(path, _)| path.exists())
    }

    /// Copies the recording at `url` of `call` (a call of `provider`), trying a few times;
    /// what still fails is left to the reconcile pass.
    pub async fn copy_soon(self, provider: ProviderId, call: CallId, url: String) {
        for (attempt, wait) in RETRIES.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            match self.copy(provider, call, &url).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(call = %call, attempt = attempt + 1, error = %e, "cannot copy a recording yet");
                }
            }
        }
    }

    /// Fetches the audio, writes it whole, then links it to the call.
    pub async fn copy(
        &self,
        provider: ProviderId,
        call: CallId,
        url: &str,
    ) -> Result<(), CopyError> {
        let adapter = self.adapter(provider).await?;
        let stem = self.folder.join(call.to_string());
        let (_, bytes) = ringdesk_webhooks::recordings::keep(adapter.as_ref(), url, &stem).await?;
        let Some(mut row) = self.calls.get(call).await? else {
            return Ok(());
        };
        row.recording_url = Some(self.link(call));
        self.calls.save(&row).await?;
        tracing::info!(call = %call, bytes, "recording copied to the team server");
        // The call's agent hears of it: their desktop plays it from here.
        self.team.live.tell_agent(row).await;
        Ok(())
    }

    /// Reads every provider's recordings of the last two days and copies those the team
    /// journal has no copy of (a lost event, an expired link). Returns how many were copied.
    pub async fn reconcile(&self, now: OffsetDateTime) -> usize {
        let providers = match self.team.providers.list().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: cannot read the providers");
                return 0;
            }
        };
        let mut copied = 0;
        for provider in providers {
            let Ok(adapter) = self.adapter(provider.id).await else {
                continue;
            };
            let listed = match adapter.list_recordings(now - RECONCILE_SPAN).await {
                Ok(l) => l,
                Err(ringdesk_core::ProviderError::Unsupported { .. }) => continue,
                Err(e) => {
                    tracing::warn!(provider_id = %provider.id, error = %e, "reconcile: cannot list recordings");
                    continue;
                }
            };
            for recording in listed {
                let found = self
                    .calls
                    .find_by_provider_call(provider.id, &recording.provider_call_id)
                    .await;
                let Ok(Some(mut call)) = found else {
                    continue;
                };
                if self.is_copied(&call) {
                    continue;
                }
                if call.recording_secs.is_none() && recording.duration_secs.is_some() {
                    call.recording_secs = recording.duration_secs;
                    if let Err(e) = self.calls.save(&call).await {
                        tracing::warn!(error = %e, "reconcile: cannot save the call");
                    }
                }
                match self.copy(provider.id, call.id, &recording.url).await {
                    Ok(()) => copied += 1,
                    Err(e) => tracing::warn!(call = %call.id, error = %e, "reconcile: cannot copy"),
                }
            }
        }
        if copied > 0 {
            tracing::info!(copied, "reconcile: recordings copied");
        }
        copied
    }

    async fn adapter(&self, provider: ProviderId) -> Result<Arc<dyn ProviderAdapter>, CopyError> {
        ringdesk_webhooks::adapter_of(&self.team.providers, provider)
            .await
            .map_err(|e| CopyError::Unusable(format!("{e:?}")))
    }
}

//! The team's voicemail: a caller's message copied from the provider to the server's disk the
//! moment it is ready (Telnyx's links live ten minutes, Vonage deletes after thirty days), its
//! transcription kept beside it, and every agent whose box it is in told at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ringdesk_core::queue::{VoicemailId, VoicemailStatus};
use ringdesk_core::team::TeamEvent;
use ringdesk_core::{ProviderId, UserId};
use ringdesk_store::{QueueRepository, StoreError};
use time::OffsetDateTime;

use crate::team::Team;

/// Waits before each attempt at a copy after the first. A message still not copied after the
/// last is logged with its id: it stays listed (with its transcription), without audio, and
/// the reconcile pass tries it again from where the provider keeps it — never silently gone.
const RETRIES: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// A message the provider announced this long ago and still not copied is the reconcile
/// pass's (its own tries take ~42 s).
const COPY_GRACE: time::Duration = time::Duration::minutes(2);

/// `attempt` after each of `RETRIES`' waits until it works; each failure logged as `failed`.
async fn retried<T, F, Fut>(id: VoicemailId, failed: &str, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    for (n, wait) in RETRIES.iter().enumerate() {
        tokio::time::sleep(*wait).await;
        match attempt().await {
            Ok(done) => return Some(done),
            Err(e) => tracing::warn!(voicemail = %id, attempt = n + 1, error = %e, "{failed}"),
        }
    }
    None
}

#[derive(Clone)]
pub struct Voicemails {
    pub team: Arc<Team>,
    pub repo: QueueRepository,
    pub folder: PathBuf,
}

impl Voicemails {
    /// The message's file on disk, if copied (and still there).
    pub async fn file_of(&self, id: VoicemailId) -> Result<Option<PathBuf>, StoreError> {
        let Some(name) = self.repo.voicemail_file(id).await? else {
            return Ok(None);
        };
        // The name is the server's own (`<id>.<ext>`), never a provider's path.
        let path = self.folder.join(name);
        Ok(path.exists().then_some(path))
    }

    /// Copies the message at `url`, trying a few times, then tells its box.
    pub async fn copy_soon(
        self,
        provider: ProviderId,
        id: VoicemailId,
        url: String,
        duration_secs: Option<u32>,
    ) {
        let copied = retried(id, "cannot copy a voicemail yet", || {
            self.copy(provider, id, &url, duration_secs)
        });
        if copied.await.is_some() {
            return;
        }
        tracing::error!(voicemail = %id, "voicemail audio could not be copied from the provider yet: kept without its audio, tried again by the reconcile pass");
    }

    /// The provider announced the message's audio: where it is kept first (so a copy that
    /// fails can be tried again later), then the copy.
    pub async fn ready(
        self,
        provider: ProviderId,
        id: VoicemailId,
        url: String,
        duration_secs: Option<u32>,
    ) {
        if let Err(e) = self.repo.voicemail_recording(id, &url, duration_secs).await {
            tracing::error!(voicemail = %id, error = %e, "cannot keep where a voicemail's audio is");
        }
        self.copy_soon(provider, id, url, duration_secs).await
    }

    /// Tries once more every message whose copy failed (the provider down, a link not ready
    /// yet); returns how many were copied. Telnyx's links die in ten minutes: what they hold
    /// is lost with them, and the message stays listed with its text.
    pub async fn reconcile(&self, now: OffsetDateTime) -> usize {
        let uncopied = match self.repo.uncopied_voicemails(now - COPY_GRACE).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: cannot read the voicemail");
                return 0;
            }
        };
        let mut copied = 0;
        for (id, provider, url, duration_secs) in uncopied {
            match self.copy(provider, id, &url, duration_secs).await {
                Ok(()) => copied += 1,
                Err(e) => {
                    tracing::warn!(voicemail = %id, error = %e, "reconcile: cannot copy a voicemail")
                }
            }
        }
        if copied > 0 {
            tracing::info!(copied, "reconcile: voicemail copied");
        }
        copied
    }

    async fn copy(
        &self,
        provider: ProviderId,
        id: VoicemailId,
        url: &str,
        duration_secs: Option<u32>,
    ) -> Result<(), String> {
        let adapter = self.adapter(provider).await?;
        let stem = self.folder.join(id.to_string());
        let (path, bytes) = ringdesk_webhooks::recordings::keep(adapter.as_ref(), url, &stem)
            .await
            .map_err(|e| e.to_string())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or("a voicemail file without a name")?;
        self.repo
            .voicemail_audio(id, &name, duration_secs)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(voicemail = %id, bytes, "voicemail copied to the team server");
        self.tell(id).await;
        Ok(())
    }

    /// Reads a transcription the provider keeps behind a link (Vonage), trying like a copy;
    /// a text that cannot be read is kept as "no transcription", never waited for forever.
    pub async fn transcript_soon(self, provider: ProviderId, id: VoicemailId, url: String) {
        let read = retried(id, "cannot read a transcription yet", || async {
            let adapter = self.adapter(provider).await?;
            adapter
                .fetch_transcript(&url)
                .await
                .map_err(|e| e.to_string())
        });
        if let Some(text) = read.await {
            return self.transcribed(id, Ok(&text)).await;
        }
        tracing::error!(voicemail = %id, "the transcription could not be read from the provider");
        self.transcribed(id, Err(())).await;
    }

    async fn adapter(
        &self,
        provider: ProviderId,
    ) -> Result<Arc<dyn ringdesk_core::ports::ProviderAdapter>, String> {
        ringdesk_webhooks::adapter_of(&self.team.providers, provider)
            .await
            .map_err(|e| format!("the provider cannot be used: {e:?}"))
    }

    /// Keeps a message's transcription (or that there will be none), then tells its box.
    pub async fn transcribed(&self, id: VoicemailId, text: Result<&str, ()>) {
        match self.repo.voicemail_transcription(id, text).await {
            Ok(()) => self.tell(id).await,
            Err(e) => tracing::error!(voicemail = %id, error = %e, "cannot keep a transcription"),
        }
    }

    /// Every agent whose box the message is in hears of it as they would read it.
    pub async fn tell(&self, id: VoicemailId) {
        let audience = match self.repo.voicemail_audience(id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(voicemail = %id, error = %e, "cannot read a voicemail's box");
                return;
            }
        };
        for user_id in audience {
            match self.repo.voicemail(id, user_id).await {
                Ok(Some(voicemail)) => {
                    self.team
                        .live
                        .tell(TeamEvent::Voicemail {
                            user_id,
                            voicemail: Box::new(voicemail),
                        })
                        .await
                }
                Ok(None) => {}
                Err(e) => tracing::error!(voicemail = %id, error = %e, "cannot read a voicemail"),
            }
        }
    }

    /// An agent marks a message; their other desktops hear it.
    pub async fn set_status(
        &self,
        id: VoicemailId,
        user: UserId,
        status: VoicemailStatus,
    ) -> Result<bool, StoreError> {
        if !self.repo.voicemail_audience(id).await?.contains(&user) {
            return Ok(false);
        }
        self.repo.set_voicemail_status(id, user, status).await?;
        if let Some(voicemail) = self.repo.voicemail(id, user).await? {
            self.team
                .live
                .tell(TeamEvent::Voicemail {
                    user_id: user,
                    voicemail: Box::new(voicemail),
                })
                .await;
        }
        Ok(true)
    }
}

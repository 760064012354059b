//! The agent's desk: availability and status, sound devices and their tests.

use crate::*;

impl Ringdesk {
    pub async fn availability(&self) -> Result<Availability, AppError> {
        Ok(availability::load(&self.store.settings()).await?)
    }

    pub async fn set_availability(&self, availability: Availability) -> Result<(), AppError> {
        availability::save(&self.store.settings(), availability).await?;
        self.presence.notify_one();
        self.team_wake.notify_one();
        Ok(())
    }

    /// The sound devices present and the one each role uses.
    pub async fn audio(&self) -> Result<AudioView, AppError> {
        let preferences = audio::load(&self.store.settings()).await?;
        Ok(
            tokio::task::spawn_blocking(move || audio::view(&preferences))
                .await
                .unwrap_or_else(|_| audio::view(&AudioPreferences::default())),
        )
    }

    /// Uses `device` for `role` from now on (None: the system default).
    pub async fn choose_audio_device(
        &self,
        role: AudioRole,
        device: Option<String>,
    ) -> Result<AudioView, AppError> {
        let settings = self.store.settings();
        let mut preferences = audio::load(&settings).await?;
        preferences.choose(role, device);
        audio::save(&settings, &preferences).await?;
        self.audio().await
    }

    /// A chime on the device `role` uses now.
    pub async fn play_test_sound(&self, role: AudioRole) -> Result<(), AudioTestError> {
        let device = self
            .audio()
            .await
            .map_err(|e| AudioTestError::new(e.to_string()))?;
        let device = match role {
            AudioRole::Ringer => device.ringer,
            _ => device.speaker,
        };
        audio::play_test_sound(device).await
    }

    /// Listens to the microphone in use for `seconds`, reporting its level every 100 ms.
    pub async fn test_microphone(
        &self,
        seconds: u64,
        report: impl Fn(f32) + Send + 'static,
    ) -> Result<(), AudioTestError> {
        let device = self
            .audio()
            .await
            .map_err(|e| AudioTestError::new(e.to_string()))?;
        audio::test_microphone(device.microphone, seconds, report).await
    }

    /// My status as it is saved (online, offline, busy, dnd): Settings → Users shows it live.
    pub fn subscribe_my_status(&self) -> watch::Receiver<Option<presence::MyStatus>> {
        self.my_status.subscribe()
    }
}

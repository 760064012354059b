//! The calls: the journal, placing them (softphone or the agent's phone), controlling the ones
//! in progress, where calls ring, how many at once, after-call work.

use crate::*;
use ringdesk_core::TransferKind;

/// When the agent last saw the journal (Unix milliseconds): missed calls before it are not new.
const MISSED_SEEN: &str = "missed_calls_seen_at";

impl Ringdesk {
    /// A page of the call journal.
    pub async fn calls(&self, filter: &CallFilter) -> Result<Vec<Call>, AppError> {
        Ok(self.store.calls().list(filter).await?)
    }

    /// Places a call: through the softphone to a number (any format) or a SIP address, or —
    /// when calls ring on the agent's phone — through the active provider's call control.
    pub async fn dial(
        &self,
        target: String,
        contact: Option<ContactId>,
    ) -> Result<Call, CallError> {
        let route = provider_calls::load(&self.store.settings())
            .await
            .unwrap_or_default();
        if let (CallRouteMode::Phone, Some(phone)) = (route.mode, route.phone) {
            let webhook_base = self.webhook_base().await;
            return self
                .provider_calls
                .dial(&self.providers, webhook_base, phone, &target, contact)
                .await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.softphone
            .command(CallCommand::Dial {
                target,
                contact,
                reply,
            })
            .await;
        answer.await.unwrap_or(Err(CallError::NotConnected))
    }

    /// Answer, decline, hang up, mute, hold, keypad, swap or transfer: on `call`, or on the
    /// call in focus when None.
    pub async fn call_control(
        &self,
        call: Option<CallId>,
        control: CallControl,
    ) -> Result<(), CallError> {
        if self.provider_calls.has_call().await {
            return match control {
                CallControl::Hangup => self.provider_calls.hangup(&self.providers).await,
                CallControl::Transfer {
                    target,
                    kind: TransferKind::Blind,
                } => {
                    let webhook_base = self.webhook_base().await;
                    self.provider_calls
                        .transfer(&self.providers, webhook_base, &target)
                        .await
                }
                CallControl::Transfer { .. } => Err(CallError::NotNow(
                    "Calls on your phone are passed on blind: use Transfer now".into(),
                )),
                CallControl::Record(on) => self.provider_calls.record(&self.providers, on).await,
                _ => Err(CallError::OnYourPhone),
            };
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.softphone
            .command(CallCommand::Control {
                call,
                control,
                reply,
            })
            .await;
        answer.await.unwrap_or(Err(CallError::NotConnected))
    }

    /// How many calls the agent may have at once (1: a second caller hears busy).
    pub async fn calls_at_once(&self) -> Result<usize, AppError> {
        Ok(crate::calls_at_once::load(&self.store.settings()).await?)
    }

    pub async fn set_calls_at_once(&self, count: usize) -> Result<usize, CallError> {
        let saved = crate::calls_at_once::save(&self.store.settings(), count)
            .await
            .map_err(|e| CallError::Journal(e.to_string()))?;
        if !saved {
            return Err(CallError::CallsAtOnce(crate::calls_at_once::MOST));
        }
        Ok(count)
    }

    /// Settings → Recordings.
    pub async fn recording_settings(&self) -> Result<RecordingSettings, AppError> {
        Ok(recordings::load(&self.store.settings()).await?)
    }

    /// Saves the recording settings; a shorter keep period applies at once.
    pub async fn set_recording_settings(
        &self,
        wanted: RecordingSettings,
    ) -> Result<RecordingSettings, RecordingError> {
        let saved = recordings::save(&self.store.settings(), wanted).await?;
        self.sweep_recordings().await?;
        Ok(saved)
    }

    /// The folder recordings made on this computer are written to (the window may play
    /// files from it, nothing else).
    pub fn recordings_folder(&self) -> &std::path::Path {
        &self.journal.recordings
    }

    /// The file of a call's recording made on this computer.
    pub async fn recording_file(&self, id: CallId) -> Result<std::path::PathBuf, RecordingError> {
        self.store
            .calls()
            .get(id)
            .await?
            .and_then(|c| recordings::local_file(&c, &self.journal.recordings))
            .filter(|p| p.exists())
            .ok_or(RecordingError::NoRecording)
    }

    /// The call `id`, when the journal has it (else: no recording to speak of).
    async fn recorded_call(&self, id: CallId) -> Result<Call, RecordingError> {
        self.store
            .calls()
            .get(id)
            .await?
            .ok_or(RecordingError::NoRecording)
    }

    /// A call's recording, whole: the file made or kept on this computer, else the copy the
    /// team server keeps (asked of this desktop's own team server with its device token).
    pub async fn recording_audio(&self, id: CallId) -> Result<Vec<u8>, RecordingError> {
        let call = self.recorded_call(id).await?;
        self.audio_of(&call).await
    }

    async fn audio_of(&self, call: &Call) -> Result<Vec<u8>, RecordingError> {
        if let Some(file) = recordings::local_file(call, &self.journal.recordings) {
            return tokio::fs::read(file).await.map_err(RecordingError::Read);
        }
        let on_server = call
            .recording_url
            .as_deref()
            .and_then(recordings::team_call_of)
            .ok_or(RecordingError::NoRecording)?;
        let (client, token) = self.team_client().await?;
        client
            .recording(&token, on_server)
            .await
            .map_err(|e| RecordingError::Team(e.to_string()))
    }

    async fn team_client(
        &self,
    ) -> Result<(ringdesk_team::TeamClient, secrecy::SecretString), RecordingError> {
        let joined = team::joined(&self.store.settings(), self.secrets.as_ref())
            .await
            .map_err(|e| RecordingError::Team(e.to_string()))?;
        let Some((client, token, _)) = joined else {
            return Err(RecordingError::Team("this desktop is not in a team".into()));
        };
        Ok((client, token))
    }

    /// Saves a copy of a call's recording in `folder` (the agent's Downloads: to keep, attach
    /// or pass on) and returns where; a copy made before is replaced.
    pub async fn save_recording_copy(
        &self,
        id: CallId,
        folder: &std::path::Path,
    ) -> Result<std::path::PathBuf, RecordingError> {
        let call = self.recorded_call(id).await?;
        let audio = self.audio_of(&call).await?;
        let call = self.journal.named(call).await;
        let path = folder.join(recordings::copy_name(&call, &audio));
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(RecordingError::Save)?;
        tokio::fs::write(&path, &audio)
            .await
            .map_err(RecordingError::Save)?;
        tracing::info!(call = %id, "a copy of the recording saved");
        Ok(path)
    }

    /// Deletes a call's recording: one made or kept on this computer, or — for a team's
    /// admin — the team server's copy (the server refuses anyone else).
    pub async fn delete_recording(&self, id: CallId) -> Result<Call, RecordingError> {
        let calls = self.store.calls();
        let call = self.recorded_call(id).await?;
        let on_server = call
            .recording_url
            .as_deref()
            .and_then(recordings::team_call_of);
        if let Some(on_server) = on_server {
            let (client, token) = self.team_client().await?;
            client
                .delete_recording(&token, on_server)
                .await
                .map_err(|e| RecordingError::Team(e.to_string()))?;
            // Read again: notes may have been saved while the server was asked.
            let mut call = self.recorded_call(id).await?;
            call.recording_url = None;
            call.recording_secs = None;
            calls.save(&call).await?;
            tracing::info!(call = %id, "the team server's recording deleted");
            return Ok(self.journal.named(call).await);
        }
        let call = recordings::delete(&calls, &self.journal.recordings, id).await?;
        tracing::info!(call = %id, "recording deleted");
        Ok(self.journal.named(call).await)
    }

    /// Deletes the recordings older than the keep period.
    pub async fn sweep_recordings(&self) -> Result<usize, RecordingError> {
        recordings::sweep(
            &self.store.settings(),
            &self.store.calls(),
            &self.journal.recordings,
            time::OffsetDateTime::now_utc(),
        )
        .await
    }

    pub async fn call_route(&self) -> Result<CallRoute, AppError> {
        Ok(provider_calls::load(&self.store.settings()).await?)
    }

    pub async fn set_call_route(&self, input: CallRouteInput) -> Result<CallRoute, CallError> {
        let route = input.validate(self.region)?;
        provider_calls::save(&self.store.settings(), &route)
            .await
            .map_err(|e| CallError::Provider(e.to_string()))?;
        Ok(route)
    }

    /// The agent's after-call notes and outcome on a finished call; its CRM activity (held
    /// for them) leaves now.
    pub async fn wrap_up(
        &self,
        id: CallId,
        notes: Option<String>,
        disposition: Option<Disposition>,
    ) -> Result<Call, CallError> {
        match self
            .journal
            .wrap_up(id, notes.as_deref(), disposition)
            .await
        {
            Ok(Some(call)) => Ok(self.journal.named(call).await),
            Ok(None) => Err(CallError::NoCall("wrap up")),
            Err(e) => Err(CallError::Journal(e.to_string())),
        }
    }

    /// Calls missed since the agent last looked at the journal (the count on Calls and in
    /// the tray).
    pub async fn missed_calls(&self) -> Result<u64, AppError> {
        let seen = self
            .store
            .settings()
            .get_json::<i64>(MISSED_SEEN)
            .await?
            .and_then(|ms| ringdesk_store::from_millis(ms).ok())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        Ok(self.store.calls().count_missed_since(seen).await?)
    }

    /// The agent has seen the journal: the missed calls so far are no longer new.
    pub async fn missed_calls_seen(&self) -> Result<(), AppError> {
        let now = ringdesk_store::millis(time::OffsetDateTime::now_utc());
        Ok(self.store.settings().set_json(MISSED_SEEN, &now).await?)
    }

    /// The calls in progress, oldest first.
    pub fn live_calls(&self) -> Vec<ActiveCall> {
        self.softphone.calls.calls.borrow().clone()
    }
}

//! Team mode: joining a team server, leaving it, and the heartbeat that keeps the server
//! knowing how the agent here is.

use crate::*;

impl Ringdesk {
    /// Settings → Team: where this desktop is signed in and how the link is doing.
    pub async fn team(&self) -> Result<team::TeamView, team::TeamSetupError> {
        Ok(team::TeamView {
            joined: team::load(&self.store.settings()).await?,
            link: self.team_link.borrow().clone(),
        })
    }

    /// The team's agents and how each is, as the server sees them (empty when not in a team).
    pub async fn team_agents(&self) -> Result<Vec<ringdesk_team::TeamAgent>, team::TeamSetupError> {
        match team::joined(&self.store.settings(), self.secrets.as_ref()).await? {
            Some((client, token, _)) => Ok(client.agents(&token).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Changes whenever the link to the team server does.
    pub fn subscribe_team(&self) -> watch::Receiver<team::TeamLink> {
        self.team_link.subscribe()
    }

    /// What the team server tells this desktop on the live link, as it comes.
    pub fn subscribe_team_news(
        &self,
    ) -> tokio::sync::broadcast::Receiver<ringdesk_core::team::TeamEvent> {
        self.team_news.subscribe()
    }

    /// Joins the team an invite link (`ringdesk://join?server=…&code=…`) names: the device
    /// token goes to the keyring, the agent's softphone login (if the server made one)
    /// becomes the active SIP account, and the heartbeat starts.
    pub async fn join_team(
        &self,
        link: &str,
        device_name: &str,
    ) -> Result<team::TeamView, team::TeamSetupError> {
        let invite = ringdesk_team::parse_invite(link)?;
        let name = match device_name.trim() {
            "" => default_device_name(),
            name => name.chars().take(100).collect(),
        };
        self.stop_team().await;
        let (client, token) = team::join(
            &self.store.settings(),
            self.secrets.as_ref(),
            &invite,
            &name,
        )
        .await?;
        self.take_team_softphone(&client, &token).await?;
        self.start_team().await;
        self.team().await
    }

    /// The agent's softphone login from the team server, as this desktop's active SIP account
    /// (none made yet, or the server unreachable: said in the log, the desktop goes on).
    async fn take_team_softphone(
        &self,
        client: &ringdesk_team::TeamClient,
        token: &secrecy::SecretString,
    ) -> Result<(), team::TeamSetupError> {
        match client.softphone(token).await {
            Ok(Some(login)) => {
                team::apply_softphone(&self.providers, login).await?;
                self.refresh_softphone().await;
            }
            Ok(None) => tracing::info!("the team server has no softphone login for this agent yet"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the softphone login from the team server")
            }
        }
        Ok(())
    }

    /// What the desktop itself does with the team's news, before the window shows it: a
    /// softphone login made (or remade) for this agent is taken at once; a call of theirs is
    /// brought up to date; a message they write to the CRM goes there.
    pub async fn on_team_news(&self, event: &ringdesk_core::team::TeamEvent) {
        use ringdesk_core::team::TeamEvent;
        match event {
            TeamEvent::Call { call } => self.take_team_call(call).await,
            TeamEvent::Softphone { user_id } if self.is_me(*user_id).await => {
                self.take_new_softphone().await
            }
            TeamEvent::Voicemail { user_id, voicemail }
                if voicemail.writes_crm && self.is_me(*user_id).await =>
            {
                self.take_team_voicemail(voicemail).await
            }
            _ => {}
        }
    }

    /// Whether `user` is the agent signed in at this desktop.
    async fn is_me(&self, user: ringdesk_core::UserId) -> bool {
        let joined = team::load(&self.store.settings()).await.ok().flatten();
        joined.and_then(|t| t.user_id) == Some(user)
    }

    async fn take_new_softphone(&self) {
        match team::joined(&self.store.settings(), self.secrets.as_ref()).await {
            Ok(Some((client, token, _))) => {
                if let Err(e) = self.take_team_softphone(&client, &token).await {
                    tracing::warn!(error = %e, "cannot take the new softphone login");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the team to take the softphone login")
            }
        }
    }

    /// One of the agent's calls as the team journal has it: its recording linked to (or, once
    /// deleted there, unlinked from) this desktop's row for the same call — with a share link
    /// the CRM can play, and the CRM's activity brought up to date.
    async fn take_team_call(&self, call: &ringdesk_core::Call) {
        let on_server = call
            .recording_url
            .as_deref()
            .and_then(recordings::team_call_of);
        // Asked of the server only when a recording is to be linked here.
        let share = async move {
            match on_server {
                Some(on_server) => self.share_link(on_server).await,
                None => None,
            }
        };
        let calls = self.store.calls();
        let folder = &self.journal.recordings;
        match recordings::take_team_recording(&calls, folder, call, share).await {
            Ok(
                recordings::TeamRecording::Linked(mine) | recordings::TeamRecording::Unlinked(mine),
            ) => match self.journal.outbox.reopen_for_update(mine.id).await {
                Ok(true) => {
                    tracing::info!(call = %mine.id, "the CRM activity will carry the recording");
                    self.journal.wake.notify_one();
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot queue the CRM update"),
            },
            Ok(recordings::TeamRecording::Unchanged) => {}
            Err(e) => tracing::warn!(error = %e, "cannot link the team server's recording"),
        }
    }

    /// A message for this agent to write to the CRM (theirs, or their queue's when they are its
    /// first member): on this desktop's row for the call it came with — the agent's missed call
    /// — or on a row of its own (a queue's caller never rang here), named by the message.
    async fn take_team_voicemail(&self, voicemail: &ringdesk_core::queue::Voicemail) {
        if voicemail.transcription.is_none() && !voicemail.has_audio {
            return;
        }
        let left = ringdesk_core::CallVoicemail {
            duration_secs: voicemail.duration_secs,
            transcription: voicemail.transcription.clone(),
        };
        let calls = self.store.calls();
        let found = match calls
            .find_by_provider_call_id(&voicemail.provider_call_id)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the journal for a voicemail's call");
                return;
            }
        };
        let mut call = match found {
            Some(call) if call.voicemail.as_ref() == Some(&left) => return,
            Some(call) => call,
            None => {
                let mut call = ringdesk_core::Call::new(
                    ringdesk_core::CallDirection::Inbound,
                    voicemail.caller.clone(),
                    String::new(),
                    voicemail.created_at,
                );
                call.id = ringdesk_core::CallId(voicemail.id.0);
                call.provider_call_id = Some(voicemail.provider_call_id.clone());
                let secs = i64::from(voicemail.duration_secs.unwrap_or(0));
                call.end(
                    ringdesk_core::CallEndReason::Missed,
                    None,
                    voicemail.created_at + time::Duration::seconds(secs),
                );
                self.journal.attribute(&mut call, None).await;
                call
            }
        };
        call.voicemail = Some(left);
        match self.journal.keep_voicemail(&call).await {
            Ok(()) => tracing::info!(call = %call.id, "a voicemail is on its call for the CRM"),
            Err(e) => tracing::warn!(error = %e, "cannot keep a voicemail on its call"),
        }
    }

    /// A share link to a recording the team server keeps (None: not reachable now; the
    /// server's own link is kept instead, which plays here but not in the CRM).
    async fn share_link(&self, on_server: ringdesk_core::CallId) -> Option<String> {
        let joined = team::joined(&self.store.settings(), self.secrets.as_ref()).await;
        let (client, token, _) = joined.ok().flatten()?;
        match client.recording_link(&token, on_server).await {
            Ok(link) => Some(link.url),
            Err(e) => {
                tracing::warn!(error = %e, "cannot get a share link to the recording");
                None
            }
        }
    }

    /// Leaves the team here: no more heartbeats, the token gone from the keyring.
    pub async fn leave_team(&self) -> Result<team::TeamView, team::TeamSetupError> {
        self.stop_team().await;
        team::leave(&self.store.settings(), self.secrets.as_ref()).await?;
        self.team_link.send_replace(team::TeamLink::Off);
        self.team().await
    }

    async fn stop_team(&self) {
        if let Some(task) = self.team_task.lock().await.take() {
            task.abort();
        }
    }

    /// Starts the heartbeat when this desktop is in a team (at start-up and after joining).
    pub(crate) async fn start_team(&self) {
        let mut task = self.team_task.lock().await;
        if let Some(old) = task.take() {
            old.abort();
        }
        match team::joined(&self.store.settings(), self.secrets.as_ref()).await {
            Ok(Some((client, token, device_id))) => {
                let listener = team::Listener {
                    client: client.clone(),
                    token: token.clone(),
                    device_id,
                    link: self.team_link.clone(),
                    news: self.team_news.clone(),
                };
                let heartbeat = team::Heartbeat {
                    client,
                    token,
                    settings: self.store.settings(),
                    calls: self.softphone.calls.calls.subscribe(),
                    changed: self.team_wake.clone(),
                    link: self.team_link.clone(),
                };
                *task = Some(tokio::spawn(async move {
                    // Either ends only when the server signed this desktop out.
                    tokio::select! {
                        _ = heartbeat.run() => {}
                        _ = listener.run() => {}
                    }
                }));
            }
            Ok(None) => {
                self.team_link.send_replace(team::TeamLink::Off);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the link to the team server");
                self.team_link.send_replace(team::TeamLink::Unreachable {
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// This computer's name, as the team's admin will see the device.
fn default_device_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()));
    match host {
        Some(host) => format!("Ringdesk on {host}"),
        None => "Ringdesk desktop".into(),
    }
}

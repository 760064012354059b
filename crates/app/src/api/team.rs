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
        match client.softphone(&token).await {
            Ok(Some(login)) => {
                team::apply_softphone(&self.providers, login).await?;
                self.refresh_softphone().await;
            }
            Ok(None) => tracing::info!("the team server has no softphone login for this agent yet"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the softphone login from the team server")
            }
        }
        self.start_team().await;
        self.team().await
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

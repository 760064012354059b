//! The status of the agent at this desktop, kept in step with what Ringdesk knows: on a call
//! → busy, Do not disturb (tray or status line) → dnd, softphone registered or calls ringing
//! the agent's phone → online, else offline. Teammates' statuses are whatever was saved.

use std::sync::Arc;

use ringdesk_core::UserStatus;
use ringdesk_store::{SettingsRepository, UserRepository};
use tokio::sync::{watch, Notify};

use crate::availability::{self, Availability};
use crate::calls::ActiveCall;
use crate::softphone::SoftphoneStatus;

pub(crate) fn status_of(
    on_call: bool,
    availability: Availability,
    softphone: &SoftphoneStatus,
) -> UserStatus {
    if on_call {
        UserStatus::Busy
    } else if availability == Availability::DoNotDisturb {
        UserStatus::Dnd
    } else if matches!(softphone, SoftphoneStatus::Registered { .. }) {
        UserStatus::Online
    } else {
        UserStatus::Offline
    }
}

pub(crate) struct Presence {
    pub users: UserRepository,
    pub settings: SettingsRepository,
    pub softphone: watch::Receiver<SoftphoneStatus>,
    pub calls: watch::Receiver<Vec<ActiveCall>>,
    /// Told when availability or "me" changes.
    pub changed: Arc<Notify>,
    /// My status as saved, for whoever shows it.
    pub saved: watch::Sender<Option<MyStatus>>,
}

/// The agent at this desktop and their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MyStatus {
    pub user_id: ringdesk_core::UserId,
    pub status: UserStatus,
}

impl Presence {
    /// Runs until the app stops (the watched channels close).
    pub async fn run(mut self) {
        let mut last: Option<(ringdesk_core::UserId, UserStatus)> = None;
        loop {
            let on_call = !self.calls.borrow_and_update().is_empty();
            let softphone = self.softphone.borrow_and_update().clone();
            let availability = availability::load(&self.settings)
                .await
                .unwrap_or(Availability::Available);
            let status = status_of(on_call, availability, &softphone);
            match self.users.me().await {
                Ok(Some(me)) if last != Some((me.id, status)) => {
                    if let Err(e) = self.users.set_status(me.id, status).await {
                        tracing::warn!(error = %e, "cannot save the agent's status");
                    } else {
                        last = Some((me.id, status));
                        self.saved.send_replace(Some(MyStatus {
                            user_id: me.id,
                            status,
                        }));
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the agent at this desktop"),
            }
            tokio::select! {
                r = self.softphone.changed() => if r.is_err() { break },
                r = self.calls.changed() => if r.is_err() { break },
                _ = self.changed.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_beats_dnd_beats_registration() {
        let registered = SoftphoneStatus::Registered {
            name: "Office PBX".into(),
            address: "sip:ada@example.com".into(),
            expires_secs: 300,
        };
        assert_eq!(
            status_of(true, Availability::DoNotDisturb, &registered),
            UserStatus::Busy
        );
        assert_eq!(
            status_of(false, Availability::DoNotDisturb, &registered),
            UserStatus::Dnd
        );
        assert_eq!(
            status_of(false, Availability::Available, &registered),
            UserStatus::Online
        );
        assert_eq!(
            status_of(false, Availability::Available, &SoftphoneStatus::Off),
            UserStatus::Offline
        );
    }
}

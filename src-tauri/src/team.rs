//! Settings → Team: joining a team server from an invite (typed, pasted, or a
//! `ringdesk://join?…` link opened anywhere on the desktop), leaving it, and the link's state
//! (`team` events) and what the server says on it (`team_news`).

use std::sync::Mutex;

use ringdesk_app::{Ringdesk, TeamSetupError, TeamView};
use tauri::{AppHandle, Emitter, Manager, State};

use crate::error::UiError;

type Result<T> = std::result::Result<T, UiError>;

pub const TEAM_EVENT: &str = "team";
/// What the team server said on the live link (a `TeamEvent`).
pub const NEWS_EVENT: &str = "team_news";
/// An invite link reached the app: Settings → Team proposes it (joining is the agent's click).
pub const INVITE_EVENT: &str = "team_invite";

/// An invite link that arrived before the window listened.
#[derive(Default)]
pub struct PendingInvite(Mutex<Option<String>>);

impl From<TeamSetupError> for UiError {
    fn from(e: TeamSetupError) -> Self {
        UiError {
            kind: "team",
            field: None,
            message: ringdesk_core::sentence_case(&e.to_string()),
        }
    }
}

/// Follows the link to the team server and its news, so Settings → Team stays current
/// without polling.
pub fn setup(app: &AppHandle) {
    app.manage(PendingInvite::default());
    let news_app = app.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let ringdesk = app.state::<Ringdesk>();
        let mut changes = ringdesk.subscribe_team();
        loop {
            changes.borrow_and_update();
            if let Ok(view) = ringdesk.team().await {
                let _ = app.emit(TEAM_EVENT, &view);
            }
            if changes.changed().await.is_err() {
                break;
            }
        }
    });
    tauri::async_runtime::spawn(async move {
        let ringdesk = news_app.state::<Ringdesk>();
        let mut news = ringdesk.subscribe_team_news();
        let mut announced = crate::queues::Announced::default();
        loop {
            match news.recv().await {
                Ok(event) => {
                    ringdesk.on_team_news(&event).await;
                    announced.on_news(&event);
                    let _ = news_app.emit(NEWS_EVENT, &event);
                }
                // Too much at once: the window reads the team again instead.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let _ = news_app.emit(NEWS_EVENT, ringdesk_core::team::TeamEvent::Resync);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// `ringdesk://join?…`: only proposed, never joined without the agent.
pub fn invite_link(app: &AppHandle, link: &str) {
    match ringdesk_team::parse_invite(link) {
        Ok(_) => {
            if let Some(pending) = app.try_state::<PendingInvite>() {
                if let Ok(mut p) = pending.0.lock() {
                    *p = Some(link.to_string());
                }
            }
            crate::show_main_window(app);
            let _ = app.emit(INVITE_EVENT, link);
        }
        Err(e) => tracing::warn!(error = %e, "invite link refused"),
    }
}

#[tauri::command]
pub fn team_invite_pending(pending: State<'_, PendingInvite>) -> Option<String> {
    pending.0.lock().map(|mut p| p.take()).unwrap_or(None)
}

#[tauri::command]
pub async fn team_get(ringdesk: State<'_, Ringdesk>) -> Result<TeamView> {
    Ok(ringdesk.team().await?)
}

#[tauri::command]
pub async fn team_join(
    ringdesk: State<'_, Ringdesk>,
    link: String,
    device_name: String,
) -> Result<TeamView> {
    Ok(ringdesk.join_team(&link, &device_name).await?)
}

#[tauri::command]
pub async fn team_agents(ringdesk: State<'_, Ringdesk>) -> Result<Vec<ringdesk_team::TeamAgent>> {
    Ok(ringdesk.team_agents().await?)
}

#[tauri::command]
pub async fn team_leave(ringdesk: State<'_, Ringdesk>) -> Result<TeamView> {
    Ok(ringdesk.leave_team().await?)
}

//! Settings → Numbers and Users: the commands behind the numbers table, its sync and routing
//! form, and the agents' form — on this desktop, or on the team's server in a team (the
//! app's `Directory`); my status as it changes (`user_status` events).

use ringdesk_app::{DirectoryError, NumbersError, Ringdesk, SavedUser};
use ringdesk_core::team::AgentLogin;
use ringdesk_core::{
    NewProvider, NumberSyncReport, PhoneNumber, PhoneNumberId, Provider, ProviderId, RouteInput,
    User, UserId, UserInput,
};
use ringdesk_team::{InviteLink, TeamError};
use tauri::{AppHandle, Emitter, Manager, State};

use crate::error::UiError;

type Result<T> = std::result::Result<T, UiError>;

pub const USER_STATUS_EVENT: &str = "user_status";

/// Forwards my status each time it is saved (softphone, Do not disturb, calls): Settings →
/// Users shows it without asking again.
pub fn setup(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut statuses = app.state::<Ringdesk>().subscribe_my_status();
        while statuses.changed().await.is_ok() {
            let status = *statuses.borrow_and_update();
            if let Some(status) = status {
                let _ = app.emit(USER_STATUS_EVENT, status);
            }
        }
    });
}

impl From<NumbersError> for UiError {
    fn from(e: NumbersError) -> Self {
        let message = ringdesk_core::sentence_case(&e.to_string());
        let field = e.field().map(str::to_string);
        UiError {
            kind: match (&e, &field) {
                (_, Some(_)) => "invalid",
                (NumbersError::NoNumber, _) => "not_found",
                (NumbersError::Provider(_), _) => "provider",
                _ => "internal",
            },
            field,
            message,
        }
    }
}

impl From<DirectoryError> for UiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Local(e) => e.into(),
            DirectoryError::Setup(e) => e.into(),
            DirectoryError::Team(TeamError::Invalid { field, message }) => UiError {
                kind: "invalid",
                field: Some(field),
                message,
            },
            other => UiError {
                kind: "team",
                field: None,
                message: ringdesk_core::sentence_case(&other.to_string()),
            },
        }
    }
}

#[tauri::command]
pub async fn number_list(ringdesk: State<'_, Ringdesk>) -> Result<Vec<PhoneNumber>> {
    Ok(ringdesk.directory().await?.numbers().await?)
}

/// The providers the numbers come from (the team's in a team), to sync from.
#[tauri::command]
pub async fn number_providers(ringdesk: State<'_, Ringdesk>) -> Result<Vec<Provider>> {
    Ok(ringdesk.directory().await?.providers().await?)
}

#[tauri::command]
pub async fn number_sync(
    ringdesk: State<'_, Ringdesk>,
    provider_id: ProviderId,
) -> Result<NumberSyncReport> {
    Ok(ringdesk
        .directory()
        .await?
        .sync_numbers(provider_id)
        .await?)
}

#[tauri::command]
pub async fn number_recording_set(
    ringdesk: State<'_, Ringdesk>,
    id: PhoneNumberId,
    record_calls: Option<bool>,
) -> Result<PhoneNumber> {
    Ok(ringdesk
        .directory()
        .await?
        .set_number_recording(id, record_calls)
        .await?)
}

#[tauri::command]
pub async fn number_route_set(
    ringdesk: State<'_, Ringdesk>,
    id: PhoneNumberId,
    route: Option<RouteInput>,
) -> Result<PhoneNumber> {
    Ok(ringdesk.directory().await?.set_route(id, route).await?)
}

#[tauri::command]
pub async fn user_list(ringdesk: State<'_, Ringdesk>) -> Result<Vec<User>> {
    Ok(ringdesk.directory().await?.users().await?)
}

#[tauri::command]
pub async fn user_save(
    ringdesk: State<'_, Ringdesk>,
    id: Option<UserId>,
    user: UserInput,
) -> Result<SavedUser> {
    Ok(ringdesk.directory().await?.save_user(id, user).await?)
}

#[tauri::command]
pub async fn user_delete(ringdesk: State<'_, Ringdesk>, id: UserId) -> Result<()> {
    Ok(ringdesk.directory().await?.delete_user(id).await?)
}

/// A new invite for an agent's desktop (team admins).
#[tauri::command]
pub async fn user_invite(ringdesk: State<'_, Ringdesk>, id: UserId) -> Result<InviteLink> {
    Ok(ringdesk.directory().await?.invite(id).await?)
}

/// Adds a provider account to the team (team admins): the keys go to the server.
#[tauri::command]
pub async fn team_provider_add(
    ringdesk: State<'_, Ringdesk>,
    provider: NewProvider,
) -> Result<Provider> {
    Ok(ringdesk
        .directory()
        .await?
        .add_team_provider(&provider)
        .await?)
}

#[tauri::command]
pub async fn team_provider_activate(
    ringdesk: State<'_, Ringdesk>,
    id: ProviderId,
) -> Result<Provider> {
    Ok(ringdesk
        .directory()
        .await?
        .activate_team_provider(id)
        .await?)
}

/// Makes (or remakes) an agent's softphone login on the team's active provider.
#[tauri::command]
pub async fn user_softphone(ringdesk: State<'_, Ringdesk>, id: UserId) -> Result<AgentLogin> {
    Ok(ringdesk.directory().await?.provision_softphone(id).await?)
}

/// Keeps the SIP login the team's PBX gave an agent (a provider that makes none: Vonage).
#[tauri::command]
pub async fn user_softphone_give(
    ringdesk: State<'_, Ringdesk>,
    id: UserId,
    login: ringdesk_team::GivenLogin,
) -> Result<AgentLogin> {
    Ok(ringdesk
        .directory()
        .await?
        .give_softphone(id, &login)
        .await?)
}

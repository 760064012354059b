//! Settings → Numbers and Users: the commands behind the numbers table, its sync and routing
//! form, and the agents' form; my status as it changes (`user_status` events).

use ringdesk_app::{NumbersError, Ringdesk};
use ringdesk_core::{
    NumberSyncReport, PhoneNumber, PhoneNumberId, ProviderId, RouteInput, User, UserId, UserInput,
};
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

#[tauri::command]
pub async fn number_list(ringdesk: State<'_, Ringdesk>) -> Result<Vec<PhoneNumber>> {
    Ok(ringdesk.agents.numbers().await?)
}

#[tauri::command]
pub async fn number_sync(
    ringdesk: State<'_, Ringdesk>,
    provider_id: ProviderId,
) -> Result<NumberSyncReport> {
    Ok(ringdesk.sync_numbers(provider_id).await?)
}

#[tauri::command]
pub async fn number_route_set(
    ringdesk: State<'_, Ringdesk>,
    id: PhoneNumberId,
    route: Option<RouteInput>,
) -> Result<PhoneNumber> {
    Ok(ringdesk.agents.set_route(id, route).await?)
}

#[tauri::command]
pub async fn user_list(ringdesk: State<'_, Ringdesk>) -> Result<Vec<User>> {
    Ok(ringdesk.agents.users().await?)
}

#[tauri::command]
pub async fn user_save(
    ringdesk: State<'_, Ringdesk>,
    id: Option<UserId>,
    user: UserInput,
) -> Result<User> {
    Ok(ringdesk.save_user(id, user).await?)
}

#[tauri::command]
pub async fn user_delete(ringdesk: State<'_, Ringdesk>, id: UserId) -> Result<()> {
    Ok(ringdesk.agents.delete_user(id).await?)
}

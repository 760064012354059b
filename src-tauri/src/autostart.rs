//! Start at login (Tauri's autostart plugin): when the agent turns it on, Ringdesk starts into
//! the tray (`--background`, no window) as their desktop session begins — on Linux a desktop
//! entry in the session's autostart folder.

use tauri::AppHandle;
use tauri_plugin_autostart::ManagerExt;

use crate::error::UiError;

pub fn plugin<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_autostart::init(
        tauri_plugin_autostart::MacosLauncher::LaunchAgent,
        Some(vec!["--background"]),
    )
}

fn failed(what: &str, e: impl std::fmt::Display) -> UiError {
    UiError::internal(format!("cannot {what} the start at login: {e}"))
}

/// Whether Ringdesk starts when the agent logs in.
#[tauri::command]
pub fn autostart_get(app: AppHandle) -> Result<bool, UiError> {
    app.autolaunch().is_enabled().map_err(|e| failed("read", e))
}

/// Turns the start at login on or off; answers what is now in place.
#[tauri::command]
pub fn autostart_set(app: AppHandle, enabled: bool) -> Result<bool, UiError> {
    let launcher = app.autolaunch();
    if enabled {
        launcher.enable().map_err(|e| failed("turn on", e))?;
    } else if launcher.is_enabled().map_err(|e| failed("read", e))? {
        launcher.disable().map_err(|e| failed("turn off", e))?;
    }
    tracing::info!(enabled, "start at login changed");
    launcher.is_enabled().map_err(|e| failed("read", e))
}

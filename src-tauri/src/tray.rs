//! The tray icon and its menu: Open, Available / Do not disturb, Quit. The status line in the
//! window changes availability through `apply_availability` too, so both stay in step.

use ringdesk_app::{Availability, Ringdesk};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Wry};

use crate::error::UiError;

pub const AVAILABILITY_EVENT: &str = "availability";

struct TrayItems {
    available: CheckMenuItem<Wry>,
    dnd: CheckMenuItem<Wry>,
}

pub fn build(app: &AppHandle, availability: Availability) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Ringdesk", true, None::<&str>)?;
    let available = CheckMenuItem::with_id(
        app,
        "available",
        "Available",
        true,
        availability == Availability::Available,
        None::<&str>,
    )?;
    let dnd = CheckMenuItem::with_id(
        app,
        "dnd",
        "Do not disturb",
        true,
        availability == Availability::DoNotDisturb,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit Ringdesk", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &PredefinedMenuItem::separator(app)?,
            &available,
            &dnd,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("main")
        .tooltip("Ringdesk")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::show_main_window(app),
            "available" => spawn_availability(app, Availability::Available),
            "dnd" => spawn_availability(app, Availability::DoNotDisturb),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(TrayItems { available, dnd });
    Ok(())
}

fn spawn_availability(app: &AppHandle, availability: Availability) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = apply_availability(&app, availability).await {
            tracing::warn!(error = %e.message, "could not change availability");
        }
    });
}

/// Saves the agent's availability, ticks the tray menu and tells the window.
pub async fn apply_availability(
    app: &AppHandle,
    availability: Availability,
) -> Result<(), UiError> {
    let ringdesk = app.state::<Ringdesk>();
    ringdesk.set_availability(availability).await?;
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items
            .available
            .set_checked(availability == Availability::Available);
        let _ = items
            .dnd
            .set_checked(availability == Availability::DoNotDisturb);
    }
    if let Some(tray) = app.tray_by_id("main") {
        let tip = match availability {
            Availability::Available => "Ringdesk — available",
            Availability::DoNotDisturb => "Ringdesk — do not disturb",
        };
        let _ = tray.set_tooltip(Some(tip));
    }
    app.emit(AVAILABILITY_EVENT, availability)
        .map_err(UiError::internal)?;
    Ok(())
}

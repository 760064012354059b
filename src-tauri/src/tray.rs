//! The tray icon and its menu: Open, Answer (while a call rings in: a way to answer with the
//! popup closed and the window in the tray), the softphone's registration, Available / Do not
//! disturb, Quit; its tooltip also counts the missed calls not seen yet. The status line in the window changes availability through `apply_availability` too, so
//! both stay in step.

use ringdesk_app::{ActiveCall, Availability, CallControl, Ringdesk, SoftphoneStatus};
use ringdesk_core::CallId;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Wry};

use crate::error::UiError;

pub const AVAILABILITY_EVENT: &str = "availability";

struct TrayItems {
    answer: MenuItem<Wry>,
    /// The call Answer answers (the one ringing in), if any.
    ringing: std::sync::Mutex<Option<CallId>>,
    available: CheckMenuItem<Wry>,
    dnd: CheckMenuItem<Wry>,
    softphone: MenuItem<Wry>,
    tooltip: std::sync::Mutex<Tooltip>,
}

/// The tooltip's parts, each kept up to date by its own source.
#[derive(Default)]
struct Tooltip {
    softphone: String,
    availability: String,
    missed: Option<String>,
    crm: Option<String>,
}

impl Tooltip {
    fn text(&self) -> String {
        let parts = [
            Some(self.softphone.as_str()),
            Some(self.availability.as_str()),
            self.missed.as_deref(),
            self.crm.as_deref(),
        ];
        let parts: Vec<&str> = parts
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
        format!("Ringdesk — {}", parts.join(" · "))
    }
}

/// Changes one part of the tooltip and shows the whole.
fn set_tooltip(app: &AppHandle, change: impl FnOnce(&mut Tooltip)) {
    let Some(items) = app.try_state::<TrayItems>() else {
        return;
    };
    let text = match items.tooltip.lock() {
        Ok(mut tooltip) => {
            change(&mut tooltip);
            tooltip.text()
        }
        Err(_) => return,
    };
    if let Some(tray) = app.tray_by_id("main") {
        let _ = tray.set_tooltip(Some(text));
    }
}

/// Shows the missed calls the agent has not seen yet in the tooltip.
pub fn show_missed(app: &AppHandle, count: u64) {
    set_tooltip(app, |t| {
        t.missed = match count {
            0 => None,
            1 => Some("1 missed call".into()),
            n => Some(format!("{n} missed calls")),
        }
    });
}

/// Shows the CRM's state (deliveries, contacts sync) in the tooltip.
pub fn show_crm(app: &AppHandle, summary: Option<String>) {
    set_tooltip(app, |t| t.crm = summary);
}

pub fn build(app: &AppHandle, availability: Availability) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Ringdesk", true, None::<&str>)?;
    let answer = MenuItem::with_id(app, "answer", "Answer", false, None::<&str>)?;
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
    // A line of information, not an action: the softphone's registration.
    let softphone = MenuItem::with_id(
        app,
        "softphone",
        SoftphoneStatus::Off.summary(),
        false,
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &answer,
            &softphone,
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
            "answer" => answer_ringing(app),
            "available" => spawn_availability(app, Availability::Available),
            "dnd" => spawn_availability(app, Availability::DoNotDisturb),
            "quit" => quit_app(app),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(TrayItems {
        answer,
        ringing: std::sync::Mutex::new(None),
        available,
        dnd,
        softphone,
        tooltip: std::sync::Mutex::new(Tooltip {
            availability: availability_text(availability).into(),
            ..Tooltip::default()
        }),
    });
    Ok(())
}

/// Offers Answer in the menu while a call rings in (naming the caller), greyed out otherwise.
pub fn show_ringing(app: &AppHandle, ringing: Option<&ActiveCall>) {
    let Some(items) = app.try_state::<TrayItems>() else {
        return;
    };
    if let Ok(mut current) = items.ringing.lock() {
        *current = ringing.map(|c| c.call.id);
    }
    let text = match ringing {
        Some(c) => format!(
            "Answer {}",
            c.call.contact_name.as_deref().unwrap_or(&c.call.from)
        ),
        None => "Answer".into(),
    };
    let _ = items.answer.set_text(text);
    let _ = items.answer.set_enabled(ringing.is_some());
}

fn answer_ringing(app: &AppHandle) {
    let call = app
        .try_state::<TrayItems>()
        .and_then(|items| items.ringing.lock().ok().and_then(|c| *c));
    let Some(call) = call else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let ringdesk = app.state::<Ringdesk>();
        match ringdesk.call_control(Some(call), CallControl::Answer).await {
            Ok(()) => crate::show_main_window(&app),
            Err(e) => tracing::info!(error = %e, "answer from the tray too late"),
        }
    });
}

/// Quitting unregisters the softphone first, so the registrar stops sending calls here.
fn quit_app(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        app.state::<Ringdesk>().close().await;
        app.exit(0);
    });
}

/// Shows the softphone's registration in the tray menu and tooltip.
pub fn show_softphone(app: &AppHandle, status: &SoftphoneStatus) {
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items.softphone.set_text(status.summary());
    }
    set_tooltip(app, |t| t.softphone = status.summary());
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
    set_tooltip(app, |t| {
        t.availability = availability_text(availability).into()
    });
    app.emit(AVAILABILITY_EVENT, availability)
        .map_err(UiError::internal)?;
    Ok(())
}

fn availability_text(availability: Availability) -> &'static str {
    match availability {
        Availability::Available => "available",
        Availability::DoNotDisturb => "do not disturb",
    }
}

//! The desktop's own clock for the figures agents feel: how long from the process start to the
//! main window's first screen, and from a call ringing in to the popup showing it. Each page
//! says when it has painted (`ui_shown`); the shell logs the time (`scripts/startup.sh` and the
//! e2e suite read those lines). Measured inside the app, so no WebDriver polling is counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use tauri::WebviewWindow;

static STARTED: OnceLock<Instant> = OnceLock::new();
static RINGING_SINCE: Mutex<Option<Instant>> = Mutex::new(None);
/// The main window is made again after a close (tray → Open): only its first paint is the
/// start-up figure.
static MAIN_SHOWN: AtomicBool = AtomicBool::new(false);

/// Called first thing in `run`.
pub fn process_started() {
    let _ = STARTED.set(Instant::now());
}

/// A call began ringing in: the popup is asked for (kept only for the first ringing call).
pub fn ringing() {
    if let Ok(mut since) = RINGING_SINCE.lock() {
        since.get_or_insert_with(Instant::now);
    }
}

/// Nothing rings any more.
pub fn quiet() {
    if let Ok(mut since) = RINGING_SINCE.lock() {
        *since = None;
    }
}

/// A window's page painted its first screen (the popup: with its call).
#[tauri::command]
pub fn ui_shown(window: WebviewWindow) {
    let label = window.label();
    if label == crate::MAIN_WINDOW {
        if MAIN_SHOWN.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(started) = STARTED.get() {
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!("figure: main window shown {ms} ms after the process started");
        }
    } else if label == crate::calls::INCOMING_WINDOW {
        let since = RINGING_SINCE.lock().ok().and_then(|s| *s);
        if let Some(since) = since {
            let ms = since.elapsed().as_millis() as u64;
            tracing::info!("figure: incoming popup showed its call {ms} ms after it rang in");
        }
    }
}

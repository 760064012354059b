//! Keeps the softphone registered with the active SIP account and reports its state to the
//! window (`softphone` events) and the tray.

use ringdesk_app::Ringdesk;
use tauri::{AppHandle, Emitter, Manager};

use crate::tray;

pub const SOFTPHONE_EVENT: &str = "softphone";

pub fn setup(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let ringdesk = app.state::<Ringdesk>();
        let mut changes = ringdesk.softphone.subscribe();
        // Receiver and first registration: the app's own start, once its state is followed.
        ringdesk.start().await;
        loop {
            let status = changes.borrow_and_update().clone();
            tracing::info!(status = %status.summary(), "softphone");
            tray::show_softphone(&app, &status);
            let _ = app.emit(SOFTPHONE_EVENT, &status);
            if changes.changed().await.is_err() {
                break;
            }
        }
    });
}

//! The thin Tauri shell: builds the core services, exposes them as commands and events, and owns
//! the desktop integration (tray, deep links, single instance, window behaviour).

mod autostart;
mod calls;
mod commands;
mod crm;
mod deep_link;
mod error;
mod figures;
mod numbers;
mod queues;
mod softphone;
mod team;
mod tray;

use ringdesk_app::{AppConfig, Ringdesk};
use tauri::Manager;

pub(crate) const MAIN_WINDOW: &str = "main";

pub fn run() {
    figures::process_started();
    let builder = tauri::Builder::default()
        // Registered first so a second launch hands over before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            show_main_window(app);
            deep_link::handle_args(app, argv.iter().skip(1).map(String::as_str));
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(autostart::plugin())
        .plugin(
            tauri_plugin_log::Builder::new()
                .level(log::LevelFilter::Info)
                .level_for("tao", log::LevelFilter::Warn)
                .build(),
        )
        .setup(|app| {
            let default_dir = app.path().app_data_dir()?;
            let config = AppConfig::from_env(default_dir)?;
            let ringdesk = tauri::async_runtime::block_on(Ringdesk::open(config))?;
            let availability = tauri::async_runtime::block_on(ringdesk.availability())?;
            app.manage(ringdesk);
            app.manage(deep_link::PendingDial::default());
            tray::build(app.handle(), availability)?;
            deep_link::setup(app.handle());
            softphone::setup(app.handle());
            calls::setup(app.handle());
            crm::setup(app.handle());
            team::setup(app.handle());
            numbers::setup(app.handle());
            let args: Vec<String> = std::env::args().skip(1).collect();
            // `--background` (the start at login): only the tray, no window until opened.
            if !args.iter().any(|a| a == "--background") {
                show_main_window(app.handle());
            }
            deep_link::handle_args(app.handle(), args.iter().map(String::as_str));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            autostart::autostart_get,
            autostart::autostart_set,
            figures::ui_shown,
            commands::provider_list,
            commands::provider_get,
            commands::provider_create,
            commands::provider_update,
            commands::provider_setup_softphone,
            commands::provider_delete,
            commands::provider_activate,
            commands::provider_test,
            commands::number_preview,
            commands::dial_link_pending,
            commands::availability_get,
            commands::availability_set,
            commands::softphone_status,
            commands::audio_get,
            commands::audio_choose,
            commands::audio_test_sound,
            commands::audio_test_microphone,
            calls::contact_list,
            calls::contact_create,
            calls::contact_update,
            calls::contact_delete,
            calls::contact_import,
            calls::call_list,
            calls::call_live,
            calls::call_dial,
            calls::call_answer,
            calls::call_decline,
            calls::call_hangup,
            calls::call_mute,
            calls::call_hold,
            calls::call_dtmf,
            calls::call_swap,
            calls::call_transfer,
            calls::call_transfer_complete,
            calls::call_transfer_cancel,
            calls::call_record,
            calls::recording_settings_get,
            calls::recording_settings_set,
            calls::recording_delete,
            calls::recording_reveal,
            calls::recording_save_copy,
            calls::recording_audio,
            calls::calls_at_once_get,
            calls::calls_at_once_set,
            calls::calls_missed,
            calls::calls_missed_seen,
            calls::call_wrap_up,
            calls::webhook_get,
            calls::webhook_set,
            calls::call_route_get,
            calls::call_route_set,
            crm::crm_get,
            team::team_get,
            team::team_join,
            team::team_leave,
            team::team_agents,
            team::team_invite_pending,
            crm::crm_connected,
            crm::crm_set,
            crm::crm_test,
            crm::crm_disconnect,
            crm::crm_retry,
            crm::crm_sync,
            crm::contact_open_in_crm,
            crm::contact_add_to_crm,
            calls::call_save_contact,
            numbers::number_list,
            numbers::number_sync,
            numbers::number_providers,
            numbers::number_route_set,
            numbers::number_recording_set,
            queues::queue_list,
            queues::queue_save,
            queues::queue_delete,
            queues::queue_sound_upload,
            queues::queue_sound_remove,
            queues::greeting_get,
            queues::greeting_upload,
            queues::greeting_remove,
            queues::voicemail_list,
            queues::voicemail_audio,
            queues::voicemail_status_set,
            numbers::user_list,
            numbers::user_save,
            numbers::user_delete,
            numbers::user_invite,
            numbers::user_softphone,
            numbers::user_softphone_give,
            numbers::team_provider_add,
            numbers::team_provider_activate,
        ]);
    let app = match builder.build(tauri::generate_context!("tauri.conf.json")) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Ringdesk could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // Agents close the window to get it out of the way; calls must still ring. The window
        // really closes (its web page and WebKit's memory go) and the app stays in the tray:
        // the last window closing is not quitting (Quit in the tray exits with a code). Open
        // Ringdesk, a link or a second launch builds the window again.
        if let tauri::RunEvent::ExitRequested {
            api, code: None, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}

/// Shows the main window, building it again if it was closed to the tray.
pub(crate) fn show_main_window(app: &tauri::AppHandle) {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => {
            let config = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
                .cloned();
            let built = config
                .ok_or_else(|| tauri::Error::WindowNotFound)
                .and_then(|c| tauri::WebviewWindowBuilder::from_config(app, &c)?.build());
            match built {
                Ok(window) => window,
                Err(e) => return tracing::error!(error = %e, "cannot open the main window"),
            }
        }
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

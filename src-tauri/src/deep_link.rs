//! Dial links (`tel:`, `callto:`, `sip:`, `ringdesk://call?to=…`) reaching the app, and team
//! invites (`ringdesk://join?…`, handed to `team`).
//!
//! On Linux and Windows a link arrives as a program argument — of this process when it starts the
//! app, or of a second launch that the single-instance plugin hands over — so both paths read raw
//! argv here, before any URL normalisation. On macOS links arrive as events from the deep-link
//! plugin. Either way the link is parsed by the core and only *proposed* on the dialpad.

use std::sync::Mutex;

use ringdesk_app::Ringdesk;
use ringdesk_core::DialRequest;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};

pub const EVENT: &str = "dial_request";

/// What became of a link: a number to confirm, or the reason it was refused.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialLinkOutcome {
    /// The link, shortened and with control characters made visible, for the banner.
    pub link: String,
    pub request: Option<DialRequest>,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct PendingDial(Mutex<Option<DialLinkOutcome>>);

impl PendingDial {
    pub fn take(&self) -> Option<DialLinkOutcome> {
        self.0.lock().map(|mut p| p.take()).unwrap_or(None)
    }

    fn put(&self, outcome: DialLinkOutcome) {
        if let Ok(mut p) = self.0.lock() {
            *p = Some(outcome);
        }
    }
}

pub fn setup(app: &AppHandle) {
    use tauri_plugin_deep_link::DeepLinkExt;
    #[cfg(any(target_os = "linux", all(debug_assertions, windows)))]
    if let Err(e) = app.deep_link().register_all() {
        tracing::warn!(error = %e, "could not register Ringdesk as the handler for tel:, callto:, sip: and ringdesk: links");
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let handle = app.clone();
        app.deep_link().on_open_url(move |event| {
            for url in event.urls() {
                handle_link(&handle, url.as_str());
            }
        });
    }
    #[cfg(any(target_os = "linux", windows))]
    let _ = app;
}

/// Program arguments that look like links; options (`--…`) and plain words are not links.
pub fn handle_args<'a>(app: &AppHandle, args: impl Iterator<Item = &'a str>) {
    for arg in args.filter(|a| !a.starts_with('-') && looks_like_link(a)) {
        handle_link(app, arg);
    }
}

fn looks_like_link(arg: &str) -> bool {
    arg.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.len() <= 32
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

fn handle_link(app: &AppHandle, link: &str) {
    // An invite to a team, not a number to dial.
    if link
        .get(..15)
        .is_some_and(|s| s.eq_ignore_ascii_case("ringdesk://join"))
    {
        return crate::team::invite_link(app, link);
    }
    let Some(ringdesk) = app.try_state::<Ringdesk>() else {
        return;
    };
    let shown = visible(link);
    let outcome = match ringdesk.dial_request(link) {
        Ok(request) => {
            tracing::info!(scheme = %request.scheme, "dial link received");
            DialLinkOutcome {
                link: shown,
                request: Some(request),
                error: None,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "dial link refused");
            DialLinkOutcome {
                link: shown,
                request: None,
                error: Some(ringdesk_core::sentence_case(&e.to_string())),
            }
        }
    };
    if let Some(pending) = app.try_state::<PendingDial>() {
        pending.put(outcome.clone());
    }
    crate::show_main_window(app);
    if let Err(e) = app.emit(EVENT, outcome) {
        tracing::warn!(error = %e, "could not tell the window about a dial link");
    }
}

fn visible(link: &str) -> String {
    let mut shown: String = link
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if link.chars().count() > 80 {
        shown.push('…');
    }
    shown
}

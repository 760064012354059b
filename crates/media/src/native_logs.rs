//! The sound libraries under cpal write to stderr on their own: ALSA a wall of "ALSA lib …"
//! lines each time devices are probed (cards that are not there, plugins for servers that are
//! not running), and libjack — loaded by ALSA's jack plugin — "jack server is not running".
//! Both are routed to this crate's log at debug level once, before the first probe, so an
//! agent's terminal and the app's log show what matters.

use std::ffi::{c_char, CStr};
use std::sync::Once;

/// Routes ALSA's and JACK's messages to the log (once; later calls do nothing).
pub fn route_once() {
    static ROUTED: Once = Once::new();
    ROUTED.call_once(|| {
        #[cfg(target_os = "linux")]
        linux::route();
    });
}

/// Called from C (native/alsa_log.c) and by libjack with each message.
#[no_mangle]
pub extern "C" fn ringdesk_native_log(source: *const c_char, message: *const c_char) {
    let text = |p: *const c_char| {
        if p.is_null() {
            return String::new();
        }
        // SAFETY: both callers pass NUL-terminated strings that live for the call.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    };
    tracing::debug!(target: "ringdesk_media::native", source = %text(source), "{}", text(message).trim_end());
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_char, c_int};

    extern "C" {
        fn ringdesk_route_alsa_errors() -> c_int;
    }

    extern "C" fn jack_to_log(message: *const c_char) {
        super::ringdesk_native_log(c"jack".as_ptr(), message);
    }

    type JackSetFunction = unsafe extern "C" fn(Option<extern "C" fn(*const c_char)>);

    pub(super) fn route() {
        // SAFETY: a C function that only looks up and sets libasound's handler.
        if unsafe { ringdesk_route_alsa_errors() } != 0 {
            tracing::debug!("libasound not loaded: its messages stay where they go");
        }
        // libjack is loaded now (if installed) so that the ALSA jack plugin uses this copy,
        // whose error and info functions then write to the log.
        // SAFETY: dlopen/dlsym with constant NUL-terminated names; the symbols, when present,
        // have libjack's documented signature `void (*)(void (*)(const char *))`.
        unsafe {
            let jack = libc::dlopen(c"libjack.so.0".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
            if jack.is_null() {
                return;
            }
            for name in [c"jack_set_error_function", c"jack_set_info_function"] {
                let set = libc::dlsym(jack, name.as_ptr());
                if !set.is_null() {
                    let set: JackSetFunction = std::mem::transmute(set);
                    set(Some(jack_to_log));
                }
            }
        }
    }
}

//! The softphone's calls as one sans-IO state machine — the rules the app and the CLI used to
//! write each on their own, in one place: offer-less INVITEs, early media, re-offers answered or
//! refused, hold and resume (a refused hold leaves the call audible), several calls at once
//! (call waiting, swap), blind and attended transfer, end reasons.
//!
//! It is fed the user agent's [`CallEvent`](ringdesk_sip::ua::CallEvent)s, the agent's
//! [`Command`]s, the results of what it asked for (a call placed, media opened) and time; it
//! returns [`Action`]s for its driver (SIP requests, media to open or close, tones, key presses)
//! and [`Change`]s for the journal and the screen. Session descriptions come from a [`Media`]
//! port it is lent on every call, so the controller holds no sockets, devices or clocks: every
//! path runs in a test on simulated time.

mod apply;
mod controller;
#[cfg(feature = "media")]
mod streams;

pub use apply::{apply, SipOutcome};
pub use controller::{
    Action, CallError, CallView, Change, Command, Config, Controller, Ending, LegId, LegState,
    Media, Tone, TransferKind, TransferOutcome,
};
#[cfg(feature = "media")]
pub use streams::{Stream, Streams};

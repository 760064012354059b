//! Media for Ringdesk calls. The protocol parts are sans-IO — fed packets and instants,
//! returning packets, audio frames and events — so every path is testable without sockets or
//! clocks; `driver` runs them on tokio sockets with an audio source and sink.

// Network-fed code answers bad input with an error, never a panic (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod analysis;
pub mod audio;
pub mod call;
pub mod codec;
pub mod device;
pub mod driver;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod native_logs;
pub mod plc;
pub mod quality;
pub mod realtime;
pub mod recording;
pub mod sdp;
pub mod session;
pub mod srtp;
pub mod vad;
pub mod voice;

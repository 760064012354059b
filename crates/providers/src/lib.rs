//! Provider adapters (the seed's ITelephonyAdapter implementations) over each provider's REST API,
//! and over SIP itself for a plain SIP account.
//!
//! Every API family has its own base URL in [`Endpoints`], because the providers split their APIs
//! over several hosts and tests serve each spec from its own mock.

// Network-fed code answers bad input with an error, never a panic (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod endpoints;
mod factory;
mod http;
mod ncco;
mod numbers;
mod sip;
mod telnyx;
mod twilio;
mod vonage;
pub mod webhook;
pub mod webhook_events;

pub use endpoints::Endpoints;
pub use factory::HttpAdapterFactory;
pub use sip::SipAdapter;
pub use telnyx::TelnyxAdapter;
pub use twilio::TwilioAdapter;
pub use vonage::VonageAdapter;

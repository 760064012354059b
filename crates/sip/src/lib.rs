//! Sans-IO SIP for Ringdesk.
//!
//! The protocol modules (`message`, `uri`, `header`, `digest`, `transaction`, `registration`)
//! are state machines fed bytes and instants that return bytes and events: they never touch a
//! socket, a clock or a thread, so every path is testable on simulated time. `driver` is the
//! tokio side that owns the socket and the timer.
//!
//! The message parser is our own rather than `rsip`/`ezk-sip-types`: it keeps headers as text
//! and parses the few that the stack reads on demand, which makes hard limits (size, header
//! count, line length) and tolerance to RFC 4475's torture messages simple to guarantee, and it
//! is small enough to fuzz exhaustively.

// Network-fed code answers bad input with an error, never a panic (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod account;
pub mod dialog;
pub mod digest;
pub mod driver;
pub mod endpoint;
pub mod flow;
pub mod header;
pub mod locate;
pub mod message;
pub mod registration;
pub mod transaction;
pub mod ua;
pub mod uri;
pub mod validate;

/// Call-IDs, tags, branches and cnonces: lowercase alphanumerics from the agent's seeded RNG.
pub(crate) fn random_token(rng: &mut rand::rngs::StdRng, len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| {
            let at = rng.gen_range(0..ALPHABET.len());
            char::from(ALPHABET.get(at).copied().unwrap_or(b'0'))
        })
        .collect()
}

pub use message::{Headers, Message, Method, ParseError, StartLine};
pub use uri::Uri;

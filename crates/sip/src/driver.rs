//! The tokio side: sockets and timers around the sans-IO machines.

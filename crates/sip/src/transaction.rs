//! Client transactions (RFC 3261 §17.1) on an injected clock: retransmission over unreliable
//! transports, timers A/B/D for INVITE and E/F/K otherwise, matching by branch.

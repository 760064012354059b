//! Registration (RFC 3261 §10).

//! How one outbox item is delivered and what happens after: pure rules (no clock, no I/O of
//! its own) around one connector call, so every path is testable.
//!
//! - A first attempt logs the call. An ambiguous failure (the request may have been applied)
//!   marks the item to be *reconciled*: the next attempt asks the CRM whether the key was
//!   logged before logging again — never duplicated.
//! - Transient failures and rate limits retry with exponential back-off and full jitter
//!   (base 2 s, cap 15 min), never sooner than the CRM's Retry-After.
//! - A refused token pauses the item without spending attempts (nothing will work until the
//!   agent fixes the token); a permanent refusal, or 20 attempts, makes it dead: shown to the
//!   agent with a retry action, never silently dropped.

use std::time::Duration;

use rand::Rng;

use crate::{Activity, CrmConnector, CrmError, RemoteRef};

pub const MAX_ATTEMPTS: u32 = 20;
const BASE: Duration = Duration::from_secs(2);
const CAP: Duration = Duration::from_secs(15 * 60);
/// How long a refused token waits before the next try (the agent may fix it meanwhile).
pub const PAUSE_UNAUTHORIZED: Duration = Duration::from_secs(10 * 60);

/// What the outbox row says before the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub key: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// An earlier attempt may have been applied: look before logging.
    pub reconcile: bool,
}

/// What to write to the outbox row after the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(RemoteRef),
    Retry {
        after: Duration,
        reconcile: bool,
        error: String,
        /// Counts against MAX_ATTEMPTS (a refused token does not).
        counts: bool,
    },
    Dead(String),
}

/// Exponential back-off with full jitter: uniform in [0, min(cap, base·2^attempts)], at least
/// `floor` (Retry-After).
pub fn backoff(attempts: u32, floor: Option<Duration>, rng: &mut impl Rng) -> Duration {
    let ceiling = BASE
        .saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX))
        .min(CAP);
    let jittered = Duration::from_millis(rng.gen_range(0..=ceiling.as_millis() as u64));
    jittered
        .max(floor.unwrap_or_default())
        .max(Duration::from_millis(500))
}

/// Turns a connector failure into what the row becomes.
pub fn after_failure(error: CrmError, attempt: &Attempt, rng: &mut impl Rng) -> Outcome {
    let made = attempt.attempts + 1;
    let message = error.to_string();
    match error {
        CrmError::Permanent { .. } | CrmError::Unsupported(_) => Outcome::Dead(message),
        CrmError::Unauthorized(_) => Outcome::Retry {
            after: PAUSE_UNAUTHORIZED,
            reconcile: attempt.reconcile,
            error: message,
            counts: false,
        },
        _ if made >= MAX_ATTEMPTS => {
            Outcome::Dead(format!("gave up after {made} attempts: {message}"))
        }
        CrmError::RateLimited { retry_after } => Outcome::Retry {
            after: backoff(made, retry_after, rng),
            reconcile: attempt.reconcile,
            error: message,
            counts: true,
        },
        CrmError::Transient(_) => Outcome::Retry {
            after: backoff(made, None, rng),
            reconcile: attempt.reconcile,
            error: message,
            counts: true,
        },
        CrmError::Ambiguous(_) => Outcome::Retry {
            after: backoff(made, None, rng),
            reconcile: true,
            error: message,
            counts: true,
        },
    }
}

/// One delivery attempt of `activity`.
pub async fn deliver(
    connector: &dyn CrmConnector,
    activity: &Activity,
    attempt: &Attempt,
    rng: &mut (impl Rng + Send),
) -> Outcome {
    if attempt.reconcile {
        match connector.find_logged_call(&attempt.key).await {
            Ok(Some(found)) => return Outcome::Done(found),
            Ok(None) => {}
            // Could not look: try again later, still reconciling.
            Err(e) => {
                let mut outcome = after_failure(e, attempt, rng);
                if let Outcome::Retry { reconcile, .. } = &mut outcome {
                    *reconcile = true;
                }
                return outcome;
            }
        }
    }
    match connector.log_call(activity, &attempt.key).await {
        Ok(remote) => Outcome::Done(remote),
        Err(e) => after_failure(e, attempt, rng),
    }
}

/// One attempt to bring an activity already logged as `remote` up to date (notes or outcome
/// saved after it went). An update is idempotent, so an ambiguous failure simply retries; a
/// CRM that cannot change logged calls leaves it as it is.
pub async fn update(
    connector: &dyn CrmConnector,
    remote: RemoteRef,
    activity: &Activity,
    attempt: &Attempt,
    rng: &mut (impl Rng + Send),
) -> Outcome {
    match connector.update_call(&remote, activity).await {
        Ok(()) => Outcome::Done(remote),
        Err(CrmError::Unsupported(what)) => {
            tracing::info!(%what, "the CRM keeps the call as first logged");
            Outcome::Done(remote)
        }
        Err(e) => {
            let mut outcome = after_failure(e, attempt, rng);
            if let Outcome::Retry { reconcile, .. } = &mut outcome {
                *reconcile = false;
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn attempt(attempts: u32, reconcile: bool) -> Attempt {
        Attempt {
            key: "k".into(),
            attempts,
            reconcile,
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let mut rng = StdRng::seed_from_u64(1);
        for attempts in 0..40 {
            let d = backoff(attempts, None, &mut rng);
            let ceiling = BASE.saturating_mul(1 << attempts.min(20)).min(CAP);
            assert!(
                d <= ceiling.max(Duration::from_millis(500)),
                "{attempts}: {d:?}"
            );
        }
        let floor = Duration::from_secs(120);
        assert!(backoff(0, Some(floor), &mut rng) >= floor);
        // Full jitter: early retries spread out rather than arriving in lockstep.
        let spread: std::collections::HashSet<_> = (0..20)
            .map(|_| backoff(5, None, &mut rng).as_millis())
            .collect();
        assert!(spread.len() > 10);
    }

    #[test]
    fn failures_map_to_retry_reconcile_pause_or_dead() {
        let mut rng = StdRng::seed_from_u64(2);
        let ambiguous = after_failure(
            CrmError::Ambiguous("timeout".into()),
            &attempt(0, false),
            &mut rng,
        );
        assert!(matches!(
            ambiguous,
            Outcome::Retry {
                reconcile: true,
                counts: true,
                ..
            }
        ));
        let transient = after_failure(
            CrmError::Transient("503".into()),
            &attempt(0, false),
            &mut rng,
        );
        assert!(matches!(
            transient,
            Outcome::Retry {
                reconcile: false,
                ..
            }
        ));
        let paused = after_failure(
            CrmError::Unauthorized("bad".into()),
            &attempt(30, false),
            &mut rng,
        );
        assert!(
            matches!(paused, Outcome::Retry { counts: false, .. }),
            "a bad token spends no attempts"
        );
        let dead = after_failure(
            CrmError::Permanent {
                status: 422,
                message: "no".into(),
            },
            &attempt(0, false),
            &mut rng,
        );
        assert!(matches!(dead, Outcome::Dead(_)));
        let exhausted = after_failure(
            CrmError::Transient("503".into()),
            &attempt(MAX_ATTEMPTS - 1, false),
            &mut rng,
        );
        assert!(matches!(exhausted, Outcome::Dead(m) if m.contains("gave up")));
        let limited = after_failure(
            CrmError::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            },
            &attempt(0, true),
            &mut rng,
        );
        assert!(
            matches!(limited, Outcome::Retry { after, reconcile: true, .. } if after >= Duration::from_secs(30))
        );
    }
}

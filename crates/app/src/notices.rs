//! Listening to a broadcast of call notices without going deaf: a listener that falls behind
//! (a burst of events while the desktop was busy) skips what it missed and goes on, instead
//! of ending — which would silence every later popup until the app restarts.

use tokio::sync::broadcast::{self, error::RecvError};

/// The next message, skipping any this listener missed; None only once every sender is gone.
pub async fn next<T: Clone>(listener: &mut broadcast::Receiver<T>) -> Option<T> {
    loop {
        match listener.recv().await {
            Ok(message) => return Some(message),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "a listener fell behind; the oldest notices were skipped"
                )
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listener_that_fell_behind_goes_on_with_what_is_left() {
        let (tx, mut rx) = broadcast::channel(4);
        for n in 0..10 {
            tx.send(n).unwrap();
        }
        // The first six were overwritten: the listener hears the last four, then new ones.
        assert_eq!(next(&mut rx).await, Some(6));
        for expected in 7..10 {
            assert_eq!(next(&mut rx).await, Some(expected));
        }
        tx.send(10).unwrap();
        assert_eq!(next(&mut rx).await, Some(10));
        drop(tx);
        assert_eq!(next(&mut rx).await, None);
    }
}

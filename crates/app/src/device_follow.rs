//! A call follows the agent's devices: a preferred headset plugged in mid-call takes the
//! call's audio, pulled out it gives it back, and a device chosen in Settings → Audio during a
//! call takes it at once. cpal reports no hot-plug events on Linux, so while a call is up the
//! devices are listed every few seconds (on a blocking thread: listing is slow) and only a
//! change in what the call *should* use is published.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::audio::AudioView;
use crate::calls::ActiveCall;

/// How often the devices are listed during a call.
pub(crate) const EVERY: Duration = Duration::from_secs(2);

/// The microphone and speaker a call uses (None: the system default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallDevices {
    pub microphone: Option<String>,
    pub speaker: Option<String>,
}

impl CallDevices {
    pub(crate) fn of(view: &AudioView) -> CallDevices {
        CallDevices {
            microphone: view.microphone.clone(),
            speaker: view.speaker.clone(),
        }
    }
}

/// While a call is up, asks `choose` every `every` which devices it should use and publishes
/// a change on `wanted`. Runs until the app's call channel closes.
pub(crate) async fn run<F, Fut>(
    mut calls: watch::Receiver<Vec<ActiveCall>>,
    wanted: watch::Sender<CallDevices>,
    every: Duration,
    mut choose: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = CallDevices>,
{
    loop {
        while calls.borrow_and_update().is_empty() {
            if calls.changed().await.is_err() {
                return;
            }
        }
        // The call opened the devices the preferences named as it started.
        wanted.send_replace(choose().await);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    let now = choose().await;
                    wanted.send_if_modified(|w| {
                        let changed = *w != now;
                        *w = now;
                        changed
                    });
                }
                r = calls.changed() => {
                    if r.is_err() {
                        return;
                    }
                    if calls.borrow_and_update().is_empty() {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ringdesk_core::{Call, CallDirection};

    use super::*;
    use crate::audio::{view_of, AudioPreferences};

    fn call() -> Vec<ActiveCall> {
        vec![ActiveCall::of(Call::new(
            CallDirection::Outbound,
            "+14155550100".into(),
            "+14155552671".into(),
            time::OffsetDateTime::now_utc(),
        ))]
    }

    #[tokio::test(start_paused = true)]
    async fn a_preferred_headset_takes_the_call_while_it_is_plugged_in() {
        let preferences = AudioPreferences {
            microphone: vec!["Headset".into()],
            speaker: vec!["Headset".into()],
            ringer: vec![],
        };
        let plugged = Arc::new(Mutex::new(false));
        let listed = Arc::new(Mutex::new(0));
        let (active_tx, active) = watch::channel(Vec::new());
        let (wanted_tx, mut wanted) = watch::channel(CallDevices::default());
        let (p, l) = (plugged.clone(), listed.clone());
        tokio::spawn(run(active, wanted_tx, EVERY, move || {
            let present: Vec<String> = if *p.lock().unwrap() {
                vec!["Built-in".into(), "Headset".into()]
            } else {
                vec!["Built-in".into()]
            };
            *l.lock().unwrap() += 1;
            let view = view_of(&preferences, present.clone(), present);
            async move { CallDevices::of(&view) }
        }));

        // No call: nothing is listed.
        tokio::time::sleep(EVERY * 5).await;
        assert_eq!(*listed.lock().unwrap(), 0);

        active_tx.send_replace(call());
        tokio::time::sleep(EVERY * 2).await;
        assert_eq!(wanted.borrow_and_update().speaker, None, "the default");
        *plugged.lock().unwrap() = true;
        tokio::time::sleep(EVERY + Duration::from_millis(10)).await;
        assert!(wanted.has_changed().unwrap());
        let now = wanted.borrow_and_update().clone();
        assert_eq!(now.speaker.as_deref(), Some("Headset"));
        assert_eq!(now.microphone.as_deref(), Some("Headset"));
        // Nothing new to say while it stays.
        tokio::time::sleep(EVERY * 3).await;
        assert!(!wanted.has_changed().unwrap());
        *plugged.lock().unwrap() = false;
        tokio::time::sleep(EVERY + Duration::from_millis(10)).await;
        assert_eq!(
            wanted.borrow_and_update().speaker,
            None,
            "back to the default"
        );

        // The call ends: listing stops.
        active_tx.send_replace(Vec::new());
        tokio::time::sleep(EVERY).await;
        let after = *listed.lock().unwrap();
        tokio::time::sleep(EVERY * 5).await;
        assert_eq!(*listed.lock().unwrap(), after);
    }
}

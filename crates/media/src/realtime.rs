//! Real-time scheduling for the threads that carry a call's audio (the media thread, the sound
//! devices' callbacks): on a desktop busy with a browser and a video call, a normal thread
//! misses its 20 ms deadlines and the call breaks up. First rtkit (the desktop's way, through
//! `audio_thread_priority`), then the scheduler directly (root, `CAP_SYS_NICE` or an
//! `RLIMIT_RTPRIO` allowance); when neither is granted the thread stays normal, and says why.

use std::sync::{Arc, Mutex};

/// The real-time priority asked for (what rtkit grants by default).
const PRIORITY: i32 = 10;

/// How a thread is scheduled, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduling {
    /// SCHED_FIFO or SCHED_RR at `priority`, granted `via` rtkit or the scheduler.
    RealTime { priority: i32, via: &'static str },
    /// Not granted: the reasons, in the order the ways were tried.
    Normal { why: String },
}

impl Scheduling {
    pub fn is_real_time(&self) -> bool {
        matches!(self, Scheduling::RealTime { .. })
    }
}

/// What each audio thread of a call reported: (thread, how it is scheduled).
#[derive(Debug, Clone, Default)]
pub struct Reports(Arc<Mutex<Vec<(String, Scheduling)>>>);

impl Reports {
    pub fn record(&self, thread: &str, scheduling: Scheduling) {
        tracing::info!(thread, ?scheduling, "audio thread scheduling");
        if let Ok(mut all) = self.0.lock() {
            all.push((thread.to_string(), scheduling));
        }
    }

    pub fn all(&self) -> Vec<(String, Scheduling)> {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Asks for real-time scheduling for the calling thread, which handles `frames` samples at
/// `rate` per period; returns what it got. May wait on D-Bus: call it when the thread starts,
/// never from an audio callback.
pub fn promote_current_thread(frames: u32, rate: u32) -> Scheduling {
    if let Some(already) = current() {
        return already;
    }
    let rtkit = match audio_thread_priority::promote_current_thread_to_real_time(frames, rate) {
        // The handle only serves to demote; the thread ends with the call.
        Ok(_) => {
            if let Some(granted) = current() {
                return via(granted, "rtkit");
            }
            "rtkit said yes, the thread is still normal".to_string()
        }
        Err(e) => format!("rtkit: {e}"),
    };
    match direct() {
        Ok(granted) => granted,
        Err(scheduler) => Scheduling::Normal {
            why: format!("{rtkit}; the scheduler: {scheduler}"),
        },
    }
}

/// Like [`promote_current_thread`] but without D-Bus, for the sound devices' callback threads:
/// one system call, nothing that waits.
pub fn promote_callback_thread() -> Scheduling {
    if let Some(already) = current() {
        return already;
    }
    direct().unwrap_or_else(|why| Scheduling::Normal { why })
}

fn via(s: Scheduling, how: &'static str) -> Scheduling {
    match s {
        Scheduling::RealTime { priority, .. } => Scheduling::RealTime { priority, via: how },
        normal => normal,
    }
}

/// The calling thread's class when it is real-time already.
fn current() -> Option<Scheduling> {
    // SAFETY: reads the calling thread's own scheduling parameters into a local.
    let (policy, param) = unsafe {
        let mut param: libc::sched_param = std::mem::zeroed();
        let mut policy = 0;
        if libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) != 0 {
            return None;
        }
        (policy, param)
    };
    (policy == libc::SCHED_FIFO || policy == libc::SCHED_RR).then_some(Scheduling::RealTime {
        priority: param.sched_priority,
        via: "already",
    })
}

/// SCHED_FIFO for the calling thread, straight from the scheduler.
fn direct() -> Result<Scheduling, String> {
    // SAFETY: sets the calling thread's own scheduling from a fully initialised parameter.
    let result = unsafe {
        let mut param: libc::sched_param = std::mem::zeroed();
        param.sched_priority = PRIORITY;
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param)
    };
    if result == 0 {
        Ok(Scheduling::RealTime {
            priority: PRIORITY,
            via: "scheduler",
        })
    } else {
        Err(std::io::Error::from_raw_os_error(result).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_asks_for_real_time_and_says_what_it_got() {
        let got = std::thread::spawn(|| promote_current_thread(960, 48_000))
            .join()
            .unwrap();
        match &got {
            Scheduling::RealTime { priority, .. } => assert!(*priority > 0),
            // Refused (no rtkit, no privilege): the reasons of both ways are given.
            Scheduling::Normal { why } => {
                assert!(why.contains("rtkit") && why.contains("scheduler"), "{why}")
            }
        }
        // Asked again, a real-time thread says so without asking anyone.
        let again = std::thread::spawn(|| {
            let first = promote_callback_thread();
            (first.clone(), promote_callback_thread())
        })
        .join()
        .unwrap();
        if again.0.is_real_time() {
            assert!(
                matches!(again.1, Scheduling::RealTime { via: "already", .. }),
                "{again:?}"
            );
        }
        let reports = Reports::default();
        reports.record("media", got.clone());
        assert_eq!(reports.all(), vec![("media".to_string(), got)]);
    }
}

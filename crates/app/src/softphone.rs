//! The softphone: while the active provider is a SIP account, Ringdesk stays registered with
//! it. Registration state is published on a watch channel the shell turns into UI and tray
//! updates. Calls in the window come with the calls issue; until then an incoming call is
//! answered 480 (Temporarily Unavailable) rather than left ringing.

use std::time::Duration;

use ringdesk_core::service::SoftphoneAccount;
use ringdesk_providers::SipAdapter;
use ringdesk_sip::account::Phone;
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::registration::RegistrationEvent;
use ringdesk_sip::ua::CallEvent;
use serde::Serialize;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

/// What the status line and the tray say about the softphone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum SoftphoneStatus {
    /// No SIP account is active.
    Off,
    Registering {
        address: String,
    },
    Registered {
        address: String,
        expires_secs: u32,
    },
    Failing {
        address: String,
        reason: String,
        retry_in_secs: Option<u64>,
    },
}

impl SoftphoneStatus {
    /// One line for the tray tooltip and the status line.
    pub fn summary(&self) -> String {
        match self {
            SoftphoneStatus::Off => "Softphone off".into(),
            SoftphoneStatus::Registering { address } => format!("Registering {address}…"),
            SoftphoneStatus::Registered { address, .. } => format!("Registered as {address}"),
            SoftphoneStatus::Failing { reason, .. } => {
                format!("Not registered: {}", ringdesk_core::sentence_case(reason))
            }
        }
    }
}

struct Running {
    account: SoftphoneAccount,
    task: JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

pub struct Softphone {
    status: watch::Sender<SoftphoneStatus>,
    running: Mutex<Option<Running>>,
}

/// The binding lifetime asked for; the registration refreshes it well before it ends.
const REGISTRATION_EXPIRES: u32 = 300;

/// How long quitting waits for the registrar to confirm the binding is gone.
const UNREGISTER_GRACE: Duration = Duration::from_secs(3);

impl Default for Softphone {
    fn default() -> Self {
        Self::new()
    }
}

impl Softphone {
    pub fn new() -> Self {
        Softphone {
            status: watch::channel(SoftphoneStatus::Off).0,
            running: Mutex::new(None),
        }
    }

    pub fn status(&self) -> SoftphoneStatus {
        self.status.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<SoftphoneStatus> {
        self.status.subscribe()
    }

    /// Registers `account` (the active provider's), or stops when there is none. Unchanged
    /// settings leave a running registration alone. Returns at once: starting (DNS, connect,
    /// TLS) happens in the softphone's own task, which also retries after failures.
    pub async fn apply(&self, account: Option<SoftphoneAccount>) {
        let old = {
            let mut running = self.running.lock().await;
            if let (Some(r), Some(a)) = (running.as_ref(), account.as_ref()) {
                if r.account.same_as(a) {
                    return;
                }
            }
            running.take()
        };
        if let Some(old) = old {
            stop(old).await;
        }
        let Some(account) = account else {
            self.status.send_replace(SoftphoneStatus::Off);
            return;
        };
        self.status.send_replace(SoftphoneStatus::Registering {
            address: account.settings.address(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(supervise(account.clone(), self.status.clone(), stop_rx));
        *self.running.lock().await = Some(Running {
            account,
            task,
            stop: stop_tx,
        });
    }

    /// Unregisters (quitting the app).
    pub async fn shutdown(&self) {
        let old = self.running.lock().await.take();
        if let Some(old) = old {
            stop(old).await;
        }
        self.status.send_replace(SoftphoneStatus::Off);
    }
}

/// How long to wait before starting again after the account could not start or its driver
/// ended (DNS down, no route, a broken connection that could not be reopened).
const RESTART_AFTER: Duration = Duration::from_secs(30);

async fn stop(running: Running) {
    let _ = running.stop.send(());
    let mut task = running.task;
    let grace = UNREGISTER_GRACE + Duration::from_secs(1);
    if tokio::time::timeout(grace, &mut task).await.is_err() {
        task.abort();
    }
}

/// Keeps `account` registered until told to stop.
async fn supervise(
    account: SoftphoneAccount,
    status: watch::Sender<SoftphoneStatus>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let address = account.settings.address();
    let sip = SipAdapter::account(&account.settings, &account.password, REGISTRATION_EXPIRES);
    loop {
        let started = tokio::select! {
            started = sip.start(rand::random()) => started,
            _ = &mut stop => return,
        };
        let reason = match started {
            Ok(phone) => match run(phone, &address, &status, &mut stop).await {
                Ended::Stopped => return,
                Ended::DriverGone => "the connection to the SIP server ended".to_string(),
            },
            Err(e) => e.to_string(),
        };
        tracing::warn!(%reason, "softphone not registered; starting again later");
        status.send_replace(SoftphoneStatus::Failing {
            address: address.clone(),
            reason,
            retry_in_secs: Some(RESTART_AFTER.as_secs()),
        });
        tokio::select! {
            _ = tokio::time::sleep(RESTART_AFTER) => {}
            _ = &mut stop => return,
        }
    }
}

enum Ended {
    Stopped,
    DriverGone,
}

async fn run(
    mut phone: Phone,
    address: &str,
    status: &watch::Sender<SoftphoneStatus>,
    stop: &mut tokio::sync::oneshot::Receiver<()>,
) -> Ended {
    loop {
        tokio::select! {
            event = phone.events.recv() => match event {
                Some(EndpointEvent::Registration(r)) => {
                    status.send_replace(status_of(address, r));
                }
                Some(EndpointEvent::Call(CallEvent::Incoming { call, .. })) => {
                    tracing::info!("incoming call declined: calls in the app are not built yet");
                    let _ = phone.reject(call, 480).await;
                }
                Some(EndpointEvent::Call(_)) => {}
                None => return Ended::DriverGone,
            },
            _ = &mut *stop => {
                phone.stop(UNREGISTER_GRACE).await;
                return Ended::Stopped;
            }
        }
    }
}

fn status_of(address: &str, event: RegistrationEvent) -> SoftphoneStatus {
    let address = address.to_string();
    match event {
        RegistrationEvent::Registered { expires, .. } => SoftphoneStatus::Registered {
            address,
            expires_secs: expires,
        },
        RegistrationEvent::Failed {
            reason, retry_in, ..
        } => SoftphoneStatus::Failing {
            address,
            reason,
            retry_in_secs: retry_in.map(|d| d.as_secs()),
        },
        RegistrationEvent::Unregistered => SoftphoneStatus::Off,
    }
}

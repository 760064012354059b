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
    /// settings leave a running registration alone.
    pub async fn apply(&self, account: Option<SoftphoneAccount>) {
        let mut running = self.running.lock().await;
        if let (Some(r), Some(a)) = (running.as_ref(), account.as_ref()) {
            if r.account.same_as(a) {
                return;
            }
        }
        if let Some(old) = running.take() {
            stop(old).await;
        }
        let Some(account) = account else {
            self.status.send_replace(SoftphoneStatus::Off);
            return;
        };
        let address = account.settings.address();
        self.status.send_replace(SoftphoneStatus::Registering {
            address: address.clone(),
        });
        let sip = SipAdapter::account(&account.settings, &account.password, REGISTRATION_EXPIRES);
        match sip.start(rand::random()).await {
            Ok(phone) => {
                let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
                let task = tokio::spawn(run(phone, address, self.status.clone(), stop_rx));
                *running = Some(Running {
                    account,
                    task,
                    stop: stop_tx,
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "softphone could not start");
                self.status.send_replace(SoftphoneStatus::Failing {
                    address,
                    reason: e.to_string(),
                    retry_in_secs: None,
                });
            }
        }
    }

    /// Unregisters (quitting the app).
    pub async fn shutdown(&self) {
        if let Some(old) = self.running.lock().await.take() {
            stop(old).await;
        }
        self.status.send_replace(SoftphoneStatus::Off);
    }
}

async fn stop(running: Running) {
    let _ = running.stop.send(());
    let _ = tokio::time::timeout(UNREGISTER_GRACE + Duration::from_secs(1), running.task).await;
}

async fn run(
    mut phone: Phone,
    address: String,
    status: watch::Sender<SoftphoneStatus>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            event = phone.events.recv() => match event {
                Some(EndpointEvent::Registration(r)) => {
                    status.send_replace(status_of(&address, r));
                }
                Some(EndpointEvent::Call(CallEvent::Incoming { call, .. })) => {
                    tracing::info!("incoming call declined: calls in the app are not built yet");
                    let _ = phone.reject(call, 480).await;
                }
                Some(EndpointEvent::Call(_)) => {}
                None => break,
            },
            _ = &mut stop => {
                phone.stop(UNREGISTER_GRACE).await;
                return;
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

//! The softphone: while the active provider is a SIP account, Ringdesk stays registered with
//! it and places and takes its calls (`calls::CallDesk`, run in the same task as the SIP
//! account so the user agent is never shared). Registration state is published on a watch
//! channel the shell turns into UI and tray updates; the agent's call commands come in on a
//! channel to that task.

use std::time::Duration;

use ringdesk_core::service::SoftphoneAccount;
use ringdesk_providers::SipAdapter;
use ringdesk_sip::account::Phone;
use ringdesk_sip::endpoint::EndpointEvent;
use ringdesk_sip::registration::RegistrationEvent;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use crate::calls::{CallChannels, CallCommand, CallDesk, CallError, Journal, Line};
use crate::device_follow::CallDevices;
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
        name: String,
        address: String,
    },
    Registered {
        name: String,
        address: String,
        expires_secs: u32,
    },
    Failing {
        name: String,
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
            SoftphoneStatus::Registering { name, .. } => format!("Registering {name}…"),
            SoftphoneStatus::Registered { name, .. } => format!("Registered: {name}"),
            SoftphoneStatus::Failing { reason, .. } => {
                format!("Not registered: {}", ringdesk_core::sentence_case(reason))
            }
        }
    }
}

struct Running {
    account: SoftphoneAccount,
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    commands: mpsc::UnboundedSender<CallCommand>,
}

pub struct Softphone {
    status: watch::Sender<SoftphoneStatus>,
    running: Mutex<Option<Running>>,
    journal: Journal,
    pub calls: CallChannels,
    /// What the device follower says calls should use.
    pub(crate) devices: watch::Sender<CallDevices>,
}

/// The binding lifetime asked for; the registration refreshes it well before it ends.
const REGISTRATION_EXPIRES: u32 = 300;

/// How long quitting waits for the registrar to confirm the binding is gone.
const UNREGISTER_GRACE: Duration = Duration::from_secs(3);

impl Softphone {
    pub fn new(journal: Journal) -> Self {
        Softphone {
            status: watch::channel(SoftphoneStatus::Off).0,
            running: Mutex::new(None),
            journal,
            calls: CallChannels::default(),
            devices: watch::channel(CallDevices::default()).0,
        }
    }

    /// Hands `command` to the running account's call desk, or refuses it.
    pub async fn command(&self, command: CallCommand) {
        let running = self.running.lock().await;
        match running.as_ref() {
            Some(r) => {
                if let Err(mpsc::error::SendError(command)) = r.commands.send(command) {
                    command.refuse(CallError::NotConnected);
                }
            }
            None => command.refuse(CallError::NoSoftphone),
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
            name: account.name.clone(),
            address: account.settings.address(),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let desk = CallDesk::new(
            self.journal.clone(),
            self.calls.clone(),
            Line::new(
                account.provider,
                account.kind,
                &account.settings,
                account.caller_id.clone(),
            ),
        );
        let task = tokio::spawn(supervise(
            account.clone(),
            self.status.clone(),
            desk,
            Inbox {
                stop: stop_rx,
                commands: commands_rx,
                devices: self.devices.subscribe(),
            },
        ));
        *self.running.lock().await = Some(Running {
            account,
            task,
            stop: stop_tx,
            commands,
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

/// What the softphone's task listens to besides the SIP account.
struct Inbox {
    stop: oneshot::Receiver<()>,
    commands: mpsc::UnboundedReceiver<CallCommand>,
    /// The devices a call should use, as the device follower says.
    devices: watch::Receiver<CallDevices>,
}

impl Inbox {
    /// Waits for `stop`, refusing call commands meanwhile (no SIP account running); true
    /// when told to stop.
    async fn idle(&mut self, wait: impl std::future::Future<Output = ()>) -> bool {
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => return false,
                _ = &mut self.stop => return true,
                Some(command) = self.commands.recv() => command.refuse(CallError::NotConnected),
            }
        }
    }
}

/// Keeps `account` registered until told to stop.
async fn supervise(
    account: SoftphoneAccount,
    status: watch::Sender<SoftphoneStatus>,
    mut desk: CallDesk,
    mut inbox: Inbox,
) {
    let login = Login {
        name: account.name.clone(),
        address: account.settings.address(),
    };
    let sip = SipAdapter::account(&account.settings, &account.password, REGISTRATION_EXPIRES);
    loop {
        let (tx, rx) = oneshot::channel();
        let starting = async {
            let _ = tx.send(sip.start(rand::random()).await);
        };
        if inbox.idle(starting).await {
            return;
        }
        let Ok(started) = rx.await else { return };
        let reason = match started {
            Ok(phone) => match run(phone, &login, &status, &mut desk, &mut inbox).await {
                Ended::Stopped => return,
                Ended::DriverGone => "the connection to the SIP server ended".to_string(),
            },
            Err(e) => e.to_string(),
        };
        tracing::warn!(%reason, "softphone not registered; starting again later");
        status.send_replace(SoftphoneStatus::Failing {
            name: login.name.clone(),
            address: login.address.clone(),
            reason,
            retry_in_secs: Some(RESTART_AFTER.as_secs()),
        });
        if inbox.idle(tokio::time::sleep(RESTART_AFTER)).await {
            return;
        }
    }
}

/// Who the softphone registers as, for the status line.
struct Login {
    name: String,
    address: String,
}

enum Ended {
    Stopped,
    DriverGone,
}

async fn run(
    mut phone: Phone,
    login: &Login,
    status: &watch::Sender<SoftphoneStatus>,
    desk: &mut CallDesk,
    inbox: &mut Inbox,
) -> Ended {
    loop {
        let deadline = desk.next_timeout();
        tokio::select! {
            event = phone.events.recv() => match event {
                Some(EndpointEvent::Registration(r)) => {
                    status.send_replace(status_of(login, r));
                }
                Some(EndpointEvent::Call(event)) => desk.on_event(&phone, event).await,
                None => {
                    desk.shutdown(&phone).await;
                    return Ended::DriverGone;
                }
            },
            Some(command) = inbox.commands.recv() => desk.on_command(&phone, command).await,
            Some(event) = desk.next_media_event() => desk.on_media(event).await,
            _ = sleep_until(deadline) => desk.on_timeout(&phone).await,
            Ok(()) = inbox.devices.changed() => {
                let wanted = inbox.devices.borrow_and_update().clone();
                desk.on_devices(wanted).await;
            }
            _ = &mut inbox.stop => {
                desk.shutdown(&phone).await;
                phone.stop(UNREGISTER_GRACE).await;
                return Ended::Stopped;
            }
        }
    }
}

fn status_of(login: &Login, event: RegistrationEvent) -> SoftphoneStatus {
    let (name, address) = (login.name.clone(), login.address.clone());
    match event {
        RegistrationEvent::Registered { expires, .. } => SoftphoneStatus::Registered {
            name,
            address,
            expires_secs: expires,
        },
        RegistrationEvent::Failed {
            reason, retry_in, ..
        } => SoftphoneStatus::Failing {
            name,
            address,
            reason,
            retry_in_secs: retry_in.map(|d| d.as_secs()),
        },
        RegistrationEvent::Unregistered => SoftphoneStatus::Off,
    }
}

/// Until `at`, or for ever.
async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

//! `ringdesk-cli team`: a headless agent of a team server. It joins with an invite, registers
//! the softphone login the server made for the agent, keeps telling the server how the agent
//! is (on a call, Do not disturb, available — the same heartbeat a desktop sends) and takes
//! every call the server routes to it. Killing it is a desktop gone: the server routes around
//! it once its grace period passes.

use std::time::Duration;

use ringdesk_core::team::Presence;
use ringdesk_sip::account::SipAccount;
use ringdesk_sip::flow::TlsTrust;
use ringdesk_team::TeamClient;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

use crate::session::{self, CallPlan};

/// As often as the desktop says it (a third of the server's default grace period).
const HEARTBEAT: Duration = Duration::from_secs(10);

pub async fn run(invite: &str, device_name: &str, plan: CallPlan) -> Result<bool, String> {
    let invite = ringdesk_team::parse_invite(invite).map_err(|e| e.to_string())?;
    let client = TeamClient::new(invite.server.clone()).map_err(|e| e.to_string())?;
    let joined = client
        .join(&invite.code, device_name)
        .await
        .map_err(|e| e.to_string())?;
    let agent = joined.user.map(|u| u.name);
    println!(
        "joined the team at {} as {}",
        invite.server,
        agent.as_deref().unwrap_or("an agent")
    );
    let token = SecretString::from(joined.token);
    let login = client
        .softphone(&token)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the team server has no softphone login for this agent yet: ask an admin")?;
    let account = SipAccount {
        registrar: login.registrar,
        domain: Some(login.domain),
        username: login.username,
        auth_username: None,
        password: login.password.expose_secret().to_string(),
        expires: 300,
        display_name: agent,
        transport: None,
        dns_server: None,
        tls: TlsTrust::default(),
        keepalive: Some(Duration::from_secs(60)),
    };
    let (on_call_tx, on_call) = watch::channel(false);
    let (dnd_tx, dnd) = watch::channel(false);
    tokio::spawn(commands(dnd_tx));
    tokio::select! {
        outcome = session::run_account(account, false, plan, Some(on_call_tx)) => outcome,
        why = heartbeat(client, token, on_call, dnd) => Err(why),
    }
}

/// `dnd` / `available` typed on stdin.
async fn commands(dnd: watch::Sender<bool>) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "dnd" => {
                dnd.send_replace(true);
                println!("do not disturb");
            }
            "available" => {
                dnd.send_replace(false);
                println!("available");
            }
            "" => {}
            other => println!("unknown command “{other}”: dnd or available"),
        }
    }
    // No more commands (stdin closed): the agent stays as they are.
    dnd.closed().await;
}

/// Tells the server how the agent is, at once on a change and every `HEARTBEAT`; returns why
/// it stopped (the server signed this device out).
async fn heartbeat(
    client: TeamClient,
    token: SecretString,
    mut on_call: watch::Receiver<bool>,
    mut dnd: watch::Receiver<bool>,
) -> String {
    let mut said = None;
    loop {
        let presence = match (*on_call.borrow_and_update(), *dnd.borrow_and_update()) {
            (true, _) => Presence::OnCall,
            (false, true) => Presence::Dnd,
            (false, false) => Presence::Available,
        };
        match client.set_presence(&token, presence).await {
            Ok(()) if said != Some(presence) => {
                println!("the team sees you {}", presence.code());
                said = Some(presence);
            }
            Ok(()) => {}
            Err(e) if e.is_signed_out() => return format!("signed out of the team: {e}"),
            Err(e) => {
                println!("the team server does not answer: {e}");
                said = None;
            }
        }
        tokio::select! {
            _ = on_call.changed() => {}
            _ = dnd.changed() => {}
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
}

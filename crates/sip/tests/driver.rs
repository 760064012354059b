//! The tokio driver around the sans-IO endpoint, over real loopback sockets: opening a new
//! flow to the server (after a stream broke) runs beside the loop, so the agent's commands and
//! the timers go on while a silent server keeps a TLS handshake waiting.

use std::time::{Duration, Instant};

use ringdesk_sip::driver::{run_endpoint, Command, Connector};
use ringdesk_sip::endpoint::{Endpoint, EndpointEvent};
use ringdesk_sip::flow::{Flow, TlsTrust, Transport};
use ringdesk_sip::registration::{Registration, RegistrationConfig, RegistrationEvent};
use ringdesk_sip::transaction::Timers;
use ringdesk_sip::ua::{UaConfig, UserAgent};
use ringdesk_sip::Uri;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

#[tokio::test]
async fn commands_are_answered_while_a_new_flow_is_being_opened() {
    // The registrar, over TCP; and where the driver reconnects to: a server that takes the
    // TCP connection and never says a word of TLS.
    let registrar = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (server, silent_addr) = (
        registrar.local_addr().unwrap(),
        silent.local_addr().unwrap(),
    );
    let flow = Flow::connect(Transport::Tcp, server, "127.0.0.1", &TlsTrust::default())
        .await
        .unwrap();
    let (mut accepted, _) = registrar.accept().await.unwrap();
    let local = flow.local_addr();
    let aor = Uri::parse("sip:alice@127.0.0.1").unwrap();
    let registration = Registration::new(
        RegistrationConfig {
            registrar: Uri::parse("sip:127.0.0.1").unwrap(),
            aor: aor.clone(),
            auth_username: "alice".into(),
            password: "pw".into(),
            transport: "TCP".into(),
            local_host: local.ip().to_string(),
            local_port: local.port(),
            expires: 60,
            user_agent: "test".into(),
            reliable: true,
            timers: Timers::default(),
        },
        1,
    );
    let ua = UaConfig {
        reliable: true,
        ..UaConfig::udp(aor, "pw", &local.ip().to_string(), local.port())
    };
    let endpoint = Endpoint::new(Some(registration), UserAgent::new(ua, 2));
    let connector = Connector {
        transport: Transport::Tls,
        server: silent_addr,
        host: "127.0.0.1".into(),
        trust: TlsTrust::default(),
    };
    let (commands, command_rx) = mpsc::channel(4);
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let driver = tokio::spawn(run_endpoint(
        connector, flow, endpoint, command_rx, event_tx,
    ));

    // The REGISTER arrives; then the registrar's connection breaks.
    let mut buf = [0u8; 4096];
    assert!(accepted.read(&mut buf).await.unwrap() > 0);
    drop(accepted);
    let broke = |e: &EndpointEvent| matches!(e, EndpointEvent::Registration(RegistrationEvent::Failed { reason, .. }) if reason.contains("broke"));
    loop {
        let event = events.recv().await.unwrap();
        if broke(&event) {
            break;
        }
    }
    // After its back-off the driver connects to the silent server and waits for TLS there…
    let (_held, _) = silent.accept().await.unwrap();
    // …and meanwhile a command is answered, before that attempt gives up.
    let asked = Instant::now();
    let (tx, rx) = oneshot::channel();
    let op: ringdesk_sip::driver::UaOp = Box::new(move |ua, _| {
        let _ = tx.send(ua.live_calls().len());
    });
    commands.send(Command::Ua(op)).await.unwrap();
    assert_eq!(rx.await.unwrap(), 0);
    assert!(
        events.try_recv().is_err(),
        "answered only after the connection attempt ended"
    );
    println!("answered in {:?} while connecting", asked.elapsed());
    driver.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), driver).await;
}

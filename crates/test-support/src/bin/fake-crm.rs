//! The contract CRM (`ringdesk_test_support::contract_crm`) as a process, for the end-to-end
//! suite: `fake-crm TOKEN [CONTACTS.json]` serves it on a loopback port and prints
//! `listening http://127.0.0.1:PORT`; `GET /_fake/state` (no token) shows its contacts,
//! interactions, updates and refusals. CONTACTS.json: `[{"id", "name", "phones": [...]}]`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use ringdesk_test_support::contract_crm::{self, Data, Shared};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let token = args.next().ok_or("usage: fake-crm TOKEN [CONTACTS.json]")?;
    let mut data = Data::with_token(&token);
    if let Some(path) = args.next() {
        let seeded: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        for c in seeded {
            let phones: Vec<&str> = c["phones"]
                .as_array()
                .map(|p| p.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let (id, name) = (
                c["id"].as_str().unwrap_or_default(),
                c["name"].as_str().unwrap_or_default(),
            );
            data.upsert(id, name, &phones);
        }
    }
    let shared: Shared = Arc::new(Mutex::new(data));
    let app = contract_crm::router(shared.clone()).merge(
        axum::Router::new()
            .route("/_fake/state", get(state))
            .with_state(shared),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", contract_crm::url(listener.local_addr()?));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn state(State(data): State<Shared>) -> Json<Value> {
    Json(data.lock().unwrap_or_else(|e| e.into_inner()).snapshot())
}

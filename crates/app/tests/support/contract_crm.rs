//! An in-house CRM implementing the contacts half of Ringdesk's contract
//! (docs/crm-generic-openapi.yaml) in memory, honestly: `updatedSince` filters, keyset cursors
//! over (updatedAt, id), deletions reported, bearer token checked. Shared by the app's tests
//! and the contacts-sync benchmark.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub const TOKEN: &str = "contract-crm-token";

#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub phones: Vec<String>,
    pub updated_at: i64,
    pub deleted: bool,
}

#[derive(Default)]
pub struct Data {
    pub records: Vec<Record>,
    /// Page requests served (to see that a pull resumes instead of starting over).
    pub requests: usize,
    /// Answer 503 to the next this many requests.
    pub fail_next: usize,
    clock: i64,
}

impl Data {
    /// Adds or changes a record; its `updatedAt` moves forward.
    pub fn upsert(&mut self, id: &str, name: &str, phones: &[&str]) {
        // Changes ten minutes apart: a pull's overlap window re-reads only the newest.
        self.clock += 600_000;
        let updated_at = 1_800_000_000_000 + self.clock;
        let record = Record {
            id: id.into(),
            name: name.into(),
            phones: phones.iter().map(|p| p.to_string()).collect(),
            updated_at,
            deleted: false,
        };
        match self.records.iter_mut().find(|r| r.id == id) {
            Some(r) => *r = record,
            None => self.records.push(record),
        }
    }

    pub fn delete(&mut self, id: &str) {
        self.clock += 600_000;
        let at = 1_800_000_000_000 + self.clock;
        if let Some(r) = self.records.iter_mut().find(|r| r.id == id) {
            r.deleted = true;
            r.updated_at = at;
        }
    }

    /// Removes a record without a trace (a CRM without a deleted feed; only a full resync
    /// notices).
    pub fn purge(&mut self, id: &str) {
        self.records.retain(|r| r.id != id);
    }
}

pub type Shared = Arc<Mutex<Data>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    updated_since: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn millis(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn authorized(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
    {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "bad token"})),
        ))
    }
}

async fn list(
    State(data): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> (StatusCode, Json<Value>) {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    let mut data = data.lock().unwrap();
    data.requests += 1;
    if data.fail_next > 0 {
        data.fail_next -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "down"})),
        );
    }
    let since = q.updated_since.as_deref().and_then(millis);
    let after: Option<(i64, String)> = q
        .cursor
        .as_deref()
        .and_then(|c| c.split_once('/'))
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_string())));
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let mut rows: Vec<&Record> = data
        .records
        .iter()
        .filter(|r| since.is_none_or(|s| r.updated_at >= s))
        .filter(|r| {
            after
                .as_ref()
                .is_none_or(|(t, id)| (r.updated_at, &r.id) > (*t, id))
        })
        .collect();
    rows.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| {
        let last = rows.last().unwrap();
        format!("{}/{}", last.updated_at, last.id)
    });
    let items: Vec<Value> = rows
        .iter()
        .filter(|r| !r.deleted)
        .map(|r| {
            json!({
                "id": r.id, "name": r.name, "phones": r.phones, "emails": [],
                "updatedAt": rfc3339(r.updated_at),
            })
        })
        .collect();
    // Deletions are reported to incremental pulls; a full pull simply does not list them.
    let deleted: Vec<&str> = if since.is_some() {
        rows.iter()
            .filter(|r| r.deleted)
            .map(|r| r.id.as_str())
            .collect()
    } else {
        Vec::new()
    };
    (
        StatusCode::OK,
        Json(json!({ "items": items, "deleted": deleted, "nextCursor": next })),
    )
}

async fn create(
    State(data): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    let (Some(name), Some(phones)) = (body["name"].as_str(), body["phones"].as_array()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"message": "name and phones are required"})),
        );
    };
    let phones: Vec<&str> = phones.iter().filter_map(Value::as_str).collect();
    let mut data = data.lock().unwrap();
    let id = format!("new-{}", data.records.len() + 1);
    data.upsert(&id, name, &phones);
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": name, "phones": phones })),
    )
}

/// Serves the CRM on a loopback port; returns its address.
pub async fn start(data: Shared) -> SocketAddr {
    let app = Router::new()
        .route("/api/dialer/contacts", get(list).post(create))
        .with_state(data);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

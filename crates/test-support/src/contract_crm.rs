//! An in-house CRM implementing Ringdesk's generic contract (docs/crm-generic-openapi.yaml) in
//! memory, honestly: the bearer token checked on every request, every request body validated
//! against the contract's own schema (a refusal is a 422 with the reasons, and is recorded so
//! a test can insist there were none), contacts listed by `updatedSince` with keyset cursors and
//! deletions, interactions kept once per `Idempotency-Key`, found again by it and updated by
//! PATCH. Faults on demand: a CRM down for the next requests, a create applied but answered
//! late. The one fake of the contract: the connector's, the app's and the end-to-end tests
//! (through the `fake-crm` binary) all use it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The token a CRM made with `Data::default()` takes.
pub const TOKEN: &str = "contract-crm-token";

const CONTRACT: &str = include_str!("../../../docs/crm-generic-openapi.yaml");

#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub updated_at: i64,
    pub deleted: bool,
}

/// A call interaction as stored: its id, the key it was created with, its body (updates
/// applied).
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    pub id: String,
    pub key: String,
    pub body: Value,
}

pub struct Data {
    pub token: String,
    pub records: Vec<Record>,
    /// Contact pages served (to see that a pull resumes instead of starting over).
    pub requests: usize,
    /// Answer 503 to the next this many contact-list requests.
    pub fail_next: usize,
    pub interactions: Vec<Interaction>,
    /// Every `POST /interactions`, refused or not.
    pub creates: usize,
    /// Answer 503 (Retry-After: 1) to the first this many creates.
    pub down_for: usize,
    /// Create number N (counted from 1) is applied at once but answered this much later.
    pub slow_create: Option<(usize, Duration)>,
    /// Every PATCH applied: (interaction id, body).
    pub patches: Vec<(String, Value)>,
    /// Requests refused for a bad token or a body outside the contract, and why.
    pub refusals: Vec<String>,
    /// The CRM's clock for `updatedAt`: each change moves it ten minutes on.
    pub clock: i64,
}

impl Default for Data {
    fn default() -> Self {
        Data {
            token: TOKEN.into(),
            records: Vec::new(),
            requests: 0,
            fail_next: 0,
            interactions: Vec::new(),
            creates: 0,
            down_for: 0,
            slow_create: None,
            patches: Vec::new(),
            refusals: Vec::new(),
            clock: 0,
        }
    }
}

impl Data {
    pub fn with_token(token: &str) -> Data {
        Data {
            token: token.into(),
            ..Data::default()
        }
    }

    /// Adds or changes a record; its `updatedAt` moves forward.
    pub fn upsert(&mut self, id: &str, name: &str, phones: &[&str]) {
        // Changes ten minutes apart: a pull's overlap window re-reads only the newest.
        self.clock += 600_000;
        let updated_at = 1_800_000_000_000 + self.clock;
        let record = Record {
            id: id.into(),
            name: name.into(),
            phones: phones.iter().map(|p| p.to_string()).collect(),
            emails: Vec::new(),
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

    /// Everything, as JSON (what the `fake-crm` binary shows the end-to-end suite).
    pub fn snapshot(&self) -> Value {
        json!({
            "contacts": self.records.iter().filter(|r| !r.deleted).map(contact).collect::<Vec<_>>(),
            "interactions": self.interactions.iter().map(|i| json!({"id": i.id, "key": i.key, "body": i.body})).collect::<Vec<_>>(),
            "patches": self.patches.iter().map(|(id, body)| json!({"id": id, "body": body})).collect::<Vec<_>>(),
            "refusals": self.refusals,
        })
    }
}

pub type Shared = Arc<Mutex<Data>>;

fn lock(data: &Shared) -> std::sync::MutexGuard<'_, Data> {
    data.lock().unwrap_or_else(|e| e.into_inner())
}

/// The contract's schema `name`, compiled once.
fn validator(name: &str) -> &'static jsonschema::Validator {
    static VALIDATORS: OnceLock<BTreeMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    let all = VALIDATORS.get_or_init(|| {
        let spec: Value = serde_yaml::from_str(CONTRACT).expect("the contract is YAML");
        ["NewContact", "CallInteraction", "CallInteractionUpdate"]
            .into_iter()
            .map(|name| {
                let schema = json!({
                    "allOf": [{ "$ref": format!("#/components/schemas/{name}") }],
                    "components": spec["components"],
                });
                let compiled =
                    jsonschema::validator_for(&schema).expect("the contract's schemas compile");
                (name, compiled)
            })
            .collect()
    });
    &all[name]
}

type Refusal = (StatusCode, Json<Value>);

fn refuse(data: &mut Data, status: StatusCode, why: String) -> Refusal {
    data.refusals.push(why.clone());
    (status, Json(json!({ "message": why })))
}

/// The bearer token, then the body against schema `name` (when given).
fn check(
    data: &mut Data,
    headers: &HeaderMap,
    body: Option<(&str, &Value)>,
) -> Result<(), Refusal> {
    let expected = format!("Bearer {}", data.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(refuse(data, StatusCode::UNAUTHORIZED, "bad token".into()));
    }
    if let Some((name, body)) = body {
        let errors: Vec<String> = validator(name)
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if !errors.is_empty() {
            let why = format!("{name}: {}", errors.join("; "));
            return Err(refuse(data, StatusCode::UNPROCESSABLE_ENTITY, why));
        }
    }
    Ok(())
}

fn millis(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn contact(r: &Record) -> Value {
    json!({
        "id": r.id, "name": r.name, "phones": r.phones, "emails": r.emails,
        "updatedAt": rfc3339(r.updated_at),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    updated_since: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn list(
    State(data): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Refusal {
    let mut data = lock(&data);
    if let Err(refused) = check(&mut data, &headers, None) {
        return refused;
    }
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
    let next = rows
        .last()
        .filter(|_| more)
        .map(|last| format!("{}/{}", last.updated_at, last.id));
    let items: Vec<Value> = rows
        .iter()
        .filter(|r| !r.deleted)
        .map(|r| contact(r))
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

#[derive(Deserialize)]
struct LookupQuery {
    phone: String,
}

async fn lookup(
    State(data): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LookupQuery>,
) -> Refusal {
    let mut data = lock(&data);
    if let Err(refused) = check(&mut data, &headers, None) {
        return refused;
    }
    let found: Vec<Value> = data
        .records
        .iter()
        .filter(|r| !r.deleted && r.phones.contains(&q.phone))
        .map(contact)
        .collect();
    (StatusCode::OK, Json(json!(found)))
}

async fn create_contact(
    State(data): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Refusal {
    let mut data = lock(&data);
    if let Err(refused) = check(&mut data, &headers, Some(("NewContact", &body))) {
        return refused;
    }
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let phones: Vec<&str> = body["phones"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let id = format!("new-{}", data.records.len() + 1);
    data.upsert(&id, &name, &phones);
    let created = data
        .records
        .iter()
        .find(|r| r.id == id)
        .map(contact)
        .unwrap_or_default();
    (StatusCode::CREATED, Json(created))
}

async fn create_interaction(
    State(data): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let (answer, delay) = {
        let mut data = lock(&data);
        data.creates += 1;
        let n = data.creates;
        if let Err(refused) = check(&mut data, &headers, Some(("CallInteraction", &body))) {
            return refused.into_response();
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|k| (8..=128).contains(&k.len()))
            .map(str::to_string);
        let Some(key) = key else {
            let why = "an Idempotency-Key of 8 to 128 characters is required".to_string();
            return refuse(&mut data, StatusCode::UNPROCESSABLE_ENTITY, why).into_response();
        };
        if n <= data.down_for {
            let mut down = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"message": "down"})),
            )
                .into_response();
            down.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return down;
        }
        let (status, id) = match data.interactions.iter().find(|i| i.key == key) {
            Some(known) => (StatusCode::OK, known.id.clone()),
            None => {
                let id = format!("int-{}", data.interactions.len());
                data.interactions.push(Interaction {
                    id: id.clone(),
                    key,
                    body,
                });
                (StatusCode::CREATED, id)
            }
        };
        let delay = data
            .slow_create
            .filter(|(slow, _)| *slow == n)
            .map(|(_, d)| d);
        ((status, Json(json!({ "id": id }))), delay)
    };
    if let Some(delay) = delay {
        // Applied already; the answer is what is late.
        tokio::time::sleep(delay).await;
    }
    answer.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindQuery {
    idempotency_key: String,
}

async fn find_interaction(
    State(data): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<FindQuery>,
) -> Refusal {
    let mut data = lock(&data);
    if let Err(refused) = check(&mut data, &headers, None) {
        return refused;
    }
    let items: Vec<Value> = data
        .interactions
        .iter()
        .filter(|i| i.key == q.idempotency_key)
        .map(|i| json!({ "id": i.id }))
        .collect();
    (StatusCode::OK, Json(json!({ "items": items })))
}

async fn update_interaction(
    State(data): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Refusal {
    let mut data = lock(&data);
    if let Err(refused) = check(&mut data, &headers, Some(("CallInteractionUpdate", &body))) {
        return refused;
    }
    let Some(stored) = data.interactions.iter_mut().find(|i| i.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "no such interaction"})),
        );
    };
    if let (Some(fields), Some(changes)) = (stored.body.as_object_mut(), body.as_object()) {
        for (k, v) in changes {
            fields.insert(k.clone(), v.clone());
        }
    }
    data.patches.push((id.clone(), body));
    (StatusCode::OK, Json(json!({ "id": id })))
}

/// The contract's routes over `data`.
pub fn router(data: Shared) -> Router {
    Router::new()
        .route("/api/dialer/contacts", get(list).post(create_contact))
        .route("/api/dialer/contacts/lookup", get(lookup))
        .route(
            "/api/dialer/interactions",
            get(find_interaction).post(create_interaction),
        )
        .route("/api/dialer/interactions/{id}", patch(update_interaction))
        .with_state(data)
}

/// Serves the CRM on a loopback port; returns its address.
pub async fn start(data: Shared) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let app = router(data);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// The base URL of a CRM at `address`.
pub fn url(address: SocketAddr) -> String {
    format!("http://{address}")
}

//! HubSpot CRM v3 with a private-app token: contacts found by phone through the search API,
//! calls logged as the calls object associated to the contact (association type 194,
//! call → contact). HubSpot has no idempotency header, so the key travels in the call's title
//! (`Ringdesk call <key>`) and `find_logged_call` searches calls for that exact title.
//! Durations are milliseconds; every property value is a string (the spec's schema).

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::CallDirection;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::http::{join, Client};
use crate::{Activity, CrmConnector, CrmContact, CrmError, RemoteRef};

/// HubSpot's association type for call → contact.
const CALL_TO_CONTACT: u32 = 194;

pub struct HubSpotConnector {
    http: Client,
    /// `https://api.hubapi.com` (contacts and calls live under it; tests may split them).
    contacts_base: Url,
    calls_base: Url,
}

#[derive(Deserialize)]
struct Object {
    id: String,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct Results {
    results: Vec<Object>,
}

fn title(key: &str) -> String {
    format!("Ringdesk call {key}")
}

impl HubSpotConnector {
    pub fn new(base: Url, token: SecretString, timeout: Duration) -> Result<Self, CrmError> {
        Ok(HubSpotConnector {
            http: Client::new(token, timeout)?,
            contacts_base: base.clone(),
            calls_base: base,
        })
    }

    /// Contacts and calls at different addresses (one mock per spec in the tests).
    pub fn with_calls_base(mut self, calls_base: Url) -> Self {
        self.calls_base = calls_base;
        self
    }

    /// The create body (`SimplePublicObjectInputForCreate`).
    pub fn call_body(activity: &Activity, key: &str) -> Value {
        let mut properties = json!({
            "hs_timestamp": activity.started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "hs_call_title": title(key),
            "hs_call_direction": match activity.direction {
                CallDirection::Inbound => "INBOUND",
                CallDirection::Outbound => "OUTBOUND",
            },
            "hs_call_duration": (u64::from(activity.duration_secs) * 1000).to_string(),
            "hs_call_from_number": activity.from,
            "hs_call_to_number": activity.to,
            "hs_call_status": match activity.outcome {
                "connected" => "COMPLETED",
                "busy" => "BUSY",
                "no_answer" | "missed" | "declined" => "NO_ANSWER",
                "canceled" => "CANCELED",
                _ => "FAILED",
            },
        });
        // HubSpot's dispositions are per-account ids; until they are mapped, the agent's
        // outcome leads the notes.
        let body = match (activity.disposition, &activity.notes) {
            (Some(d), Some(n)) => Some(format!("Outcome: {d}\n{n}")),
            (Some(d), None) => Some(format!("Outcome: {d}")),
            (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        };
        if let Some(body) = body {
            properties["hs_call_body"] = body.into();
        }
        if let Some(url) = &activity.recording_url {
            properties["hs_call_recording_url"] = url.clone().into();
        }
        let associations: Vec<Value> = activity
            .contact_id
            .iter()
            .map(|id| {
                json!({
                    "to": { "id": id },
                    "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CALL_TO_CONTACT }],
                })
            })
            .collect();
        json!({ "properties": properties, "associations": associations })
    }

    fn search_body(filters: Vec<Value>, properties: &[&str]) -> Value {
        json!({
            "filterGroups": filters.into_iter().map(|f| json!({ "filters": [f] })).collect::<Vec<_>>(),
            "properties": properties,
            "sorts": [],
            "limit": 10,
            "after": "0",
        })
    }
}

fn text(properties: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    properties
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[async_trait]
impl CrmConnector for HubSpotConnector {
    async fn test(&self) -> Result<String, CrmError> {
        let url = join(&self.contacts_base, &["crm", "v3", "objects", "contacts"]);
        let _: Value = self
            .http
            .send(self.http.get(url).query(&[("limit", "1")]), false)
            .await?;
        Ok("Connected to HubSpot".into())
    }

    async fn find_contacts_by_phone(&self, e164: &str) -> Result<Vec<CrmContact>, CrmError> {
        let url = join(
            &self.contacts_base,
            &["crm", "v3", "objects", "contacts", "search"],
        );
        let filters = ["phone", "mobilephone"]
            .iter()
            .map(|p| json!({ "propertyName": p, "operator": "EQ", "value": e164 }))
            .collect();
        let body = Self::search_body(
            filters,
            &[
                "firstname",
                "lastname",
                "company",
                "phone",
                "mobilephone",
                "email",
            ],
        );
        let found: Results = self
            .http
            .send(self.http.post(url).json(&body), false)
            .await?;
        Ok(found
            .results
            .into_iter()
            .map(|o| {
                let p = &o.properties;
                let name = [text(p, "firstname"), text(p, "lastname")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                CrmContact {
                    id: o.id.clone(),
                    name: if name.is_empty() { o.id } else { name },
                    company: text(p, "company"),
                    phones: [text(p, "phone"), text(p, "mobilephone")]
                        .into_iter()
                        .flatten()
                        .collect(),
                    emails: text(p, "email").into_iter().collect(),
                }
            })
            .collect())
    }

    async fn log_call(&self, activity: &Activity, key: &str) -> Result<RemoteRef, CrmError> {
        let url = join(&self.calls_base, &["crm", "v3", "objects", "calls"]);
        let created: Object = self
            .http
            .send(
                self.http.post(url).json(&Self::call_body(activity, key)),
                true,
            )
            .await?;
        Ok(RemoteRef(created.id))
    }

    async fn find_logged_call(&self, key: &str) -> Result<Option<RemoteRef>, CrmError> {
        let url = join(
            &self.calls_base,
            &["crm", "v3", "objects", "calls", "search"],
        );
        let filter =
            json!({ "propertyName": "hs_call_title", "operator": "EQ", "value": title(key) });
        let body = Self::search_body(vec![filter], &["hs_call_title"]);
        let found: Results = self
            .http
            .send(self.http.post(url).json(&body), false)
            .await?;
        Ok(found
            .results
            .into_iter()
            .find(|o| text(&o.properties, "hs_call_title").as_deref() == Some(title(key).as_str()))
            .map(|o| RemoteRef(o.id)))
    }
}

//! Pipedrive with an API token (`x-api-token` header, never the `api_token` query parameter,
//! which ends up in logs). Persons are found with v2's search and pulled with v2's list
//! (`updated_since`, sorted by update time, cursor paging); calls are v1 call logs linked to
//! the person — Pipedrive has no v2 call logs and no direction field, so the direction is the
//! subject. Call logs take no idempotency key: the key travels as a marker in the note, and
//! after an ambiguous failure the latest call logs are searched for it.
//!
//! The address is the company's (`https://<company>.pipedrive.com`): the API lives under it
//! (`/api/v1`, `/api/v2`) and so do the web app's person pages.

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::{CallDirection, E164Number};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};
use time::macros::format_description;
use url::Url;

use crate::http::{join, Client};
use crate::sync::Watermark;
use crate::{Activity, ChangePage, CrmConnector, CrmContact, CrmError, NewContact, RemoteRef};

/// Persons per page of a pull (v2's maximum).
const PAGE: &str = "500";
/// How many of the latest call logs are searched for a key after an ambiguous failure.
const RECENT_LOGS: &str = "100";

pub struct PipedriveConnector {
    http: Client,
    /// The company address: person pages live under it.
    company: Url,
    v1: Url,
    v2: Url,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
    #[serde(default)]
    additional_data: Option<AdditionalData>,
}

#[derive(Deserialize)]
struct AdditionalData {
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Labelled {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Person {
    id: i64,
    name: Option<String>,
    #[serde(default)]
    phones: Vec<Labelled>,
    #[serde(default)]
    emails: Vec<Labelled>,
    update_time: Option<String>,
}

#[derive(Deserialize)]
struct SearchItems {
    items: Vec<SearchItem>,
}

#[derive(Deserialize)]
struct SearchItem {
    item: SearchPerson,
}

#[derive(Deserialize)]
struct SearchPerson {
    id: i64,
    name: Option<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    organization: Option<Organization>,
}

#[derive(Deserialize)]
struct Organization {
    name: Option<String>,
}

#[derive(Deserialize)]
struct CallLog {
    id: String,
    note: Option<String>,
}

fn marker(key: &str) -> String {
    format!("[ringdesk:{key}]")
}

/// Call-log times in UTC as the spec's schema has them (`format: date-time`, like its
/// examples: `2026-11-26T10:00:00Z`); the prose's `YYYY-MM-DD HH:MM:SS` fails that schema.
fn utc(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// Person update times (`2021-01-01T00:00:00Z`; older accounts answer `2021-01-01 00:00:00`).
fn parse_time(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            time::PrimitiveDateTime::parse(
                t,
                format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
            )
            .ok()
            .map(time::PrimitiveDateTime::assume_utc)
        })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn values(list: Vec<Labelled>) -> Vec<String> {
    list.into_iter()
        .filter_map(|l| l.value)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

impl From<Person> for CrmContact {
    fn from(p: Person) -> Self {
        CrmContact {
            id: p.id.to_string(),
            name: p
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| p.id.to_string()),
            company: None,
            phones: values(p.phones),
            emails: values(p.emails),
            updated_at: p.update_time.as_deref().and_then(parse_time),
        }
    }
}

impl PipedriveConnector {
    pub fn new(company: Url, token: SecretString, timeout: Duration) -> Result<Self, CrmError> {
        Ok(PipedriveConnector {
            http: Client::new(token, timeout)?.with_token_header("x-api-token"),
            v1: join(&company, &["api", "v1"]),
            v2: join(&company, &["api", "v2"]),
            company,
        })
    }

    /// The API at other addresses (one mock per spec in the tests).
    pub fn with_api_bases(mut self, v1: Url, v2: Url) -> Self {
        self.v1 = v1;
        self.v2 = v2;
        self
    }

    /// The call log body (`addCallLogRequest`).
    pub fn call_log_body(activity: &Activity, key: &str) -> Value {
        let outcome = match (activity.disposition, activity.outcome) {
            (Some("left_voicemail"), _) => "left_voicemail",
            (Some("wrong_number"), _) => "wrong_number",
            (_, "connected") => "connected",
            (_, "busy") => "busy",
            _ => "no_answer",
        };
        let mut note = String::new();
        if let Some(notes) = &activity.notes {
            for line in notes.lines() {
                note.push_str(&format!("<p>{}</p>", escape(line)));
            }
        }
        if let Some(d) = activity.disposition {
            note.push_str(&format!("<p>Outcome: {}</p>", d.replace('_', " ")));
        }
        if let Some(agent) = &activity.agent {
            note.push_str(&format!("<p>Agent: {}</p>", escape(&agent.name)));
        }
        if let Some(url) = &activity.recording_url {
            let url = escape(url);
            note.push_str(&format!("<p>Recording: <a href=\"{url}\">{url}</a></p>"));
        }
        note.push_str(&format!("<p>{}</p>", marker(key)));
        let started = activity.answered_at.unwrap_or(activity.started_at);
        let mut body = json!({
            "subject": match activity.direction {
                CallDirection::Inbound => "Inbound call",
                CallDirection::Outbound => "Outbound call",
            },
            "outcome": outcome,
            "from_phone_number": activity.from,
            "to_phone_number": activity.to,
            "start_time": utc(started),
            "end_time": utc(activity.ended_at.unwrap_or(started)),
            "duration": activity.duration_secs.to_string(),
            "note": note,
        });
        if let Some(person) = activity
            .contact_id
            .as_deref()
            .and_then(|id| id.parse::<i64>().ok())
        {
            body["person_id"] = person.into();
        }
        body
    }
}

#[async_trait]
impl CrmConnector for PipedriveConnector {
    async fn test(&self) -> Result<String, CrmError> {
        let url = join(&self.v2, &["persons"]);
        let _: Value = self
            .http
            .send(self.http.get(url).query(&[("limit", "1")]), false)
            .await?;
        Ok(format!(
            "Connected to {}",
            self.company.host_str().unwrap_or("Pipedrive")
        ))
    }

    /// Pipedrive keeps phones as typed: search the national digits, then keep the persons
    /// with a phone that reads as the same number.
    async fn find_contacts_by_phone(&self, e164: &str) -> Result<Vec<CrmContact>, CrmError> {
        let Ok(number) = E164Number::parse_international(e164) else {
            return Ok(Vec::new());
        };
        let region = number.region().unwrap_or_default();
        let term = number
            .national_digits()
            .unwrap_or_else(|| e164.trim_start_matches('+').to_string());
        let url = join(&self.v2, &["persons", "search"]);
        let request = self.http.get(url).query(&[
            ("term", term.as_str()),
            ("fields", "phone"),
            ("exact_match", "false"),
            ("limit", "20"),
        ]);
        let found: Envelope<SearchItems> = self.http.send(request, false).await?;
        Ok(found
            .data
            .items
            .into_iter()
            .map(|i| i.item)
            .filter(|p| {
                p.phones
                    .iter()
                    .any(|typed| E164Number::parse(typed, region).is_ok_and(|n| n == number))
            })
            .map(|p| CrmContact {
                name: p.name.unwrap_or_else(|| p.id.to_string()),
                id: p.id.to_string(),
                company: p.organization.and_then(|o| o.name),
                phones: p.phones,
                emails: p.emails,
                updated_at: None,
            })
            .collect())
    }

    async fn log_call(&self, activity: &Activity, key: &str) -> Result<RemoteRef, CrmError> {
        let url = join(&self.v1, &["callLogs"]);
        let created: Envelope<CallLog> = self
            .http
            .send(
                self.http
                    .post(url)
                    .json(&Self::call_log_body(activity, key)),
                true,
            )
            .await?;
        Ok(RemoteRef(created.data.id))
    }

    async fn find_logged_call(&self, key: &str) -> Result<Option<RemoteRef>, CrmError> {
        let url = join(&self.v1, &["callLogs"]);
        let logs: Envelope<Option<Vec<CallLog>>> = self
            .http
            .send(
                self.http
                    .get(url)
                    .query(&[("start", "0"), ("limit", RECENT_LOGS)]),
                false,
            )
            .await?;
        let marker = marker(key);
        Ok(logs
            .data
            .unwrap_or_default()
            .into_iter()
            .find(|log| log.note.as_deref().is_some_and(|n| n.contains(&marker)))
            .map(|log| RemoteRef(log.id)))
    }

    /// Pipedrive's call logs cannot be changed once logged (no update in v1, none in v2).
    async fn update_call(&self, _remote: &RemoteRef, _activity: &Activity) -> Result<(), CrmError> {
        Err(CrmError::Unsupported(
            "change a call log once it is logged (Pipedrive)".into(),
        ))
    }

    async fn list_changed_contacts(&self, cursor: Option<&str>) -> Result<ChangePage, CrmError> {
        let mut mark = Watermark::decode(cursor);
        let mut query: Vec<(&str, String)> = vec![
            ("limit", PAGE.into()),
            ("sort_by", "update_time".into()),
            ("sort_direction", "asc".into()),
        ];
        if let Some(page) = &mark.page {
            query.push(("cursor", page.clone()));
        }
        if let Some(since) = mark.since() {
            query.push(("updated_since", crate::generic::rfc3339(since)));
        }
        let url = join(&self.v2, &["persons"]);
        let page: Envelope<Option<Vec<Person>>> = self
            .http
            .send(self.http.get(url).query(&query), false)
            .await?;
        let contacts: Vec<CrmContact> = page
            .data
            .unwrap_or_default()
            .into_iter()
            .map(CrmContact::from)
            .collect();
        for c in &contacts {
            mark.seen(c.updated_at);
        }
        let next = page
            .additional_data
            .and_then(|a| a.next_cursor)
            .filter(|n| Some(n) != mark.page.as_ref());
        Ok(mark.page(contacts, Vec::new(), next))
    }

    async fn create_contact(&self, new: &NewContact) -> Result<CrmContact, CrmError> {
        let url = join(&self.v2, &["persons"]);
        let labelled = |values: &[String], label: &str| -> Vec<Value> {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| json!({ "value": v, "primary": i == 0, "label": label }))
                .collect()
        };
        let body = json!({
            "name": new.name,
            "phones": labelled(&new.phones, "work"),
            "emails": labelled(&new.emails, "work"),
        });
        let created: Envelope<Person> = self
            .http
            .send(self.http.post(url).json(&body), true)
            .await?;
        Ok(created.data.into())
    }

    async fn contact_url(&self, id: &str) -> Result<Option<Url>, CrmError> {
        Ok(Some(join(&self.company, &["person", id])))
    }
}

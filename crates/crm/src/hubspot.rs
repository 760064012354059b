//! HubSpot CRM v3 with a private-app token: contacts found by phone through the search API,
//! calls logged as the calls object associated to the contact (association type 194,
//! call → contact). HubSpot has no idempotency header, so the key travels in the call's title
//! (`Ringdesk call <key>`) and `find_logged_call` searches calls for that exact title.
//! Durations are milliseconds; every property value is a string (the spec's schema).

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::CallDirection;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::http::{join, Client};
use crate::sync::Watermark;
use crate::{Activity, ChangePage, CrmConnector, CrmContact, CrmError, NewContact, RemoteRef};

/// HubSpot's search returns at most this many rows per query, however it is paged.
const SEARCH_CAP: u32 = 10_000;
/// Rows per search page (HubSpot's maximum).
const PAGE: u32 = 200;
const CONTACT_PROPERTIES: [&str; 7] = [
    "firstname",
    "lastname",
    "company",
    "phone",
    "mobilephone",
    "email",
    "lastmodifieddate",
];

/// HubSpot's association type for call → contact.
const CALL_TO_CONTACT: u32 = 194;

pub struct HubSpotConnector {
    http: Client,
    /// `https://api.hubapi.com` (contacts and calls live under it; tests may split them).
    contacts_base: Url,
    calls_base: Url,
    /// HubSpot users by email (`hubspot_owner_id` of the calls an agent makes), read once each.
    owners: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
    /// The account's call outcomes (`hs_call_disposition` takes their ids), read once.
    dispositions: OnceLock<Vec<Disposition>>,
    /// Where the account's web app lives (`https://app.hubspot.com/contacts/<portal>`), read
    /// once from the account's details.
    contacts_app: OnceLock<Url>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    id: String,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    updated_at: Option<time::OffsetDateTime>,
}

#[derive(Deserialize)]
struct Results {
    results: Vec<Object>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(Deserialize)]
struct NextPage {
    after: String,
}

/// One of the account's call outcomes (`GET /calling/v1/dispositions`).
#[derive(Debug, Clone, Deserialize)]
pub struct Disposition {
    pub id: String,
    pub label: String,
}

/// The account's outcome for the call: the agent's disposition when the account has one of
/// that name (accounts add their own, like "Interested"), else what happened to the call by
/// HubSpot's default labels.
pub fn disposition_id<'a>(activity: &Activity, outcomes: &'a [Disposition]) -> Option<&'a str> {
    let find = |label: &str| {
        outcomes
            .iter()
            .find(|d| d.label.trim().eq_ignore_ascii_case(label))
            .map(|d| d.id.as_str())
    };
    let agent = activity.disposition.map(|d| match d {
        "left_voicemail" => "Left voicemail",
        "wrong_number" => "Wrong number",
        "interested" => "Interested",
        "not_interested" => "Not interested",
        "call_back" => "Call back",
        other => other,
    });
    let happened = match activity.outcome {
        "connected" => "Connected",
        "busy" => "Busy",
        _ => "No answer",
    };
    agent.and_then(find).or_else(|| find(happened))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountDetails {
    portal_id: u64,
    ui_domain: Option<String>,
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
            contacts_app: OnceLock::new(),
            dispositions: OnceLock::new(),
            owners: Default::default(),
        })
    }

    /// Contacts and calls at different addresses (one mock per spec in the tests).
    pub fn with_calls_base(mut self, calls_base: Url) -> Self {
        self.calls_base = calls_base;
        self
    }

    /// The create body (`SimplePublicObjectInputForCreate`); `disposition`: the account's
    /// outcome id for it.
    pub fn call_body(activity: &Activity, key: &str, disposition: Option<&str>) -> Value {
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
        // The agent's outcome also leads the notes: accounts without a matching outcome
        // still see it.
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
        if let Some(id) = disposition {
            properties["hs_call_disposition"] = id.into();
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

    /// The search for contacts changed since the watermark, oldest change first. HubSpot sorts
    /// with `{propertyName, direction}` objects (its docs; the spec's `sorts: [string]` is a
    /// known flaw — a string sort is ignored, HubSpot/hubspot-api-nodejs#559).
    pub fn changes_body(mark: &Watermark) -> Value {
        let filter_groups: Vec<Value> = mark
            .since
            .map(|ms| {
                json!({ "filters": [{
                    "propertyName": "lastmodifieddate", "operator": "GTE", "value": ms.to_string(),
                }] })
            })
            .into_iter()
            .collect();
        json!({
            "filterGroups": filter_groups,
            "properties": CONTACT_PROPERTIES,
            "sorts": [{ "propertyName": "lastmodifieddate", "direction": "ASCENDING" }],
            "limit": PAGE,
            "after": mark.page.clone().unwrap_or_else(|| "0".into()),
        })
    }

    /// The HubSpot user with the agent's email (`GET /crm/v3/owners?email=`), if any; a
    /// failed lookup logs the call without an owner and is tried again next time.
    async fn owner_id(&self, email: &str) -> Option<String> {
        if let Some(known) = self.owners.lock().ok().and_then(|o| o.get(email).cloned()) {
            return known;
        }
        let url = join(&self.contacts_base, &["crm", "v3", "owners"]);
        let request = self
            .http
            .get(url)
            .query(&[("email", email), ("limit", "1")]);
        match self.http.send::<Results>(request, false).await {
            Ok(found) => {
                let id = found.results.into_iter().next().map(|o| o.id);
                if let Ok(mut owners) = self.owners.lock() {
                    owners.insert(email.to_string(), id.clone());
                }
                id
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the agent among HubSpot's users");
                None
            }
        }
    }

    /// The account's call outcomes; none when they cannot be read (the call is still logged,
    /// without an outcome id; the next call tries again).
    async fn dispositions(&self) -> &[Disposition] {
        if self.dispositions.get().is_none() {
            let url = join(&self.contacts_base, &["calling", "v1", "dispositions"]);
            match self
                .http
                .send::<Vec<Disposition>>(self.http.get(url), false)
                .await
            {
                Ok(list) => {
                    let _ = self.dispositions.set(list);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read HubSpot's call outcomes");
                    return &[];
                }
            }
        }
        self.dispositions.get().map_or(&[], Vec::as_slice)
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

fn contact(o: Object) -> CrmContact {
    let p = &o.properties;
    let name = [text(p, "firstname"), text(p, "lastname")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    // `lastmodifieddate` is the property the search filters on; `updatedAt` mirrors it.
    let updated_at = text(p, "lastmodifieddate")
        .and_then(|t| {
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
        })
        .or(o.updated_at);
    CrmContact {
        name: if name.is_empty() { o.id.clone() } else { name },
        id: o.id,
        company: text(p, "company"),
        phones: [text(p, "phone"), text(p, "mobilephone")]
            .into_iter()
            .flatten()
            .collect(),
        emails: text(p, "email").into_iter().collect(),
        updated_at,
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
        let body = Self::search_body(filters, &CONTACT_PROPERTIES);
        let found: Results = self
            .http
            .send(self.http.post(url).json(&body), false)
            .await?;
        Ok(found.results.into_iter().map(contact).collect())
    }

    async fn log_call(&self, activity: &Activity, key: &str) -> Result<RemoteRef, CrmError> {
        let outcomes = self.dispositions().await;
        let mut body = Self::call_body(activity, key, disposition_id(activity, outcomes));
        let email = activity.agent.as_ref().and_then(|a| a.email.as_deref());
        if let Some(owner) = match email {
            Some(email) => self.owner_id(email).await,
            None => None,
        } {
            body["properties"]["hubspot_owner_id"] = owner.into();
        }
        let url = join(&self.calls_base, &["crm", "v3", "objects", "calls"]);
        let created: Object = self
            .http
            .send(self.http.post(url).json(&body), true)
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

    /// `PATCH /crm/v3/objects/calls/{id}`: the notes (led by the outcome), the account's
    /// outcome id and the recording.
    async fn update_call(&self, remote: &RemoteRef, activity: &Activity) -> Result<(), CrmError> {
        let outcomes = self.dispositions().await;
        let full = Self::call_body(activity, "", disposition_id(activity, outcomes));
        let mut properties = serde_json::Map::new();
        for key in [
            "hs_call_body",
            "hs_call_disposition",
            "hs_call_recording_url",
        ] {
            if let Some(v) = full["properties"].get(key) {
                properties.insert(key.into(), v.clone());
            }
        }
        let url = join(
            &self.calls_base,
            &["crm", "v3", "objects", "calls", &remote.0],
        );
        let _: Object = self
            .http
            .send(
                self.http
                    .patch(url)
                    .json(&json!({ "properties": properties })),
                false,
            )
            .await?;
        Ok(())
    }

    async fn list_changed_contacts(&self, cursor: Option<&str>) -> Result<ChangePage, CrmError> {
        let mut mark = Watermark::decode(cursor);
        let url = join(
            &self.contacts_base,
            &["crm", "v3", "objects", "contacts", "search"],
        );
        let found: Results = self
            .http
            .send(self.http.post(url).json(&Self::changes_body(&mark)), false)
            .await?;
        let contacts: Vec<CrmContact> = found.results.into_iter().map(contact).collect();
        for c in &contacts {
            mark.seen(c.updated_at);
        }
        let next = found
            .paging
            .and_then(|p| p.next)
            .map(|n| n.after)
            .filter(|a| Some(a) != mark.page.as_ref());
        // The search stops at 10 000 rows: past that, a new search starts from the newest
        // change read (rows are sorted by it, so nothing is skipped).
        if next.is_some()
            && mark.read + PAGE > SEARCH_CAP
            && mark.high.is_some_and(|h| Some(h) != mark.since)
        {
            let restart = mark.restart_from_high();
            return Ok(ChangePage {
                contacts,
                ..restart
            });
        }
        Ok(mark.page(contacts, Vec::new(), next))
    }

    async fn create_contact(&self, new: &NewContact) -> Result<CrmContact, CrmError> {
        let url = join(&self.contacts_base, &["crm", "v3", "objects", "contacts"]);
        let (first, last) = new.split_name();
        let mut properties = json!({ "firstname": first });
        if let Some(last) = last {
            properties["lastname"] = last.into();
        }
        if let Some(phone) = new.phones.first() {
            properties["phone"] = phone.clone().into();
        }
        if let Some(phone) = new.phones.get(1) {
            properties["mobilephone"] = phone.clone().into();
        }
        if let Some(email) = new.emails.first() {
            properties["email"] = email.clone().into();
        }
        if let Some(company) = &new.company {
            properties["company"] = company.clone().into();
        }
        let body = json!({ "properties": properties, "associations": [] });
        let created: Object = self
            .http
            .send(self.http.post(url).json(&body), true)
            .await?;
        Ok(contact(created))
    }

    /// `https://<ui domain>/contacts/<portal id>/record/0-1/<id>`: the portal comes from the
    /// account's details, read once.
    async fn contact_url(&self, id: &str) -> Result<Option<Url>, CrmError> {
        if self.contacts_app.get().is_none() {
            let url = join(&self.contacts_base, &["account-info", "v3", "details"]);
            let details: AccountDetails = self.http.send(self.http.get(url), false).await?;
            let domain = details
                .ui_domain
                .filter(|d| d.ends_with(".hubspot.com"))
                .unwrap_or_else(|| "app.hubspot.com".into());
            let app = Url::parse(&format!("https://{domain}/contacts/{}", details.portal_id))
                .map_err(|e| CrmError::Transient(e.to_string()))?;
            let _ = self.contacts_app.set(app);
        }
        Ok(self
            .contacts_app
            .get()
            .map(|app| join(app, &["record", "0-1", id])))
    }
}

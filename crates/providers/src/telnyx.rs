//! Telnyx API v2: Bearer API key, JSON.

use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::ports::{
    AccountInfo, CallHandle, CallRequest, NumberCapabilities, NumberType, ProviderAdapter,
    ProviderNumber, ProviderRecording, ProvisionedResource, RecordingAudio, SoftphoneLogin,
    SoftphoneRequest, StepRequest, VoiceAnswer, VoiceRequest, WebhookEvent, WebhookRequest,
};
use ringdesk_core::{E164Number, ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::endpoints::join;
use crate::http;
use crate::numbers::{Collected, Listed};
use crate::webhook::{self, WebhookKey};
use crate::webhook_events;

pub struct TelnyxAdapter {
    client: reqwest::Client,
    base: Url,
    api_key: SecretString,
    timeout: Duration,
    webhook: Option<WebhookKey>,
    sip_registrar: String,
}

/// The credential connection Ringdesk creates (and finds again by this name) for softphones.
pub const SOFTPHONE_CONNECTION: &str = "Ringdesk softphones";

#[derive(Deserialize)]
struct Connection {
    id: String,
    connection_name: Option<String>,
}

#[derive(Deserialize)]
struct TexmlApplication {
    id: String,
    friendly_name: Option<String>,
}

#[derive(Deserialize)]
struct Credential {
    id: String,
    sip_username: Option<String>,
    sip_password: Option<String>,
    #[serde(default)]
    expired: bool,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

/// One item of `GET /recordings`.
#[derive(Deserialize)]
struct Recording {
    call_control_id: Option<String>,
    download_urls: Option<DownloadUrls>,
    duration_millis: Option<u64>,
}

#[derive(Deserialize)]
struct DownloadUrls {
    mp3: Option<String>,
    wav: Option<String>,
}

/// Telnyx's largest page of numbers.
const NUMBERS_PAGE: &str = "250";
/// A number put on the softphones' connection; `restore` is the connection it had ("": none).
const NUMBER: &str = "number_connection";
const TEXML_APPLICATION: &str = "texml_application";

#[derive(Deserialize)]
struct NumberRouting {
    connection_id: Option<String>,
}

#[derive(Deserialize)]
struct NumbersPage {
    data: Vec<OwnedNumber>,
    meta: Option<PageMeta>,
}

#[derive(Deserialize)]
struct PageMeta {
    total_pages: Option<u32>,
}

#[derive(Deserialize)]
struct OwnedNumber {
    id: String,
    phone_number: String,
    phone_number_type: Option<String>,
    country_iso_alpha2: Option<String>,
    connection_id: Option<String>,
    connection_name: Option<String>,
    messaging_profile_id: Option<String>,
}

#[derive(Deserialize)]
struct Balance {
    balance: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct CallControlApplication {
    id: String,
    application_name: Option<String>,
    webhook_event_url: Option<String>,
}

/// A call leg as `GET /calls/{id}` and the active calls list show it.
#[derive(Deserialize)]
struct CallStatus {
    call_control_id: String,
    #[serde(default)]
    call_session_id: Option<String>,
}

#[derive(Deserialize)]
struct Dialled {
    call_control_id: String,
}

/// The Call Control application Ringdesk creates (and finds again by this name) to place
/// calls through; its webhook URL is the receiver's.
pub const CALL_CONTROL_APP_NAME: &str = "Ringdesk";

impl TelnyxAdapter {
    fn post(&self, path: &[&str], body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.client
            .post(join(&self.base, path))
            .bearer_auth(self.api_key.expose_secret())
            .json(body)
    }

    /// The id of Ringdesk's Call Control application, created on first use and pointed at
    /// `webhook_url` (its events drive the call: Telnyx waits for commands on each step).
    async fn call_control_application(&self, webhook_url: &str) -> Result<String, ProviderError> {
        let request = self
            .get(&["call_control_applications"])
            .query(&[("filter[application_name][contains]", CALL_CONTROL_APP_NAME)]);
        let Envelope { data } =
            http::json::<Envelope<Vec<CallControlApplication>>>(request, self.timeout).await?;
        let ours = data
            .into_iter()
            .find(|a| a.application_name.as_deref() == Some(CALL_CONTROL_APP_NAME));
        let body = json!({
            "application_name": CALL_CONTROL_APP_NAME,
            "webhook_event_url": webhook_url,
        });
        match ours {
            Some(app) if app.webhook_event_url.as_deref() == Some(webhook_url) => Ok(app.id),
            Some(app) => {
                let request = self
                    .client
                    .patch(join(&self.base, &["call_control_applications", &app.id]))
                    .bearer_auth(self.api_key.expose_secret())
                    .json(&body);
                http::done(request, self.timeout).await?;
                Ok(app.id)
            }
            None => {
                let request = self.post(&["call_control_applications"], &body);
                let Envelope { data } =
                    http::json::<Envelope<CallControlApplication>>(request, self.timeout).await?;
                Ok(data.id)
            }
        }
    }

    pub fn new(base: Url, api_key: SecretString, timeout: Duration) -> Result<Self, ProviderError> {
        Ok(Self {
            client: http::client(timeout)?,
            base,
            api_key,
            timeout,
            webhook: None,
            sip_registrar: crate::endpoints::TELNYX_SIP_REGISTRAR.into(),
        })
    }

    /// Where the logins it creates register (`sip.telnyx.com`, or a test registrar).
    pub fn with_sip_registrar(mut self, registrar: String) -> Self {
        self.sip_registrar = registrar;
        self
    }

    fn get(&self, path: &[&str]) -> reqwest::RequestBuilder {
        self.client
            .get(join(&self.base, path))
            .bearer_auth(self.api_key.expose_secret())
    }

    /// Ringdesk's credential connection: found by name, else created (reported in `created`).
    async fn softphone_connection(
        &self,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<String, ProviderError> {
        let request = self
            .get(&["credential_connections"])
            .query(&[("filter[connection_name][contains]", SOFTPHONE_CONNECTION)]);
        let Envelope { data } =
            http::json::<Envelope<Vec<Connection>>>(request, self.timeout).await?;
        if let Some(found) = data
            .into_iter()
            .find(|c| c.connection_name.as_deref() == Some(SOFTPHONE_CONNECTION))
        {
            return Ok(found.id);
        }
        // The connection's own login is never used (each agent gets a telephony credential),
        // but Telnyx requires one: random, and not kept.
        let body = json!({
            "connection_name": SOFTPHONE_CONNECTION,
            "user_name": format!("ringdesk{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            "password": uuid::Uuid::new_v4().simple().to_string(),
            "active": true,
        });
        let request = self.post(&["credential_connections"], &body);
        let Envelope { data } = http::json::<Envelope<Connection>>(request, self.timeout).await?;
        created.push(ProvisionedResource::created(
            "credential_connection",
            &data.id,
        ));
        Ok(data.id)
    }

    /// The team's TeXML application (`Ringdesk <group>`): found by name, else created; its
    /// voice URL (POST) is the team server's, set again when found.
    async fn texml_application(
        &self,
        group: &str,
        voice_url: &str,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<String, ProviderError> {
        let name = format!("Ringdesk {group}");
        let request = self
            .get(&["texml_applications"])
            .query(&[("filter[friendly_name]", name.as_str())]);
        let Envelope { data } =
            http::json::<Envelope<Vec<TexmlApplication>>>(request, self.timeout).await?;
        let settings = json!({
            "friendly_name": name,
            "voice_url": voice_url,
            "voice_method": "post",
            "active": true,
        });
        if let Some(found) = data
            .into_iter()
            .find(|a| a.friendly_name.as_deref() == Some(name.as_str()))
        {
            let request = self
                .client
                .patch(join(&self.base, &["texml_applications", &found.id]))
                .bearer_auth(self.api_key.expose_secret())
                .json(&settings);
            http::done(request, self.timeout).await?;
            return Ok(found.id);
        }
        let request = self.post(&["texml_applications"], &settings);
        let Envelope { data } =
            http::json::<Envelope<TexmlApplication>>(request, self.timeout).await?;
        created.push(ProvisionedResource::created(TEXML_APPLICATION, &data.id));
        Ok(data.id)
    }

    /// The agent's telephony credential under `connection`: the live one tagged `label`, else
    /// a new one (reported in `created`).
    async fn softphone_credential(
        &self,
        connection: &str,
        label: &str,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<(String, String), ProviderError> {
        let request = self
            .get(&["telephony_credentials"])
            .query(&[("filter[tag]", label)]);
        let Envelope { data } =
            http::json::<Envelope<Vec<Credential>>>(request, self.timeout).await?;
        let live =
            data.into_iter()
                .find_map(|c| match (c.expired, c.sip_username, c.sip_password) {
                    (false, Some(user), Some(password))
                        if !user.is_empty() && !password.is_empty() =>
                    {
                        Some((user, password))
                    }
                    _ => None,
                });
        if let Some(found) = live {
            return Ok(found);
        }
        let body = json!({ "connection_id": connection, "name": label, "tag": label });
        let request = self.post(&["telephony_credentials"], &body);
        let Envelope { data } = http::json::<Envelope<Credential>>(request, self.timeout).await?;
        created.push(ProvisionedResource::created(
            "telephony_credential",
            &data.id,
        ));
        match (data.sip_username, data.sip_password) {
            (Some(user), Some(password)) => Ok((user, password)),
            _ => Err(ProviderError::InvalidResponse {
                reason: "Telnyx created a credential without a SIP login".into(),
            }),
        }
    }

    /// Puts `number` on `connection`, recording the connection it had — unless it is there
    /// already (a re-run), so the first record, the number's own, is kept.
    async fn point_number(
        &self,
        number: &str,
        connection: &str,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<(), ProviderError> {
        let Envelope { data } = http::json::<Envelope<NumberRouting>>(
            self.get(&["phone_numbers", number]),
            self.timeout,
        )
        .await?;
        if data.connection_id.as_deref() == Some(connection) {
            return Ok(());
        }
        self.set_connection(number, connection).await?;
        created.push(ProvisionedResource {
            kind: NUMBER.into(),
            id: number.to_string(),
            restore: Some(data.connection_id.unwrap_or_default()),
        });
        Ok(())
    }

    /// `PATCH /phone_numbers/{id}`: an empty `connection` takes the number off any.
    async fn set_connection(&self, number: &str, connection: &str) -> Result<(), ProviderError> {
        let request = self
            .client
            .patch(join(&self.base, &["phone_numbers", number]))
            .bearer_auth(self.api_key.expose_secret())
            .json(&json!({ "connection_id": connection }));
        http::done(request, self.timeout).await
    }

    /// The account's Ed25519 public key (base64), for webhook signatures.
    pub fn with_webhook_key(mut self, public_key: Option<SecretString>) -> Self {
        self.webhook = public_key.map(WebhookKey::Telnyx);
        self
    }
}

#[async_trait]
impl ProviderAdapter for TelnyxAdapter {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Telnyx
    }

    /// `GET /balance`: the cheapest authenticated read; Telnyx has no account-name endpoint.
    fn validate_webhook(&self, request: &WebhookRequest) -> Result<(), ProviderError> {
        webhook::validate(self.webhook.as_ref(), request)
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
        webhook_events::telnyx(request)
    }

    /// A TeXML application's voice request (a number on a TeXML application whose voice URL
    /// is Ringdesk's): TwiML's form fields, signed like every Telnyx webhook.
    fn parse_voice_request(&self, request: &WebhookRequest) -> Result<VoiceRequest, ProviderError> {
        crate::twilio::twiml::parse_voice_request(request)
    }

    fn parse_step_request(&self, request: &WebhookRequest) -> Result<StepRequest, ProviderError> {
        crate::twilio::twiml::parse_step_request(request)
    }

    /// TeXML, which follows TwiML's `<Dial>`, `<Say>` and `<Hangup>`.
    fn render_voice_answer(&self, answer: &VoiceAnswer) -> Result<(String, String), ProviderError> {
        Ok((
            crate::twilio::twiml::CONTENT_TYPE.into(),
            crate::twilio::twiml::render_in(answer, crate::twilio::twiml::Dialect::TeXml),
        ))
    }

    /// `POST /calls` through Ringdesk's Call Control application. Telnyx cannot carry "then
    /// connect" in the request: `connect_answered` transfers the leg when its `call.answered`
    /// webhook arrives, so Telnyx needs the webhook receiver.
    async fn make_call(&self, request: &CallRequest) -> Result<CallHandle, ProviderError> {
        let webhook_url =
            request
                .webhook_url
                .as_deref()
                .ok_or_else(|| ProviderError::Unsupported {
                    provider: "Telnyx".into(),
                    operation: "placing calls without webhooks (turn the webhook receiver on)"
                        .into(),
                })?;
        let connection_id = self.call_control_application(webhook_url).await?;
        let mut body = json!({
            "connection_id": connection_id,
            "to": request.to.as_str(),
            "from": request.from.as_str(),
            "webhook_url": webhook_url,
        });
        if let (true, Some(fields)) = (request.record, body.as_object_mut()) {
            fields.insert("record".into(), json!("record-from-answer"));
        }
        let Envelope { data } =
            http::json::<Envelope<Dialled>>(self.post(&["calls"], &body), self.timeout).await?;
        Ok(CallHandle {
            provider_call_id: data.call_control_id,
        })
    }

    /// `record_pause` / `record_resume` on the leg that records (the agent's, recorded from
    /// its answer).
    async fn pause_recording(
        &self,
        provider_call_id: &str,
        paused: bool,
    ) -> Result<(), ProviderError> {
        let action = if paused {
            "record_pause"
        } else {
            "record_resume"
        };
        let request = self
            .client
            .post(join(
                &self.base,
                &["calls", provider_call_id, "actions", action],
            ))
            .bearer_auth(self.api_key.expose_secret())
            .json(&json!({}));
        http::done(request, self.timeout).await
    }

    /// Telnyx's links are pre-signed storage URLs (valid ten minutes): fetched without the
    /// API key, which never leaves for another host.
    async fn fetch_recording(&self, url: &str) -> Result<RecordingAudio, ProviderError> {
        let url = http::recording_link(url)?;
        http::media(self.client.get(url)).await
    }

    /// `GET /recordings?filter[created_at][gte]=` with fresh `download_urls`, ten pages of 250
    /// at most.
    async fn list_recordings(
        &self,
        since: time::OffsetDateTime,
    ) -> Result<Vec<ProviderRecording>, ProviderError> {
        let since = since
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ProviderError::InvalidResponse {
                reason: e.to_string(),
            })?;
        let mut found = Vec::new();
        for page in 1..=10u32 {
            let number = page.to_string();
            let request = self.get(&["recordings"]).query(&[
                ("filter[created_at][gte]", since.as_str()),
                ("page[number]", number.as_str()),
                ("page[size]", "250"),
            ]);
            let Envelope { data } =
                http::json::<Envelope<Vec<Recording>>>(request, self.timeout).await?;
            let full = data.len() == 250;
            found.extend(data.into_iter().filter_map(|r| {
                let urls = r.download_urls?;
                Some(ProviderRecording {
                    provider_call_id: r.call_control_id?,
                    url: urls.mp3.or(urls.wav)?,
                    duration_secs: r.duration_millis.map(|ms| (ms / 1000) as u32),
                })
            }));
            if !full {
                break;
            }
        }
        Ok(found)
    }

    async fn hangup(&self, provider_call_id: &str) -> Result<(), ProviderError> {
        let request = self.post(
            &["calls", provider_call_id, "actions", "hangup"],
            &json!({}),
        );
        http::done(request, self.timeout).await
    }

    async fn connect_answered(
        &self,
        provider_call_id: &str,
        to: &E164Number,
        from: &E164Number,
    ) -> Result<(), ProviderError> {
        let body = json!({ "to": to.as_str(), "from": from.as_str() });
        let request = self.post(&["calls", provider_call_id, "actions", "transfer"], &body);
        http::done(request, self.timeout).await
    }

    /// `POST /calls/{id}/actions/transfer`: the leg is bridged to a new call to `to`; if that
    /// call fails, Telnyx hangs it up and the leg stays as it was (`call.hangup` for the new leg).
    async fn transfer(
        &self,
        provider_call_id: &str,
        to: &E164Number,
        from: &E164Number,
    ) -> Result<(), ProviderError> {
        self.connect_answered(provider_call_id, to, from).await
    }

    /// The contact's leg is the other live leg of the agent's call session (a transfer's
    /// legs share it), among the Call Control application's active calls; it is transferred
    /// on, and the agent's leg, left alone, hung up.
    async fn transfer_connected(
        &self,
        agent_call_id: &str,
        to: &E164Number,
        from: &E164Number,
        webhook_url: Option<&str>,
    ) -> Result<(), ProviderError> {
        let Envelope { data: call } =
            http::json::<Envelope<CallStatus>>(self.get(&["calls", agent_call_id]), self.timeout)
                .await?;
        let webhook_url = webhook_url.ok_or_else(|| ProviderError::NeedsWebhooks {
            provider: "Telnyx".into(),
        })?;
        let connection_id = self.call_control_application(webhook_url).await?;
        let Envelope { data: active } = http::json::<Envelope<Vec<CallStatus>>>(
            self.get(&["connections", &connection_id, "active_calls"]),
            self.timeout,
        )
        .await?;
        let contact = active
            .into_iter()
            .find(|c| {
                c.call_session_id == call.call_session_id && c.call_control_id != agent_call_id
            })
            .ok_or_else(ProviderError::contact_leg_gone)?;
        self.transfer(&contact.call_control_id, to, from).await?;
        self.hangup(agent_call_id).await
    }

    /// Telnyx reports no capabilities on owned numbers: a number routed to a connection takes
    /// calls, one with a messaging profile takes texts (providers.md §2.2).
    async fn list_numbers(&self) -> Result<Vec<ProviderNumber>, ProviderError> {
        let mut collected = Collected::default();
        let mut page = 1u32;
        loop {
            collected.page()?;
            let number = page.to_string();
            let request = self.get(&["phone_numbers"]).query(&[
                ("page[number]", number.as_str()),
                ("page[size]", NUMBERS_PAGE),
            ]);
            let listed: NumbersPage = http::json(request, self.timeout).await?;
            let empty = listed.data.is_empty();
            for n in listed.data {
                collected.add(Listed {
                    number: &n.phone_number,
                    id: n.id,
                    friendly_name: n.connection_name,
                    number_type: n.phone_number_type.as_deref().map(|t| match t {
                        "toll_free" | "tollfree" => NumberType::Tollfree,
                        "mobile" => NumberType::Mobile,
                        _ => NumberType::Local,
                    }),
                    country: n.country_iso_alpha2,
                    capabilities: NumberCapabilities {
                        voice: n.connection_id.is_some(),
                        sms: n.messaging_profile_id.is_some(),
                        mms: false,
                        fax: false,
                    },
                });
            }
            let pages = listed.meta.and_then(|m| m.total_pages).unwrap_or(1);
            if empty || page >= pages {
                break;
            }
            page += 1;
        }
        tracing::info!(numbers = collected.len(), "Telnyx numbers listed");
        Ok(collected.into_numbers())
    }

    /// A credential connection for Ringdesk's softphones (found by name or created), a
    /// telephony credential for this agent (found by tag or created), and the agent's numbers
    /// pointed at the connection. The softphone registers at `sip.telnyx.com`.
    async fn provision_softphone(
        &self,
        request: &SoftphoneRequest,
    ) -> Result<SoftphoneLogin, ProviderError> {
        let mut created = Vec::new();
        let connection = self.softphone_connection(&mut created).await?;
        let (username, password) = self
            .softphone_credential(&connection, &request.label, &mut created)
            .await?;
        // A team's numbers ask its server (TeXML) who to ring; a desktop's ring its softphone.
        let numbers_to = match (&request.group, &request.voice_url) {
            (Some(group), Some(voice_url)) => {
                self.texml_application(group, voice_url, &mut created)
                    .await?
            }
            _ => connection,
        };
        for number in &request.numbers {
            self.point_number(number, &numbers_to, &mut created).await?;
        }
        tracing::info!(
            created = created.len(),
            numbers = request.numbers.len(),
            "Telnyx softphone login ready"
        );
        Ok(SoftphoneLogin {
            registrar: self.sip_registrar.clone(),
            domain: Some(crate::endpoints::TELNYX_SIP_REGISTRAR.into()),
            username,
            password: SecretString::from(password),
            created,
        })
    }

    async fn remove_provisioned(
        &self,
        resources: &[ProvisionedResource],
    ) -> Result<(), ProviderError> {
        // Numbers back on their own connections first (a connection with numbers on it is in
        // use), then credentials before their connection.
        for r in resources.iter().filter(|r| r.kind == NUMBER) {
            let Some(connection) = r.restore.as_deref() else {
                continue;
            };
            http::gone_is_done(self.set_connection(&r.id, connection).await)?;
        }
        let mut ordered: Vec<&ProvisionedResource> = resources.iter().collect();
        ordered.sort_by_key(|r| r.kind != "telephony_credential");
        for r in ordered {
            let path = match r.kind.as_str() {
                "telephony_credential" => "telephony_credentials",
                "credential_connection" => "credential_connections",
                TEXML_APPLICATION => "texml_applications",
                _ => continue,
            };
            let request = self
                .client
                .delete(join(&self.base, &[path, &r.id]))
                .bearer_auth(self.api_key.expose_secret());
            http::gone_is_done(http::done(request, self.timeout).await)?;
        }
        Ok(())
    }

    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
        let request = self
            .client
            .get(join(&self.base, &["balance"]))
            .bearer_auth(self.api_key.expose_secret());
        let Envelope { data } = http::json::<Envelope<Balance>>(request, self.timeout).await?;
        let detail = match (data.balance, data.currency) {
            (Some(b), Some(c)) => Some(format!("balance {b} {c}")),
            (Some(b), None) => Some(format!("balance {b}")),
            _ => None,
        };
        Ok(AccountInfo { name: None, detail })
    }
}

//! Twilio Voice API 2010-04-01: HTTP Basic with the Account SID and Auth Token, or an API key
//! (SID + secret) with the Account SID in the path; form-encoded requests, JSON answers.

mod softphone;
pub(crate) mod twiml;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use ringdesk_core::ports::{
    AccountInfo, CallHandle, CallRequest, DialTarget, NumberCapabilities, NumberType,
    ProviderAdapter, ProviderNumber, ProviderRecording, ProvisionedResource, RecordingAudio,
    SoftphoneLogin, SoftphoneRequest, StepRequest, TransferRequest, VoiceAnswer, VoiceRequest,
    WebhookEvent, WebhookRequest,
};
use ringdesk_core::{E164Number, ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::endpoints::join;
use crate::http;
use crate::numbers::{self, Collected, Listed};
use crate::webhook::{self, WebhookKey};
use crate::webhook_events;

pub const API_VERSION: &str = "2010-04-01";

pub enum TwilioAuth {
    AuthToken(SecretString),
    ApiKey {
        sid: SecretString,
        secret: SecretString,
    },
}

pub struct TwilioAdapter {
    client: reqwest::Client,
    base: Url,
    account_sid: SecretString,
    auth: TwilioAuth,
    timeout: Duration,
    webhook: Option<WebhookKey>,
    /// Where softphone logins register instead of their SIP domain (a test registrar).
    sip_registrar: Option<String>,
}

#[derive(Deserialize)]
struct IncomingNumber {
    sid: String,
    phone_number: String,
    friendly_name: Option<String>,
    #[serde(default)]
    capabilities: Option<NumberCapabilities>,
    #[serde(rename = "type")]
    number_type: Option<String>,
}

/// One item of `Recordings.json`.
#[derive(Deserialize)]
struct Recording {
    sid: String,
    call_sid: Option<String>,
    /// Seconds, as a string.
    duration: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Account {
    friendly_name: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    account_type: Option<String>,
}

impl TwilioAdapter {
    pub fn new(
        base: Url,
        account_sid: SecretString,
        auth: TwilioAuth,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            client: http::client(timeout)?,
            base,
            account_sid,
            auth,
            timeout,
            webhook: None,
            sip_registrar: None,
        })
    }

    pub fn with_sip_registrar(mut self, registrar: Option<String>) -> Self {
        self.sip_registrar = registrar;
        self
    }

    /// Twilio signs webhooks with the Auth Token (an API key cannot), or a SharedKey.
    pub fn with_webhook_key(mut self, key: Option<SecretString>) -> Self {
        self.webhook = key.map(WebhookKey::Twilio);
        self
    }

    fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.authed(self.client.get(url))
    }

    fn post(&self, url: Url, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.authed(self.client.post(url).form(form))
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let (user, password) = match &self.auth {
            TwilioAuth::AuthToken(token) => {
                (self.account_sid.expose_secret(), token.expose_secret())
            }
            TwilioAuth::ApiKey { sid, secret } => (sid.expose_secret(), secret.expose_secret()),
        };
        request.basic_auth(user, Some(password))
    }

    /// `…/Accounts/{AccountSid}/<segments>`.
    fn account_url(&self, segments: &[&str]) -> Url {
        let mut path = vec![API_VERSION, "Accounts", self.account_sid.expose_secret()];
        path.extend_from_slice(segments);
        join(&self.base, &path)
    }

    fn calls_url(&self, call: Option<&str>) -> Url {
        match call {
            None => self.account_url(&["Calls.json"]),
            Some(c) => self.account_url(&["Calls", &format!("{c}.json")]),
        }
    }

    /// Every item under `key` of a Twilio list, following `next_page_uri` (on our host only)
    /// for at most `max_pages` pages.
    async fn list_all<T: DeserializeOwned>(
        &self,
        first: Url,
        key: &str,
        max_pages: usize,
    ) -> Result<Vec<T>, ProviderError> {
        let mut url = first;
        let mut items = Vec::new();
        let mut visited = HashSet::new();
        for _ in 0..max_pages {
            visited.insert(url.to_string());
            let mut page: serde_json::Map<String, Value> =
                http::json(self.get(url.clone()), self.timeout).await?;
            if let Some(listed) = page.remove(key) {
                let listed: Vec<T> =
                    serde_json::from_value(listed).map_err(|e| ProviderError::InvalidResponse {
                        reason: format!("Twilio's {key}: {e}"),
                    })?;
                items.extend(listed);
            }
            let next = page
                .get("next_page_uri")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .and_then(|n| self.next_page(n));
            match next {
                Some(next) if !visited.contains(next.as_str()) => url = next,
                _ => return Ok(items),
            }
        }
        Err(ProviderError::InvalidResponse {
            reason: format!("Twilio's {key} did not end after {max_pages} pages"),
        })
    }
}

impl TwilioAdapter {
    /// A `next_page_uri` (a path on the API's host) as a URL on our base — never another host,
    /// where the credentials would go.
    fn next_page(&self, uri: &str) -> Option<Url> {
        if !uri.starts_with('/') || uri.starts_with("//") {
            return None;
        }
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{path}"));
        url.set_query((!query.is_empty()).then_some(query));
        Some(url)
    }
}

/// TwiML that connects the answered leg to `to`, showing `from`.
pub fn dial_twiml(to: &E164Number, from: &E164Number) -> String {
    twiml::render(&VoiceAnswer::Dial {
        target: DialTarget::Number(to.clone()),
        caller_id: Some(from.clone()),
        transfer_url: None,
        record: None,
    })
}

#[derive(Deserialize)]
struct CreatedCall {
    sid: String,
}

/// `GET …/Calls.json?ParentCallSid=`: the calls a `<Dial>` made.
#[derive(Deserialize)]
struct ChildCalls {
    #[serde(default)]
    calls: Vec<CreatedCall>,
}

#[async_trait]
impl ProviderAdapter for TwilioAdapter {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Twilio
    }

    /// `GET /2010-04-01/Accounts/{AccountSid}.json`: returns the account's name and status.
    fn validate_webhook(&self, request: &WebhookRequest) -> Result<(), ProviderError> {
        webhook::validate(self.webhook.as_ref(), request)
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
        webhook_events::twilio(request)
    }

    fn parse_voice_request(&self, request: &WebhookRequest) -> Result<VoiceRequest, ProviderError> {
        twiml::parse_voice_request(request)
    }

    fn parse_step_request(&self, request: &WebhookRequest) -> Result<StepRequest, ProviderError> {
        twiml::parse_step_request(request)
    }

    fn parse_transfer_request(
        &self,
        request: &WebhookRequest,
    ) -> Result<TransferRequest, ProviderError> {
        twiml::parse_transfer_request(request)
    }

    fn render_voice_answer(&self, answer: &VoiceAnswer) -> Result<(String, String), ProviderError> {
        Ok((twiml::CONTENT_TYPE.into(), twiml::render(answer)))
    }

    /// A SIP domain with registration and a credential list for the agent; the numbers and
    /// the domain ask `request.voice_url` (the webhook receiver) what to do with calls.
    async fn provision_softphone(
        &self,
        request: &SoftphoneRequest,
    ) -> Result<SoftphoneLogin, ProviderError> {
        self.provision(request).await
    }

    async fn remove_provisioned(
        &self,
        resources: &[ProvisionedResource],
    ) -> Result<(), ProviderError> {
        self.remove(resources).await
    }

    /// `POST …/Calls.json`: rings `to`; with `connect_to`, inline TwiML dials the contact
    /// once `to` answers. Status callbacks go to the webhook URL.
    async fn make_call(&self, request: &CallRequest) -> Result<CallHandle, ProviderError> {
        let (to, from) = (request.to.to_string(), request.from.to_string());
        let twiml = match &request.connect_to {
            Some(contact) => dial_twiml(contact, &request.from),
            // Nobody to connect: the answered leg hears silence until hung up.
            None => "<Response><Pause length=\"600\"/></Response>".to_string(),
        };
        let mut form = vec![
            ("To", to.as_str()),
            ("From", from.as_str()),
            ("Twiml", twiml.as_str()),
        ];
        if let Some(url) = &request.webhook_url {
            form.push(("StatusCallback", url));
            form.push(("StatusCallbackMethod", "POST"));
            for event in ["initiated", "ringing", "answered", "completed"] {
                form.push(("StatusCallbackEvent", event));
            }
        }
        if request.record {
            form.push(("Record", "true"));
        }
        let created: CreatedCall =
            http::json(self.post(self.calls_url(None), &form), self.timeout).await?;
        Ok(CallHandle {
            provider_call_id: created.sid,
        })
    }

    /// `Twilio.CURRENT` names the call's recording in progress without its SID; a pause
    /// skips the time (nothing of it is kept, not even silence).
    async fn pause_recording(
        &self,
        provider_call_id: &str,
        paused: bool,
    ) -> Result<(), ProviderError> {
        let url = self.account_url(&[
            "Calls",
            provider_call_id,
            "Recordings",
            "Twilio.CURRENT.json",
        ]);
        let form: &[(&str, &str)] = if paused {
            &[("Status", "paused"), ("PauseBehavior", "skip")]
        } else {
            &[("Status", "in-progress")]
        };
        http::done(self.post(url, form), self.timeout).await
    }

    /// A `RecordingUrl` carries no extension: `.mp3` asks for the smaller file. The keys go
    /// to Twilio's API host only (media auth may be on for the account).
    async fn fetch_recording(&self, url: &str) -> Result<RecordingAudio, ProviderError> {
        let mut url = http::recording_link(url)?;
        if !http::same_origin(&url, &self.base) {
            return Err(ProviderError::InvalidResponse {
                reason: "the recording link is not on Twilio's API host (no keys are sent there)"
                    .into(),
            });
        }
        if !(url.path().ends_with(".mp3") || url.path().ends_with(".wav")) {
            let path = format!("{}.mp3", url.path());
            url.set_path(&path);
        }
        http::media(self.get(url)).await
    }

    /// `GET …/Recordings.json?DateCreated>=` (Twilio compares dates, not times), completed
    /// ones only, ten pages at most.
    async fn list_recordings(
        &self,
        since: time::OffsetDateTime,
    ) -> Result<Vec<ProviderRecording>, ProviderError> {
        let mut first = self.account_url(&["Recordings.json"]);
        first
            .query_pairs_mut()
            .append_pair("DateCreated>", &since.date().to_string())
            .append_pair("PageSize", "100");
        let listed: Vec<Recording> = self.list_all(first, "recordings", 10).await?;
        Ok(listed
            .into_iter()
            .filter(|r| r.status.as_deref() == Some("completed"))
            .filter_map(|r| {
                Some(ProviderRecording {
                    url: self.account_url(&["Recordings", &r.sid]).to_string(),
                    provider_call_id: r.call_sid?,
                    duration_secs: r.duration.and_then(|d| d.trim().parse().ok()),
                })
            })
            .collect())
    }

    /// `POST …/Calls/{Sid}.json Status=completed` ends the call whatever its state.
    async fn hangup(&self, provider_call_id: &str) -> Result<(), ProviderError> {
        let request = self.post(
            self.calls_url(Some(provider_call_id)),
            &[("Status", "completed")],
        );
        http::done(request, self.timeout).await
    }

    /// `POST …/Calls/{Sid}.json Twiml=<Dial>`: the leg leaves its TwiML (and whoever it was
    /// dialled to) and runs the new one, which dials `to`.
    async fn transfer(
        &self,
        provider_call_id: &str,
        to: &E164Number,
        from: &E164Number,
    ) -> Result<(), ProviderError> {
        let twiml = dial_twiml(to, from);
        let request = self.post(
            self.calls_url(Some(provider_call_id)),
            &[("Twiml", twiml.as_str())],
        );
        http::done(request, self.timeout).await
    }

    /// The contact is the `<Dial>` child of the agent's call (`ParentCallSid`): its TwiML is
    /// replaced, which ends the parent's `<Dial>`; the parent's TwiML then ends, and with it
    /// the agent's leg.
    async fn transfer_connected(
        &self,
        agent_call_id: &str,
        to: &E164Number,
        from: &E164Number,
        _webhook_url: Option<&str>,
    ) -> Result<(), ProviderError> {
        let mut url = self.calls_url(None);
        url.query_pairs_mut()
            .append_pair("ParentCallSid", agent_call_id)
            .append_pair("Status", "in-progress");
        // One `<Dial>` has one child in progress: the first page holds it.
        let page: ChildCalls = http::json(self.get(url), self.timeout).await?;
        let child = page
            .calls
            .into_iter()
            .map(|c| c.sid)
            .find(|sid| sid != agent_call_id)
            .ok_or_else(ProviderError::contact_leg_gone)?;
        self.transfer(&child, to, from).await
    }

    /// Follows `next_page_uri` (relative to the API's host) to the end.
    async fn list_numbers(&self) -> Result<Vec<ProviderNumber>, ProviderError> {
        let mut url = self.account_url(&["IncomingPhoneNumbers.json"]);
        url.query_pairs_mut().append_pair("PageSize", "1000");
        let listed: Vec<IncomingNumber> = self
            .list_all(url, "incoming_phone_numbers", numbers::MAX_PAGES)
            .await?;
        let mut collected = Collected::default();
        for n in listed {
            collected.add(Listed {
                number: &n.phone_number,
                id: n.sid,
                friendly_name: n.friendly_name,
                number_type: n.number_type.as_deref().map(|t| match t {
                    "toll-free" | "tollfree" | "toll_free" => NumberType::Tollfree,
                    "mobile" => NumberType::Mobile,
                    _ => NumberType::Local,
                }),
                country: None,
                capabilities: n.capabilities.unwrap_or_default(),
            });
        }
        tracing::info!(numbers = collected.len(), "Twilio numbers listed");
        Ok(collected.into_numbers())
    }

    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
        let resource = format!("{}.json", self.account_sid.expose_secret());
        let url = join(&self.base, &[API_VERSION, "Accounts", &resource]);
        let account: Account = http::json(self.get(url), self.timeout).await?;
        match account.status.as_deref() {
            Some("suspended") | Some("closed") => {
                return Err(ProviderError::AccountNotUsable {
                    reason: format!(
                        "the Twilio account is {}",
                        account.status.unwrap_or_default()
                    ),
                })
            }
            _ => {}
        }
        let detail = account.account_type.map(|t| format!("{t} account"));
        Ok(AccountInfo {
            name: account.friendly_name,
            detail,
        })
    }
}

//! Vonage: the account API takes `api_key`/`api_secret` as query parameters (as its spec
//! requires), the applications API HTTP Basic, and the Voice API a short-lived RS256 JWT signed
//! with the voice application's private key.

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ringdesk_core::ports::{
    AccountInfo, CallHandle, CallRequest, NumberCapabilities, NumberType, ProviderAdapter,
    ProviderNumber, RecordingAudio, StepRequest, VoiceAnswer, VoiceRequest, WebhookEvent,
    WebhookRequest,
};
use ringdesk_core::{E164Number, ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::endpoints::{join, Endpoints};
use crate::http;
use crate::numbers::{Collected, Listed};
use crate::webhook::{self, WebhookKey};
use crate::webhook_events;

/// Lifetime of an application JWT (vonage-jwt's default).
const JWT_LIFETIME_SECS: i64 = 900;

/// The voice application Ringdesk calls through: its id and the key that signs its JWTs.
pub struct VoiceApplication {
    id: SecretString,
    key: EncodingKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    application_id: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

impl VoiceApplication {
    pub fn new(id: SecretString, private_key_pem: &SecretString) -> Result<Self, ProviderError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes()).map_err(
            |_| ProviderError::WrongKeys {
                message: "the private key is not an RSA key in PEM format".into(),
            },
        )?;
        Ok(Self { id, key })
    }

    /// A JWT for the Voice API, issued at `iat`.
    pub fn jwt(&self, iat: OffsetDateTime) -> Result<String, ProviderError> {
        let iat = iat.unix_timestamp();
        let claims = Claims {
            application_id: self.id.expose_secret(),
            iat,
            exp: iat + JWT_LIFETIME_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(|e| {
            ProviderError::WrongKeys {
                message: format!("cannot sign with the private key: {e}"),
            }
        })
    }
}

#[derive(Deserialize)]
struct CreatedCall {
    uuid: String,
}

/// `GET /v1/calls/{uuid}`: what the transfer of a connected contact needs.
#[derive(Deserialize)]
struct CallDetails {
    #[serde(default)]
    conversation_uuid: Option<String>,
}

/// `GET /v1/calls?conversation_uuid=`.
#[derive(Deserialize)]
struct CallList {
    #[serde(rename = "_embedded", default)]
    embedded: Option<EmbeddedCalls>,
}

#[derive(Deserialize)]
struct EmbeddedCalls {
    #[serde(default)]
    calls: Vec<CreatedCall>,
}

fn vonage_number(n: &E164Number) -> String {
    n.as_str().trim_start_matches('+').to_string()
}

/// The create-call body (voice.yml `CreateCallRequest`): phone endpoints, an NCCO, events.
/// A call to be recorded is answered by the receiver instead (`answer_url`: its `voice`
/// path): Vonage starts a recording only from an NCCO, and the recording's event names only
/// the conversation — the answer names the leg in the event's URL, and the leg is known only
/// once Vonage asks.
pub fn create_call_body(request: &CallRequest) -> serde_json::Value {
    let from = vonage_number(&request.from);
    if let (true, Some(_), Some(hook)) = (request.record, &request.connect_to, &request.webhook_url)
    {
        return json!({
            "to": [{ "type": "phone", "number": vonage_number(&request.to) }],
            "from": { "type": "phone", "number": from },
            "answer_url": [format!("{hook}/voice")],
            "answer_method": "POST",
            "event_url": [hook],
            "event_method": "POST",
        });
    }
    let ncco = match &request.connect_to {
        Some(contact) => json!([{
            "action": "connect",
            "from": from,
            "endpoint": [{ "type": "phone", "number": vonage_number(contact) }],
        }]),
        None => json!([{ "action": "talk", "text": "Ringdesk call" }]),
    };
    let mut body = json!({
        "to": [{ "type": "phone", "number": vonage_number(&request.to) }],
        "from": { "type": "phone", "number": from },
        "ncco": ncco,
    });
    if let (Some(url), Some(fields)) = (&request.webhook_url, body.as_object_mut()) {
        fields.insert("event_url".into(), json!([url]));
        fields.insert("event_method".into(), json!("POST"));
    }
    body
}

/// The `PUT /v1/calls/{uuid}` body that moves a leg to a new NCCO connecting `to`.
pub fn transfer_body(to: &E164Number, from: &E164Number) -> serde_json::Value {
    json!({
        "action": "transfer",
        "destination": {
            "type": "ncco",
            "ncco": [{
                "action": "connect",
                "from": vonage_number(from),
                "endpoint": [{ "type": "phone", "number": vonage_number(to) }],
            }],
        },
    })
}

pub struct VonageAdapter {
    client: reqwest::Client,
    endpoints: Endpoints,
    api_key: SecretString,
    api_secret: SecretString,
    application: Option<VoiceApplication>,
    webhook: Option<WebhookKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Balance {
    value: Option<f64>,
    auto_reload: Option<bool>,
}

/// Vonage's largest page of numbers.
const NUMBERS_PAGE: u32 = 100;

#[derive(Deserialize)]
struct NumbersPage {
    count: Option<u32>,
    #[serde(default)]
    numbers: Vec<OwnedNumber>,
}

#[derive(Deserialize)]
struct OwnedNumber {
    msisdn: String,
    country: Option<String>,
    #[serde(rename = "type")]
    number_type: Option<String>,
    #[serde(default)]
    features: Vec<String>,
}

#[derive(Deserialize)]
struct Application {
    name: Option<String>,
}

impl VonageAdapter {
    pub fn new(
        endpoints: Endpoints,
        api_key: SecretString,
        api_secret: SecretString,
        application: Option<VoiceApplication>,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            client: http::client(endpoints.timeout)?,
            endpoints,
            api_key,
            api_secret,
            application,
            webhook: None,
        })
    }

    /// The account's signature secret (dashboard setting; not the API secret).
    pub fn with_webhook_key(mut self, signature_secret: Option<SecretString>) -> Self {
        self.webhook = signature_secret.map(WebhookKey::Vonage);
        self
    }

    /// A file Vonage keeps (`/v1/files/<id>`): the application's JWT goes to Vonage's own
    /// hosts only.
    fn file(&self, url: &str, operation: &str) -> Result<reqwest::RequestBuilder, ProviderError> {
        let url = http::recording_link(url)?;
        let vonage_host = url.scheme() == "https"
            && url.host_str().is_some_and(|h| {
                h == "api.nexmo.com" || (h.starts_with("api-") && h.ends_with(".nexmo.com"))
            });
        if !(vonage_host || http::same_origin(&url, &self.endpoints.vonage_calls)) {
            return Err(ProviderError::InvalidResponse {
                reason: "the link is not on Vonage's API host (no keys are sent there)".into(),
            });
        }
        let app = self.voice_application(operation)?;
        Ok(self
            .client
            .get(url)
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?))
    }

    fn timeout(&self) -> Duration {
        self.endpoints.timeout
    }

    fn voice_application(&self, operation: &str) -> Result<&VoiceApplication, ProviderError> {
        self.application
            .as_ref()
            .ok_or_else(|| ProviderError::MissingCredentials {
                fields: format!("an Application ID and private key (needed for {operation})"),
            })
    }

    async fn balance(&self) -> Result<Balance, ProviderError> {
        let url = join(&self.endpoints.vonage_rest, &["account", "get-balance"]);
        let request = self.client.get(url).query(&[
            ("api_key", self.api_key.expose_secret()),
            ("api_secret", self.api_secret.expose_secret()),
        ]);
        http::json(request, self.timeout()).await
    }

    /// The application's name, and a proof that its private key signs JWTs the Voice API accepts.
    async fn check_application(
        &self,
        app: &VoiceApplication,
    ) -> Result<Option<String>, ProviderError> {
        let url = join(
            &self.endpoints.vonage_applications,
            &[app.id.expose_secret()],
        );
        let request = self.client.get(url).basic_auth(
            self.api_key.expose_secret(),
            Some(self.api_secret.expose_secret()),
        );
        let application: Application =
            http::json(request, self.timeout())
                .await
                .map_err(|e| match e {
                    ProviderError::Rejected { status: 404, .. } => ProviderError::WrongKeys {
                        message: "no application with that Application ID in this account".into(),
                    },
                    other => other,
                })?;

        let request = self
            .client
            .get(self.endpoints.vonage_calls.clone())
            .query(&[("page_size", "1")])
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?);
        http::json::<serde_json::Value>(request, self.timeout())
            .await
            .map_err(|e| match e {
                ProviderError::WrongKeys { message } => ProviderError::WrongKeys {
                    message: format!(
                        "the Voice API refused the application's private key ({message})"
                    ),
                },
                other => other,
            })?;
        Ok(application.name)
    }
}

#[async_trait]
impl ProviderAdapter for VonageAdapter {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Vonage
    }

    fn validate_webhook(&self, request: &WebhookRequest) -> Result<(), ProviderError> {
        webhook::validate(self.webhook.as_ref(), request)
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
        webhook_events::vonage(request)
    }

    /// The application's `answer_url` request.
    fn parse_voice_request(&self, request: &WebhookRequest) -> Result<VoiceRequest, ProviderError> {
        crate::ncco::parse_voice_request(request)
    }

    fn parse_step_request(&self, request: &WebhookRequest) -> Result<StepRequest, ProviderError> {
        crate::ncco::parse_step_request(request)
    }

    fn render_voice_answer(&self, answer: &VoiceAnswer) -> Result<(String, String), ProviderError> {
        Ok(("application/json".into(), crate::ncco::render(answer)))
    }

    /// `POST /v1/calls` with the application's JWT: rings `to`; with `connect_to`, an inline
    /// NCCO connects the contact once `to` answers. Vonage numbers carry no `+`.
    async fn make_call(&self, request: &CallRequest) -> Result<CallHandle, ProviderError> {
        let app = self.voice_application("placing calls")?;
        let body = create_call_body(request);
        let http_request = self
            .client
            .post(self.endpoints.vonage_calls.clone())
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?)
            .json(&body);
        let created: CreatedCall = http::json(http_request, self.timeout()).await?;
        Ok(CallHandle {
            provider_call_id: created.uuid,
        })
    }

    /// `PUT /v1/calls/{uuid}` `{"action":"hangup"}` (204).
    /// `https://api.nexmo.com/v1/files/<id>` (or a regional `api-*.nexmo.com`) with the
    /// application's JWT. Vonage keeps recordings 30 days and lists none: the event is the
    /// only word of them.
    async fn fetch_recording(&self, url: &str) -> Result<RecordingAudio, ProviderError> {
        http::media(self.file(url, "fetching recordings")?).await
    }

    /// A transcription's file (JSON, on the same host and with the same JWT as recordings).
    async fn fetch_transcript(&self, url: &str) -> Result<String, ProviderError> {
        let request = self.file(url, "fetching transcriptions")?;
        crate::ncco::transcript_text(&http::small_file(request, self.timeout()).await?)
    }

    async fn hangup(&self, provider_call_id: &str) -> Result<(), ProviderError> {
        let app = self.voice_application("hanging up calls")?;
        let request = self
            .client
            .put(join(&self.endpoints.vonage_calls, &[provider_call_id]))
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?)
            .json(&json!({ "action": "hangup" }));
        http::done(request, self.timeout()).await
    }

    /// `PUT /v1/calls/{uuid}` with a transfer to an inline NCCO (204).
    async fn transfer(
        &self,
        provider_call_id: &str,
        to: &E164Number,
        from: &E164Number,
    ) -> Result<(), ProviderError> {
        let app = self.voice_application("transferring calls")?;
        let request = self
            .client
            .put(join(&self.endpoints.vonage_calls, &[provider_call_id]))
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?)
            .json(&transfer_body(to, from));
        http::done(request, self.timeout()).await
    }

    /// The contact's leg is the other answered leg of the agent's conversation; it is
    /// transferred on, and the agent's leg, left alone in the old conversation, hung up.
    async fn transfer_connected(
        &self,
        agent_call_id: &str,
        to: &E164Number,
        from: &E164Number,
        _webhook_url: Option<&str>,
    ) -> Result<(), ProviderError> {
        let app = self.voice_application("transferring calls")?;
        let request = self
            .client
            .get(join(&self.endpoints.vonage_calls, &[agent_call_id]))
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?);
        let call: CallDetails = http::json(request, self.timeout()).await?;
        let conversation = call
            .conversation_uuid
            .ok_or_else(|| ProviderError::NotFound {
                what: "conversation for this call".into(),
            })?;
        let request = self
            .client
            .get(self.endpoints.vonage_calls.clone())
            .query(&[
                ("conversation_uuid", conversation.as_str()),
                ("status", "answered"),
            ])
            .bearer_auth(app.jwt(OffsetDateTime::now_utc())?);
        let listed: CallList = http::json(request, self.timeout()).await?;
        let contact = listed
            .embedded
            .map(|e| e.calls)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.uuid)
            .find(|uuid| uuid != agent_call_id)
            .ok_or_else(ProviderError::contact_leg_gone)?;
        self.transfer(&contact, to, from).await?;
        self.hangup(agent_call_id).await
    }

    /// Pages by 1-based `index` until `count` numbers are read. Vonage numbers have no id of
    /// their own: the MSISDN is the key.
    async fn list_numbers(&self) -> Result<Vec<ProviderNumber>, ProviderError> {
        let url = join(&self.endpoints.vonage_rest, &["account", "numbers"]);
        let mut collected = Collected::default();
        let mut index = 1u32;
        let mut read = 0u32;
        loop {
            collected.page()?;
            let (i, size) = (index.to_string(), NUMBERS_PAGE.to_string());
            let request = self.client.get(url.clone()).query(&[
                ("api_key", self.api_key.expose_secret()),
                ("api_secret", self.api_secret.expose_secret()),
                ("index", i.as_str()),
                ("size", size.as_str()),
            ]);
            let page: NumbersPage = http::json(request, self.timeout()).await?;
            let got = page.numbers.len() as u32;
            read += got;
            for n in page.numbers {
                let has = |f: &str| n.features.iter().any(|g| g.eq_ignore_ascii_case(f));
                let number = format!("+{}", n.msisdn.trim_start_matches('+'));
                collected.add(Listed {
                    number: &number,
                    friendly_name: None,
                    number_type: n.number_type.as_deref().map(|t| {
                        if t.contains("toll-free") {
                            NumberType::Tollfree
                        } else if t.starts_with("mobile") {
                            NumberType::Mobile
                        } else {
                            NumberType::Local
                        }
                    }),
                    country: n.country,
                    capabilities: NumberCapabilities {
                        voice: has("VOICE"),
                        sms: has("SMS"),
                        mms: has("MMS"),
                        fax: false,
                    },
                    id: n.msisdn,
                });
            }
            if got == 0 || read >= page.count.unwrap_or(0) {
                break;
            }
            index += 1;
        }
        tracing::info!(numbers = collected.len(), "Vonage numbers listed");
        Ok(collected.into_numbers())
    }

    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError> {
        let balance = self.balance().await?;
        let mut details = Vec::new();
        if let Some(value) = balance.value {
            details.push(format!("balance {value:.2}"));
        }
        if balance.auto_reload == Some(true) {
            details.push("auto-reload on".to_string());
        }
        let name = match &self.application {
            Some(app) => {
                let name = self.check_application(app).await?;
                details.push("voice application ready".to_string());
                name
            }
            None => {
                details.push("add an Application ID and private key to place calls".to_string());
                None
            }
        };
        Ok(AccountInfo {
            name,
            detail: Some(details.join(", ")),
        })
    }
}

//! The desktop's side of the team server's API (docs/server-openapi.yaml): an invite link
//! read and checked, the invite traded for this desktop's device token, then requests signed
//! with it — presence (also the heartbeat), who am I, my softphone login.

use std::time::Duration;

use ringdesk_core::team::{Device, Presence};

mod live;
pub use live::{LinkEvent, LiveLink};
use ringdesk_core::queue::{
    Queue, QueueId, QueueInput, QueueNow, QueueSound, Voicemail, VoicemailId, VoicemailStatus,
};
use ringdesk_core::team::AgentLogin;
use ringdesk_core::{
    CredentialField, NewProvider, NumberSyncReport, PhoneNumber, PhoneNumberId, Provider,
    ProviderId, RouteInput, User, UserId, UserInput,
};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

/// Invite codes are 48 characters; anything much longer is not one.
const MAX_CODE: usize = 200;
const TIMEOUT: Duration = Duration::from_secs(10);
/// A recording comes whole: an hour of the providers' MP3 is ~60 MB.
const RECORDING_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_RECORDING: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("“{0}” is not a team server address (http or https URL)")]
    BadServer(String),
    #[error("this is not a Ringdesk invite: {0}")]
    BadInvite(String),
    #[error("could not reach the team server at {0}")]
    Unreachable(String),
    #[error("the team server refused: {0}")]
    Refused(String),
    /// A form value the server refused (the field to mark).
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("the team server's answer was not understood: {0}")]
    Unreadable(String),
}

/// What an invite link carries: where the team server is and the one-time code.
impl TeamError {
    /// The server no longer knows this device (revoked, or its token gone): join again.
    pub fn is_signed_out(&self) -> bool {
        matches!(self, TeamError::Refused(why) if why.starts_with("401"))
    }
}

/// A SIP login on the team's own PBX, as an admin types it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GivenLogin {
    pub sip_user: String,
    pub sip_domain: String,
    pub registrar: String,
    pub password: SecretString,
}

/// A link that plays a recording without a login, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingLink {
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub server: Url,
    pub code: String,
}

/// The team server's address, checked: http(s) with a host, no query or fragment, no
/// trailing slash.
pub fn server_url(raw: &str) -> Result<Url, TeamError> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|_| TeamError::BadServer(raw.to_string()))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(TeamError::BadServer(raw.to_string()));
    }
    let text = url.as_str().trim_end_matches('/').to_string();
    Url::parse(&text).map_err(|_| TeamError::BadServer(raw.to_string()))
}

/// `ringdesk://join?server=<url>&code=<code>` read, as untrusted as any link: one server, one
/// code of plain characters, nothing else.
pub fn parse_invite(link: &str) -> Result<Invite, TeamError> {
    let bad = |why: &str| TeamError::BadInvite(why.to_string());
    if link.len() > 1024 || link.chars().any(char::is_control) {
        return Err(bad("too long, or with control characters"));
    }
    let url = Url::parse(link.trim()).map_err(|_| bad("not a link"))?;
    if url.scheme() != "ringdesk" || url.host_str() != Some("join") {
        return Err(bad("it does not start with ringdesk://join"));
    }
    let (mut server, mut code) = (None, None);
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "server" => &mut server,
            "code" => &mut code,
            _ => return Err(bad("it carries something else than server and code")),
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad("it names the server or the code twice"));
        }
    }
    let server = server_url(&server.ok_or_else(|| bad("it names no server"))?)?;
    let code = checked_code(&code.ok_or_else(|| bad("it carries no code"))?)?;
    Ok(Invite { server, code })
}

/// An invite code: letters, digits, `-` and `_` only (a pasted code is trimmed first by
/// whoever took it from the agent).
pub fn checked_code(code: &str) -> Result<String, TeamError> {
    if code.is_empty()
        || code.len() > MAX_CODE
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(TeamError::BadInvite(
            "the code is not one Ringdesk makes".into(),
        ));
    }
    Ok(code.to_string())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    pub token: String,
    pub device: Device,
    pub user: Option<User>,
}

/// An invite an admin hands an agent: the link their desktop opens (or its code).
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteLink {
    pub code: String,
    pub link: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

#[derive(Deserialize)]
struct AgentAdded {
    user: User,
    invite: InviteLink,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub device: Device,
    pub user: Option<User>,
}

/// A teammate as the server lists them: the agent and what their desktops say (None: none
/// heard from lately — offline).
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamAgent {
    #[serde(flatten)]
    pub user: User,
    pub presence: Option<Presence>,
}

/// The agent's softphone login as the server hands it to their own desktop.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftphoneLogin {
    pub registrar: String,
    pub domain: String,
    pub username: String,
    pub password: SecretString,
}

#[derive(Clone)]
pub struct TeamClient {
    http: reqwest::Client,
    server: Url,
}

fn unreachable(server: &Url) -> TeamError {
    TeamError::Unreachable(server.to_string())
}

/// Why the server refused, in its own sentence (anything else cut short); a form value it
/// refused names its field.
fn refusal(status: reqwest::StatusCode, text: &str) -> TeamError {
    let answer = serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
    let why = answer["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(200).collect());
    if let (reqwest::StatusCode::UNPROCESSABLE_ENTITY, Some(field)) =
        (status, answer["field"].as_str())
    {
        return TeamError::Invalid {
            field: field.to_string(),
            message: why,
        };
    }
    TeamError::Refused(format!("{}: {why}", status.as_u16()))
}

impl TeamClient {
    pub fn new(server: Url) -> Result<TeamClient, TeamError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|_| unreachable(&server))?;
        Ok(TeamClient { http, server })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.as_str().trim_end_matches('/'))
    }

    async fn read<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, TeamError> {
        let response = request
            .send()
            .await
            .map_err(|_| unreachable(&self.server))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|_| unreachable(&self.server))?;
        if status.is_success() {
            if status == reqwest::StatusCode::NO_CONTENT {
                return Ok(None);
            }
            return serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| TeamError::Unreadable(e.to_string()));
        }
        Err(refusal(status, &text))
    }

    /// A share link to a call's recording (what the CRM's activity carries).
    pub async fn recording_link(
        &self,
        token: &SecretString,
        call: ringdesk_core::CallId,
    ) -> Result<RecordingLink, TeamError> {
        let path = format!("/api/v1/calls/{}/recording/link", call.0);
        self.expect(self.authed(reqwest::Method::POST, &path, token))
            .await
    }

    /// Deletes a call's recording on the server (admins).
    pub async fn delete_recording(
        &self,
        token: &SecretString,
        call: ringdesk_core::CallId,
    ) -> Result<(), TeamError> {
        let path = format!("/api/v1/calls/{}/recording", call.0);
        self.read::<serde_json::Value>(self.authed(reqwest::Method::DELETE, &path, token))
            .await
            .map(|_| ())
    }

    /// A call's recording as the team server keeps it: this agent's own call (or any, for an
    /// admin).
    pub async fn recording(
        &self,
        token: &SecretString,
        call: ringdesk_core::CallId,
    ) -> Result<Vec<u8>, TeamError> {
        self.audio(token, &format!("/api/v1/calls/{}/recording", call.0))
            .await
    }

    /// Audio the server keeps (a recording, a voicemail message). Bounded; a slow link gets
    /// longer than the API's usual wait.
    async fn audio(&self, token: &SecretString, path: &str) -> Result<Vec<u8>, TeamError> {
        let response = self
            .authed(reqwest::Method::GET, path, token)
            .timeout(RECORDING_TIMEOUT)
            .send()
            .await
            .map_err(|_| unreachable(&self.server))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(refusal(status, &text));
        }
        if response.content_length().unwrap_or(0) > MAX_RECORDING {
            return Err(TeamError::Unreadable("the recording is too large".into()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|_| unreachable(&self.server))?;
        Ok(bytes.to_vec())
    }

    /// The team's queues, each with its callers now.
    pub async fn queues(&self, token: &SecretString) -> Result<Vec<QueueNow>, TeamError> {
        self.expect(self.authed(reqwest::Method::GET, "/api/v1/queues", token))
            .await
    }

    /// Makes a queue (None) or changes one (admins).
    pub async fn save_queue(
        &self,
        token: &SecretString,
        id: Option<QueueId>,
        queue: &QueueInput,
    ) -> Result<Queue, TeamError> {
        let request = match id {
            Some(id) => self.authed(reqwest::Method::PUT, &format!("/api/v1/queues/{id}"), token),
            None => self.authed(reqwest::Method::POST, "/api/v1/queues", token),
        };
        self.expect(request.json(queue)).await
    }

    pub async fn delete_queue(&self, token: &SecretString, id: QueueId) -> Result<(), TeamError> {
        let path = format!("/api/v1/queues/{id}");
        self.read::<serde_json::Value>(self.authed(reqwest::Method::DELETE, &path, token))
            .await
            .map(|_| ())
    }

    /// An admin's recording for a queue's hold music or greeting (WAV or MP3).
    pub async fn upload_queue_sound(
        &self,
        token: &SecretString,
        id: QueueId,
        sound: QueueSound,
        bytes: Vec<u8>,
    ) -> Result<(), TeamError> {
        let path = format!("/api/v1/queues/{id}/audio/{}", sound.code());
        let request = self
            .authed(reqwest::Method::PUT, &path, token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        self.read::<serde_json::Value>(request).await.map(|_| ())
    }

    /// Back to the server's hold music, or the spoken greeting (admins).
    pub async fn remove_queue_sound(
        &self,
        token: &SecretString,
        id: QueueId,
        sound: QueueSound,
    ) -> Result<(), TeamError> {
        let path = format!("/api/v1/queues/{id}/audio/{}", sound.code());
        self.read::<serde_json::Value>(self.authed(reqwest::Method::DELETE, &path, token))
            .await
            .map(|_| ())
    }

    /// Whether the agent greets callers with their own recording.
    pub async fn my_greeting(&self, token: &SecretString) -> Result<bool, TeamError> {
        #[derive(serde::Deserialize)]
        struct Greeting {
            uploaded: bool,
        }
        let greeting: Greeting = self
            .expect(self.authed(reqwest::Method::GET, "/api/v1/me/greeting", token))
            .await?;
        Ok(greeting.uploaded)
    }

    /// The agent's own voicemail greeting (WAV or MP3), or back to the spoken one (None).
    pub async fn set_my_greeting(
        &self,
        token: &SecretString,
        recording: Option<Vec<u8>>,
    ) -> Result<(), TeamError> {
        let request = match recording {
            Some(bytes) => self
                .authed(reqwest::Method::PUT, "/api/v1/me/greeting", token)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(bytes),
            None => self.authed(reqwest::Method::DELETE, "/api/v1/me/greeting", token),
        };
        self.read::<serde_json::Value>(request).await.map(|_| ())
    }

    /// The messages in this agent's box and their queues'.
    pub async fn voicemails(
        &self,
        token: &SecretString,
        status: Option<VoicemailStatus>,
        search: Option<&str>,
    ) -> Result<Vec<Voicemail>, TeamError> {
        let mut query = Vec::new();
        if let Some(status) = status {
            query.push(("status", status.code().to_string()));
        }
        if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
            query.push(("q", search.to_string()));
        }
        self.expect(
            self.authed(reqwest::Method::GET, "/api/v1/voicemails", token)
                .query(&query),
        )
        .await
    }

    pub async fn voicemail_audio(
        &self,
        token: &SecretString,
        id: VoicemailId,
    ) -> Result<Vec<u8>, TeamError> {
        self.audio(token, &format!("/api/v1/voicemails/{id}/audio"))
            .await
    }

    pub async fn set_voicemail_status(
        &self,
        token: &SecretString,
        id: VoicemailId,
        status: VoicemailStatus,
    ) -> Result<(), TeamError> {
        let path = format!("/api/v1/voicemails/{id}/status");
        let body = serde_json::json!({ "status": status });
        self.read::<serde_json::Value>(self.authed(reqwest::Method::PUT, &path, token).json(&body))
            .await
            .map(|_| ())
    }

    fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &SecretString,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(token.expose_secret())
    }

    /// An answer that must have a body.
    async fn expect<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, TeamError> {
        self.read(request)
            .await?
            .ok_or_else(|| TeamError::Unreadable("empty answer".into()))
    }

    /// The team's numbers and their routes.
    pub async fn numbers(&self, token: &SecretString) -> Result<Vec<PhoneNumber>, TeamError> {
        self.expect(self.authed(reqwest::Method::GET, "/api/v1/numbers", token))
            .await
    }

    /// Where a number's calls go (admins).
    pub async fn set_route(
        &self,
        token: &SecretString,
        number: PhoneNumberId,
        route: Option<&RouteInput>,
    ) -> Result<PhoneNumber, TeamError> {
        let path = format!("/api/v1/numbers/{number}/route");
        self.expect(self.authed(reqwest::Method::PUT, &path, token).json(&route))
            .await
    }

    /// Whether a number's calls are recorded (admins; None: as its provider says).
    pub async fn set_number_recording(
        &self,
        token: &SecretString,
        number: PhoneNumberId,
        record_calls: Option<bool>,
    ) -> Result<PhoneNumber, TeamError> {
        let path = format!("/api/v1/numbers/{number}/recording");
        let body = serde_json::json!({ "recordCalls": record_calls });
        self.expect(self.authed(reqwest::Method::PUT, &path, token).json(&body))
            .await
    }

    /// Reads the team provider's numbers again (admins).
    pub async fn sync_numbers(
        &self,
        token: &SecretString,
        provider: ProviderId,
    ) -> Result<NumberSyncReport, TeamError> {
        let path = format!("/api/v1/providers/{provider}/numbers/sync");
        self.expect(self.authed(reqwest::Method::POST, &path, token))
            .await
    }

    /// The team's providers (flags only: the server never answers with keys).
    pub async fn providers(&self, token: &SecretString) -> Result<Vec<Provider>, TeamError> {
        self.expect(self.authed(reqwest::Method::GET, "/api/v1/providers", token))
            .await
    }

    /// Adds a provider account to the team (admins): its keys go to the server, which seals
    /// them; nothing of them comes back.
    pub async fn add_provider(
        &self,
        token: &SecretString,
        new: &NewProvider,
    ) -> Result<Provider, TeamError> {
        let mut keys = serde_json::Map::new();
        for field in CredentialField::ALL {
            if let (Some(value), Ok(serde_json::Value::String(name))) =
                (new.credentials.expose(field), serde_json::to_value(field))
            {
                keys.insert(name, serde_json::Value::String(value.to_string()));
            }
        }
        let body = serde_json::json!({
            "kind": new.kind,
            "name": new.name,
            "credentials": keys,
            "defaultCallerId": new.default_caller_id,
            "recordCalls": new.record_calls,
            "sip": new.sip,
        });
        self.expect(
            self.authed(reqwest::Method::POST, "/api/v1/providers", token)
                .json(&body),
        )
        .await
    }

    /// Makes a team provider the active one (admins); the server then makes the agents'
    /// missing softphone logins on it.
    pub async fn activate_provider(
        &self,
        token: &SecretString,
        provider: ProviderId,
    ) -> Result<Provider, TeamError> {
        let path = format!("/api/v1/providers/{provider}/activate");
        self.expect(self.authed(reqwest::Method::POST, &path, token))
            .await
    }

    /// Makes (or remakes) an agent's softphone login on the active provider (admins).
    pub async fn provision_softphone(
        &self,
        token: &SecretString,
        user: UserId,
    ) -> Result<AgentLogin, TeamError> {
        let path = format!("/api/v1/agents/{user}/softphone");
        self.expect(self.authed(reqwest::Method::POST, &path, token))
            .await
    }

    /// Keeps a SIP login the team's PBX gave an agent, on the active provider (admins): for a
    /// provider that makes none (Vonage rings agents at that address).
    pub async fn give_softphone(
        &self,
        token: &SecretString,
        user: UserId,
        login: &GivenLogin,
    ) -> Result<AgentLogin, TeamError> {
        let path = format!("/api/v1/agents/{user}/softphone");
        self.expect(
            self.authed(reqwest::Method::PUT, &path, token)
                .json(&serde_json::json!({
                    "sipUser": login.sip_user,
                    "sipDomain": login.sip_domain,
                    "registrar": login.registrar,
                    "password": login.password.expose_secret(),
                })),
        )
        .await
    }

    /// Adds an agent (with the invite their desktop joins with) or changes one (admins).
    pub async fn save_agent(
        &self,
        token: &SecretString,
        id: Option<UserId>,
        input: &UserInput,
    ) -> Result<(User, Option<InviteLink>), TeamError> {
        match id {
            Some(id) => {
                let path = format!("/api/v1/agents/{id}");
                let user = self
                    .expect(self.authed(reqwest::Method::PUT, &path, token).json(input))
                    .await?;
                Ok((user, None))
            }
            None => {
                let added: AgentAdded = self
                    .expect(
                        self.authed(reqwest::Method::POST, "/api/v1/agents", token)
                            .json(input),
                    )
                    .await?;
                Ok((added.user, Some(added.invite)))
            }
        }
    }

    /// A new invite for an agent (a new desktop, or the first link lost) (admins).
    pub async fn invite(
        &self,
        token: &SecretString,
        user: UserId,
    ) -> Result<InviteLink, TeamError> {
        let path = format!("/api/v1/agents/{user}/invites");
        let body = serde_json::json!({ "role": "agent" });
        self.expect(self.authed(reqwest::Method::POST, &path, token).json(&body))
            .await
    }

    /// Removes an agent from the team (admins).
    pub async fn delete_agent(&self, token: &SecretString, user: UserId) -> Result<(), TeamError> {
        let path = format!("/api/v1/agents/{user}");
        self.read::<serde_json::Value>(self.authed(reqwest::Method::DELETE, &path, token))
            .await
            .map(|_| ())
    }

    /// Trades the invite for this desktop's device token.
    pub async fn join(&self, code: &str, device_name: &str) -> Result<Joined, TeamError> {
        let body = serde_json::json!({ "code": code, "deviceName": device_name });
        self.read(self.http.post(self.url("/api/v1/join")).json(&body))
            .await?
            .ok_or_else(|| TeamError::Unreadable("no answer to the join".into()))
    }

    pub async fn me(&self, token: &SecretString) -> Result<Me, TeamError> {
        let request = self
            .http
            .get(self.url("/api/v1/me"))
            .bearer_auth(token.expose_secret());
        self.read(request)
            .await?
            .ok_or_else(|| TeamError::Unreadable("empty answer".into()))
    }

    /// The team's agents and how each is.
    pub async fn agents(&self, token: &SecretString) -> Result<Vec<TeamAgent>, TeamError> {
        let request = self
            .http
            .get(self.url("/api/v1/agents"))
            .bearer_auth(token.expose_secret());
        Ok(self.read(request).await?.unwrap_or_default())
    }

    /// How the agent is; also the desktop's heartbeat.
    pub async fn set_presence(
        &self,
        token: &SecretString,
        presence: Presence,
    ) -> Result<(), TeamError> {
        let request = self
            .http
            .put(self.url("/api/v1/me/presence"))
            .bearer_auth(token.expose_secret())
            .json(&serde_json::json!({ "presence": presence }));
        self.read::<serde_json::Value>(request).await.map(|_| ())
    }

    /// The agent's softphone login, if the server made one.
    /// Opens the live link: the server's events after cursor `since` (None: from now on).
    pub async fn events(
        &self,
        token: &SecretString,
        since: Option<i64>,
    ) -> Result<LiveLink, TeamError> {
        // No overall time-out on a link meant to stay open: silence is watched instead.
        let http = reqwest::Client::builder()
            .connect_timeout(TIMEOUT)
            .build()
            .map_err(|_| unreachable(&self.server))?;
        let mut request = http
            .get(self.url("/api/v1/events"))
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(since) = since {
            request = request.header("Last-Event-ID", since.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|_| unreachable(&self.server))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let why = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(TeamError::Refused(format!("{}: {why}", status.as_u16())));
        }
        Ok(LiveLink::new(response, self.server.clone()))
    }

    pub async fn softphone(
        &self,
        token: &SecretString,
    ) -> Result<Option<SoftphoneLogin>, TeamError> {
        let request = self
            .http
            .get(self.url("/api/v1/me/softphone"))
            .bearer_auth(token.expose_secret());
        match self.read(request).await {
            Ok(login) => Ok(login),
            Err(TeamError::Refused(why)) if why.starts_with("404") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_link_is_read_strictly() {
        let invite = parse_invite(
            "ringdesk://join?server=https%3A%2F%2Fteam.example.com%2F&code=rdi_Ab-9_x",
        )
        .unwrap();
        assert_eq!(invite.server.as_str(), "https://team.example.com/");
        assert_eq!(invite.code, "rdi_Ab-9_x");
        for hostile in [
            "ringdesk://call?to=%2B15551234567",
            "https://join?server=https%3A%2F%2Fx&code=a",
            "ringdesk://join?server=file%3A%2F%2F%2Fetc%2Fpasswd&code=a",
            "ringdesk://join?server=https%3A%2F%2Fuser%3Apw%40x&code=a",
            "ringdesk://join?server=https%3A%2F%2Fx&code=a%3Cscript%3E",
            "ringdesk://join?server=https%3A%2F%2Fx&code=a&code=b",
            "ringdesk://join?server=https%3A%2F%2Fx&code=a&extra=1",
            "ringdesk://join?code=a",
            "ringdesk://join?server=https%3A%2F%2Fx&code=a%0A",
        ] {
            assert!(parse_invite(hostile).is_err(), "{hostile}");
        }
        assert!(parse_invite(&format!(
            "ringdesk://join?server=https%3A%2F%2Fx&code={}",
            "a".repeat(300)
        ))
        .is_err());
    }
}

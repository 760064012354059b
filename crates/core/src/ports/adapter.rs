//! The provider adapter interface of the seed plan (ITelephonyAdapter), one implementation per
//! provider in the `providers` crate. Methods a provider does not offer yet answer
//! `ProviderError::Unsupported`, so callers handle "not possible" the same way as any refusal.

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::phone::E164Number;
use crate::provider::{ProviderCredentials, ProviderKind, ProviderSettings};
use crate::provider_error::ProviderError;

/// What a successful credential check learned about the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// The account's name as the provider returned it, when it has one.
    pub name: Option<String>,
    /// Anything else worth showing (status, balance, what the keys can do).
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberType {
    Local,
    Tollfree,
    Mobile,
}

impl NumberType {
    /// What the numbering plan says the number is, for providers that do not say.
    pub fn of(number: &E164Number) -> NumberType {
        match number.line_type() {
            Some(crate::phone::LineType::TollFree) => NumberType::Tollfree,
            Some(crate::phone::LineType::Mobile) => NumberType::Mobile,
            _ => NumberType::Local,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            NumberType::Local => "local",
            NumberType::Tollfree => "tollfree",
            NumberType::Mobile => "mobile",
        }
    }

    pub fn from_code(code: &str) -> Option<NumberType> {
        match code {
            "local" => Some(NumberType::Local),
            "tollfree" => Some(NumberType::Tollfree),
            "mobile" => Some(NumberType::Mobile),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NumberCapabilities {
    pub voice: bool,
    pub sms: bool,
    pub mms: bool,
    pub fax: bool,
}

/// A number owned in the provider account (the seed's TelephonyNumber as the provider sees it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderNumber {
    pub phone_number: E164Number,
    pub friendly_name: Option<String>,
    pub number_type: NumberType,
    pub country: Option<String>,
    pub capabilities: NumberCapabilities,
    pub provider_number_id: String,
}

/// A call placed through the provider's API. With `connect_to`, `to` (the agent's own phone)
/// rings first and, once answered, is connected to `connect_to` (the contact) with `from` as
/// the caller ID on both legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    pub from: E164Number,
    pub to: E164Number,
    pub connect_to: Option<E164Number>,
    /// Where the provider posts this call's events (the receiver's URL for this provider).
    pub webhook_url: Option<String>,
    pub record: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallHandle {
    pub provider_call_id: String,
}

/// What the softphone asks of a provider's API: a SIP login for it (created, or the one
/// Ringdesk created before) and the numbers to point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftphoneRequest {
    /// Names what Ringdesk creates for this desktop's agent (found again by it).
    pub label: String,
    /// Several agents' logins on one shared SIP domain (a team server's, with one voice URL);
    /// None: the login gets its own, named by `label`. Providers whose logins all live on one
    /// connection anyway (Telnyx) need not read it.
    pub group: Option<String>,
    /// Provider number ids whose calls should reach the softphone.
    pub numbers: Vec<String>,
    /// Where the provider asks what to do with the softphone's calls and its numbers' calls
    /// (`<webhook base>/webhooks/<provider id>/voice`), for providers that ask (Twilio);
    /// `None` when the webhook receiver is off.
    pub voice_url: Option<String>,
}

/// Something Ringdesk created or changed in a provider account: removed (or put back as it
/// was) with the provider, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProvisionedResource {
    pub kind: String,
    pub id: String,
    /// For a changed resource (a number pointed at the softphone): what to put back, in the
    /// adapter's own encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<String>,
}

impl ProvisionedResource {
    pub fn created(kind: &str, id: impl Into<String>) -> Self {
        ProvisionedResource {
            kind: kind.into(),
            id: id.into(),
            restore: None,
        }
    }
}

/// The SIP login a provider's API gave the softphone.
#[derive(Debug, Clone)]
pub struct SoftphoneLogin {
    /// `host[:port]`
    pub registrar: String,
    pub domain: Option<String>,
    pub username: String,
    pub password: secrecy::SecretString,
    /// What was created this time (empty when everything was reused).
    pub created: Vec<ProvisionedResource>,
}

/// One end of a call as the provider names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallParty {
    Number(E164Number),
    /// A SIP address: a softphone's login on the provider's domain, or a number dialled from
    /// one (`sip:+15551234567@…`, whose user part the caller typed).
    Sip {
        user: String,
        host: String,
    },
    Other(String),
}

/// A provider asking what to do with a call it holds (Twilio's voice URL): one from the
/// softphone's login, or one to a number pointed at this desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceRequest {
    pub provider_call_id: String,
    pub from: CallParty,
    pub to: CallParty,
}

/// The SIP header that names, to a softphone, the provider's call it is rung for.
pub const CALL_HEADER: &str = "X-Ringdesk-Call";
/// The SIP header that names, to a softphone, the queue a call comes through.
pub const QUEUE_HEADER: &str = "X-Ringdesk-Queue";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    Number(E164Number),
    /// `sip:user@host`: a registered softphone.
    Sip {
        user: String,
        host: String,
        /// The provider's id for the call being put through, sent to the softphone as the
        /// `X-Ringdesk-Call` SIP header: its journal row and the team journal's are then
        /// known to be one call (the recording, the outcome the provider saw).
        call: Option<String>,
        /// The queue the call comes through, sent as the `X-Ringdesk-Queue` SIP header: the
        /// softphone's popup and journal say so.
        queue: Option<String>,
    },
}

/// A softphone on a call the provider dialled passes it on (a SIP REFER, which the provider
/// turns into this question): where the other party should be connected now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub provider_call_id: String,
    pub target: CallParty,
}

/// What Ringdesk tells the provider to do with a `VoiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceAnswer {
    /// Connect the call; `caller_id` `None` keeps the caller's own number.
    Dial {
        target: DialTarget,
        caller_id: Option<E164Number>,
        /// Where the provider asks when the dialled softphone passes the call on (a blind
        /// SIP REFER; Twilio takes one only when its `<Dial>` names this).
        transfer_url: Option<String>,
        /// Record the call from the answer (both sides, each on its own channel), and tell
        /// this URL (the provider's events webhook) when the recording is ready.
        record: Option<String>,
    },
    /// Tell the caller why not (spoken), then hang up.
    Refuse { say: String },
    /// Ring these parties at once for `timeout_secs`; the first to answer is connected (the
    /// provider hangs up the others). `after` is asked when the dial is over (nobody answered,
    /// or the call that was answered ended).
    Offer {
        ring: Vec<Ringing>,
        timeout_secs: u32,
        after: String,
        /// As in `Dial`: record from the answer, told here when ready.
        record: Option<String>,
        /// As in `Dial`: where the provider asks when the softphone that took the call passes
        /// it on.
        transfer_url: Option<String>,
    },
    /// Say `say` (the caller's place in line), play `music`, then ask `then` what next.
    Hold {
        say: Option<String>,
        music: String,
        then: String,
    },
    /// The `greeting`, then record the caller's message (at most `max_secs`, a beep first,
    /// ended by silence or a key) with a transcription. `after` is asked once the message is
    /// recorded; `ready` is told when the audio can be fetched, `transcribed` when its text is.
    Voicemail {
        greeting: Prompt,
        max_secs: u32,
        after: String,
        ready: String,
        transcribed: String,
    },
    /// Go on with the call as it is (an answering party's leg: connect it).
    Connect,
    /// End the call (or, for an answering party's leg, refuse that leg) without a word.
    Hangup,
}

/// What a caller hears: words the provider speaks, or a recording it plays from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Say(String),
    Play(String),
}

/// One party an `Offer` rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ringing {
    pub target: DialTarget,
    /// Asked when this party answers, before the caller is connected to them: "first answer
    /// wins" is decided there (`Connect` or `Hangup`).
    pub on_answer: Option<String>,
}

/// How a dial a provider followed ended — or, from a provider that reports a dial while it
/// goes on (Vonage's synchronous `connect`), where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialResult {
    /// Still ringing: nothing to decide.
    Ringing,
    /// The party just answered; the call goes on.
    Connected,
    /// Someone answered; that call is over now.
    Answered,
    NoAnswer,
    Busy,
    Failed,
    /// The caller hung up while it rang.
    Canceled,
}

/// A recorded message as a provider announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecording {
    pub url: String,
    pub duration_secs: Option<u32>,
}

/// A provider's request to one of the step URLs a host put in an answer (`Offer::after`,
/// `Ringing::on_answer`, `Hold::then`, the voicemail's): what the provider says about the call
/// there. The step itself (which queue call, which agent) is in the URL's query, which only the
/// host writes and signs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepRequest {
    pub provider_call_id: String,
    /// After a dial: how it ended.
    pub dial: Option<DialResult>,
    /// A recording (voicemail) that is ready or was just made.
    pub recording: Option<StepRecording>,
    /// A transcription: `Ok(text)` or `Err(())` when the provider could not make one.
    pub transcription: Option<Result<String, ()>>,
    /// A transcription the provider keeps behind a link (Vonage): `fetch_transcript` reads it.
    pub transcript_url: Option<String>,
}

/// A webhook exactly as it arrived: signatures are computed over these bytes.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: OffsetDateTime,
}

/// One thing a provider told us about a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// The same for every redelivery of this event, so applying it can be made idempotent.
    pub id: String,
    pub provider_call_id: String,
    pub kind: WebhookEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEventKind {
    IncomingCall {
        from: String,
        to: String,
    },
    Ringing,
    CallAnswered,
    /// `cause` in the provider's words (`normal_clearing`, `busy`, `no-answer`, …).
    CallEnded {
        cause: Option<String>,
    },
    RecordingReady {
        url: String,
        /// How long it is, when the event says.
        duration_secs: Option<u32>,
    },
}

/// A call recording's audio, as the provider serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingAudio {
    pub bytes: Vec<u8>,
    /// `mp3` or `wav`: what the bytes are.
    pub extension: &'static str,
}

impl RecordingAudio {
    /// `mp3` or `wav`, by the file's first bytes (storage hosts say
    /// `application/octet-stream`).
    pub fn kind_of(bytes: &[u8]) -> Option<&'static str> {
        match bytes {
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some("wav"),
            [b'I', b'D', b'3', ..] => Some("mp3"),
            // An MPEG audio frame's sync word.
            [0xFF, second, ..] if second & 0xE0 == 0xE0 => Some("mp3"),
            _ => None,
        }
    }
}

/// A recording the provider holds, as its list endpoint gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecording {
    /// The call (leg) it belongs to, as the provider's events name it.
    pub provider_call_id: String,
    /// Where [`ProviderAdapter::fetch_recording`] gets its audio now.
    pub url: String,
    pub duration_secs: Option<u32>,
}

#[async_trait]
pub trait ProviderAdapter: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Proves the keys work with the cheapest read the provider offers.
    async fn validate_credentials(&self) -> Result<AccountInfo, ProviderError>;

    /// Every number in the account, following every page.
    async fn list_numbers(&self) -> Result<Vec<ProviderNumber>, ProviderError> {
        Err(self.unsupported("listing numbers"))
    }

    async fn make_call(&self, _request: &CallRequest) -> Result<CallHandle, ProviderError> {
        Err(self.unsupported("placing calls"))
    }

    async fn hangup(&self, _provider_call_id: &str) -> Result<(), ProviderError> {
        Err(self.unsupported("hanging up calls"))
    }

    /// The first leg of a `connect_to` call was answered: connect it to `to`. Providers whose
    /// call carries that instruction itself (Twilio's TwiML, Vonage's NCCO) have nothing to do;
    /// Telnyx Call Control transfers the leg.
    async fn connect_answered(
        &self,
        _provider_call_id: &str,
        _to: &E164Number,
        _from: &E164Number,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Blind transfer: the leg `provider_call_id` leaves what it is connected to and is
    /// connected to `to` instead, showing `from` as the caller ID. The caller of this picks the
    /// leg to move (the customer's, not the agent's).
    async fn transfer(
        &self,
        _provider_call_id: &str,
        _to: &E164Number,
        _from: &E164Number,
    ) -> Result<(), ProviderError> {
        Err(self.unsupported("transferring calls"))
    }

    /// Blind transfer of the party a `connect_to` call joined the agent's phone to (the
    /// contact): the provider names that leg only in its own events, so it is looked up by
    /// REST, moved to `to` (showing `from`), and the agent's leg is released. `webhook_url`
    /// is the one the call was placed with (Telnyx finds its Call Control application by it).
    async fn transfer_connected(
        &self,
        _agent_call_id: &str,
        _to: &E164Number,
        _from: &E164Number,
        _webhook_url: Option<&str>,
    ) -> Result<(), ProviderError> {
        Err(self.unsupported("transferring calls on your phone"))
    }

    /// Pauses (card details being read out) or resumes the recording of a call the provider
    /// records, by the call's leg.
    async fn pause_recording(
        &self,
        _provider_call_id: &str,
        _paused: bool,
    ) -> Result<(), ProviderError> {
        Err(self.unsupported("pausing recordings"))
    }

    /// The audio of a recording the provider announced (`RecordingReady`) or listed: the
    /// provider's credentials go only to the provider's own host.
    async fn fetch_recording(&self, _url: &str) -> Result<RecordingAudio, ProviderError> {
        Err(self.unsupported("fetching recordings"))
    }

    /// The text of a transcription a step request linked to (`StepRequest::transcript_url`).
    async fn fetch_transcript(&self, _url: &str) -> Result<String, ProviderError> {
        Err(self.unsupported("fetching transcriptions"))
    }

    /// The recordings made since `since` (for the ones whose event was lost, or whose link
    /// expired before it was copied).
    async fn list_recordings(
        &self,
        _since: OffsetDateTime,
    ) -> Result<Vec<ProviderRecording>, ProviderError> {
        Err(self.unsupported("listing recordings"))
    }

    /// Creates (or finds again) the SIP login the softphone registers with, and points
    /// `request.numbers` at it. Running it again is safe.
    async fn provision_softphone(
        &self,
        _request: &SoftphoneRequest,
    ) -> Result<SoftphoneLogin, ProviderError> {
        Err(self.unsupported("setting up a softphone login"))
    }

    /// Deletes what `provision_softphone` created (already gone is fine).
    async fn remove_provisioned(
        &self,
        _resources: &[ProvisionedResource],
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Checks the webhook's signature; must run before `parse_webhook`.
    fn validate_webhook(&self, _request: &WebhookRequest) -> Result<(), ProviderError> {
        Err(self.unsupported("webhooks"))
    }

    fn parse_webhook(&self, _request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
        Err(self.unsupported("webhooks"))
    }

    /// Reads a provider's question about a call (its signature checked before, with
    /// `validate_webhook`).
    fn parse_voice_request(
        &self,
        _request: &WebhookRequest,
    ) -> Result<VoiceRequest, ProviderError> {
        Err(self.unsupported("asking what to do with calls"))
    }

    /// Reads a provider's question about a transfer a softphone asked for (signature checked
    /// before); answered with a `VoiceAnswer` like a voice request.
    fn parse_transfer_request(
        &self,
        _request: &WebhookRequest,
    ) -> Result<TransferRequest, ProviderError> {
        Err(self.unsupported("transfers asked by softphones"))
    }

    /// Reads a provider's request to one of the host's step URLs (signature checked before).
    fn parse_step_request(&self, _request: &WebhookRequest) -> Result<StepRequest, ProviderError> {
        Err(self.unsupported("queues and voicemail"))
    }

    /// The answer in the provider's language: `(content type, body)`.
    fn render_voice_answer(
        &self,
        _answer: &VoiceAnswer,
    ) -> Result<(String, String), ProviderError> {
        Err(self.unsupported("asking what to do with calls"))
    }

    fn unsupported(&self, operation: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: self.kind().label().to_string(),
            operation: operation.to_string(),
        }
    }
}

/// Builds the adapter for a provider from its keys (the seed's getAdapter()).
pub trait AdapterFactory: Send + Sync {
    fn adapter(
        &self,
        kind: ProviderKind,
        settings: &ProviderSettings,
        credentials: ProviderCredentials,
    ) -> Result<Box<dyn ProviderAdapter>, ProviderError>;
}

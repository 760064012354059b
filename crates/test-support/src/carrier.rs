//! A provider stand-in ("fake carrier") that plays Twilio — or Telnyx's TeXML, which speaks
//! the same — toward a Ringdesk webhook host (the team server or a desktop): it asks the
//! voice URL what to do with an incoming call, signed as the provider signs (Twilio:
//! HMAC-SHA1 over the public URL and the sorted form; Telnyx: Ed25519 over `timestamp|body`;
//! both written here from the providers' documentation — not Ringdesk's own verifier),
//! follows the verbs routing uses (`Dial` to `Sip` or `Number` with `timeout` and `action`,
//! `Say`, `Hangup`, `Reject`, `Pause`, `Redirect`), and reports the call's progress to the
//! status-callback URL as the provider does. A `<Sip>` leg is a real SIP call:
//! `ringdesk-cli call` through the registrar (kamailio) to whatever softphone registered that
//! address, playing and recording audio.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use quick_xml::events::Event;
use quick_xml::Reader;
use sha1::Sha1;
use tokio::io::AsyncBufReadExt;

/// How the carrier's SIP side places `<Sip>` legs.
#[derive(Debug, Clone)]
pub struct SipSide {
    /// The `ringdesk-cli` binary.
    pub cli: PathBuf,
    /// The registrar/proxy the legs go through.
    pub registrar: String,
    /// The carrier's own login there (its password is `<user>pw`, as tests/sip/kamailio.cfg
    /// accepts).
    pub user: String,
    /// What the caller says (a WAV file).
    pub play: PathBuf,
    /// The talk before the caller hangs up, once answered.
    pub talk: Duration,
    /// Where each leg's recording goes (`<dir>/<CallSid>.wav`).
    pub recordings: PathBuf,
}

/// How the carrier signs its requests.
pub enum Signer {
    /// Twilio: the account's Auth Token.
    Twilio { auth_token: String },
    /// Telnyx: the account's Ed25519 key (the host holds its public half).
    Telnyx { key: ed25519_dalek::SigningKey },
}

/// A provider, as far as a webhook host sees it.
pub struct Carrier {
    /// The provider's own API, when the test runs one (recordings are fetched from it).
    api: Option<CarrierApi>,
    /// What the transcription of a recorded message says.
    pub transcript: String,
    /// Where the host listens (requests go here).
    pub address: String,
    /// The base URL the host was given as public (Twilio's signatures are over it).
    pub public: String,
    pub provider_id: String,
    pub account_sid: String,
    pub signer: Signer,
    pub sip: SipSide,
    http: reqwest::Client,
}

/// What the carrier did with one call, verb by verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Said(String),
    /// Dialled out to the telephone network (not followed further: the far end "answers").
    DialledNumber {
        number: String,
        caller_id: Option<String>,
    },
    DialledSip {
        uri: String,
        outcome: DialOutcome,
        /// The leg's recording of what the softphone sent (answered legs).
        recording: Option<PathBuf>,
    },
    /// Several parties rung at once, or parties asked before connecting (`url`): who rang,
    /// who was connected.
    Rang {
        uris: Vec<String>,
        answered: Option<String>,
        outcome: DialOutcome,
        recording: Option<PathBuf>,
    },
    Rejected,
    HungUp,
    Redirected(String),
    /// Hold music fetched and played (for as long as it lasts).
    Played {
        url: String,
        millis: u64,
    },
    /// The caller's message recorded (the carrier's `play` file); its status and transcription
    /// told to the callbacks after the call.
    Recorded {
        sid: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    Completed,
    NoAnswer,
    Failed(String),
}

impl DialOutcome {
    fn status(&self) -> &'static str {
        match self {
            DialOutcome::Completed => "completed",
            DialOutcome::NoAnswer => "no-answer",
            DialOutcome::Failed(_) => "failed",
        }
    }
}

/// Twilio's request signature: base64(HMAC-SHA1(auth token, URL + each POST parameter's
/// name and value, sorted by name)).
pub fn twilio_signature(auth_token: &str, url: &str, form: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = form.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Vonage's signed callback: a JWT (HS256 with the signature secret) whose `payload_hash` is
/// the SHA-256 of `hashed` (a body, or a GET's query as compact JSON).
pub fn vonage_signature(secret: &str, hashed: &str) -> String {
    use sha2::Digest;
    let claims = serde_json::json!({
        "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "iss": "Vonage",
        "payload_hash": format!("{:x}", sha2::Sha256::digest(hashed.as_bytes())),
        "api_key": "abcd1234",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("an HS256 JWT encodes")
}

/// Telnyx's webhook signature: base64(Ed25519(`timestamp|body`)), with the timestamp (Unix
/// seconds) it covers.
pub fn telnyx_signature(key: &ed25519_dalek::SigningKey, body: &str) -> (String, String) {
    use ed25519_dalek::Signer as _;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string();
    let signature = key.sign(format!("{timestamp}|{body}").as_bytes());
    (timestamp, STANDARD.encode(signature.to_bytes()))
}

/// A TwiML verb as the carrier follows it.
#[derive(Debug, Clone, PartialEq)]
enum Verb {
    Say(String),
    Dial {
        timeout: u64,
        action: Option<String>,
        caller_id: Option<String>,
        nouns: Vec<Noun>,
    },
    Hangup,
    Reject,
    Pause,
    Redirect(String),
    Play(String),
    Record {
        action: Option<String>,
        max_length: u64,
        status_callback: Option<String>,
        /// Twilio's `transcribeCallback` or TeXML's `transcriptionCallback`.
        transcription_callback: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Noun {
    /// `url`: TwiML asked when this party answers, before it is connected.
    Number {
        number: String,
        url: Option<String>,
    },
    Sip {
        uri: String,
        url: Option<String>,
    },
    /// A noun this stand-in does not follow (Client, Queue, Conference…).
    Other(String),
}

/// One element as read: its name, attributes and trimmed text.
type Element = (String, Vec<(String, String)>, String);

/// Reads a TwiML document (refusing what Twilio would refuse: no `<Response>`, unknown verbs).
fn parse_twiml(text: &str) -> Result<Vec<Verb>, String> {
    let mut reader = Reader::from_str(text);
    // Not trimmed piecewise: text around an entity keeps its spaces; each verb's text is
    // trimmed whole.
    let mut verbs = Vec::new();
    let mut in_response = false;
    // The verb being read: its name and attributes; the nouns read inside it.
    let mut open: Option<(String, Vec<(String, String)>)> = None;
    let mut nouns: Vec<Element> = Vec::new();
    let mut text_in = String::new();
    let mut verb_text = String::new();
    let mut current_noun: Option<(String, Vec<(String, String)>)> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("TwiML: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e)
                if e.name().as_ref() == "Response" && open.is_none() =>
            {
                in_response = true;
            }
            Event::Start(e) if in_response && open.is_none() => {
                open = Some((name(&e), attributes(&e)?));
                text_in.clear();
                nouns.clear();
            }
            Event::Empty(e) if in_response && open.is_none() => {
                verbs.push(verb(&name(&e), &attributes(&e)?, "", Vec::new())?);
            }
            Event::Start(e) if open.is_some() => {
                verb_text.push_str(&text_in);
                current_noun = Some((name(&e), attributes(&e)?));
                text_in.clear();
            }
            Event::Text(t) => text_in.push_str(&t.xml10_content()),
            // `&amp;` and friends come apart from the text around them.
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => text_in.push(c),
                _ => text_in.push_str(match r.into_inner().as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => return Err(format!("TwiML: unknown entity &{other};")),
                }),
            },
            Event::End(e) => {
                let ended = e.name().as_ref().to_string();
                if current_noun.as_ref().is_some_and(|(n, _)| *n == ended) {
                    if let Some((n, attrs)) = current_noun.take() {
                        nouns.push((n, attrs, text_in.trim().to_string()));
                    }
                    text_in.clear();
                } else if let Some((verb_name, attrs)) = open.take() {
                    verb_text.push_str(&text_in);
                    verbs.push(verb(
                        &verb_name,
                        &attrs,
                        verb_text.trim(),
                        std::mem::take(&mut nouns),
                    )?);
                    text_in.clear();
                    verb_text.clear();
                } else if ended == "Response" {
                    in_response = false;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if verbs.is_empty() && !text.contains("<Response") {
        return Err(format!("not TwiML: {text}"));
    }
    Ok(verbs)
}

fn name(e: &quick_xml::events::BytesStart) -> String {
    e.name().as_ref().to_string()
}

fn attributes(e: &quick_xml::events::BytesStart) -> Result<Vec<(String, String)>, String> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|e| format!("TwiML attribute: {e}"))?;
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("TwiML attribute: {e}"))?;
            Ok((a.key.as_ref().to_string(), value.into_owned()))
        })
        .collect()
}

fn attr_of(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn verb(
    name: &str,
    attrs: &[(String, String)],
    text: &str,
    nouns: Vec<Element>,
) -> Result<Verb, String> {
    let attr = |key: &str| attr_of(attrs, key);
    let number = |key: &str, default: u64| -> Result<u64, String> {
        attr(key)
            .map(|t| t.parse().map_err(|_| format!("{name} {key} “{t}”")))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    Ok(match name {
        "Say" => Verb::Say(text.to_string()),
        "Hangup" => Verb::Hangup,
        "Reject" => Verb::Reject,
        "Pause" => Verb::Pause,
        "Redirect" => Verb::Redirect(text.to_string()),
        "Play" => Verb::Play(text.to_string()),
        "Record" => Verb::Record {
            action: attr("action"),
            max_length: number("maxLength", 3600)?,
            status_callback: attr("recordingStatusCallback"),
            transcription_callback: attr("transcribeCallback")
                .or_else(|| attr("transcriptionCallback")),
        },
        "Dial" => Verb::Dial {
            timeout: number("timeout", 30)?,
            action: attr("action"),
            caller_id: attr("callerId"),
            nouns: match nouns.is_empty() {
                // `<Dial>+1555…</Dial>`: a number as the Dial's text.
                true => vec![Noun::Number {
                    number: text.to_string(),
                    url: None,
                }],
                false => nouns
                    .into_iter()
                    .map(|(n, attrs, text)| match n.as_str() {
                        "Number" => Noun::Number {
                            number: text,
                            url: attr_of(&attrs, "url"),
                        },
                        "Sip" => Noun::Sip {
                            uri: text,
                            url: attr_of(&attrs, "url"),
                        },
                        _ => Noun::Other(n),
                    })
                    .collect(),
            },
        },
        other => return Err(format!("a verb Twilio does not have: <{other}>")),
    })
}

impl Carrier {
    pub fn new(
        address: &str,
        public: &str,
        provider_id: &str,
        account_sid: &str,
        signer: Signer,
        sip: SipSide,
    ) -> Carrier {
        Carrier {
            api: None,
            transcript: "Hello, this is a test message. Please call me back.".into(),
            address: address.trim_end_matches('/').to_string(),
            public: public.trim_end_matches('/').to_string(),
            provider_id: provider_id.to_string(),
            account_sid: account_sid.to_string(),
            signer,
            sip,
            http: reqwest::Client::new(),
        }
    }

    /// A signed POST as the provider makes it; the answer's status and body.
    pub async fn post(&self, path: &str, form: &[(String, String)]) -> (u16, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded");
        match &self.signer {
            Signer::Twilio { auth_token } => {
                let url = format!("{}{path}", self.public);
                request = request.header(
                    "x-twilio-signature",
                    twilio_signature(auth_token, &url, form),
                );
            }
            Signer::Telnyx { key } => {
                let (timestamp, signature) = telnyx_signature(key, &body);
                request = request
                    .header("telnyx-timestamp", timestamp)
                    .header("telnyx-signature-ed25519", signature);
            }
        }
        match request.body(body).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    /// Fetches recordings from `api` (the provider's API as this test runs it).
    pub fn with_api(mut self, api: CarrierApi) -> Carrier {
        self.api = Some(api);
        self
    }

    /// A caller dials `to` from `from`: the voice URL is asked, its verbs followed to the
    /// end, and the call's progress reported. The steps taken, in order.
    pub async fn incoming(&self, from: &str, to: &str) -> Result<Vec<Step>, String> {
        let sid = format!("CA{}", uuid_hex());
        let started = Instant::now();
        let mut sequence = 0;
        let base = |status: &str| {
            vec![
                ("AccountSid".to_string(), self.account_sid.clone()),
                ("CallSid".into(), sid.clone()),
                ("CallStatus".into(), status.into()),
                ("Direction".into(), "inbound".into()),
                ("From".into(), from.into()),
                ("To".into(), to.into()),
                ("ApiVersion".into(), "2010-04-01".into()),
            ]
        };
        self.status(base("ringing"), &mut sequence).await?;
        let voice = format!("/webhooks/{}/voice", self.provider_id);
        let mut twiml = self.ask(&voice, base("ringing")).await?;
        let mut steps = Vec::new();
        let mut answered = false;
        // Callbacks Twilio makes once the call is over (a recording's status, its text).
        let mut after_call: Vec<(String, Vec<(String, String)>)> = Vec::new();
        // Redirects and actions bring new documents; a queue's caller on hold asks again
        // after each play, so the bound is generous (a loop with no end is a host's defect).
        'documents: for _ in 0..200 {
            let verbs = parse_twiml(&twiml)?;
            for verb in verbs {
                match verb {
                    Verb::Say(text) => steps.push(Step::Said(text)),
                    Verb::Pause => {}
                    Verb::Hangup => {
                        steps.push(Step::HungUp);
                        break 'documents;
                    }
                    Verb::Reject => {
                        steps.push(Step::Rejected);
                        break 'documents;
                    }
                    Verb::Redirect(url) => {
                        steps.push(Step::Redirected(url.clone()));
                        let status = if answered { "in-progress" } else { "ringing" };
                        twiml = self.ask(&self.path_of(&url)?, base(status)).await?;
                        continue 'documents;
                    }
                    Verb::Play(url) => {
                        // Playing answers the call (Twilio bills from here).
                        if !answered {
                            answered = true;
                            self.status(base("in-progress"), &mut sequence).await?;
                        }
                        let secs = self.play(&url).await?;
                        steps.push(Step::Played {
                            url,
                            millis: (secs * 1000.0) as u64,
                        });
                    }
                    Verb::Record {
                        action,
                        max_length,
                        status_callback,
                        transcription_callback,
                    } => {
                        if !answered {
                            answered = true;
                            self.status(base("in-progress"), &mut sequence).await?;
                        }
                        let (recording_sid, url, secs) = self.record(max_length)?;
                        steps.push(Step::Recorded {
                            sid: recording_sid.clone(),
                        });
                        let mut recorded = base("in-progress");
                        recorded.push(("RecordingSid".into(), recording_sid.clone()));
                        recorded.push(("RecordingUrl".into(), url.clone()));
                        recorded.push(("RecordingDuration".into(), secs.to_string()));
                        if let Some(callback) = status_callback {
                            let mut form = recorded.clone();
                            form.push(("RecordingStatus".into(), "completed".into()));
                            after_call.push((callback, form));
                        }
                        if let Some(callback) = transcription_callback {
                            let mut form = recorded.clone();
                            form.push(("TranscriptionSid".into(), format!("TR{}", uuid_hex())));
                            form.push(("TranscriptionStatus".into(), "completed".into()));
                            form.push(("TranscriptionText".into(), self.transcript.clone()));
                            after_call.push((callback, form));
                        }
                        if let Some(action) = action {
                            twiml = self.ask(&self.path_of(&action)?, recorded).await?;
                            continue 'documents;
                        }
                    }
                    Verb::Dial {
                        timeout,
                        action,
                        caller_id,
                        nouns,
                    } => {
                        let outcome = self
                            .dial(&sid, from, nouns, timeout, caller_id, &mut steps)
                            .await?;
                        if outcome == DialOutcome::Completed && !answered {
                            answered = true;
                            self.status(base("in-progress"), &mut sequence).await?;
                        }
                        if let Some(action) = action {
                            let mut form = base(if answered { "in-progress" } else { "ringing" });
                            form.push(("DialCallStatus".into(), outcome.status().into()));
                            form.push(("DialCallSid".into(), format!("CA{}", uuid_hex())));
                            twiml = self.ask(&self.path_of(&action)?, form).await?;
                            continue 'documents;
                        }
                    }
                }
            }
            break;
        }
        let mut done = base(if answered { "completed" } else { "no-answer" });
        done.push((
            "CallDuration".into(),
            started.elapsed().as_secs().to_string(),
        ));
        self.status(done, &mut sequence).await?;
        for (callback, form) in after_call {
            match self.post(&self.path_of(&callback)?, &form).await {
                (200..=299, _) => {}
                (status, body) => return Err(format!("{callback} refused: {status} {body}")),
            }
        }
        Ok(steps)
    }

    /// A `<Dial>`: a number "answers" at once; SIP parties ring for real.
    async fn dial(
        &self,
        sid: &str,
        from: &str,
        nouns: Vec<Noun>,
        timeout: u64,
        caller_id: Option<String>,
        steps: &mut Vec<Step>,
    ) -> Result<DialOutcome, String> {
        match &nouns[..] {
            [Noun::Number { number, url: None }] => {
                steps.push(Step::DialledNumber {
                    number: number.clone(),
                    caller_id,
                });
                Ok(DialOutcome::Completed)
            }
            [Noun::Sip { uri, url: None }] => {
                let (outcome, recording) = self.dial_sip(sid, uri, timeout).await;
                steps.push(Step::DialledSip {
                    uri: uri.clone(),
                    outcome: outcome.clone(),
                    recording,
                });
                Ok(outcome)
            }
            _ => {
                let mut legs = Vec::new();
                for noun in nouns {
                    match noun {
                        Noun::Sip { uri, url } => legs.push((uri, url)),
                        Noun::Number { .. } => {
                            return Err("a <Number> among other nouns is not followed here".into())
                        }
                        Noun::Other(n) => return Err(format!("<Dial><{n}> is not followed here")),
                    }
                }
                let uris = legs.iter().map(|(u, _)| u.clone()).collect();
                let (outcome, answered, recording) = self.ring_all(sid, from, legs, timeout).await;
                steps.push(Step::Rang {
                    uris,
                    answered,
                    outcome: outcome.clone(),
                    recording,
                });
                Ok(outcome)
            }
        }
    }

    /// Fetches hold music and "plays" it: waits as long as it lasts (a WAV's length, read
    /// from its header).
    async fn play(&self, url: &str) -> Result<f64, String> {
        let fetched = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("<Play> {url}: {e}"))?;
        if !fetched.status().is_success() {
            return Err(format!("<Play> {url}: {}", fetched.status()));
        }
        let bytes = fetched
            .bytes()
            .await
            .map_err(|e| format!("<Play> {url}: {e}"))?;
        let secs = wav_secs(&bytes).ok_or_else(|| format!("<Play> {url}: not a WAV file"))?;
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        Ok(secs)
    }

    /// The caller's message: what they say (the `play` file), kept where the provider's API
    /// serves recordings. Its sid, URL and length.
    fn record(&self, max_length: u64) -> Result<(String, String, u64), String> {
        let bytes =
            std::fs::read(&self.sip.play).map_err(|e| format!("the caller's audio: {e}"))?;
        let secs = wav_secs(&bytes)
            .unwrap_or(1.0)
            .min(max_length as f64)
            .ceil() as u64;
        let sid = format!("RE{}", uuid_hex());
        let base = self
            .api
            .as_ref()
            .map(|a| a.url.clone())
            .unwrap_or_else(|| "https://api.twilio.com".into());
        let url = format!(
            "{base}/2010-04-01/Accounts/{}/Recordings/{sid}",
            self.account_sid
        );
        if let Some(api) = &self.api {
            if let Ok(mut held) = api.recordings.lock() {
                held.insert(sid.clone(), bytes);
            }
        }
        Ok((sid, url, secs))
    }

    /// A status callback (the number's StatusCallback: the host's events URL).
    async fn status(
        &self,
        mut form: Vec<(String, String)>,
        sequence: &mut u32,
    ) -> Result<(), String> {
        form.push(("SequenceNumber".into(), sequence.to_string()));
        *sequence += 1;
        let path = format!("/webhooks/{}", self.provider_id);
        match self.post(&path, &form).await {
            (200..=299, _) => Ok(()),
            (status, body) => Err(format!("status callback refused: {status} {body}")),
        }
    }

    async fn ask(&self, path: &str, form: Vec<(String, String)>) -> Result<String, String> {
        match self.post(path, &form).await {
            (200, body) => Ok(body),
            (status, body) => Err(format!("{path} answered {status}: {body}")),
        }
    }

    /// An action or redirect URL as a path on the host (Twilio would fetch it as given; only
    /// the host's own URLs can be followed here).
    fn path_of(&self, url: &str) -> Result<String, String> {
        if let Some(path) = url.strip_prefix(&self.public) {
            return Ok(path.to_string());
        }
        if url.starts_with('/') {
            return Ok(url.to_string());
        }
        Err(format!("{url} is not on the host"))
    }

    /// A real SIP leg: answered within `timeout` s, it talks for `talk` and the caller hangs up.
    async fn dial_sip(&self, sid: &str, uri: &str, timeout: u64) -> (DialOutcome, Option<PathBuf>) {
        let recording = self.sip.recordings.join(format!("{sid}.wav"));
        let child = self.leg(uri, &recording);
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return (DialOutcome::Failed(e.to_string()), None),
        };
        let Some(stdout) = child.stdout.take() else {
            return (DialOutcome::Failed("no output".into()), None);
        };
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut said = Vec::new();
        let answered = tokio::time::timeout(Duration::from_secs(timeout), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let done = line.starts_with("established");
                let ended = line.starts_with("ended:");
                said.push(line);
                if done {
                    return true;
                }
                if ended {
                    return false;
                }
            }
            false
        })
        .await;
        match answered {
            Ok(true) => {
                // The talk, then the caller hangs up (the CLI does, after --hangup-after).
                while let Ok(Some(_)) = lines.next_line().await {}
                let _ = child.wait().await;
                (DialOutcome::Completed, Some(recording))
            }
            Ok(false) => {
                let _ = child.wait().await;
                (DialOutcome::Failed(said.join(" / ")), None)
            }
            Err(_) => {
                let _ = child.kill().await;
                (DialOutcome::NoAnswer, None)
            }
        }
    }
}

impl Carrier {
    /// `ringdesk-cli call` to `uri` through the registrar: the caller's side of one leg.
    fn leg(
        &self,
        uri: &str,
        recording: &std::path::Path,
    ) -> std::io::Result<tokio::process::Child> {
        let side = &self.sip;
        tokio::process::Command::new(&side.cli)
            .args(["call", "--to", uri, "--registrar", &side.registrar])
            .args(["--user", &side.user, "--expires", "60", "--codecs", "pcmu"])
            .arg("--hangup-after")
            .arg(side.talk.as_secs().max(1).to_string())
            .arg("--play")
            .arg(&side.play)
            .arg("--record")
            .arg(recording)
            .env("RINGDESK_SIP_PASSWORD", format!("{}pw", side.user))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    }

    /// Rings every leg at once (Twilio's `<Dial>` with several nouns): a leg that answers is
    /// asked its `url` first (its TwiML may hang that leg up: then the others ring on); the
    /// first one connected wins, the others are cancelled (the CLI cancels on SIGINT, as a
    /// provider sends CANCEL). The outcome, who was connected, and what the caller heard.
    async fn ring_all(
        &self,
        sid: &str,
        from: &str,
        legs: Vec<(String, Option<String>)>,
        timeout: u64,
    ) -> (DialOutcome, Option<String>, Option<PathBuf>) {
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
        let mut children = Vec::new();
        for (i, (uri, _)) in legs.iter().enumerate() {
            let recording = self.sip.recordings.join(format!("{sid}-{i}.wav"));
            match self.leg(uri, &recording) {
                Ok(mut child) => {
                    if let Some(out) = child.stdout.take() {
                        let tx = lines_tx.clone();
                        tokio::spawn(async move {
                            let mut out = tokio::io::BufReader::new(out).lines();
                            while let Ok(Some(line)) = out.next_line().await {
                                let _ = tx.send((i, line));
                            }
                            let _ = tx.send((i, "exited".into()));
                        });
                    }
                    children.push(Some((child, recording)));
                }
                Err(_) => children.push(None),
            }
        }
        drop(lines_tx);
        let mut over = vec![false; legs.len()];
        for (i, c) in children.iter().enumerate() {
            over[i] = c.is_none();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut winner = None;
        while winner.is_none() && over.iter().any(|o| !o) {
            let next = tokio::time::timeout_at(deadline, lines.recv()).await;
            let Ok(Some((i, line))) = next else { break };
            if line.starts_with("ended:") || line == "exited" {
                over[i] = true;
                continue;
            }
            if !line.starts_with("established") || over[i] {
                continue;
            }
            let take = match &legs[i].1 {
                None => true,
                Some(url) => {
                    let form = vec![
                        ("AccountSid".to_string(), self.account_sid.clone()),
                        ("CallSid".into(), format!("CA{}", uuid_hex())),
                        ("ParentCallSid".into(), sid.to_string()),
                        ("CallStatus".into(), "in-progress".into()),
                        ("Direction".into(), "outbound-dial".into()),
                        ("From".into(), from.to_string()),
                        ("To".into(), legs[i].0.clone()),
                    ];
                    let answer = match self.path_of(url) {
                        Ok(path) => self.ask(&path, form).await,
                        Err(e) => Err(e),
                    };
                    // An empty answer connects; a <Hangup/> (or no answer) drops the leg.
                    match answer.map(|t| parse_twiml(&t)) {
                        Ok(Ok(verbs)) => !verbs.contains(&Verb::Hangup),
                        _ => false,
                    }
                }
            };
            if take {
                winner = Some(i);
            } else {
                over[i] = true;
                if let Some((child, _)) = &children[i] {
                    interrupt(child);
                }
            }
        }
        // The others stop ringing.
        for (i, c) in children.iter().enumerate() {
            if Some(i) != winner {
                if let Some((child, _)) = c {
                    interrupt(child);
                }
            }
        }
        let mut result = (DialOutcome::NoAnswer, None, None);
        for (i, c) in children.into_iter().enumerate() {
            let Some((mut child, recording)) = c else {
                continue;
            };
            if Some(i) == winner {
                // The talk, then the caller hangs up (the CLI does, after --hangup-after).
                while let Some((j, line)) = lines.recv().await {
                    if j == i && line == "exited" {
                        break;
                    }
                }
                result = (
                    DialOutcome::Completed,
                    Some(legs[i].0.clone()),
                    Some(recording),
                );
            }
            let waited = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
            if waited.is_err() {
                let _ = child.kill().await;
            }
        }
        if winner.is_none() && tokio::time::Instant::now() < deadline {
            result.0 = DialOutcome::Failed("every leg ended unanswered".into());
        }
        result
    }
}

/// SIGINT: the CLI hangs up (or cancels) and unregisters, as a provider's leg ends.
fn interrupt(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
}

/// A WAV file's length in seconds, from its header (PCM: data bytes / byte rate).
fn wav_secs(bytes: &[u8]) -> Option<f64> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut rate = None;
    while at + 8 <= bytes.len() {
        let id = bytes.get(at..at + 4)?;
        let size = u32::from_le_bytes(bytes.get(at + 4..at + 8)?.try_into().ok()?) as usize;
        if id == b"fmt " {
            rate = Some(u32::from_le_bytes(
                bytes.get(at + 16..at + 20)?.try_into().ok()?,
            ));
        }
        if id == b"data" {
            return Some(size as f64 / f64::from(rate?.max(1)));
        }
        at += 8 + size + size % 2;
    }
    None
}

/// The provider's REST API as a test runs it: recordings the carrier made are served here
/// (Basic auth with the account's SID and token, as Twilio's media URLs want); every other
/// request goes on to the spec mock (`upstream`, Prism), which checks it.
#[derive(Clone)]
pub struct CarrierApi {
    /// The base URL (Endpoints' `twilio`).
    pub url: String,
    recordings: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
}

impl CarrierApi {
    pub async fn start(
        upstream: &str,
        account_sid: &str,
        auth_token: &str,
    ) -> std::io::Result<CarrierApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let api = CarrierApi {
            url,
            recordings: Default::default(),
        };
        let state = (
            api.clone(),
            upstream.trim_end_matches('/').to_string(),
            format!(
                "Basic {}",
                STANDARD.encode(format!("{account_sid}:{auth_token}"))
            ),
            reqwest::Client::new(),
        );
        let app = axum::Router::new()
            .fallback(api_request)
            .with_state(std::sync::Arc::new(state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(api)
    }
}

type ApiState = std::sync::Arc<(CarrierApi, String, String, reqwest::Client)>;

async fn api_request(
    axum::extract::State(state): axum::extract::State<ApiState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (api, upstream, basic, http) = &*state;
    let path = request.uri().path().to_string();
    let held = path
        .rsplit_once("/Recordings/")
        .map(|(_, sid)| {
            sid.trim_end_matches(".mp3")
                .trim_end_matches(".wav")
                .to_string()
        })
        .and_then(|sid| api.recordings.lock().ok()?.get(&sid).cloned());
    if let Some(bytes) = held {
        let authorised = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(basic.as_str());
        if !authorised {
            return (axum::http::StatusCode::UNAUTHORIZED, "").into_response();
        }
        return ([("content-type", "audio/wav")], bytes).into_response();
    }
    let target = format!(
        "{upstream}{}",
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = request.method().clone();
    let headers = request.headers().clone();
    let Ok(body) = axum::body::to_bytes(request.into_body(), 1 << 20).await else {
        return (axum::http::StatusCode::BAD_REQUEST, "").into_response();
    };
    let mut forward = http.request(method, target).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(r) => {
            let status = r.status();
            let kind = r.headers().get("content-type").cloned();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(kind) = kind {
                response.headers_mut().insert("content-type", kind);
            }
            response
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

fn uuid_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let pid = u64::from(std::process::id());
    format!("{:016x}{:016x}", pid, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wavs_length_from_its_header() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/audio/hold-music.wav"
        ))
        .unwrap();
        assert_eq!(wav_secs(&bytes), Some(8.0));
        assert_eq!(wav_secs(b"RIFF"), None);
        assert_eq!(wav_secs(b"not a wav file at all"), None);
    }

    /// twilio-python's own vector (../shared/docs/providers.md §5.1).
    #[test]
    fn signs_as_twilio_documents() {
        let form: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &form
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn reads_the_twiml_routing_writes() {
        let verbs = parse_twiml(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial answerOnBridge=\"true\" \
             timeout=\"20\" action=\"https://h/x?a=1&amp;b=2\" callerId=\"+14155550100\">\
             <Sip>sip:bob@127.0.0.1:5060</Sip></Dial><Say>Sorry &amp; bye</Say><Hangup/></Response>",
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                Verb::Dial {
                    timeout: 20,
                    action: Some("https://h/x?a=1&b=2".into()),
                    caller_id: Some("+14155550100".into()),
                    nouns: vec![Noun::Sip {
                        uri: "sip:bob@127.0.0.1:5060".into(),
                        url: None
                    }],
                },
                Verb::Say("Sorry & bye".into()),
                Verb::Hangup,
            ]
        );
        assert_eq!(
            parse_twiml("<Response><Dial>+15417543010</Dial><Redirect>/next</Redirect></Response>")
                .unwrap(),
            vec![
                Verb::Dial {
                    timeout: 30,
                    action: None,
                    caller_id: None,
                    nouns: vec![Noun::Number {
                        number: "+15417543010".into(),
                        url: None
                    }]
                },
                Verb::Redirect("/next".into())
            ]
        );
        assert!(parse_twiml("<Response><Dance/></Response>").is_err());
        // A queue's answers: several parties with their answer URLs, hold music, voicemail.
        assert_eq!(
            parse_twiml(
                "<Response><Dial timeout=\"15\" action=\"/q?a=1&amp;b=2\">\
                 <Sip url=\"/ans?x=1\" method=\"POST\">sip:a@h</Sip><Sip url=\"/ans?x=2\">sip:b@h</Sip>\
                 </Dial><Play>https://h/m.wav</Play><Record action=\"/done\" maxLength=\"120\" \
                 recordingStatusCallback=\"/ready\" transcriptionCallback=\"/text\"/></Response>"
            )
            .unwrap(),
            vec![
                Verb::Dial {
                    timeout: 15,
                    action: Some("/q?a=1&b=2".into()),
                    caller_id: None,
                    nouns: vec![
                        Noun::Sip {
                            uri: "sip:a@h".into(),
                            url: Some("/ans?x=1".into())
                        },
                        Noun::Sip {
                            uri: "sip:b@h".into(),
                            url: Some("/ans?x=2".into())
                        }
                    ]
                },
                Verb::Play("https://h/m.wav".into()),
                Verb::Record {
                    action: Some("/done".into()),
                    max_length: 120,
                    status_callback: Some("/ready".into()),
                    transcription_callback: Some("/text".into()),
                }
            ]
        );
        assert!(parse_twiml("not xml at all").is_err());
    }
}

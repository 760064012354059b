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
    Rejected,
    HungUp,
    Redirected(String),
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
        noun: Noun,
    },
    Hangup,
    Reject,
    Pause,
    Redirect(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Noun {
    Number(String),
    Sip(String),
    /// A noun this stand-in does not follow (Client, Queue, Conference…).
    Other(String),
}

/// Reads a TwiML document (refusing what Twilio would refuse: no `<Response>`, unknown verbs).
fn parse_twiml(text: &str) -> Result<Vec<Verb>, String> {
    let mut reader = Reader::from_str(text);
    // Not trimmed piecewise: text around an entity keeps its spaces; each verb's text is
    // trimmed whole.
    let mut verbs = Vec::new();
    let mut in_response = false;
    // The verb being read: its name, attributes and text/children.
    let mut open: Option<(String, Vec<(String, String)>)> = None;
    let mut noun: Option<(String, String)> = None;
    let mut text_in = String::new();
    let mut current_noun: Option<String> = None;
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
            }
            Event::Empty(e) if in_response && open.is_none() => {
                verbs.push(verb(&name(&e), &attributes(&e)?, "", None)?);
            }
            Event::Start(e) if open.is_some() => {
                current_noun = Some(name(&e));
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
                if current_noun.as_deref() == Some(ended.as_str()) {
                    noun = Some((ended, text_in.trim().to_string()));
                    current_noun = None;
                    text_in.clear();
                } else if let Some((verb_name, attrs)) = open.take() {
                    verbs.push(verb(&verb_name, &attrs, text_in.trim(), noun.take())?);
                    text_in.clear();
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

fn verb(
    name: &str,
    attrs: &[(String, String)],
    text: &str,
    noun: Option<(String, String)>,
) -> Result<Verb, String> {
    let attr = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Ok(match name {
        "Say" => Verb::Say(text.to_string()),
        "Hangup" => Verb::Hangup,
        "Reject" => Verb::Reject,
        "Pause" => Verb::Pause,
        "Redirect" => Verb::Redirect(text.to_string()),
        "Dial" => Verb::Dial {
            timeout: attr("timeout")
                .map(|t| t.parse().map_err(|_| format!("Dial timeout “{t}”")))
                .transpose()?
                .unwrap_or(30),
            action: attr("action"),
            caller_id: attr("callerId"),
            noun: match noun {
                Some((n, v)) if n == "Number" => Noun::Number(v),
                Some((n, v)) if n == "Sip" => Noun::Sip(v),
                Some((n, _)) => Noun::Other(n),
                // `<Dial>+1555…</Dial>`: a number as the Dial's text.
                None => Noun::Number(text.to_string()),
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
        // Redirects and actions bring new documents; a loop of them is a host's defect.
        'documents: for _ in 0..10 {
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
                        twiml = self.ask(&self.path_of(&url)?, base("in-progress")).await?;
                        continue 'documents;
                    }
                    Verb::Dial {
                        timeout,
                        action,
                        caller_id,
                        noun,
                    } => {
                        let outcome = match noun {
                            Noun::Number(number) => {
                                steps.push(Step::DialledNumber { number, caller_id });
                                DialOutcome::Completed
                            }
                            Noun::Sip(uri) => {
                                let (outcome, recording) = self.dial_sip(&sid, &uri, timeout).await;
                                steps.push(Step::DialledSip {
                                    uri,
                                    outcome: outcome.clone(),
                                    recording,
                                });
                                outcome
                            }
                            Noun::Other(n) => {
                                return Err(format!("<Dial><{n}> is not followed here"))
                            }
                        };
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
        Ok(steps)
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
        let side = &self.sip;
        let recording = side.recordings.join(format!("{sid}.wav"));
        let child = tokio::process::Command::new(&side.cli)
            .args(["call", "--to", uri, "--registrar", &side.registrar])
            .args(["--user", &side.user, "--expires", "60", "--codecs", "pcmu"])
            .arg("--hangup-after")
            .arg(side.talk.as_secs().max(1).to_string())
            .arg("--play")
            .arg(&side.play)
            .arg("--record")
            .arg(&recording)
            .env("RINGDESK_SIP_PASSWORD", format!("{}pw", side.user))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
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
                    noun: Noun::Sip("sip:bob@127.0.0.1:5060".into()),
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
                    noun: Noun::Number("+15417543010".into())
                },
                Verb::Redirect("/next".into())
            ]
        );
        assert!(parse_twiml("<Response><Dance/></Response>").is_err());
        assert!(parse_twiml("not xml at all").is_err());
    }
}

//! Vonage's side of "what to do with this call": its `answer_url` request (GET with the call in
//! the query, or POST with it as JSON when the application says `answer_method: POST`) and the
//! NCCO answered (a JSON array of actions). Vonage numbers carry no `+`.

use ringdesk_core::ports::{
    CallParty, DialResult, DialTarget, Prompt, StepRecording, StepRequest, VoiceAnswer,
    VoiceRequest, WebhookRequest, CALL_HEADER, QUEUE_HEADER,
};
use ringdesk_core::{E164Number, ProviderError};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Answer {
    uuid: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn refused(field: &str) -> ProviderError {
    ProviderError::InvalidResponse {
        reason: format!("Vonage's answer request has no {field}"),
    }
}

/// A request's fields: its JSON body (`POST`), or its query (`GET`).
fn fields<T: serde::de::DeserializeOwned>(
    request: &WebhookRequest,
    what: &str,
) -> Result<T, ProviderError> {
    if request.method.eq_ignore_ascii_case("GET") || request.body.is_empty() {
        let query = request
            .url
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default();
        let pairs: serde_json::Map<String, serde_json::Value> =
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), json!(v.into_owned())))
                .collect();
        serde_json::from_value(serde_json::Value::Object(pairs))
    } else {
        serde_json::from_slice(&request.body)
    }
    .map_err(|e| ProviderError::InvalidResponse {
        reason: format!("Vonage's {what} is not readable: {e}"),
    })
}

pub fn parse_voice_request(request: &WebhookRequest) -> Result<VoiceRequest, ProviderError> {
    let answer: Answer = fields(request, "answer request")?;
    Ok(VoiceRequest {
        provider_call_id: answer.uuid.ok_or_else(|| refused("uuid"))?,
        from: party(&answer.from.ok_or_else(|| refused("from"))?),
        to: party(&answer.to.ok_or_else(|| refused("to"))?),
    })
}

/// What Vonage posts to the step URLs Ringdesk's NCCOs carry: a synchronous `connect`'s call
/// events (`status`), `notify` (its payload), `record`'s event (`recording_url`, `start_time`,
/// `end_time`) and the transcription's (a `transcription_url` to read the text from).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Step {
    uuid: Option<String>,
    conversation_uuid: Option<String>,
    status: Option<String>,
    recording_url: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    transcription_url: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub fn parse_step_request(request: &WebhookRequest) -> Result<StepRequest, ProviderError> {
    let step: Step = fields(request, "event")?;
    // A call's state, when this is a call event (a recording's or transcription's event
    // may carry a `status` of its own).
    let dial = match (&step.recording_url, &step.transcription_url) {
        (None, None) => step.status.as_deref().and_then(dial_result),
        _ => None,
    };
    let recording = step
        .recording_url
        .filter(|u| !u.trim().is_empty())
        .map(|url| StepRecording {
            url: url.trim().to_string(),
            duration_secs: seconds_between(step.start_time.as_deref(), step.end_time.as_deref()),
        });
    let transcription = (step.transcription_url.is_none()
        && step.kind.as_deref() == Some("transcription"))
    .then_some(Err(()));
    Ok(StepRequest {
        provider_call_id: step.uuid.or(step.conversation_uuid).unwrap_or_default(),
        dial,
        recording,
        transcription,
        transcript_url: step.transcription_url.filter(|u| !u.trim().is_empty()),
    })
}

/// Vonage's call states (its voice API's `status`), as a dial's progress or end.
fn dial_result(status: &str) -> Option<DialResult> {
    Some(match status {
        "started" | "ringing" => DialResult::Ringing,
        "answered" => DialResult::Connected,
        "completed" => DialResult::Answered,
        "busy" => DialResult::Busy,
        "timeout" | "unanswered" | "rejected" => DialResult::NoAnswer,
        "cancelled" => DialResult::Canceled,
        "failed" => DialResult::Failed,
        _ => return None,
    })
}

fn seconds_between(start: Option<&str>, end: Option<&str>) -> Option<u32> {
    let at = |t: Option<&str>| {
        time::OffsetDateTime::parse(t?, &time::format_description::well_known::Rfc3339).ok()
    };
    let secs = (at(end)? - at(start)?).whole_seconds();
    u32::try_from(secs).ok()
}

/// The text of a transcription file Vonage links to: each channel's sentences, in order
/// (`{"channels":[{"transcript":[{"sentence":…}]}]}`).
pub fn transcript_text(bytes: &[u8]) -> Result<String, ProviderError> {
    #[derive(Deserialize)]
    struct File {
        channels: Vec<Channel>,
    }
    #[derive(Deserialize)]
    struct Channel {
        #[serde(default)]
        transcript: Vec<Sentence>,
    }
    #[derive(Deserialize)]
    struct Sentence {
        sentence: String,
    }
    let file: File = serde_json::from_slice(bytes).map_err(|e| ProviderError::InvalidResponse {
        reason: format!("Vonage's transcription is not readable: {e}"),
    })?;
    Ok(file
        .channels
        .iter()
        .flat_map(|c| &c.transcript)
        .map(|s| s.sentence.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" "))
}

/// `14155552671` (a number without `+`), `sip:user@host` (a SIP caller), or anything else
/// Vonage sent (`Unknown`, an app user).
fn party(raw: &str) -> CallParty {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix("sip:") {
        let address = rest.split([';', '?']).next().unwrap_or(rest);
        if let Some((user, host)) = address.split_once('@') {
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            return CallParty::Sip {
                user: user.to_string(),
                host: host.to_ascii_lowercase(),
            };
        }
    }
    let digits = raw.trim_start_matches('+');
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(number) = E164Number::parse_international(&format!("+{digits}")) {
            return CallParty::Number(number);
        }
    }
    CallParty::Other(raw.to_string())
}

fn digits(n: &E164Number) -> String {
    n.as_str().trim_start_matches('+').to_string()
}

/// The NCCO: `connect` to a number or a SIP address (`from` only when a caller ID is chosen:
/// Vonage shows the caller's own number otherwise), or `talk` the apology (the call ends when
/// the NCCO does).
fn endpoint(target: &DialTarget) -> serde_json::Value {
    match target {
        DialTarget::Number(n) => json!({ "type": "phone", "number": digits(n) }),
        // Vonage sends each of `headers` as an X- header of the INVITE.
        DialTarget::Sip {
            user,
            host,
            call,
            queue,
        } => {
            let mut sip = json!({ "type": "sip", "uri": format!("sip:{user}@{host}") });
            let headers: serde_json::Map<String, serde_json::Value> =
                [(CALL_HEADER, call), (QUEUE_HEADER, queue)]
                    .into_iter()
                    .filter_map(|(name, value)| {
                        Some((
                            name.trim_start_matches("X-").to_string(),
                            json!(value.as_ref()?),
                        ))
                    })
                    .collect();
            if let (false, Some(fields)) = (headers.is_empty(), sip.as_object_mut()) {
                fields.insert("headers".into(), serde_json::Value::Object(headers));
            }
            sip
        }
    }
}

/// `connect`, recorded when `record` says where to tell of it: the `record` action comes
/// before it so it covers the conversation (both sides, one channel each).
fn recorded(record: Option<&str>, connect: serde_json::Value) -> serde_json::Value {
    match record {
        Some(url) => json!([
            {
                "action": "record",
                "split": "conversation",
                "channels": 2,
                "format": "mp3",
                "eventUrl": [url],
                "eventMethod": "POST"
            },
            connect
        ]),
        None => json!([connect]),
    }
}

pub fn render(answer: &VoiceAnswer) -> String {
    let ncco = match answer {
        VoiceAnswer::Dial {
            target,
            caller_id,
            record,
            ..
        } => {
            let mut connect = json!({ "action": "connect", "endpoint": [endpoint(target)] });
            if let (Some(from), Some(fields)) = (caller_id, connect.as_object_mut()) {
                fields.insert("from".into(), json!(digits(from)));
            }
            recorded(record.as_deref(), connect)
        }
        VoiceAnswer::Refuse { say } => json!([{ "action": "talk", "text": say }]),
        // `connect` takes one endpoint: Vonage rings a queue's members one after another.
        // A synchronous connect asks `after` for the next NCCO when nobody answers.
        VoiceAnswer::Offer {
            ring,
            timeout_secs,
            after,
            record,
            ..
        } => match ring.first() {
            Some(first) => recorded(
                record.as_deref(),
                json!({
                    "action": "connect",
                    "endpoint": [endpoint(&first.target)],
                    "timeout": timeout_secs,
                    "eventType": "synchronous",
                    "eventUrl": [after],
                    "eventMethod": "POST"
                }),
            ),
            None => json!([]),
        },
        // `notify` posts to its URL and runs the NCCO it answers: Vonage's redirect.
        VoiceAnswer::Hold { say, music, then } => {
            let mut actions = Vec::new();
            if let Some(say) = say {
                actions.push(json!({ "action": "talk", "text": say }));
            }
            actions.push(json!({ "action": "stream", "streamUrl": [music] }));
            actions.push(json!({
                "action": "notify", "payload": {}, "eventUrl": [then], "eventMethod": "POST"
            }));
            serde_json::Value::Array(actions)
        }
        // The message ends on silence or `#`; `notify` then asks `after` for the goodbye.
        VoiceAnswer::Voicemail {
            greeting,
            max_secs,
            after,
            ready,
            transcribed,
        } => json!([
            match greeting {
                Prompt::Say(words) => json!({ "action": "talk", "text": words }),
                Prompt::Play(url) => json!({ "action": "stream", "streamUrl": [url] }),
            },
            {
                "action": "record",
                "endOnSilence": 5,
                "endOnKey": "#",
                "beepStart": true,
                "timeOut": max_secs,
                "format": "mp3",
                "eventUrl": [ready],
                "eventMethod": "POST",
                "transcription": { "eventUrl": [transcribed], "eventMethod": "POST" }
            },
            { "action": "notify", "payload": {}, "eventUrl": [after], "eventMethod": "POST" }
        ]),
        // An NCCO has one action at least (Vonage's schema): the call ends after it.
        VoiceAnswer::Connect | VoiceAnswer::Hangup => {
            json!([{ "action": "talk", "text": "Goodbye." }])
        }
    };
    ncco.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, url: &str, body: &str) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![],
            body: body.as_bytes().to_vec(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn n(s: &str) -> E164Number {
        E164Number::parse_international(s).unwrap()
    }

    /// The answer request as Vonage's voice guide shows it (GET, the call in the query).
    #[test]
    fn reads_the_answer_request_as_get_and_as_post() {
        let get = parse_voice_request(&request(
            "GET",
            "https://team.example.com/webhooks/p/voice?to=12125550100&from=14155552671&uuid=aaaaaaaa-bbbb-cccc-dddd-0123456789ab&conversation_uuid=CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            "",
        ))
        .unwrap();
        assert_eq!(get.provider_call_id, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab");
        assert_eq!(get.from, CallParty::Number(n("+14155552671")));
        assert_eq!(get.to, CallParty::Number(n("+12125550100")));
        let post = parse_voice_request(&request(
            "POST",
            "https://team.example.com/webhooks/p/voice",
            r#"{"to":"12125550100","from":"sip:ringdesk-bea@team.sip-eu.vonage.com;transport=tls","uuid":"u1","conversation_uuid":"CON-1"}"#,
        ))
        .unwrap();
        assert_eq!(
            post.from,
            CallParty::Sip {
                user: "ringdesk-bea".into(),
                host: "team.sip-eu.vonage.com".into()
            }
        );
        assert!(parse_voice_request(&request("GET", "https://h/voice?to=1", "")).is_err());
        assert!(parse_voice_request(&request("POST", "https://h/voice", "{not json")).is_err());
        assert_eq!(party("Unknown"), CallParty::Other("Unknown".into()));
    }

    #[test]
    fn answers_with_ncco_actions() {
        let to_number = render(&VoiceAnswer::Dial {
            target: DialTarget::Number(n("+14155550199")),
            caller_id: None,
            transfer_url: None,
            record: None,
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&to_number).unwrap(),
            json!([{ "action": "connect", "endpoint": [{ "type": "phone", "number": "14155550199" }] }])
        );
        let to_softphone = render(&VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: "bea".into(),
                host: "pbx.example.com".into(),
                call: Some("c-1".into()),
                queue: None,
            },
            caller_id: Some(n("+12125550100")),
            transfer_url: None,
            record: None,
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&to_softphone).unwrap(),
            json!([{ "action": "connect", "from": "12125550100",
                     "endpoint": [{ "type": "sip", "uri": "sip:bea@pbx.example.com",
                                    "headers": { "Ringdesk-Call": "c-1" } }] }])
        );
        let sorry = render(&VoiceAnswer::Refuse {
            say: "Sorry \"all\" busy".into(),
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&sorry).unwrap(),
            json!([{ "action": "talk", "text": "Sorry \"all\" busy" }])
        );
    }

    fn step(body: serde_json::Value) -> StepRequest {
        parse_step_request(&request(
            "POST",
            "https://team.example.com/webhooks/p/step?do=next&sig=x",
            &body.to_string(),
        ))
        .unwrap()
    }

    /// A synchronous `connect`'s call events (the voice API's call states), `notify`, and the
    /// `record` and transcription events, as the NCCO reference shows them.
    #[test]
    fn reads_the_events_a_step_url_receives() {
        let event = |status: &str| {
            step(json!({
                "uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356",
                "conversation_uuid": "CON-f972836a-550f-45fa-956c-12a2ab5b7d22",
                "status": status, "direction": "outbound",
                "from": "447700900000", "to": "sip:ringdesk-bea@pbx.example.com",
                "timestamp": "2020-01-01T14:00:00.000Z"
            }))
        };
        for (status, dial) in [
            ("started", DialResult::Ringing),
            ("ringing", DialResult::Ringing),
            ("answered", DialResult::Connected),
            ("completed", DialResult::Answered),
            ("timeout", DialResult::NoAnswer),
            ("unanswered", DialResult::NoAnswer),
            ("rejected", DialResult::NoAnswer),
            ("busy", DialResult::Busy),
            ("failed", DialResult::Failed),
            ("cancelled", DialResult::Canceled),
        ] {
            let read = event(status);
            assert_eq!(read.dial, Some(dial), "{status}");
            assert_eq!(
                read.provider_call_id,
                "63f61863-4a51-4f6b-86e1-46edebcf9356"
            );
        }
        assert_eq!(event("machine").dial, None);
        let notified = step(json!({
            "conversation_uuid": "CON-1", "payload": {}, "timestamp": "2020-01-01T14:00:00.000Z"
        }));
        assert_eq!(
            (notified.dial, notified.provider_call_id.as_str()),
            (None, "CON-1")
        );
        let recorded = step(json!({
            "start_time": "2020-01-01T12:00:00Z",
            "recording_url": "https://api.nexmo.com/v1/files/bbbbbbbb-aaaa-cccc-dddd-0123456789ab",
            "size": 12222,
            "recording_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            "end_time": "2020-01-01T12:00:14.500Z",
            "conversation_uuid": "CON-1",
            "timestamp": "2020-01-01T14:00:00.000Z"
        }));
        assert_eq!(recorded.dial, None);
        let recording = recorded.recording.unwrap();
        assert_eq!(
            recording.url,
            "https://api.nexmo.com/v1/files/bbbbbbbb-aaaa-cccc-dddd-0123456789ab"
        );
        assert_eq!(recording.duration_secs, Some(14));
        let transcribed = step(json!({
            "conversation_uuid": "CON-1", "type": "transcription", "status": "transcribed",
            "recording_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            "transcription_url": "https://api.nexmo.com/v1/files/cccccccc-aaaa-cccc-dddd-0123456789ab"
        }));
        assert_eq!(
            transcribed.dial, None,
            "a transcription's status is not a call's"
        );
        assert!(transcribed.transcript_url.is_some());
        let failed = step(
            json!({"conversation_uuid": "CON-1", "type": "transcription", "status": "failed"}),
        );
        assert_eq!(failed.transcription, Some(Err(())));
        assert!(parse_step_request(&request("POST", "https://h/step", "[1,2")).is_err());
    }

    #[test]
    fn reads_a_transcription_file() {
        let text = transcript_text(
            br#"{"channels":[{"transcript":[{"sentence":"Hi, it's Dana.","confidence":0.9},{"sentence":" Please call me back. "}],"duration":6}]}"#,
        )
        .unwrap();
        assert_eq!(text, "Hi, it's Dana. Please call me back.");
        assert!(transcript_text(b"<html>").is_err());
    }

    /// Every NCCO Ringdesk answers with, checked against Vonage's own NCCO schema
    /// (../shared/provider-specs/vonage/ncco-schema.json). That schema (2021) lacks `notify`
    /// (provider facts §6 #15): the hold answer's `notify` is checked by hand, its `stream`
    /// by the schema.
    #[test]
    fn every_answer_is_an_ncco_vonages_schema_accepts() {
        use ringdesk_core::ports::Ringing;
        let shared = std::env::var("RINGDESK_SHARED").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_string()
        });
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{shared}/provider-specs/vonage/ncco-schema.json"))
                .expect("the NCCO schema (../shared/provider-specs)"),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
        let sip = DialTarget::Sip {
            user: "ringdesk-1".into(),
            host: "sip.example.com".into(),
            call: Some("CON-1".into()),
            queue: None,
        };
        let answers = [
            VoiceAnswer::Dial {
                target: sip.clone(),
                caller_id: Some(n("+14155550100")),
                transfer_url: None,
                record: Some("https://t/webhooks/p".into()),
            },
            VoiceAnswer::Refuse {
                say: "Sorry".into(),
            },
            VoiceAnswer::Offer {
                ring: vec![Ringing {
                    target: sip,
                    on_answer: None,
                }],
                timeout_secs: 20,
                after: "https://t/webhooks/p/step?do=next".into(),
                record: Some("https://t/webhooks/p?call=V1".into()),
                transfer_url: None,
            },
            VoiceAnswer::Voicemail {
                greeting: Prompt::Say("Leave a message".into()),
                max_secs: 120,
                after: "https://t/done".into(),
                ready: "https://t/ready".into(),
                transcribed: "https://t/text".into(),
            },
            VoiceAnswer::Voicemail {
                greeting: Prompt::Play("https://t/audio/queues/q/greeting.wav".into()),
                max_secs: 120,
                after: "https://t/done".into(),
                ready: "https://t/ready".into(),
                transcribed: "https://t/text".into(),
            },
            VoiceAnswer::Connect,
        ];
        for answer in &answers {
            let mut ncco: serde_json::Value = serde_json::from_str(&render(answer)).unwrap();
            // `notify` (not in the schema): a payload and one URL.
            if let Some(actions) = ncco.as_array_mut() {
                actions.retain(|a| {
                    let notify = a["action"] == "notify";
                    if notify {
                        assert!(
                            a["payload"].is_object() && a["eventUrl"][0].is_string(),
                            "{a}"
                        );
                    }
                    !notify
                });
            }
            let errors: Vec<String> = validator
                .iter_errors(&ncco)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{answer:?} → {ncco}: {errors:?}");
        }
        let hold: serde_json::Value = serde_json::from_str(&render(&VoiceAnswer::Hold {
            say: None,
            music: "https://t/audio/hold-music.wav".into(),
            then: "https://t/step?do=next".into(),
        }))
        .unwrap();
        let stream = serde_json::Value::Array(vec![hold[0].clone()]);
        assert!(validator.is_valid(&stream), "{hold}");
        assert_eq!(hold[1]["action"], "notify");
        assert_eq!(hold[1]["eventUrl"][0], "https://t/step?do=next");
        assert!(hold[1]["payload"].is_object(), "notify requires a payload");
    }
}

//! What a (verified) webhook says about a call, per provider (../shared/docs/providers.md §2.7,
//! §3.7, §4.6). Events Ringdesk does not act on are skipped, not errors; a body that cannot be
//! read is refused. Each event gets an id that is the same on every redelivery.

use ringdesk_core::ports::{WebhookEvent, WebhookEventKind, WebhookRequest};
use ringdesk_core::ProviderError;
use serde_json::Value;

fn malformed(what: &str) -> ProviderError {
    ProviderError::WebhookRejected {
        reason: format!("the body is not {what}"),
    }
}

/// Whole seconds from one RFC 3339 time to another (a recording's start and end).
fn seconds_between(start: Option<String>, end: Option<String>) -> Option<u32> {
    use time::format_description::well_known::Rfc3339;
    let start = time::OffsetDateTime::parse(&start?, &Rfc3339).ok()?;
    let end = time::OffsetDateTime::parse(&end?, &Rfc3339).ok()?;
    u32::try_from((end - start).whole_seconds()).ok()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Telnyx: a JSON envelope `{"data":{"event_type","id","payload":{…}}}` (Call Control), or a
/// TeXML application's status callback (a form, read as Twilio's).
pub fn telnyx(request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
    // A TeXML application's status callbacks are forms with TwiML's fields.
    if request.body.trim_ascii_start().first() != Some(&b'{') {
        return twilio(request);
    }
    let body: Value =
        serde_json::from_slice(&request.body).map_err(|_| malformed("Telnyx JSON"))?;
    let data = body
        .get("data")
        .ok_or_else(|| malformed("a Telnyx event"))?;
    let (Some(event_type), Some(id)) = (text(data, "event_type"), text(data, "id")) else {
        return Err(malformed("a Telnyx event"));
    };
    let payload = data.get("payload").cloned().unwrap_or(Value::Null);
    let Some(call) = text(&payload, "call_control_id") else {
        return Ok(Vec::new());
    };
    let kind = match event_type.as_str() {
        "call.initiated" if text(&payload, "direction").as_deref() == Some("incoming") => {
            WebhookEventKind::IncomingCall {
                from: text(&payload, "from").unwrap_or_default(),
                to: text(&payload, "to").unwrap_or_default(),
            }
        }
        "call.answered" => WebhookEventKind::CallAnswered,
        "call.hangup" => WebhookEventKind::CallEnded {
            cause: text(&payload, "hangup_cause"),
        },
        "call.recording.saved" => {
            let urls = payload
                .get("recording_urls")
                .cloned()
                .unwrap_or(Value::Null);
            match text(&urls, "mp3").or_else(|| text(&urls, "wav")) {
                Some(url) => WebhookEventKind::RecordingReady {
                    url,
                    duration_secs: seconds_between(
                        text(&payload, "recording_started_at"),
                        text(&payload, "recording_ended_at"),
                    ),
                },
                None => return Ok(Vec::new()),
            }
        }
        _ => return Ok(Vec::new()),
    };
    Ok(vec![WebhookEvent {
        id,
        provider_call_id: call,
        kind,
    }])
}

/// A Twilio request's parameters: the query of a GET, the form body of a POST.
pub(crate) fn twilio_params(
    request: &WebhookRequest,
) -> Result<Vec<(String, String)>, ProviderError> {
    Ok(if request.method.eq_ignore_ascii_case("GET") {
        url::Url::parse(&request.url)
            .map_err(|_| malformed("a Twilio callback"))?
            .query_pairs()
            .into_owned()
            .collect()
    } else {
        url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect()
    })
}

/// Twilio: form parameters (`CallSid`, `CallStatus`, `Direction`, recording fields).
pub fn twilio(request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
    let params = twilio_params(request)?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let call = get("CallSid").ok_or_else(|| malformed("a Twilio callback (no CallSid)"))?;
    if let (Some(recording), Some(url), Some("completed")) = (
        get("RecordingSid"),
        get("RecordingUrl"),
        get("RecordingStatus").as_deref(),
    ) {
        return Ok(vec![WebhookEvent {
            id: recording,
            provider_call_id: call,
            kind: WebhookEventKind::RecordingReady {
                url,
                duration_secs: get("RecordingDuration").and_then(|d| d.trim().parse().ok()),
            },
        }]);
    }
    let Some(status) = get("CallStatus") else {
        return Ok(Vec::new());
    };
    let kind = match status.as_str() {
        "ringing" if get("Direction").as_deref() == Some("inbound") => {
            WebhookEventKind::IncomingCall {
                from: get("From").unwrap_or_default(),
                to: get("To").unwrap_or_default(),
            }
        }
        "ringing" => WebhookEventKind::Ringing,
        "in-progress" => WebhookEventKind::CallAnswered,
        "completed" | "busy" | "failed" | "no-answer" | "canceled" => WebhookEventKind::CallEnded {
            cause: Some(status.clone()),
        },
        _ => return Ok(Vec::new()),
    };
    // A redelivery repeats the sequence number; without one, a status happens once per call.
    let id = format!(
        "{call}:{status}:{}",
        get("SequenceNumber").unwrap_or_default()
    );
    Ok(vec![WebhookEvent {
        id,
        provider_call_id: call,
        kind,
    }])
}

/// Vonage: JSON call events (`uuid`, `status`, `direction`), recordings, and the answer
/// webhook's query (`uuid`, `from`, `to`).
pub fn vonage(request: &WebhookRequest) -> Result<Vec<WebhookEvent>, ProviderError> {
    if request.method.eq_ignore_ascii_case("GET") {
        let url = url::Url::parse(&request.url).map_err(|_| malformed("a Vonage callback"))?;
        let get = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        let call = get("uuid").ok_or_else(|| malformed("a Vonage answer callback"))?;
        return Ok(vec![WebhookEvent {
            id: format!("{call}:answer"),
            provider_call_id: call,
            kind: WebhookEventKind::IncomingCall {
                from: get("from").unwrap_or_default(),
                to: get("to").unwrap_or_default(),
            },
        }]);
    }
    let body: Value =
        serde_json::from_slice(&request.body).map_err(|_| malformed("Vonage JSON"))?;
    if let Some(url) = text(&body, "recording_url") {
        // The event names the conversation; the leg the call is journaled by rides in the
        // eventUrl's query when Ringdesk asked for the recording.
        let leg = url::Url::parse(&request.url).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "call")
                .map(|(_, v)| v.into_owned())
        });
        let call = leg
            .or_else(|| text(&body, "conversation_uuid"))
            .unwrap_or_default();
        let id = text(&body, "recording_uuid").unwrap_or_else(|| url.clone());
        return Ok(vec![WebhookEvent {
            id,
            provider_call_id: call,
            kind: WebhookEventKind::RecordingReady {
                url,
                duration_secs: seconds_between(text(&body, "start_time"), text(&body, "end_time")),
            },
        }]);
    }
    let (Some(call), Some(status)) = (text(&body, "uuid"), text(&body, "status")) else {
        return Ok(Vec::new());
    };
    let kind = match status.as_str() {
        "started" if text(&body, "direction").as_deref() == Some("inbound") => {
            WebhookEventKind::IncomingCall {
                from: text(&body, "from").unwrap_or_default(),
                to: text(&body, "to").unwrap_or_default(),
            }
        }
        "ringing" => WebhookEventKind::Ringing,
        "answered" => WebhookEventKind::CallAnswered,
        "completed" | "busy" | "cancelled" | "unanswered" | "rejected" | "failed" | "timeout" => {
            WebhookEventKind::CallEnded {
                cause: Some(status.clone()),
            }
        }
        _ => return Ok(Vec::new()),
    };
    let id = format!(
        "{call}:{status}:{}",
        text(&body, "timestamp").unwrap_or_default()
    );
    Ok(vec![WebhookEvent {
        id,
        provider_call_id: call,
        kind,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn a_recording_lasts_from_its_start_to_its_end() {
        let t = |s: &str| Some(s.to_string());
        assert_eq!(
            seconds_between(t("2026-12-07T10:00:00Z"), t("2026-12-07T10:01:05.400Z")),
            Some(65)
        );
        assert_eq!(seconds_between(t("2026-12-07T10:00:00Z"), None), None);
        assert_eq!(
            seconds_between(t("yesterday"), t("2026-12-07T10:00:00Z")),
            None
        );
        // Backwards is no length.
        assert_eq!(
            seconds_between(t("2026-12-07T10:00:10Z"), t("2026-12-07T10:00:00Z")),
            None
        );
    }

    fn post(body: &str) -> WebhookRequest {
        WebhookRequest {
            method: "POST".into(),
            url: "https://example.com/hooks".into(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            received_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn telnyx_events() {
        // The signed vector of providers.md §5.2.
        let initiated = r#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2023-11-14T22:13:20.000000Z","payload":{"call_control_id":"v3:abc","call_leg_id":"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","call_session_id":"428c31b6-abf3-3bc1-b7f4-5013ef9657c1","connection_id":"7267xxxxxxxxxxxxxx","direction":"incoming","from":"+35319605860","to":"+13129457420","state":"parked"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/webhooks"}}"#;
        assert_eq!(
            telnyx(&post(initiated)).unwrap(),
            vec![WebhookEvent {
                id: "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0".into(),
                provider_call_id: "v3:abc".into(),
                kind: WebhookEventKind::IncomingCall {
                    from: "+35319605860".into(),
                    to: "+13129457420".into()
                },
            }]
        );
        let hangup = r#"{"data":{"event_type":"call.hangup","id":"e2","payload":{"call_control_id":"v3:abc","hangup_cause":"normal_clearing"}}}"#;
        assert_eq!(
            telnyx(&post(hangup)).unwrap()[0].kind,
            WebhookEventKind::CallEnded {
                cause: Some("normal_clearing".into())
            }
        );
        let unknown = r#"{"data":{"event_type":"call.speak.started","id":"e3","payload":{"call_control_id":"v3:abc"}}}"#;
        assert!(telnyx(&post(unknown)).unwrap().is_empty());
        for bad in ["", "not json", "{}", r#"{"data":{"payload":{}}}"#] {
            assert!(matches!(
                telnyx(&post(bad)),
                Err(ProviderError::WebhookRejected { .. })
            ));
        }
    }

    #[test]
    fn twilio_events() {
        let ringing = "AccountSid=AC1&CallSid=CA9&CallStatus=ringing&Direction=inbound&From=%2B14158675309&To=%2B18005551212";
        assert_eq!(
            twilio(&post(ringing)).unwrap(),
            vec![WebhookEvent {
                id: "CA9:ringing:".into(),
                provider_call_id: "CA9".into(),
                kind: WebhookEventKind::IncomingCall {
                    from: "+14158675309".into(),
                    to: "+18005551212".into()
                },
            }]
        );
        let done = "CallSid=CA9&CallStatus=no-answer&SequenceNumber=3";
        let events = twilio(&post(done)).unwrap();
        assert_eq!(events[0].id, "CA9:no-answer:3");
        assert_eq!(
            events[0].kind,
            WebhookEventKind::CallEnded {
                cause: Some("no-answer".into())
            }
        );
        let recording = "CallSid=CA9&RecordingSid=RE1&RecordingStatus=completed&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2FRE1";
        assert_eq!(
            twilio(&post(recording)).unwrap()[0].kind,
            WebhookEventKind::RecordingReady {
                url: "https://api.twilio.com/RE1".into(),
                duration_secs: None,
            }
        );
        assert!(twilio(&post("CallSid=CA9&CallStatus=queued"))
            .unwrap()
            .is_empty());
        assert!(matches!(
            twilio(&post("From=%2B1")),
            Err(ProviderError::WebhookRejected { .. })
        ));
    }

    #[test]
    fn vonage_events() {
        // The signed vector of providers.md §5.3.
        let answered = r#"{"from":"447700900000","to":"447700900001","uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","status":"answered","direction":"inbound","timestamp":"2023-11-14T22:13:20.000Z"}"#;
        assert_eq!(
            vonage(&post(answered)).unwrap(),
            vec![WebhookEvent {
                id: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab:answered:2023-11-14T22:13:20.000Z".into(),
                provider_call_id: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab".into(),
                kind: WebhookEventKind::CallAnswered,
            }]
        );
        let answer_url = WebhookRequest {
            method: "GET".into(),
            url: "https://example.com/answer?to=447700900001&from=447700900000&uuid=u1&conversation_uuid=c1".into(),
            ..post("")
        };
        assert_eq!(
            vonage(&answer_url).unwrap()[0].kind,
            WebhookEventKind::IncomingCall {
                from: "447700900000".into(),
                to: "447700900001".into()
            }
        );
        assert!(vonage(&post(r#"{"uuid":"u1","status":"machine"}"#))
            .unwrap()
            .is_empty());
        assert!(matches!(
            vonage(&post("<xml/>")),
            Err(ProviderError::WebhookRejected { .. })
        ));
    }
}

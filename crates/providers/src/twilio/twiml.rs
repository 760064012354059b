//! Twilio's voice requests (what its voice URL receives for a call on a SIP domain or a
//! number) and TwiML, the answer. Telnyx's TeXML speaks the same: its requests carry the same
//! form fields (`CallSid`, `From`, `To`) and it follows the same verbs.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use ringdesk_core::ports::{
    CallParty, DialResult, DialTarget, Prompt, StepRecording, StepRequest, TransferRequest,
    VoiceAnswer, VoiceRequest, WebhookRequest, CALL_HEADER, QUEUE_HEADER,
};
use ringdesk_core::{E164Number, ProviderError};

use crate::webhook_events;

pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

pub fn parse_voice_request(request: &WebhookRequest) -> Result<VoiceRequest, ProviderError> {
    let params = webhook_events::twilio_params(request)?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let refused = |what: &str| ProviderError::WebhookRejected {
        reason: format!("a voice request without {what}"),
    };
    Ok(VoiceRequest {
        provider_call_id: get("CallSid")
            .ok_or_else(|| refused("CallSid"))?
            .to_string(),
        from: party(get("From").ok_or_else(|| refused("From"))?),
        to: party(get("To").ok_or_else(|| refused("To"))?),
    })
}

/// Twilio's request to the `<Dial referUrl>` when the dialled softphone sent a REFER: the
/// target is `ReferTransferTarget`, the Refer-To as sent (`<sip:+1555…@domain>`).
pub fn parse_transfer_request(request: &WebhookRequest) -> Result<TransferRequest, ProviderError> {
    let params = webhook_events::twilio_params(request)?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let refused = |what: &str| ProviderError::WebhookRejected {
        reason: format!("a Twilio transfer request without {what}"),
    };
    let target = get("ReferTransferTarget").ok_or_else(|| refused("ReferTransferTarget"))?;
    Ok(TransferRequest {
        provider_call_id: get("CallSid")
            .ok_or_else(|| refused("CallSid"))?
            .to_string(),
        target: party(target.trim().trim_start_matches('<').trim_end_matches('>')),
    })
}

/// `sip:user@host[:port][;params]` (the user part percent-decoded: `%2B1555…`), an E.164
/// number, or whatever else Twilio sent (`anonymous`, a client name).
fn party(raw: &str) -> CallParty {
    let raw = raw.trim();
    let sip = raw
        .strip_prefix("sip:")
        .or_else(|| raw.strip_prefix("sips:"))
        .map(|rest| rest.split([';', '?']).next().unwrap_or(rest));
    if let Some((user, host)) = sip.and_then(|s| s.split_once('@')) {
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        return CallParty::Sip {
            user: percent_decode_str(user).decode_utf8_lossy().into_owned(),
            host: host.to_ascii_lowercase(),
        };
    }
    match E164Number::parse_international(raw) {
        Ok(number) => CallParty::Number(number),
        Err(_) => CallParty::Other(raw.to_string()),
    }
}

/// Which of the two TwiML speakers an answer is for: they differ only in `<Record>`'s
/// transcription attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Twilio,
    /// Telnyx's TeXML.
    TeXml,
}

/// A provider's request to a step URL: Twilio's `<Dial action>` (`DialCallStatus`), a
/// `<Number|Sip url>` (the answering leg), `<Redirect>`, `<Record action>` and its status
/// and transcription callbacks (`RecordingUrl`, `RecordingDuration`, `TranscriptionText`,
/// `TranscriptionStatus`). TeXML sends the same names.
pub fn parse_step_request(request: &WebhookRequest) -> Result<StepRequest, ProviderError> {
    let params = webhook_events::twilio_params(request)?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let provider_call_id = get("CallSid")
        .ok_or_else(|| ProviderError::WebhookRejected {
            reason: "a step request without CallSid".into(),
        })?
        .to_string();
    let dial = get("DialCallStatus").map(|status| match status {
        "completed" | "answered" => DialResult::Answered,
        "busy" => DialResult::Busy,
        "no-answer" => DialResult::NoAnswer,
        "canceled" => DialResult::Canceled,
        _ => DialResult::Failed,
    });
    let recording = get("RecordingUrl")
        .filter(|u| !u.trim().is_empty())
        .map(|url| StepRecording {
            url: url.trim().to_string(),
            duration_secs: get("RecordingDuration").and_then(|d| d.trim().parse().ok()),
        });
    let transcription = get("TranscriptionStatus").map(|status| match status {
        "completed" => Ok(get("TranscriptionText").unwrap_or_default().to_string()),
        _ => Err(()),
    });
    Ok(StepRequest {
        provider_call_id,
        dial,
        recording,
        transcription,
        transcript_url: None,
    })
}

/// TwiML as Twilio reads it.
pub fn render(answer: &VoiceAnswer) -> String {
    render_in(answer, Dialect::Twilio)
}

pub fn render_in(answer: &VoiceAnswer, dialect: Dialect) -> String {
    let verbs = match answer {
        VoiceAnswer::Dial {
            target,
            caller_id,
            transfer_url,
            record,
        } => {
            let caller_id = caller_id
                .as_ref()
                .map(|c| format!(" callerId=\"{c}\""))
                .unwrap_or_default();
            let refer = refer(transfer_url.as_deref());
            // answerOnBridge: the caller hears the far end ringing, and is not answered (nor
            // billed) until it picks up.
            format!(
                "<Dial answerOnBridge=\"true\"{caller_id}{refer}{}>{}</Dial>",
                recorded(record.as_deref()),
                noun(target, None)
            )
        }
        VoiceAnswer::Refuse { say } => format!("<Say>{}</Say><Hangup/>", escape(say)),
        VoiceAnswer::Offer {
            ring,
            timeout_secs,
            after,
            record,
            transfer_url,
        } => {
            let nouns: String = ring
                .iter()
                .map(|r| noun(&r.target, r.on_answer.as_deref()))
                .collect();
            format!(
                "<Dial answerOnBridge=\"true\" timeout=\"{timeout_secs}\" action=\"{}\" method=\"POST\"{}{}>{nouns}</Dial>",
                escape(after),
                refer(transfer_url.as_deref()),
                recorded(record.as_deref())
            )
        }
        VoiceAnswer::Hold { say, music, then } => format!(
            "{}<Play>{}</Play><Redirect method=\"POST\">{}</Redirect>",
            say.as_ref()
                .map(|s| format!("<Say>{}</Say>", escape(s)))
                .unwrap_or_default(),
            escape(music),
            escape(then)
        ),
        VoiceAnswer::Voicemail {
            greeting,
            max_secs,
            after,
            ready,
            transcribed,
        } => {
            let transcription = match dialect {
                Dialect::Twilio => format!(
                    " transcribe=\"true\" transcribeCallback=\"{}\"",
                    escape(transcribed)
                ),
                Dialect::TeXml => format!(
                    " transcription=\"true\" transcriptionCallback=\"{}\"",
                    escape(transcribed)
                ),
            };
            // Ended by 5 s of silence or any key; Twilio transcribes messages of 2 minutes at
            // most.
            let greeting = match greeting {
                Prompt::Say(words) => format!("<Say>{}</Say>", escape(words)),
                Prompt::Play(url) => format!("<Play>{}</Play>", escape(url)),
            };
            format!(
                "{greeting}<Record action=\"{}\" method=\"POST\" maxLength=\"{}\" timeout=\"5\" playBeep=\"true\" recordingStatusCallback=\"{}\" recordingStatusCallbackMethod=\"POST\" recordingStatusCallbackEvent=\"completed\"{transcription}/>",
                escape(after),
                max_secs.min(&120),
                escape(ready),
            )
        }
        VoiceAnswer::Connect => String::new(),
        VoiceAnswer::Hangup => "<Hangup/>".into(),
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{verbs}</Response>")
}

/// Twilio takes a SIP REFER from the dialled softphone only when its `<Dial>` names this.
fn refer(transfer_url: Option<&str>) -> String {
    transfer_url
        .map(|u| format!(" referUrl=\"{}\" referMethod=\"POST\"", escape(u)))
        .unwrap_or_default()
}

/// Both sides, each on its own channel, from the answer; told once it is ready.
fn recorded(record: Option<&str>) -> String {
    record
        .map(|u| {
            format!(
                " record=\"record-from-answer-dual\" recordingStatusCallback=\"{}\" recordingStatusCallbackMethod=\"POST\" recordingStatusCallbackEvent=\"completed\"",
                escape(u)
            )
        })
        .unwrap_or_default()
}

/// A `<Dial>` noun; `on_answer` becomes its `url` (TwiML run on the answering leg first).
fn noun(target: &DialTarget, on_answer: Option<&str>) -> String {
    let url = on_answer
        .map(|u| format!(" url=\"{}\" method=\"POST\"", escape(u)))
        .unwrap_or_default();
    match target {
        // E.164 is `+` and digits: nothing to escape.
        DialTarget::Number(n) => format!("<Number{url}>{n}</Number>"),
        // The call (and its queue) named to the softphone as headers of the URI (RFC 3261
        // §19.1.1), which Twilio sends as `X-Ringdesk-…` headers in the INVITE.
        DialTarget::Sip {
            user,
            host,
            call,
            queue,
        } => {
            let headers: Vec<String> = [(CALL_HEADER, call), (QUEUE_HEADER, queue)]
                .into_iter()
                .filter_map(|(name, value)| {
                    let value = value.as_ref()?;
                    Some(format!(
                        "{name}={}",
                        utf8_percent_encode(value, NON_ALPHANUMERIC)
                    ))
                })
                .collect();
            let header = match headers.is_empty() {
                true => String::new(),
                false => format!("?{}", headers.join("&")),
            };
            format!(
                "<Sip{url}>sip:{}@{}{}</Sip>",
                escape(user),
                escape(host),
                escape(&header)
            )
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> WebhookRequest {
        WebhookRequest {
            method: "POST".into(),
            url: "https://example.test/webhooks/p/voice".into(),
            headers: vec![],
            body: body.as_bytes().to_vec(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_call_from_the_softphone_names_its_login_and_the_dialled_number() {
        let parsed = parse_voice_request(&request(
            "CallSid=CA1&From=sip%3Aringdesk-1a2b3c4d%40rd-x.sip.twilio.com&To=sip%3A%252B15417543010%40rd-x.sip.twilio.com%3A5060%3Btransport%3DUDP&Direction=inbound",
        ))
        .unwrap();
        assert_eq!(parsed.provider_call_id, "CA1");
        assert_eq!(
            parsed.from,
            CallParty::Sip {
                user: "ringdesk-1a2b3c4d".into(),
                host: "rd-x.sip.twilio.com".into()
            }
        );
        assert_eq!(
            parsed.to,
            CallParty::Sip {
                user: "+15417543010".into(),
                host: "rd-x.sip.twilio.com".into()
            }
        );
    }

    #[test]
    fn a_call_to_a_number_names_both_numbers() {
        let parsed = parse_voice_request(&request(
            "CallSid=CA2&From=%2B14155550100&To=%2B15417543010",
        ))
        .unwrap();
        assert_eq!(
            parsed.from,
            CallParty::Number(E164Number::parse_international("+14155550100").unwrap())
        );
        let anonymous =
            parse_voice_request(&request("CallSid=CA3&From=anonymous&To=%2B15417543010")).unwrap();
        assert_eq!(anonymous.from, CallParty::Other("anonymous".into()));
        assert!(matches!(
            parse_voice_request(&request("From=%2B14155550100&To=%2B15417543010")),
            Err(ProviderError::WebhookRejected { .. })
        ));
    }

    #[test]
    fn a_softphone_dialled_may_transfer_and_its_request_names_the_target() {
        let sip = render(&VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: "ringdesk-1".into(),
                host: "rd.sip.twilio.com".into(),
                call: None,
                queue: None,
            },
            caller_id: None,
            transfer_url: Some("https://h.example/webhooks/p/voice/transfer?a=1&b=2".into()),
            record: None,
        });
        assert!(
            sip.contains("<Dial answerOnBridge=\"true\" referUrl=\"https://h.example/webhooks/p/voice/transfer?a=1&amp;b=2\" referMethod=\"POST\"><Sip>"),
            "{sip}"
        );
        let asked = parse_transfer_request(&request(
            "CallSid=CA9&ReferTransferTarget=%3Csip%3A%2B14155550177%40rd.sip.twilio.com%3E",
        ))
        .unwrap();
        assert_eq!(asked.provider_call_id, "CA9");
        assert_eq!(
            asked.target,
            CallParty::Sip {
                user: "+14155550177".into(),
                host: "rd.sip.twilio.com".into()
            }
        );
        assert!(matches!(
            parse_transfer_request(&request("CallSid=CA9")),
            Err(ProviderError::WebhookRejected { .. })
        ));
    }

    #[test]
    fn answers_are_twiml_with_text_escaped() {
        let to = E164Number::parse_international("+15417543010").unwrap();
        let from = E164Number::parse_international("+14155550100").unwrap();
        assert_eq!(
            render(&VoiceAnswer::Dial {
                target: DialTarget::Number(to),
                caller_id: Some(from),
                transfer_url: None,
                record: None,
            }),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial answerOnBridge=\"true\" callerId=\"+14155550100\"><Number>+15417543010</Number></Dial></Response>"
        );
        let sip = render(&VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: "a&b".into(),
                host: "rd.sip.twilio.com".into(),
                call: None,
                queue: None,
            },
            caller_id: None,
            transfer_url: None,
            record: None,
        });
        assert!(sip.contains(
            "<Dial answerOnBridge=\"true\"><Sip>sip:a&amp;b@rd.sip.twilio.com</Sip></Dial>"
        ));
        // The call put through is named to the softphone in a header of the URI, escaped.
        let named = render(&VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: "ringdesk-1".into(),
                host: "rd.sip.twilio.com".into(),
                call: Some("CA1&x=<y>".into()),
                queue: None,
            },
            caller_id: None,
            transfer_url: None,
            record: None,
        });
        assert!(
            named.contains(
                "<Sip>sip:ringdesk-1@rd.sip.twilio.com?X-Ringdesk-Call=CA1%26x%3D%3Cy%3E</Sip>"
            ),
            "{named}"
        );
        let refused = render(&VoiceAnswer::Refuse {
            say: "Sorry <agent> & co".into(),
        });
        assert!(refused.ends_with("<Say>Sorry &lt;agent&gt; &amp; co</Say><Hangup/></Response>"));
    }

    #[test]
    fn a_queues_answers_in_twiml_and_texml() {
        let offer = render(&VoiceAnswer::Offer {
            ring: vec![
                ringdesk_core::ports::Ringing {
                    target: DialTarget::Sip {
                        user: "a".into(),
                        host: "d.sip.twilio.com".into(),
                        call: Some("CA1".into()),
                        queue: None,
                    },
                    on_answer: Some("https://t/step?do=answered&qc=1&sig=x".into()),
                },
                ringdesk_core::ports::Ringing {
                    target: DialTarget::Sip {
                        user: "b".into(),
                        host: "d.sip.twilio.com".into(),
                        call: None,
                        queue: None,
                    },
                    on_answer: None,
                },
            ],
            timeout_secs: 15,
            after: "https://t/step?do=next&qc=1&sig=x".into(),
            record: None,
            transfer_url: None,
        });
        assert!(
            offer.contains(
                "<Dial answerOnBridge=\"true\" timeout=\"15\" action=\"https://t/step?do=next&amp;qc=1&amp;sig=x\" method=\"POST\">\
                 <Sip url=\"https://t/step?do=answered&amp;qc=1&amp;sig=x\" method=\"POST\">sip:a@d.sip.twilio.com?X-Ringdesk-Call=CA1</Sip>\
                 <Sip>sip:b@d.sip.twilio.com</Sip></Dial>"
            ),
            "{offer}"
        );
        let hold = render(&VoiceAnswer::Hold {
            say: None,
            music: "https://t/audio/hold-music.wav".into(),
            then: "https://t/step?do=next".into(),
        });
        assert!(hold.ends_with(
            "<Response><Play>https://t/audio/hold-music.wav</Play><Redirect method=\"POST\">https://t/step?do=next</Redirect></Response>"
        ));
        let told = render(&VoiceAnswer::Hold {
            say: Some("You are next in line.".into()),
            music: "https://t/m.wav".into(),
            then: "https://t/next".into(),
        });
        assert!(
            told.contains("<Response><Say>You are next in line.</Say><Play>https://t/m.wav</Play>"),
            "{told}"
        );
        let voicemail = VoiceAnswer::Voicemail {
            greeting: Prompt::Say("Leave a message".into()),
            max_secs: 600,
            after: "https://t/done".into(),
            ready: "https://t/ready".into(),
            transcribed: "https://t/text".into(),
        };
        let twilio = render(&voicemail);
        assert!(
            twilio.contains(
                "<Say>Leave a message</Say><Record action=\"https://t/done\" method=\"POST\" maxLength=\"120\" timeout=\"5\" playBeep=\"true\" \
                 recordingStatusCallback=\"https://t/ready\" recordingStatusCallbackMethod=\"POST\" recordingStatusCallbackEvent=\"completed\" \
                 transcribe=\"true\" transcribeCallback=\"https://t/text\"/>"
            ),
            "Twilio transcribes two minutes at most: {twilio}"
        );
        let texml = render_in(&voicemail, Dialect::TeXml);
        assert!(
            texml.contains("transcription=\"true\" transcriptionCallback=\"https://t/text\"/>"),
            "{texml}"
        );
        let recorded = render(&VoiceAnswer::Voicemail {
            greeting: Prompt::Play("https://t/audio/queues/q/greeting.mp3?a=1&b=2".into()),
            max_secs: 60,
            after: "https://t/done".into(),
            ready: "https://t/ready".into(),
            transcribed: "https://t/text".into(),
        });
        assert!(
            recorded
                .contains("<Play>https://t/audio/queues/q/greeting.mp3?a=1&amp;b=2</Play><Record "),
            "an uploaded greeting is played: {recorded}"
        );
        assert!(render(&VoiceAnswer::Connect).ends_with("<Response></Response>"));
        assert!(render(&VoiceAnswer::Hangup).ends_with("<Response><Hangup/></Response>"));
    }

    #[test]
    fn reads_what_a_step_request_says() {
        let dial = parse_step_request(&request(
            "CallSid=CA1&DialCallStatus=no-answer&DialCallSid=CA2",
        ))
        .unwrap();
        assert_eq!(dial.provider_call_id, "CA1");
        assert_eq!(dial.dial, Some(DialResult::NoAnswer));
        for (status, result) in [
            ("completed", DialResult::Answered),
            ("answered", DialResult::Answered),
            ("busy", DialResult::Busy),
            ("canceled", DialResult::Canceled),
            ("failed", DialResult::Failed),
        ] {
            let read =
                parse_step_request(&request(&format!("CallSid=CA1&DialCallStatus={status}")));
            assert_eq!(read.unwrap().dial, Some(result));
        }
        let recorded = parse_step_request(&request(
            "CallSid=CA1&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2Fr%2FRE1&RecordingDuration=7&RecordingStatus=completed",
        ))
        .unwrap();
        assert_eq!(
            recorded.recording,
            Some(StepRecording {
                url: "https://api.twilio.com/r/RE1".into(),
                duration_secs: Some(7)
            })
        );
        let text = parse_step_request(&request(
            "CallSid=CA1&TranscriptionStatus=completed&TranscriptionText=call+me+back",
        ))
        .unwrap();
        assert_eq!(text.transcription, Some(Ok("call me back".into())));
        let failed =
            parse_step_request(&request("CallSid=CA1&TranscriptionStatus=failed")).unwrap();
        assert_eq!(failed.transcription, Some(Err(())));
        assert!(parse_step_request(&request("DialCallStatus=busy")).is_err());
        let nothing = parse_step_request(&request("CallSid=CA1&RecordingUrl=")).unwrap();
        assert_eq!(nothing.recording, None);
    }
}

//! One HTTP client setup and one mapping from HTTP outcomes to `ProviderError` for all providers.
//!
//! Errors never carry request URLs: Vonage's account API takes its secret as a query parameter.

use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response, StatusCode};
use ringdesk_core::ProviderError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Provider answers larger than this are refused rather than buffered.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// A recording larger than this is refused (hours of WAV).
const MAX_MEDIA: usize = 256 * 1024 * 1024;
const MAX_SMALL_FILE: usize = 4 * 1024 * 1024;
/// How long a recording's download may take.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .user_agent(concat!("Ringdesk/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .https_only(false)
        .build()
        .map_err(|e| ProviderError::Unreachable {
            reason: e.without_url().to_string(),
        })
}

/// Sends the request and decodes a 2xx JSON answer, or maps the failure.
pub(crate) async fn json<T: DeserializeOwned>(
    request: RequestBuilder,
    timeout: Duration,
) -> Result<T, ProviderError> {
    let body = successful(request, timeout).await?;
    serde_json::from_slice(&body).map_err(|e| ProviderError::InvalidResponse {
        reason: e.to_string(),
    })
}

/// Sends the request; any 2xx is success whatever its body (204, `{"result":"ok"}`).
pub(crate) async fn done(request: RequestBuilder, timeout: Duration) -> Result<(), ProviderError> {
    successful(request, timeout).await.map(drop)
}

/// A removal's outcome: already gone (404) counts as done.
pub(crate) fn gone_is_done(outcome: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match outcome {
        Err(ProviderError::Rejected { status: 404, .. }) => Ok(()),
        other => other,
    }
}

/// A recording's audio (a 2xx answer of at most `MAX_MEDIA` bytes), told apart by its first
/// bytes rather than a content type (storage hosts say `application/octet-stream`).
pub(crate) async fn media(
    request: RequestBuilder,
) -> Result<ringdesk_core::ports::RecordingAudio, ProviderError> {
    let bytes = successful_within(request.timeout(MEDIA_TIMEOUT), MEDIA_TIMEOUT, MAX_MEDIA).await?;
    let extension = ringdesk_core::ports::RecordingAudio::kind_of(&bytes).ok_or_else(|| {
        ProviderError::InvalidResponse {
            reason: "the recording is neither MP3 nor WAV audio".into(),
        }
    })?;
    Ok(ringdesk_core::ports::RecordingAudio { bytes, extension })
}

/// A small file's bytes (a transcription), whatever its content type.
pub(crate) async fn small_file(
    request: RequestBuilder,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    successful_within(request, timeout, MAX_SMALL_FILE).await
}

/// A recording's link as the provider gave it.
pub(crate) fn recording_link(url: &str) -> Result<url::Url, ProviderError> {
    url::Url::parse(url).map_err(|_| ProviderError::InvalidResponse {
        reason: "the recording link is not a URL".into(),
    })
}

/// Whether `url` is on `base`'s host (scheme, host and port): where keys may be sent.
pub(crate) fn same_origin(url: &url::Url, base: &url::Url) -> bool {
    url.origin() == base.origin()
}

/// The body of a 2xx answer, or the failure mapped.
async fn successful(request: RequestBuilder, timeout: Duration) -> Result<Vec<u8>, ProviderError> {
    successful_within(request, timeout, MAX_BODY).await
}

async fn successful_within(
    request: RequestBuilder,
    timeout: Duration,
    max: usize,
) -> Result<Vec<u8>, ProviderError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(e, timeout))?;
    let status = response.status();
    let retry_after = retry_after_secs(&response);
    let body = read_body(response, timeout, max).await?;
    if status.is_success() {
        return Ok(body);
    }
    Err(status_error(status, retry_after, &body))
}

async fn read_body(
    mut response: Response,
    timeout: Duration,
    max: usize,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, timeout))?
    {
        if body.len() + chunk.len() > max {
            return Err(ProviderError::InvalidResponse {
                reason: "the answer is too large".into(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(e: reqwest::Error, timeout: Duration) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::Timeout {
            secs: timeout.as_secs().max(1),
        };
    }
    let e = e.without_url();
    // The outermost reqwest message is generic ("error sending request"); the cause says why.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    ProviderError::Unreachable { reason }
}

fn retry_after_secs(response: &Response) -> Option<u64> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let secs = (when - time::OffsetDateTime::now_utc()).whole_seconds();
    Some(secs.max(0) as u64)
}

pub(crate) fn status_error(
    status: StatusCode,
    retry_after: Option<u64>,
    body: &[u8],
) -> ProviderError {
    let (code, detail) = error_details(body);
    let message = detail.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_string()
    });
    match status.as_u16() {
        401 => ProviderError::WrongKeys { message },
        403 => ProviderError::Forbidden { message },
        429 => ProviderError::RateLimited {
            retry_after_secs: retry_after,
        },
        500..=599 => ProviderError::Unavailable {
            status: status.as_u16(),
            message,
        },
        other => ProviderError::Rejected {
            status: other,
            code,
            message,
        },
    }
}

/// Reads the error envelopes the three providers document:
/// Telnyx `{"errors":[{"code","title","detail"}]}`, Twilio `{"code","message"}`,
/// Vonage `{"type","title","detail"}` and the account API's `{"error-code","error-code-label"}`.
fn error_details(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let short = (!text.is_empty() && text.len() <= 200 && !text.starts_with('<'))
            .then(|| text.to_string());
        return (None, short);
    };
    let text = |v: &Value, key: &str| match v.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let first_error = value.get("errors").and_then(|e| e.get(0));
    let source = first_error.unwrap_or(&value);
    let code = text(source, "code").or_else(|| text(source, "error-code"));
    let title = text(source, "title");
    let detail = text(source, "detail")
        .or_else(|| text(source, "message"))
        .or_else(|| text(source, "error-code-label"));
    let message = match (title, detail) {
        (Some(t), Some(d)) if !d.contains(&t) => Some(format!("{t}: {d}")),
        (t, d) => d.or(t),
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_documented_error_envelope() {
        let telnyx = br#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"Could not understand the provided credentials."}]}"#;
        assert_eq!(
            error_details(telnyx),
            (
                Some("10009".into()),
                Some(
                    "Authentication failed: Could not understand the provided credentials.".into()
                )
            )
        );
        let twilio = br#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
        assert_eq!(
            error_details(twilio),
            (Some("20003".into()), Some("Authenticate".into()))
        );
        let vonage = br#"{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials supplied","detail":"You did not provide correct credentials."}"#;
        assert_eq!(
            error_details(vonage).1.as_deref(),
            Some("Invalid credentials supplied: You did not provide correct credentials.")
        );
        let vonage_account = br#"{"error-code":"401","error-code-label":"authentication failed"}"#;
        assert_eq!(
            error_details(vonage_account),
            (Some("401".into()), Some("authentication failed".into()))
        );
        assert_eq!(error_details(b"<html>502</html>"), (None, None));
        assert_eq!(error_details(b""), (None, None));
    }

    #[test]
    fn maps_statuses() {
        assert!(matches!(
            status_error(StatusCode::UNAUTHORIZED, None, b"{}"),
            ProviderError::WrongKeys { .. }
        ));
        assert_eq!(
            status_error(StatusCode::TOO_MANY_REQUESTS, Some(7), b""),
            ProviderError::RateLimited {
                retry_after_secs: Some(7)
            }
        );
        assert_eq!(
            status_error(StatusCode::BAD_GATEWAY, None, b""),
            ProviderError::Unavailable {
                status: 502,
                message: "Bad Gateway".into()
            }
        );
    }
}

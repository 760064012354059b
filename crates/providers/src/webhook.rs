//! Webhook signatures, checked before anything in a request is believed (../shared/docs/
//! providers.md §2.8, §3.8, §4.8): Twilio's HMAC over URL and sorted form parameters, Telnyx's
//! Ed25519 over `timestamp|body` with a freshness window, Vonage's HS256 JWT whose
//! `payload_hash` must be the body's SHA-256. Pure functions of the request and a key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use ringdesk_core::ports::WebhookRequest;
use ringdesk_core::ProviderError;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::Duration;
use url::Url;

/// How far a signed timestamp may be from our clock (Telnyx's SDK uses 300 s).
pub const TOLERANCE: Duration = Duration::seconds(300);

/// Why a webhook was refused; the text is for logs and never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

fn header<'a>(request: &'a WebhookRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ----- Twilio -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioAlgorithm {
    HmacSha1,
    HmacSha256,
}

/// Twilio's signature of `url` and form `params` (§3.8 steps 1–3).
pub fn twilio_signature(
    key: &[u8],
    url: &str,
    params: &[(String, String)],
    algorithm: TwilioAlgorithm,
) -> String {
    let mut names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut signed = url.to_string();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    match algorithm {
        TwilioAlgorithm::HmacSha1 => hmac_base64::<Hmac<sha1::Sha1>>(key, signed.as_bytes()),
        TwilioAlgorithm::HmacSha256 => hmac_base64::<Hmac<Sha256>>(key, signed.as_bytes()),
    }
}

fn hmac_base64<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> String {
    // HMAC takes a key of any length; were one refused, no signature would match.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

/// The URL as signed, and the variants Twilio's validator also accepts: without the port, and
/// with the scheme's default port (§3.8 step 4).
fn twilio_url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    if let Ok(parsed) = Url::parse(url) {
        let mut without = parsed.clone();
        let _ = without.set_port(None);
        out.push(without.to_string());
        if let Some(default) = match parsed.scheme() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        } {
            // Url drops a default port on its own, so it is written in by hand.
            let host = parsed.host_str().unwrap_or_default();
            let rest = &url[url.find(host).map_or(0, |i| i + host.len())..];
            let rest = rest
                .strip_prefix(':')
                .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
                .unwrap_or(rest);
            out.push(format!("{}://{host}:{default}{rest}", parsed.scheme()));
        }
    }
    out.dedup();
    out
}

pub fn verify_twilio(key: &[u8], request: &WebhookRequest) -> Result<(), Refused> {
    let given =
        header(request, "X-Twilio-Signature").ok_or_else(|| refused("no X-Twilio-Signature"))?;
    let algorithm = match header(request, "X-Twilio-Webhooks-Signature-Settings") {
        Some(s) if s.to_ascii_uppercase().contains("HMAC_SHA256") => TwilioAlgorithm::HmacSha256,
        _ => TwilioAlgorithm::HmacSha1,
    };
    let content_type = header(request, "Content-Type").unwrap_or_default();
    let form = request.method.eq_ignore_ascii_case("POST")
        && content_type.starts_with("application/x-www-form-urlencoded");
    let params: Vec<(String, String)> = if form {
        url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect()
    } else {
        Vec::new()
    };
    if !form && !request.body.is_empty() {
        // A JSON body is covered by its hash in the signed URL (§3.8 step 5).
        let url = Url::parse(&request.url).map_err(|_| refused("the URL does not parse"))?;
        let hash = url
            .query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| refused("a body without bodySHA256 in the URL"))?;
        if !constant_eq(
            hash.as_bytes(),
            hex::encode(Sha256::digest(&request.body)).as_bytes(),
        ) {
            return Err(refused("the body does not match bodySHA256"));
        }
    }
    let matches = twilio_url_variants(&request.url).iter().any(|url| {
        constant_eq(
            twilio_signature(key, url, &params, algorithm).as_bytes(),
            given.as_bytes(),
        )
    });
    if matches {
        Ok(())
    } else {
        Err(refused("the signature does not match"))
    }
}

// ----- Telnyx -----

pub fn verify_telnyx(public_key_b64: &str, request: &WebhookRequest) -> Result<(), Refused> {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let key_bytes: [u8; 32] = BASE64
        .decode(public_key_b64.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| refused("the stored public key is not a base64 Ed25519 key"))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| refused("the stored public key is not an Ed25519 key"))?;
    let signature = header(request, "telnyx-signature-ed25519")
        .ok_or_else(|| refused("no telnyx-signature-ed25519"))?;
    let signature: [u8; 64] = BASE64
        .decode(signature.trim())
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| refused("the signature is not 64 bytes of base64"))?;
    let timestamp =
        header(request, "telnyx-timestamp").ok_or_else(|| refused("no telnyx-timestamp"))?;
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| refused("the timestamp is not a number"))?;
    fresh(seconds, request)?;
    let mut signed = timestamp.trim().as_bytes().to_vec();
    signed.push(b'|');
    signed.extend_from_slice(&request.body);
    key.verify(&signed, &Signature::from_bytes(&signature))
        .map_err(|_| refused("the signature does not match"))
}

/// Refuses a signed time further than `TOLERANCE` from when the request arrived.
fn fresh(unix_seconds: i64, request: &WebhookRequest) -> Result<(), Refused> {
    // abs_diff: the timestamp is the sender's number, and must not overflow our arithmetic.
    let skew = request.received_at.unix_timestamp().abs_diff(unix_seconds);
    if skew > TOLERANCE.whole_seconds().unsigned_abs() {
        return Err(refused(format!(
            "signed {skew} s away from our clock (more than {} s)",
            TOLERANCE.whole_seconds()
        )));
    }
    Ok(())
}

// ----- Vonage -----

#[derive(serde::Deserialize)]
struct VonageClaims {
    iat: Option<i64>,
    payload_hash: Option<String>,
}

pub fn verify_vonage(signature_secret: &str, request: &WebhookRequest) -> Result<(), Refused> {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let auth = header(request, "Authorization").ok_or_else(|| refused("no Authorization"))?;
    let token = auth
        .strip_prefix("Bearer ")
        .ok_or_else(|| refused("the Authorization is not a Bearer token"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = decode::<VonageClaims>(
        token.trim(),
        &DecodingKey::from_secret(signature_secret.as_bytes()),
        &validation,
    )
    .map_err(|_| refused("the token's signature does not match"))?
    .claims;
    let iat = claims.iat.ok_or_else(|| refused("the token has no iat"))?;
    fresh(iat, request)?;
    let expected = claims
        .payload_hash
        .ok_or_else(|| refused("the token has no payload_hash"))?;
    let actual = hex::encode(Sha256::digest(signed_payload(request)));
    if constant_eq(expected.to_ascii_lowercase().as_bytes(), actual.as_bytes()) {
        Ok(())
    } else {
        Err(refused("the body does not match payload_hash"))
    }
}

/// What Vonage's `payload_hash` covers: the body; for a GET (the default `answer_url`
/// method), per its docs, the query's parameters as compact JSON in the order sent (Ringdesk
/// points applications at its server with `answer_method: POST`, which hashes a body).
fn signed_payload(request: &WebhookRequest) -> Vec<u8> {
    if !request.method.eq_ignore_ascii_case("GET") || !request.body.is_empty() {
        return request.body.clone();
    }
    let query = request
        .url
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    let fields: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::Value::from(k.as_ref()),
                serde_json::Value::from(v.as_ref())
            )
        })
        .collect();
    format!("{{{}}}", fields.join(",")).into_bytes()
}

/// The secret each provider signs its webhooks with.
#[derive(Clone)]
pub enum WebhookKey {
    /// The Auth Token (HMAC-SHA1), or a SharedKey secret when Twilio says HMAC_SHA256.
    Twilio(SecretString),
    /// The account's Ed25519 public key, base64.
    Telnyx(SecretString),
    /// The account's signature secret (not the API secret).
    Vonage(SecretString),
}

/// `validate_webhook` for every adapter: refused unless the request is signed by the key.
pub fn validate(key: Option<&WebhookKey>, request: &WebhookRequest) -> Result<(), ProviderError> {
    let outcome = match key {
        None => {
            return Err(ProviderError::MissingCredentials {
                fields: "the key webhooks are signed with".into(),
            })
        }
        Some(WebhookKey::Twilio(token)) => verify_twilio(token.expose_secret().as_bytes(), request),
        Some(WebhookKey::Telnyx(public)) => verify_telnyx(public.expose_secret(), request),
        Some(WebhookKey::Vonage(secret)) => verify_vonage(secret.expose_secret(), request),
    };
    outcome.map_err(|Refused(reason)| ProviderError::WebhookRejected { reason })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn request(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        at: i64,
    ) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            received_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
        }
    }

    // providers.md §5.1 (twilio-python's own tests).
    const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const TWILIO_FORM: &str =
        "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";

    fn params(form: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn twilio_vectors() {
        let sig =
            |url, form: &str, algorithm| twilio_signature(b"12345", url, &params(form), algorithm);
        assert_eq!(
            sig(TWILIO_URL, TWILIO_FORM, TwilioAlgorithm::HmacSha1),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            sig(
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                TWILIO_FORM,
                TwilioAlgorithm::HmacSha1
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            sig(
                "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                TWILIO_FORM,
                TwilioAlgorithm::HmacSha1
            ),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        assert_eq!(
            sig(
                TWILIO_URL,
                "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
                TwilioAlgorithm::HmacSha1
            ),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
        assert_eq!(
            sig(TWILIO_URL, TWILIO_FORM, TwilioAlgorithm::HmacSha256),
            "033hgUJA9M/hXIZsYjwkerEP/DBm35nEri5FhCYjA5s="
        );
    }

    fn twilio_request(url: &str, signature: &str, form: &str) -> WebhookRequest {
        request(
            "POST",
            url,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Twilio-Signature", signature),
            ],
            form,
            0,
        )
    }

    #[test]
    fn twilio_accepts_the_genuine_and_its_port_variants_and_refuses_forgeries() {
        let ok = |r: &WebhookRequest| verify_twilio(b"12345", r);
        assert_eq!(
            ok(&twilio_request(
                TWILIO_URL,
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
                TWILIO_FORM
            )),
            Ok(())
        );
        // Signed without the port, requested with one (a proxy in front), and the reverse.
        let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            ok(&twilio_request(
                with_port,
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
                TWILIO_FORM
            )),
            Ok(())
        );
        assert_eq!(
            ok(&twilio_request(
                TWILIO_URL,
                "kvajT1Ptam85bY51eRf/AJRuM3w=",
                TWILIO_FORM
            )),
            Ok(())
        );
        // Tampered parameter, wrong key, missing header.
        let tampered = TWILIO_FORM.replace("Digits=1234", "Digits=9999");
        assert!(ok(&twilio_request(
            TWILIO_URL,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            &tampered
        ))
        .is_err());
        assert!(verify_twilio(
            b"54321",
            &twilio_request(TWILIO_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_FORM)
        )
        .is_err());
        let mut unsigned = twilio_request(TWILIO_URL, "x", TWILIO_FORM);
        unsigned.headers.retain(|(n, _)| n != "X-Twilio-Signature");
        assert_eq!(ok(&unsigned), Err(refused("no X-Twilio-Signature")));
    }

    #[test]
    fn twilio_json_bodies_are_bound_by_their_hash() {
        let body = r#"{"property": "value", "boolean": true}"#;
        let url = format!(
            "{TWILIO_URL}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let make = |body: &str| {
            request(
                "POST",
                &url,
                &[
                    ("Content-Type", "application/json"),
                    ("X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4="),
                ],
                body,
                0,
            )
        };
        assert_eq!(verify_twilio(b"12345", &make(body)), Ok(()));
        assert_eq!(
            verify_twilio(
                b"12345",
                &make(r#"{"property": "forged", "boolean": true}"#)
            ),
            Err(refused("the body does not match bodySHA256"))
        );
    }

    // providers.md §5.2 (RFC 8032 TEST 1 key, accepted by telnyx 4.189.0).
    const TELNYX_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const TELNYX_BODY: &str = r#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2023-11-14T22:13:20.000000Z","payload":{"call_control_id":"v3:abc","call_leg_id":"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","call_session_id":"428c31b6-abf3-3bc1-b7f4-5013ef9657c1","connection_id":"7267xxxxxxxxxxxxxx","direction":"incoming","from":"+35319605860","to":"+13129457420","state":"parked"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/webhooks"}}"#;
    const TELNYX_SIG: &str =
        "j4PTeraiU+rA0uw3eiOqzPBO6rzD+PglLVcGUdCabESaS4BXuLujhf8M0BqHlBu4HtT7bqfmPx7685F5wLI4DQ==";

    fn telnyx(body: &str, at: i64) -> WebhookRequest {
        request(
            "POST",
            "https://example.com/webhooks",
            &[
                ("telnyx-signature-ed25519", TELNYX_SIG),
                ("telnyx-timestamp", "1700000000"),
            ],
            body,
            at,
        )
    }

    #[test]
    fn telnyx_vector_freshness_and_tampering() {
        assert_eq!(
            verify_telnyx(TELNYX_KEY, &telnyx(TELNYX_BODY, 1_700_000_299)),
            Ok(())
        );
        assert_eq!(
            verify_telnyx(TELNYX_KEY, &telnyx(TELNYX_BODY, 1_700_000_300)),
            Ok(())
        );
        assert!(
            verify_telnyx(TELNYX_KEY, &telnyx(TELNYX_BODY, 1_700_000_301)).is_err(),
            "stale"
        );
        assert!(
            verify_telnyx(TELNYX_KEY, &telnyx(TELNYX_BODY, 1_699_999_699)).is_err(),
            "from the future"
        );
        let padded = format!("{TELNYX_BODY} ");
        assert_eq!(
            verify_telnyx(TELNYX_KEY, &telnyx(&padded, 1_700_000_000)),
            Err(refused("the signature does not match"))
        );
        let other_key = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
        assert!(verify_telnyx(other_key, &telnyx(TELNYX_BODY, 1_700_000_000)).is_err());
        assert!(verify_telnyx("not a key", &telnyx(TELNYX_BODY, 1_700_000_000)).is_err());
    }

    // providers.md §5.3 (built with PyJWT, accepted by vonage_jwt.verify_signature).
    const VONAGE_SECRET: &str = "qwertyuiopasdfghjklzxcvbnm123456";
    const VONAGE_BODY: &str = r#"{"from":"447700900000","to":"447700900001","uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","status":"answered","direction":"inbound","timestamp":"2023-11-14T22:13:20.000Z"}"#;
    const VONAGE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImY1YjVmYmM5OThhNjM2ZWM2OWFlNTY4OTNkYjFmMzAyYjEwNmI4YmJiMGNlMzQwYmMxMzExZGY4YjRkNjY5NGEiLCJhcGlfa2V5IjoiYWJjZDEyMzQiLCJhcHBsaWNhdGlvbl9pZCI6ImFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.to5xHEnT6gX7N7J0_Pl_JryoSUCpbj-z2B0utJSlYvI";

    fn vonage(token: &str, body: &str, at: i64) -> WebhookRequest {
        let bearer = format!("Bearer {token}");
        request(
            "POST",
            "https://example.com/events",
            &[("Authorization", &bearer)],
            body,
            at,
        )
    }

    #[test]
    fn vonage_vector_hash_and_freshness() {
        assert_eq!(
            verify_vonage(
                VONAGE_SECRET,
                &vonage(VONAGE_TOKEN, VONAGE_BODY, 1_700_000_010)
            ),
            Ok(())
        );
        assert!(verify_vonage("asdf", &vonage(VONAGE_TOKEN, VONAGE_BODY, 1_700_000_010)).is_err());
        let forged = VONAGE_BODY.replace("answered", "completed");
        assert_eq!(
            verify_vonage(VONAGE_SECRET, &vonage(VONAGE_TOKEN, &forged, 1_700_000_010)),
            Err(refused("the body does not match payload_hash"))
        );
        assert!(
            verify_vonage(
                VONAGE_SECRET,
                &vonage(VONAGE_TOKEN, VONAGE_BODY, 1_700_003_600)
            )
            .is_err(),
            "replayed an hour later"
        );
        assert!(verify_vonage(VONAGE_SECRET, &vonage("asdf", VONAGE_BODY, 1_700_000_010)).is_err());
        // The SDK's own token verifies with the secret but carries no payload_hash: refused.
        let sdk = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2MzQ2ODAsImV4cCI6MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC29y6CGM";
        assert_eq!(
            verify_vonage(VONAGE_SECRET, &vonage(sdk, VONAGE_BODY, 1_697_634_680)),
            Err(refused("the token has no payload_hash"))
        );
    }

    /// A GET `answer_url` request: the hash covers the query as compact JSON, in order.
    #[test]
    fn vonage_get_answer_requests_are_checked_over_their_query() {
        let query = "to=12125550100&from=14155552671&uuid=u1";
        let canonical = r#"{"to":"12125550100","from":"14155552671","uuid":"u1"}"#;
        let claims = serde_json::json!({
            "iat": 1_700_000_000,
            "jti": "j1",
            "iss": "Vonage",
            "payload_hash": hex::encode(Sha256::digest(canonical.as_bytes())),
            "api_key": "abcd1234",
        });
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(VONAGE_SECRET.as_bytes()),
        )
        .unwrap();
        let bearer = format!("Bearer {token}");
        let get = |q: &str| {
            request(
                "GET",
                &format!("https://team.example.com/webhooks/p/voice?{q}"),
                &[("Authorization", &bearer)],
                "",
                1_700_000_010,
            )
        };
        assert_eq!(verify_vonage(VONAGE_SECRET, &get(query)), Ok(()));
        assert_eq!(
            verify_vonage(
                VONAGE_SECRET,
                &get("to=12125550100&from=19005550000&uuid=u1")
            ),
            Err(refused("the body does not match payload_hash")),
            "a caller changed on the way"
        );
    }
}

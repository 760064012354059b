use std::time::Duration;

use url::Url;

/// Base URLs of every provider API family Ringdesk calls, and the request timeout.
///
/// The defaults are the providers' production hosts; each can be overridden from the environment
/// (`RINGDESK_TELNYX_API_URL`, …) to point the app at a regional edge, a proxy or a mock server.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `https://api.telnyx.com/v2`
    pub telnyx: Url,
    /// `https://api.twilio.com` (paths carry `/2010-04-01`)
    pub twilio: Url,
    /// `https://rest.nexmo.com` (account, numbers)
    pub vonage_rest: Url,
    /// `https://api.nexmo.com/v1/calls`
    pub vonage_calls: Url,
    /// `https://api.nexmo.com/v2/applications`
    pub vonage_applications: Url,
    /// Where Telnyx's SIP logins register, `host[:port]` (`sip.telnyx.com`;
    /// `RINGDESK_TELNYX_SIP_REGISTRAR` points it at a test registrar).
    pub telnyx_sip: String,
    /// Where Twilio's SIP logins register instead of their own SIP domain
    /// (`RINGDESK_TWILIO_SIP_REGISTRAR`: a test registrar).
    pub twilio_sip: Option<String>,
    pub timeout: Duration,
}

pub const TELNYX_SIP_REGISTRAR: &str = "sip.telnyx.com";

const VARIABLES: [(&str, &str); 5] = [
    ("RINGDESK_TELNYX_API_URL", "https://api.telnyx.com/v2"),
    ("RINGDESK_TWILIO_API_URL", "https://api.twilio.com"),
    ("RINGDESK_VONAGE_REST_URL", "https://rest.nexmo.com"),
    (
        "RINGDESK_VONAGE_CALLS_URL",
        "https://api.nexmo.com/v1/calls",
    ),
    (
        "RINGDESK_VONAGE_APPLICATIONS_URL",
        "https://api.nexmo.com/v2/applications",
    ),
];

impl Endpoints {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

    /// Production hosts, overridden by any `RINGDESK_*_URL` variable that is set.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let setting = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let urls = VARIABLES.map(|(name, default)| {
            let raw = lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string());
            parse_base(&raw).map_err(|e| format!("{name}: {e}"))
        });
        let [telnyx, twilio, vonage_rest, vonage_calls, vonage_applications] = urls;
        Ok(Endpoints {
            telnyx: telnyx?,
            twilio: twilio?,
            vonage_rest: vonage_rest?,
            vonage_calls: vonage_calls?,
            vonage_applications: vonage_applications?,
            telnyx_sip: setting("RINGDESK_TELNYX_SIP_REGISTRAR")
                .unwrap_or_else(|| TELNYX_SIP_REGISTRAR.into()),
            twilio_sip: setting("RINGDESK_TWILIO_SIP_REGISTRAR"),
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Every family at one base (a test's single mock server).
    pub fn all_at(base: &str) -> Result<Self, String> {
        let url = parse_base(base)?;
        Ok(Endpoints {
            telnyx: url.clone(),
            twilio: url.clone(),
            vonage_rest: url.clone(),
            vonage_calls: url.clone(),
            vonage_applications: url,
            telnyx_sip: TELNYX_SIP_REGISTRAR.into(),
            twilio_sip: None,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }
}

fn parse_base(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not carry a query or fragment".into());
    }
    Ok(url)
}

/// `base` joined with path segments, keeping whatever path the base already has.
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    // Base URLs are http(s) with a host (`parse_base`), so they always have a path.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_validation() {
        let e = Endpoints::from_lookup(|n| {
            (n == "RINGDESK_TELNYX_API_URL").then(|| "http://127.0.0.1:4011/".into())
        })
        .unwrap();
        assert_eq!(e.telnyx.as_str(), "http://127.0.0.1:4011/");
        assert_eq!(e.twilio.as_str(), "https://api.twilio.com/");
        assert!(Endpoints::from_lookup(|_| Some("ftp://x".into())).is_err());
        assert!(Endpoints::from_lookup(|_| Some("https://x/?a=b".into())).is_err());
    }

    #[test]
    fn join_keeps_the_base_path_and_escapes_segments() {
        let base = Url::parse("https://api.telnyx.com/v2").unwrap();
        assert_eq!(
            join(&base, &["balance"]).as_str(),
            "https://api.telnyx.com/v2/balance"
        );
        let base = Url::parse("http://127.0.0.1:4011/").unwrap();
        assert_eq!(
            join(&base, &["balance"]).as_str(),
            "http://127.0.0.1:4011/balance"
        );
        assert_eq!(
            join(&base, &["a/../b?c"]).as_str(),
            "http://127.0.0.1:4011/a%2F..%2Fb%3Fc"
        );
    }
}

//! Deep links that ask Ringdesk to dial: `tel:`, `callto:`, `sip:`/`sips:` and
//! `ringdesk://call?to=…`. Such a link can come from any web page or document on the desktop, so
//! it is untrusted input: it is bounded, decoded once, must name exactly one phone number, and is
//! only ever turned into a *proposal* shown on the dialpad — never dialled by itself.

use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::phone::{E164Number, PhoneNumberError, Region};

/// Links longer than this are refused before any parsing (a number plus parameters is far shorter).
pub const MAX_LINK_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialLinkError {
    #[error("the link is too long to be a phone number ({0} characters)")]
    TooLong(usize),
    #[error("the link contains control characters")]
    ControlCharacter,
    #[error("links of type “{0}:” cannot place calls")]
    UnsupportedScheme(String),
    #[error("the link holds no phone number")]
    Empty,
    #[error("the link names more than one number; open a link with a single number")]
    SeveralNumbers,
    #[error("only phone numbers can be dialled from a SIP link yet, not “{0}”")]
    SipAddress(String),
    #[error("unknown Ringdesk action “{0}”; only ringdesk://call?to=… is supported")]
    UnknownAction(String),
    #[error("the link is not correctly encoded")]
    BadEncoding,
    #[error("{0}")]
    Number(#[from] PhoneNumberError),
}

/// A number that a link asked Ringdesk to dial, normalised, waiting for the agent's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialRequest {
    pub number: E164Number,
    /// The number as people read it (`+44 20 7946 0958`).
    pub display: String,
    /// Digits to send after the call connects (`;ext=` / `;postd=`).
    pub extension: Option<String>,
    /// The scheme the link used (`tel`, `callto`, `sip`, `ringdesk`).
    pub scheme: String,
}

/// Reads a dial link. `region` applies to numbers written without a country code.
pub fn parse_dial_link(link: &str, region: Region) -> Result<DialRequest, DialLinkError> {
    if link.len() > MAX_LINK_LEN {
        return Err(DialLinkError::TooLong(link.chars().count()));
    }
    if link.chars().any(char::is_control) {
        return Err(DialLinkError::ControlCharacter);
    }
    let link = link.trim();
    let (scheme, rest) = link
        .split_once(':')
        .ok_or_else(|| DialLinkError::UnsupportedScheme(String::new()))?;
    let scheme = scheme.to_ascii_lowercase();
    let (number, extension) = match scheme.as_str() {
        "tel" | "callto" => tel_number(strip_slashes(rest))?,
        "sip" | "sips" => sip_number(rest)?,
        "ringdesk" => ringdesk_number(strip_slashes(rest))?,
        _ => {
            let shown: String = scheme.chars().take(24).collect();
            return Err(DialLinkError::UnsupportedScheme(shown));
        }
    };
    let number = E164Number::parse(&number, region)?;
    Ok(DialRequest {
        display: number.international(),
        number,
        extension,
        scheme,
    })
}

fn strip_slashes(s: &str) -> &str {
    s.strip_prefix("//").unwrap_or(s)
}

fn decode(s: &str) -> Result<String, DialLinkError> {
    let decoded = percent_decode_str(s)
        .decode_utf8()
        .map_err(|_| DialLinkError::BadEncoding)?;
    if decoded.chars().any(char::is_control) {
        return Err(DialLinkError::ControlCharacter);
    }
    Ok(decoded.into_owned())
}

/// `tel:` (RFC 3966) and Skype-style `callto:` bodies: a number, then `;param=value` pairs.
fn tel_number(body: &str) -> Result<(String, Option<String>), DialLinkError> {
    // `callto:+1555…?call` style suffixes carry no number.
    let body = body.split_once('?').map_or(body, |(b, _)| b);
    let body = body.trim_end_matches('/');
    let mut parts = body.split(';');
    let number = decode(parts.next().unwrap_or_default())?;
    let mut extension = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        match name.to_ascii_lowercase().as_str() {
            "ext" | "postd" => extension = Some(dtmf_digits(&decode(value)?)?),
            // phone-context, isub and unknown parameters do not change whom we dial.
            _ => {}
        }
    }
    Ok((single_number(&number)?, extension))
}

/// `sip:+14155552671@host;user=phone` — only the user part matters and it must be a number.
fn sip_number(body: &str) -> Result<(String, Option<String>), DialLinkError> {
    let body = body.split_once('?').map_or(body, |(b, _)| b);
    let address = body.split(';').next().unwrap_or_default();
    let user = address.split_once('@').map_or(address, |(user, _)| user);
    let user = user.split_once(':').map_or(user, |(user, _password)| user);
    let user = decode(user)?;
    if user.chars().any(|c| c.is_alphabetic()) {
        let shown: String = user.chars().take(32).collect();
        return Err(DialLinkError::SipAddress(shown));
    }
    Ok((single_number(&user)?, None))
}

/// `ringdesk://call?to=%2B14155552671`
fn ringdesk_number(body: &str) -> Result<(String, Option<String>), DialLinkError> {
    let (action, query) = body.split_once('?').unwrap_or((body, ""));
    let action = action.trim_end_matches('/');
    if !action.eq_ignore_ascii_case("call") {
        let shown: String = action.chars().take(24).collect();
        return Err(DialLinkError::UnknownAction(shown));
    }
    let mut to = None;
    let mut extension = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        // In a query string `+` means a space, so a literal `+14155…` must arrive as `%2B…`;
        // a bare `+` leading the value is still taken as the international prefix, as people type it.
        let value = match value.strip_prefix('+') {
            Some(tail) => format!("+{}", tail.replace('+', " ")),
            None => value.replace('+', " "),
        };
        match name {
            "to" if to.is_some() => return Err(DialLinkError::SeveralNumbers),
            "to" => to = Some(decode(&value)?),
            "ext" => extension = Some(dtmf_digits(&decode(&value)?)?),
            _ => {}
        }
    }
    let to = to.ok_or(DialLinkError::Empty)?;
    Ok((single_number(&to)?, extension))
}

fn single_number(candidate: &str) -> Result<String, DialLinkError> {
    let candidate = candidate.trim();
    if candidate.is_empty() {
        return Err(DialLinkError::Empty);
    }
    if candidate.contains([',', ';', '&', '|', '/', '\\']) || candidate.matches('+').count() > 1 {
        return Err(DialLinkError::SeveralNumbers);
    }
    Ok(candidate.to_string())
}

fn dtmf_digits(value: &str) -> Result<String, DialLinkError> {
    let digits: String = value
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | ' '))
        .collect();
    if digits.is_empty()
        || digits.len() > 16
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err(DialLinkError::Number(PhoneNumberError::NotANumber(
            value.to_string(),
        )));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(link: &str) -> Result<DialRequest, DialLinkError> {
        parse_dial_link(link, "US".parse().unwrap())
    }

    #[test]
    fn accepts_every_supported_form() {
        for link in [
            "tel:+14155552671",
            "TEL:+1-415-555-2671",
            "tel:(415)%20555-2671",
            "tel:%2B14155552671",
            "tel:+1.415.555.2671;phone-context=example.com",
            "tel://+14155552671",
            "callto:+14155552671",
            "callto://+14155552671",
            "callto:+14155552671?call",
            "sip:+14155552671@sip.example.com",
            "sip:+14155552671@sip.example.com;user=phone",
            "sips:14155552671@example.com:5061",
            "ringdesk://call?to=%2B14155552671",
            "ringdesk://call?to=+14155552671",
            "ringdesk:call?to=%2B1%20415%20555%202671",
            "ringdesk://call/?to=4155552671&source=crm",
        ] {
            let req = parse(link).unwrap_or_else(|e| panic!("{link}: {e}"));
            assert_eq!(req.number.as_str(), "+14155552671", "{link}");
        }
    }

    #[test]
    fn keeps_scheme_display_and_extension() {
        let req = parse("tel:+14155552671;ext=123").unwrap();
        assert_eq!(req.scheme, "tel");
        assert_eq!(req.display, "+1 415-555-2671");
        assert_eq!(req.extension.as_deref(), Some("123"));
        let req = parse("ringdesk://call?to=%2B442079460958&ext=9%23").unwrap();
        assert_eq!(req.number.as_str(), "+442079460958");
        assert_eq!(req.extension.as_deref(), Some("9#"));
    }

    #[test]
    fn refuses_hostile_links() {
        let long = format!("tel:+1{}", "5".repeat(300));
        assert!(matches!(parse(&long), Err(DialLinkError::TooLong(_))));
        assert_eq!(
            parse("tel:+1415\n5552671"),
            Err(DialLinkError::ControlCharacter)
        );
        assert_eq!(
            parse("tel:+1415%0A5552671"),
            Err(DialLinkError::ControlCharacter)
        );
        assert_eq!(
            parse("tel:+1415%005552671"),
            Err(DialLinkError::ControlCharacter)
        );
        assert_eq!(
            parse("tel:+14155552671,+14155552672"),
            Err(DialLinkError::SeveralNumbers)
        );
        assert_eq!(
            parse("ringdesk://call?to=%2B14155552671&to=%2B14155552672"),
            Err(DialLinkError::SeveralNumbers)
        );
        assert_eq!(
            parse("tel:+14155552671+14155552672"),
            Err(DialLinkError::SeveralNumbers)
        );
        assert!(matches!(
            parse("tel:1-800-FLOWERS"),
            Err(DialLinkError::Number(PhoneNumberError::InvalidCharacter(
                'F'
            )))
        ));
        assert_eq!(
            parse("javascript:alert(1)"),
            Err(DialLinkError::UnsupportedScheme("javascript".into()))
        );
        assert_eq!(
            parse("https://evil.example/?tel=+14155552671"),
            Err(DialLinkError::UnsupportedScheme("https".into()))
        );
        assert_eq!(
            parse("+14155552671"),
            Err(DialLinkError::UnsupportedScheme("".into()))
        );
        assert_eq!(
            parse("ringdesk://hangup?to=%2B14155552671"),
            Err(DialLinkError::UnknownAction("hangup".into()))
        );
        assert_eq!(parse("ringdesk://call"), Err(DialLinkError::Empty));
        assert_eq!(parse("tel:"), Err(DialLinkError::Empty));
        assert_eq!(
            parse("sip:alice@example.com"),
            Err(DialLinkError::SipAddress("alice".into()))
        );
        assert_eq!(parse("tel:%FF%FE"), Err(DialLinkError::BadEncoding));
        assert!(parse("tel:<script>alert(1)</script>").is_err());
        assert!(parse("tel:+1415555267;ext=1;ext=abc").is_err());
        assert!(parse("tel:12").is_err());
    }

    #[test]
    fn error_messages_are_plain() {
        let err = parse("javascript:alert(1)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "links of type “javascript:” cannot place calls"
        );
    }
}

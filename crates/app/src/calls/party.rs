//! A SIP From/To header as the journal's party.

use super::*;

/// A From/To header as a journal party: E.164 when its user part is a phone number (as
/// every provider sends it, with or without `+`), else the bare SIP address.
pub(crate) fn party_of(header: &str, region: Region) -> String {
    let Ok(addr) = NameAddr::parse(header) else {
        return header.chars().take(200).collect();
    };
    let user = addr
        .uri
        .user
        .as_deref()
        .map(percent_decode)
        .unwrap_or_default();
    let user = user.split(';').next().unwrap_or("");
    let looks_like_number = !user.is_empty()
        && user
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit())
        && user.trim_start_matches('+').len() >= 6;
    if looks_like_number {
        if let Ok(n) = E164Number::parse(user, region) {
            return n.to_string();
        }
    }
    let mut bare = addr.uri.clone();
    bare.params = Default::default();
    bare.headers = None;
    bare.to_string()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::party_of;

    #[test]
    fn parties_from_sip_headers() {
        let us = "US".parse().unwrap();
        let cases = [
            (
                "\"Ada\" <sip:+14155552671@pbx.example.com>;tag=1",
                "+14155552671",
            ),
            (
                "<sip:14155552671@pbx.example.com;user=phone>",
                "+14155552671",
            ),
            ("sip:4155552671@10.0.0.1:5060", "+14155552671"),
            ("<sip:%2B442079460958@trunk.example>", "+442079460958"),
            ("<sip:+14155552671;isub=12@pbx>", "+14155552671"),
            (
                "<sip:alice@example.com;transport=tls>;tag=x",
                "sip:alice@example.com",
            ),
            ("<sip:123@pbx.example.com>", "sip:123@pbx.example.com"),
            (
                "<sip:anonymous@anonymous.invalid>",
                "sip:anonymous@anonymous.invalid",
            ),
        ];
        for (header, party) in cases {
            assert_eq!(party_of(header, us), party, "{header}");
        }
        // Not a header at all: kept, bounded.
        let junk = "x".repeat(500);
        assert_eq!(party_of(&junk, us).len(), 200);
    }
}

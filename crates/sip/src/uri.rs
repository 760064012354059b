//! SIP and SIPS URIs (RFC 3261 §19.1): `sip:user:password@host:port;params?headers`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad SIP URI: {0}")]
pub struct UriError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub secure: bool,
    /// The user part, still %-escaped as it came.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Host name, IPv4 address, or IPv6 reference *with* its brackets.
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
    pub headers: Option<String>,
}

/// `;name=value` parameters, names compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// Parses `;a=b;c` (the leading `;` optional).
    pub fn parse(s: &str) -> Params {
        Params(
            split_params(s)
                .into_iter()
                .map(|p| match p.split_once('=') {
                    Some((n, v)) => (n.trim().to_string(), Some(v.trim().to_string())),
                    None => (p.trim().to_string(), None),
                })
                .filter(|(n, _)| !n.is_empty())
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    pub fn set(&mut self, name: &str, value: Option<&str>) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.0.push((name.to_string(), value.map(str::to_string)));
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.0 {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

/// Splits at `;` outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let bad =
            |why: &str| UriError(format!("{why}: {}", s.chars().take(60).collect::<String>()));
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("whitespace"));
        }
        let (scheme, rest) = s.split_once(':').ok_or_else(|| bad("no scheme"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "sip" => false,
            "sips" => true,
            _ => return Err(bad("not a sip: or sips: URI")),
        };
        // The user part may hold ';', '?' and more unescaped (RFC 4475 intmeth); '@' ends it,
        // and headers cannot contain a raw '@', so the last one is the separator.
        let (userinfo, after) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (hostpart, headers) = match after.split_once('?') {
            Some((h, hs)) => (h, Some(hs.to_string())),
            None => (after, None),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user.to_string()), Some(pw.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        if user.as_deref() == Some("") {
            return Err(bad("empty user"));
        }
        let (hostport, params) = match hostpart.find(';') {
            Some(i) => (&hostpart[..i], Params::parse(&hostpart[i..])),
            None => (hostpart, Params::default()),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        Ok(Uri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// The Contact a user agent listening on `host:port` puts in its requests.
    pub fn contact(user: Option<String>, host: &str, port: u16, transport: &str) -> Uri {
        Uri {
            secure: false,
            user,
            password: None,
            host: host.to_string(),
            port: Some(port),
            params: Params(if transport.eq_ignore_ascii_case("UDP") {
                vec![]
            } else {
                vec![("transport".into(), Some(transport.to_ascii_lowercase()))]
            }),
            headers: None,
        }
    }

    /// An embedded header (`sip:bob@host?Replaces=...`), percent-decoded: a REFER's Refer-To
    /// carries the Replaces of an attended transfer this way (RFC 3891 §5).
    pub fn embedded_header(&self, name: &str) -> Option<String> {
        self.embedded_headers()
            .into_iter()
            .find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(v))
    }

    /// Every embedded header, percent-decoded (a malformed one is left out).
    pub fn embedded_headers(&self) -> Vec<(String, String)> {
        let Some(headers) = self.headers.as_deref() else {
            return Vec::new();
        };
        headers
            .split('&')
            .filter_map(|pair| {
                let (n, v) = pair.split_once('=')?;
                Some((percent_decode(n)?, percent_decode(v)?))
            })
            .collect()
    }

    pub fn transport(&self) -> Option<&str> {
        self.params.get("transport")
    }

    /// Host and port with the default port of the scheme.
    pub fn host_port(&self) -> (String, u16) {
        (
            self.host.clone(),
            self.port.unwrap_or(if self.secure { 5061 } else { 5060 }),
        )
    }
}

/// None when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
pub(crate) fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &s[..end + 2];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        if host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_err()
        {
            return None;
        }
        (host, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty()
        || !(host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)))
    {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host.to_string(), port))
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let u = Uri::parse("sip:alice:secretword@atlanta.com;transport=tcp").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secretword"));
        assert_eq!(u.host, "atlanta.com");
        assert_eq!(u.transport(), Some("tcp"));
        let u = Uri::parse("sips:+1-212-555-1212:1234@gateway.com;user=phone").unwrap();
        assert!(u.secure);
        assert_eq!(u.host_port(), ("gateway.com".into(), 5061));
        let u = Uri::parse("sip:[2001:db8::10]:5070;lr").unwrap();
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        assert!(u.params.has("lr"));
        let u = Uri::parse("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com").unwrap();
        assert_eq!(u.user, None);
        assert_eq!(u.headers.as_deref(), Some("to=alice%40atlanta.com"));
        assert_eq!(
            u.embedded_header("To").as_deref(),
            Some("alice@atlanta.com")
        );
        assert_eq!(u.embedded_header("Replaces"), None);
        let u = Uri::parse("sip:bob@b.example?Replaces=x%3Bto-tag%3D1&a=%zz").unwrap();
        assert_eq!(u.embedded_header("replaces").as_deref(), Some("x;to-tag=1"));
        assert_eq!(
            u.embedded_header("a"),
            None,
            "a broken escape is refused, not guessed"
        );
        for s in [
            "sip:alice@127.0.0.1:15060;transport=udp",
            "sip:[::1]:5060",
            "sips:bob@example.com;lr?subject=x",
        ] {
            assert_eq!(Uri::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_malformed_uris() {
        for s in [
            "http://x",
            "sip:",
            "sip:@host",
            "sip:a@host:99999",
            "sip:a@host:0",
            "sip:a@[::1",
            "sip:a@[zz]:5060",
            "sip:a b@host",
            "sip:a@ho<st",
        ] {
            assert!(Uri::parse(s).is_err(), "{s}");
        }
    }
}

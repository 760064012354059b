//! The few header values the stack reads, parsed on demand from their text.

use std::fmt;

use crate::message::{is_token_byte, split_list, Method};
use crate::uri::{split_host_port, Params, Uri};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {header} header: {value}")]
pub struct HeaderError {
    pub header: &'static str,
    pub value: String,
}

fn err(header: &'static str, value: &str) -> HeaderError {
    HeaderError {
        header,
        value: value.chars().take(60).collect(),
    }
}

/// `Via: SIP/2.0/UDP host:port;branch=…;rport`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn parse(value: &str) -> Result<Via, HeaderError> {
        // `SIP / 2.0 / UDP host` is legal: linear white space may surround the slashes.
        let mut parts = value.trim().splitn(3, '/');
        let (Some(name), Some(version), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err("Via", value));
        };
        if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
            return Err(err("Via", value));
        }
        let tail = tail.trim_start();
        let (transport, rest) = tail
            .split_once(char::is_whitespace)
            .ok_or_else(|| err("Via", value))?;
        if transport.is_empty() || !transport.bytes().all(is_token_byte) {
            return Err(err("Via", value));
        }
        let rest = rest.trim();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (rest[..i].trim(), Params::parse(&rest[i..])),
            None => (rest, Params::default()),
        };
        let (host, port) = split_host_port(sent_by).ok_or_else(|| err("Via", value))?;
        Ok(Via {
            transport: transport.trim().to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// `"Display" <sip:uri>;tag=…` (From, To, Contact, Route, Refer-To).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: Uri) -> Self {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    pub fn parse(value: &str) -> Result<NameAddr, HeaderError> {
        let value = value.trim();
        let (display, rest) = if let Some(quoted) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e)) => out.push(e),
                        None => return Err(err("name-addr", value)),
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or_else(|| err("name-addr", value))?;
            (Some(out), quoted[end + 1..].trim_start())
        } else if let Some(lt) = value.find('<') {
            let name = value[..lt].trim();
            (
                if name.is_empty() {
                    None
                } else {
                    Some(name.to_string())
                },
                &value[lt..],
            )
        } else {
            (None, value)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or_else(|| err("name-addr", value))?;
            let uri = Uri::parse(&inner[..gt]).map_err(|_| err("name-addr", value))?;
            Ok(NameAddr {
                display,
                uri,
                params: Params::parse(&inner[gt + 1..]),
            })
        } else {
            if display.is_some() {
                return Err(err("name-addr", value));
            }
            // addr-spec without brackets: parameters belong to the header, not the URI.
            let (uri, params) = match rest.find(';') {
                Some(i) => (rest[..i].trim_end(), Params::parse(&rest[i..])),
                None => (rest, Params::default()),
            };
            let uri = Uri::parse(uri).map_err(|_| err("name-addr", value))?;
            Ok(NameAddr {
                display: None,
                uri,
                params,
            })
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// `CSeq: 314159 INVITE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &str) -> Result<CSeq, HeaderError> {
        let mut parts = value.split_whitespace();
        let (Some(seq), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err("CSeq", value));
        };
        // RFC 3261 §8.1.1.5: less than 2**31.
        let seq: u32 = seq
            .parse()
            .ok()
            .filter(|s| *s < 1 << 31)
            .ok_or_else(|| err("CSeq", value))?;
        Ok(CSeq {
            seq,
            method: Method::parse(method).ok_or_else(|| err("CSeq", value))?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `WWW-Authenticate` / `Proxy-Authenticate: Digest realm="…", nonce="…", …`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Option<String>,
    pub qop: Vec<String>,
    pub stale: bool,
}

/// `name=value` pairs after an auth scheme; values may be quoted (with escapes) or tokens.
pub(crate) fn auth_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in split_list(s) {
        let (name, value) = part.split_once('=')?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return None;
        }
        let value = value.trim();
        let value = if let Some(q) = value.strip_prefix('"') {
            let q = q.strip_suffix('"')?;
            let mut out = String::new();
            let mut chars = q.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            out
        } else {
            value.to_string()
        };
        out.push((name.to_ascii_lowercase(), value));
    }
    Some(out)
}

impl Challenge {
    pub fn parse(value: &str) -> Result<Challenge, HeaderError> {
        let value = value.trim();
        let (scheme, rest) = value
            .split_once(char::is_whitespace)
            .ok_or_else(|| err("WWW-Authenticate", value))?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(err("WWW-Authenticate", value));
        }
        let params = auth_params(rest).ok_or_else(|| err("WWW-Authenticate", value))?;
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        Ok(Challenge {
            realm: get("realm").ok_or_else(|| err("WWW-Authenticate", value))?,
            nonce: get("nonce").ok_or_else(|| err("WWW-Authenticate", value))?,
            opaque: get("opaque"),
            algorithm: get("algorithm"),
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_ipv6_rport_and_received() {
        let v = Via::parse(
            "SIP/2.0/udp [2001:db8::9:1]:5070;branch=z9hG4bKas;rport=5071;received=10.0.0.1",
        )
        .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "[2001:db8::9:1]");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.branch(), Some("z9hG4bKas"));
        assert_eq!(v.params.get("rport"), Some("5071"));
        assert!(Via::parse("SIP/3.0/UDP h").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        let v = Via::parse("SIP / 2.0 / TCP host.example.com ;branch=z9hG4bK1").unwrap();
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP host.example.com;branch=z9hG4bK1"
        );
    }

    #[test]
    fn name_addr_forms() {
        let n =
            NameAddr::parse(r#""Bob \"the\" Builder" <sip:bob@example.com>;tag=a6c85cf"#).unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"Bob "the" Builder"#));
        assert_eq!(n.tag(), Some("a6c85cf"));
        let n = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").unwrap();
        assert_eq!(n.tag(), Some("88sja8x"));
        assert!(n.uri.params.0.is_empty());
        let n = NameAddr::parse("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8").unwrap();
        assert_eq!(n.display.as_deref(), Some("Anonymous"));
        assert_eq!(NameAddr::parse(&n.to_string()).unwrap(), n);
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse(r#""unterminated <sip:a@b>"#).is_err());
    }

    #[test]
    fn cseq_and_challenges() {
        assert_eq!(
            CSeq::parse("314159 INVITE").unwrap(),
            CSeq {
                seq: 314159,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("4294967295 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        let c = Challenge::parse(r#"Digest realm="127.0.0.1", nonce="Z9r2aWd", qop="auth", algorithm=MD5, opaque="x,y", stale=TRUE"#).unwrap();
        assert_eq!(c.realm, "127.0.0.1");
        assert_eq!(c.nonce, "Z9r2aWd");
        assert_eq!(c.qop, vec!["auth"]);
        assert_eq!(c.opaque.as_deref(), Some("x,y"));
        assert!(c.stale);
        assert!(Challenge::parse("Basic realm=\"x\"").is_err());
        assert!(Challenge::parse("Digest nonce=\"n\"").is_err());
    }
}

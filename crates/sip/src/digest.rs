//! HTTP Digest for SIP (RFC 2617, RFC 7616/8760): MD5 and SHA-256, `-sess` variants, qop
//! `auth` and `auth-int`, nonce counting.

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::header::Challenge;
use crate::message::{Message, StartLine};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("unsupported digest algorithm {0}")]
    Algorithm(String),
    #[error("unsupported qop {0}")]
    Qop(String),
    #[error("only requests are signed")]
    NotARequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Md5,
    Sha256,
}

impl Hash {
    fn hex(self, data: &str) -> String {
        match self {
            Hash::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Hash::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }

    fn hex_bytes(self, data: &[u8]) -> String {
        match self {
            Hash::Md5 => hex::encode(Md5::digest(data)),
            Hash::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }
}

/// One answer to a challenge.
pub struct DigestRequest<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a [u8],
    /// Client nonce (random, from the caller so tests are repeatable).
    pub cnonce: &'a str,
    /// How many times this nonce was used, this time included.
    pub nonce_count: u32,
}

/// Whether `authorization` can answer this challenge (so a server offering several can be
/// answered with the first one we support).
pub fn supported(challenge: &Challenge) -> bool {
    let algorithm = challenge
        .algorithm
        .as_deref()
        .unwrap_or("MD5")
        .to_ascii_uppercase();
    let qop_ok =
        challenge.qop.is_empty() || challenge.qop.iter().any(|q| q == "auth" || q == "auth-int");
    matches!(
        algorithm.as_str(),
        "MD5" | "MD5-SESS" | "SHA-256" | "SHA-256-SESS"
    ) && qop_ok
}

/// The challenge a 401 (or a proxy's 407) carries that we can answer, and whether a proxy
/// asked — what both the registration and the user agent retry with.
pub fn challenge_in(response: &Message) -> Option<(Challenge, bool)> {
    let proxy = response.status() == Some(407);
    response
        .headers
        .get_all(challenge_header(proxy))
        .into_iter()
        .filter_map(|v| Challenge::parse(v).ok())
        .find(supported)
        .map(|c| (c, proxy))
}

fn challenge_header(proxy: bool) -> &'static str {
    if proxy {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    }
}

/// Where the answer to a (proxy's) challenge goes.
pub fn answer_header(proxy: bool) -> &'static str {
    if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    }
}

/// Whether `request` already answered a challenge from this realm: asked again, and not
/// because the nonce went stale, the credentials are wrong.
pub fn answered_before(request: &Message, challenge: &Challenge, proxy: bool) -> bool {
    !challenge.stale
        && request
            .headers
            .get_all(answer_header(proxy))
            .into_iter()
            .any(|v| Challenge::parse(v).is_ok_and(|prev| prev.realm == challenge.realm))
}

/// Signs `request` (its method, Request-URI and body) for `challenge`, replacing an earlier
/// answer.
pub fn sign(
    request: &mut Message,
    challenge: &Challenge,
    proxy: bool,
    credentials: (&str, &str),
    cnonce: &str,
    nonce_count: u32,
) -> Result<(), DigestError> {
    let (method, uri) = match &request.start {
        StartLine::Request { method, uri } => (method.to_string(), uri.to_string()),
        StartLine::Response { .. } => return Err(DigestError::NotARequest),
    };
    let value = authorization(
        challenge,
        &DigestRequest {
            username: credentials.0,
            password: credentials.1,
            method: &method,
            uri: &uri,
            body: &request.body,
            cnonce,
            nonce_count,
        },
    )?;
    request.headers.remove(answer_header(proxy));
    request.headers.push(answer_header(proxy), value);
    Ok(())
}

/// The `Authorization` / `Proxy-Authorization` value answering `challenge`.
pub fn authorization(
    challenge: &Challenge,
    req: &DigestRequest<'_>,
) -> Result<String, DigestError> {
    let algorithm = challenge
        .algorithm
        .clone()
        .unwrap_or_else(|| "MD5".to_string());
    let (hash, session) = match algorithm.to_ascii_uppercase().as_str() {
        "MD5" => (Hash::Md5, false),
        "MD5-SESS" => (Hash::Md5, true),
        "SHA-256" => (Hash::Sha256, false),
        "SHA-256-SESS" => (Hash::Sha256, true),
        _ => return Err(DigestError::Algorithm(algorithm)),
    };
    let qop = if challenge.qop.is_empty() {
        None
    } else if challenge.qop.iter().any(|q| q == "auth") {
        Some("auth")
    } else if challenge.qop.iter().any(|q| q == "auth-int") {
        Some("auth-int")
    } else {
        return Err(DigestError::Qop(challenge.qop.join(",")));
    };
    let nc = format!("{:08x}", req.nonce_count);
    let mut ha1 = hash.hex(&format!(
        "{}:{}:{}",
        req.username, challenge.realm, req.password
    ));
    if session {
        ha1 = hash.hex(&format!("{ha1}:{}:{}", challenge.nonce, req.cnonce));
    }
    let ha2 = match qop {
        Some("auth-int") => hash.hex(&format!(
            "{}:{}:{}",
            req.method,
            req.uri,
            hash.hex_bytes(req.body)
        )),
        _ => hash.hex(&format!("{}:{}", req.method, req.uri)),
    };
    let response = match qop {
        Some(q) => hash.hex(&format!(
            "{ha1}:{}:{nc}:{}:{q}:{ha2}",
            challenge.nonce, req.cnonce
        )),
        None => hash.hex(&format!("{ha1}:{}:{ha2}", challenge.nonce)),
    };
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={algorithm}",
        quote(req.username),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(req.uri),
    );
    if let Some(q) = qop {
        out.push_str(&format!(
            ", cnonce=\"{}\", qop={q}, nc={nc}",
            quote(req.cnonce)
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(header: &str) -> String {
        let start = header.find("response=\"").unwrap() + 10;
        header[start..start + header[start..].find('"').unwrap()].to_string()
    }

    fn challenge(
        realm: &str,
        nonce: &str,
        algorithm: Option<&str>,
        qop: &[&str],
        opaque: Option<&str>,
    ) -> Challenge {
        Challenge {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: opaque.map(Into::into),
            algorithm: algorithm.map(Into::into),
            qop: qop.iter().map(|s| s.to_string()).collect(),
            stale: false,
        }
    }

    #[test]
    fn rfc2617_md5_vector() {
        let c = challenge(
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            None,
            &["auth", "auth-int"],
            Some("5ccc069c403ebaf9f0171e9517f40e41"),
        );
        let req = DigestRequest {
            username: "Mufasa",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
            cnonce: "0a4f113b",
            nonce_count: 1,
        };
        let h = authorization(&c, &req).unwrap();
        assert_eq!(response_of(&h), "6629fae49393a05397450978507c4ef1");
        assert!(h.contains("qop=auth, nc=00000001"));
        assert!(h.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn rfc7616_md5_and_sha256_vectors() {
        let req = DigestRequest {
            username: "Mufasa",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nonce_count: 1,
        };
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let md5 = challenge("http-auth@example.org", nonce, Some("MD5"), &["auth"], None);
        assert_eq!(
            response_of(&authorization(&md5, &req).unwrap()),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = challenge(
            "http-auth@example.org",
            nonce,
            Some("SHA-256"),
            &["auth"],
            None,
        );
        assert_eq!(
            response_of(&authorization(&sha, &req).unwrap()),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn without_qop_and_unsupported_algorithms() {
        let c = challenge("r", "n", None, &[], None);
        let req = DigestRequest {
            username: "u",
            password: "p",
            method: "REGISTER",
            uri: "sip:r",
            body: b"",
            cnonce: "c",
            nonce_count: 1,
        };
        let h = authorization(&c, &req).unwrap();
        assert!(!h.contains("qop="));
        let expected = Hash::Md5.hex(&format!(
            "{}:n:{}",
            Hash::Md5.hex("u:r:p"),
            Hash::Md5.hex("REGISTER:sip:r")
        ));
        assert_eq!(response_of(&h), expected);
        let c = challenge("r", "n", Some("SHA-512-256"), &["auth"], None);
        assert_eq!(
            authorization(&c, &req),
            Err(DigestError::Algorithm("SHA-512-256".into()))
        );
    }
}

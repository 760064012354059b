//! A plain SIP account (provider kind `sip`): where to register and as whom. Everything here is
//! shown and stored in SQLite; the password is a credential and lives in the keyring.

use serde::{Deserialize, Serialize};

const MAX_HOST: usize = 253;
const MAX_USER: usize = 128;
/// A CA certificate (or a short chain) in PEM.
const MAX_PEM: usize = 32 * 1024;

/// How signalling travels; TLS checks the registrar's certificate against the public roots.
/// `Auto` asks DNS (NAPTR, then SRV records) as RFC 3263 says, and uses UDP without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    #[default]
    Auto,
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SipSettings {
    /// The registrar, `host[:port]`.
    pub registrar: String,
    /// The domain of the address of record when it is not the registrar's host.
    pub domain: Option<String>,
    pub username: String,
    /// The digest user when it differs from `username`.
    pub auth_username: Option<String>,
    pub transport: SipTransport,
    /// Where requests go when not straight to the registrar, `host[:port]`.
    pub outbound_proxy: Option<String>,
    /// Certificate(s) of a private certificate authority to trust for TLS besides the public
    /// roots (a PBX with its own CA), as PEM. A CA certificate is public: it is a setting.
    pub ca_certificate: Option<String>,
}

/// A field of the SIP settings that is wrong, and why (for the form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipSettingsError {
    pub field: &'static str,
    pub message: String,
}

impl SipSettings {
    /// Trims, drops blanks, and checks every field; the result is safe to put in a SIP URI.
    pub fn checked(self) -> Result<SipSettings, SipSettingsError> {
        let blank_to_none =
            |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let settings = SipSettings {
            registrar: self.registrar.trim().to_string(),
            domain: blank_to_none(self.domain),
            username: self.username.trim().to_string(),
            auth_username: blank_to_none(self.auth_username),
            transport: self.transport,
            outbound_proxy: blank_to_none(self.outbound_proxy),
            ca_certificate: blank_to_none(self.ca_certificate),
        };
        if let Some(pem) = &settings.ca_certificate {
            check_pem(pem)?;
        }
        check_host_port("registrar", &settings.registrar, true)?;
        if let Some(d) = &settings.domain {
            check_host_port("domain", d, false)?;
        }
        if let Some(p) = &settings.outbound_proxy {
            check_host_port("outboundProxy", p, true)?;
        }
        check_user("username", &settings.username)?;
        if let Some(u) = &settings.auth_username {
            check_user("authUsername", u)?;
        }
        Ok(settings)
    }

    /// Where the softphone's socket goes: the outbound proxy if there is one, else the registrar.
    pub fn server(&self) -> &str {
        self.outbound_proxy.as_deref().unwrap_or(&self.registrar)
    }

    /// The address of record, for display.
    pub fn address(&self) -> String {
        let domain = self.domain.as_deref().unwrap_or(&self.registrar);
        format!("sip:{}@{domain}", self.username)
    }
}

/// Certificates are read when the softphone connects; here only their shape is checked.
fn check_pem(pem: &str) -> Result<(), SipSettingsError> {
    if pem.len() > MAX_PEM {
        return Err(invalid("caCertificate", "The certificate is too long"));
    }
    if !pem.contains("-----BEGIN CERTIFICATE-----") || !pem.contains("-----END CERTIFICATE-----") {
        return Err(invalid(
            "caCertificate",
            "Paste the CA certificate as PEM, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
        ));
    }
    Ok(())
}

fn invalid(field: &'static str, message: impl Into<String>) -> SipSettingsError {
    SipSettingsError {
        field,
        message: message.into(),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; no scheme, no user, nothing else.
fn check_host_port(
    field: &'static str,
    value: &str,
    port_allowed: bool,
) -> Result<(), SipSettingsError> {
    let what = match field {
        "registrar" => "the registrar",
        "domain" => "the domain",
        _ => "the outbound proxy",
    };
    if value.is_empty() {
        return Err(invalid(
            field,
            format!("Enter {what}, e.g. sip.example.com"),
        ));
    }
    if value.len() > MAX_HOST + 6 {
        return Err(invalid(
            field,
            format!("{} is too long", crate::sentence_case(what)),
        ));
    }
    if value.contains("://") || value.to_ascii_lowercase().starts_with("sip:") {
        return Err(invalid(
            field,
            format!("Enter {what} as a host name, without sip: or a scheme"),
        ));
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid(field, "An IPv6 address needs its closing ]"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid(field, format!("“{v6}” is not an IPv6 address")));
        }
        (None, after.strip_prefix(':'))
    } else {
        match value.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(value), None),
        }
    };
    if let Some(host) = host {
        let ok = !host.is_empty()
            && host
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63)
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(invalid(field, format!("“{host}” is not a host name")));
        }
    }
    if let Some(port) = port {
        if !port_allowed {
            return Err(invalid(field, "The domain has no port"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(invalid(field, format!("“{port}” is not a port number"))),
        }
    }
    Ok(())
}

/// A SIP user part we can put into a URI unescaped.
fn check_user(field: &'static str, value: &str) -> Result<(), SipSettingsError> {
    if value.is_empty() {
        return Err(invalid(field, "Enter the SIP user name"));
    }
    if value.len() > MAX_USER {
        return Err(invalid(field, "The user name is too long"));
    }
    // RFC 3261 user characters that need no escaping, minus ';' and '?' (which would start
    // URI parameters or headers in the places the name is written).
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,/".contains(c);
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(invalid(
            field,
            format!("The user name cannot contain “{bad}”"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(registrar: &str, username: &str) -> SipSettings {
        SipSettings {
            registrar: registrar.into(),
            username: username.into(),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_hosts_ports_and_ipv6() {
        for r in [
            "sip.example.com",
            "pbx.local:5070",
            "127.0.0.1:15060",
            "[::1]:5060",
            "[2001:db8::1]",
        ] {
            assert!(settings(r, "alice").checked().is_ok(), "{r}");
        }
        let s = SipSettings {
            domain: Some("  example.com ".into()),
            auth_username: Some(" ".into()),
            outbound_proxy: Some("proxy.example.com:5060".into()),
            ..settings(" sip.example.com ", " 1001 ")
        }
        .checked()
        .unwrap();
        assert_eq!(s.registrar, "sip.example.com");
        assert_eq!(s.username, "1001");
        assert_eq!(s.auth_username, None);
        assert_eq!(s.server(), "proxy.example.com:5060");
        assert_eq!(s.address(), "sip:1001@example.com");
    }

    #[test]
    fn refuses_what_would_break_a_uri() {
        let field = |s: SipSettings| s.checked().unwrap_err().field;
        assert_eq!(field(settings("", "a")), "registrar");
        assert_eq!(field(settings("sip:pbx.example.com", "a")), "registrar");
        assert_eq!(field(settings("https://pbx", "a")), "registrar");
        assert_eq!(field(settings("pbx example", "a")), "registrar");
        assert_eq!(field(settings("pbx:99999", "a")), "registrar");
        assert_eq!(field(settings("[::g]", "a")), "registrar");
        assert_eq!(field(settings("pbx", "")), "username");
        assert_eq!(field(settings("pbx", "al ice")), "username");
        assert_eq!(field(settings("pbx", "a@b")), "username");
        assert_eq!(field(settings("pbx", "a<b>")), "username");
        let with_domain_port = SipSettings {
            domain: Some("example.com:5060".into()),
            ..settings("pbx", "a")
        };
        assert_eq!(field(with_domain_port), "domain");
        let with_key = SipSettings {
            ca_certificate: Some("-----BEGIN PRIVATE KEY-----\nabc\n".into()),
            ..settings("pbx", "a")
        };
        assert_eq!(field(with_key), "caCertificate");
    }

    #[test]
    fn a_private_ca_is_kept_and_a_blank_one_dropped() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let s = SipSettings {
            ca_certificate: Some(pem.into()),
            ..settings("pbx", "a")
        };
        assert_eq!(
            s.checked().unwrap().ca_certificate.as_deref(),
            Some(pem.trim())
        );
        let blank = SipSettings {
            ca_certificate: Some("  ".into()),
            ..settings("pbx", "a")
        };
        assert_eq!(blank.checked().unwrap().ca_certificate, None);
    }
}

//! RFC 3261 §7 messages: parsing (datagram and stream framing) and serialising.

use std::borrow::Cow;
use std::fmt;

use crate::uri::Uri;

/// Hard bounds on what the parser accepts; anything beyond is refused, never buffered.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message: usize,
    pub max_headers: usize,
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 65_535,
            max_headers: 128,
            max_line: 8_192,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A stream holds only part of a message so far.
    #[error("incomplete message")]
    Incomplete,
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("a line is longer than {0} bytes")]
    LineTooLong(usize),
    #[error("the message is not UTF-8 text")]
    NotText,
    #[error("bad start line: {0}")]
    StartLine(String),
    /// A well-formed request of another SIP version (answered 505).
    #[error("unsupported SIP version {0}")]
    Version(String),
    /// A well-formed Request-URI of a scheme other than sip/sips (answered 416).
    #[error("unsupported URI scheme {0}")]
    UriScheme(String),
    #[error("bad header field: {0}")]
    Header(String),
    #[error("bad Content-Length")]
    ContentLength,
    #[error("the body is shorter than its Content-Length")]
    BodyTooShort,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Refer,
    Notify,
    Subscribe,
    Prack,
    Update,
    Message,
    Other(String),
}

impl Method {
    pub fn parse(token: &str) -> Option<Method> {
        if token.is_empty() || !token.bytes().all(is_token_byte) {
            return None;
        }
        // Methods are case-sensitive (RFC 3261 §7.1).
        Some(match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_string()),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: String },
}

/// Header fields in arrival order, names in their long canonical form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Cow<'static, str>, String)>);

/// Compact forms (RFC 3261 §7.3.3 and later RFCs) and their long names.
const COMPACT: [(&str, &str); 20] = [
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("f", "From"),
    ("t", "To"),
    ("v", "Via"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("k", "Supported"),
    ("s", "Subject"),
    ("e", "Content-Encoding"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
    ("n", "Identity-Info"),
];

/// Headers whose values are comma-separated lists (`Via: a, b` is two Via values).
const LIST_HEADERS: [&str; 12] = [
    "Via",
    "Contact",
    "Route",
    "Record-Route",
    "Allow",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Accept",
    "Allow-Events",
    "Accept-Encoding",
];

/// The long, canonically spelled name; known names cost no allocation (they are looked up
/// on every header of every message).
fn canonical(name: &str) -> Cow<'static, str> {
    if name.len() == 1 {
        if let Some((_, long)) = COMPACT
            .iter()
            .find(|(short, _)| short.eq_ignore_ascii_case(name))
        {
            return Cow::Borrowed(long);
        }
    }
    const KNOWN: [&str; 28] = [
        "Call-ID",
        "Contact",
        "From",
        "To",
        "Via",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Max-Forwards",
        "Route",
        "Record-Route",
        "Allow",
        "Supported",
        "Require",
        "Expires",
        "WWW-Authenticate",
        "Authorization",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "User-Agent",
        "Server",
        "Event",
        "Refer-To",
        "Replaces",
        "Subscription-State",
        "Min-Expires",
        "Unsupported",
        "Retry-After",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| Cow::Borrowed(*k))
        .unwrap_or_else(|| Cow::Owned(name.to_string()))
}

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((canonical(name), value.into()));
    }

    /// Replaces every field of that name with one value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    pub fn remove(&mut self, name: &str) {
        let name = canonical(name);
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    }

    /// The first field's raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical(name);
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, list headers split at their top-level commas.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = canonical(name);
        let list = LIST_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(&name));
        let mut out = Vec::new();
        for (n, v) in &self.0 {
            if n.eq_ignore_ascii_case(&name) {
                if list {
                    out.extend(split_list(v));
                } else {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `name` is an extension header's (`X-…`): what a service tells about a call, and
/// nothing a SIP stack acts on — the only kind a dialled URI may add to an INVITE.
pub fn is_extension_header(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() > 2
        && bytes
            .get(..2)
            .is_some_and(|x| x.eq_ignore_ascii_case(b"x-"))
        && bytes.iter().all(|b| is_token_byte(*b))
}

/// Splits at commas that are outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Where the header section ends: (index of the first body byte).
/// Where the header section ends: after the first empty line (CRLF CRLF, or bare LF LF).
fn header_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = buf
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let at = from + i;
        match buf.get(at + 1) {
            Some(b'\n') => return Some(at + 2),
            Some(b'\r') if buf.get(at + 2) == Some(&b'\n') => return Some(at + 3),
            _ => from = at + 1,
        }
    }
    None
}

impl Message {
    pub fn request(method: Method, uri: Uri) -> Self {
        Message {
            start: StartLine::Request { method, uri },
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    pub fn response(status: u16, reason: &str) -> Self {
        Message {
            start: StartLine::Response {
                status,
                reason: reason.to_string(),
            },
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// A message from a datagram: the datagram's end is the message's end.
    pub fn parse_datagram(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
        if buf.len() > limits.max_message {
            return Err(ParseError::TooLarge(limits.max_message));
        }
        // Keep-alive CRLFs before a message are allowed (RFC 5626 §3.5.1).
        let skip = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let buf = buf.get(skip..).unwrap_or_default();
        let end = header_end(buf).ok_or(ParseError::Header("no end of header section".into()))?;
        let (head, rest) = buf.split_at_checked(end).unwrap_or((buf, &[]));
        let (start, headers) = parse_head(head, limits)?;
        let body = match content_length(&headers)? {
            Some(len) => rest.get(..len).ok_or(ParseError::BodyTooShort)?.to_vec(),
            None => rest.to_vec(),
        };
        Ok(Message {
            start,
            headers,
            body,
        })
    }

    /// The next message from a stream buffer: `Ok(None)` while incomplete, else the message and
    /// how many bytes it used (leading keep-alive CRLFs included).
    pub fn parse_stream(
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Message, usize)>, ParseError> {
        let skip = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let data = buf.get(skip..).unwrap_or_default();
        let Some(end) = header_end(data) else {
            if data.len() > limits.max_message {
                return Err(ParseError::TooLarge(limits.max_message));
            }
            return Ok(None);
        };
        let (start, headers) = parse_head(data.get(..end).unwrap_or_default(), limits)?;
        // On a stream Content-Length is mandatory (RFC 3261 §18.3); absent means no body.
        let len = content_length(&headers)?.unwrap_or(0);
        let total = end
            .checked_add(len)
            .filter(|t| *t <= limits.max_message)
            .ok_or(ParseError::TooLarge(limits.max_message))?;
        let Some(body) = data.get(end..total) else {
            return Ok(None);
        };
        let body = body.to_vec();
        Ok(Some((
            Message {
                start,
                headers,
                body,
            },
            skip + total,
        )))
    }

    /// The wire form, with Content-Length set from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.push_str(&format!("{method} {uri} SIP/2.0\r\n"))
            }
            StartLine::Response { status, reason } => {
                out.push_str(&format!("SIP/2.0 {status} {reason}\r\n"))
            }
        }
        for (name, value) in self.headers.iter() {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for value in headers.get_all("Content-Length") {
        let len: usize = value
            .trim()
            .parse()
            .map_err(|_| ParseError::ContentLength)?;
        if found.is_some_and(|f| f != len) {
            return Err(ParseError::ContentLength);
        }
        found = Some(len);
    }
    Ok(found)
}

fn parse_head(head: &[u8], limits: &Limits) -> Result<(StartLine, Headers), ParseError> {
    let text = std::str::from_utf8(head).map_err(|_| ParseError::NotText)?;
    // Borrowed from the input; only a folded header is copied.
    let mut lines: Vec<Cow<str>> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > limits.max_line {
            return Err(ParseError::LineTooLong(limits.max_line));
        }
        if line.is_empty() {
            continue;
        }
        // Folded continuation (RFC 3261 §7.3.1): joins the previous line with one space.
        if line.starts_with([' ', '\t']) {
            let has_header = lines.len() > 1;
            match lines.last_mut() {
                Some(prev) if has_header => {
                    let prev = prev.to_mut();
                    prev.push(' ');
                    prev.push_str(line.trim_start());
                    if prev.len() > limits.max_line {
                        return Err(ParseError::LineTooLong(limits.max_line));
                    }
                    continue;
                }
                _ => {
                    return Err(ParseError::Header(
                        "continuation line without a header".into(),
                    ))
                }
            }
        }
        lines.push(Cow::Borrowed(line));
    }
    let mut lines = lines.into_iter();
    let start = parse_start_line(&lines.next().ok_or(ParseError::StartLine("empty".into()))?)?;
    let mut headers = Headers::new();
    for line in lines {
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders(limits.max_headers));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::Header(truncate(&line)))?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(ParseError::Header(truncate(&line)));
        }
        if has_bare_control(value) {
            return Err(ParseError::Header(format!("control character in {name}")));
        }
        headers.push(name, value.trim());
    }
    Ok((start, headers))
}

/// Control characters are header injection, except escaped inside a quoted string, where
/// RFC 3261's quoted-pair allows them (RFC 4475 intmeth).
fn has_bare_control(value: &str) -> bool {
    // Fast path: no C0 control but tab, no DEL, no C1 (UTF-8 0xC2 0x80..0x9F lead byte).
    let suspicious = value
        .bytes()
        .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f || b == 0xc2);
    if !suspicious {
        return false;
    }
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if c == '\r' || c == '\n' {
                return true;
            }
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '\t' => {}
            c if c.is_control() => return true,
            _ => {}
        }
    }
    false
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::StartLine(truncate(line));
    // Bytes, not a str slice: the line may hold any UTF-8 (found by fuzzing).
    let status_line = line
        .as_bytes()
        .get(..8)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"SIP/2.0 "));
    if status_line {
        let rest = line.get(8..).unwrap_or_default();
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 {
            return Err(bad());
        }
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&status) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.to_string(),
        });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(ParseError::Version(truncate(version).to_string()));
    }
    let method = Method::parse(method).ok_or_else(bad)?;
    let uri = Uri::parse(uri).map_err(|e| match uri.split_once(':') {
        Some((scheme, _))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !scheme.eq_ignore_ascii_case("sip")
                && !scheme.eq_ignore_ascii_case("sips") =>
        {
            ParseError::UriScheme(truncate(scheme).to_string())
        }
        _ => ParseError::StartLine(e.to_string()),
    })?;
    Ok(StartLine::Request { method, uri })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_headers_are_x_tokens_only() {
        for yes in ["X-Ringdesk-Call", "x-customer", "X-A"] {
            assert!(is_extension_header(yes), "{yes}");
        }
        for no in [
            "X-", "Replaces", "Route", "Xavier", "X-é", "é-X", "X-a b", "",
        ] {
            assert!(!is_extension_header(no), "{no}");
        }
    }

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn a_huge_content_length_on_a_stream_is_refused_not_overflowed() {
        let m = "SIP/2.0 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert!(matches!(
            Message::parse_stream(m.as_bytes(), &Limits::default()),
            Err(ParseError::TooLarge(_))
        ));
    }

    #[test]
    fn a_start_line_with_multibyte_text_where_the_version_would_be() {
        // A fuzzer's find: slicing the first 8 bytes of "OPT:\u{feff}大" split a character.
        let crash = "OPT:\u{feff}大停電\r\nTo: <sip:a@b>\r\n\r\n";
        assert!(Message::parse_datagram(crash.as_bytes(), &Limits::default()).is_err());
        let response = "SIP/2.0 200 大丈夫\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
        let m = Message::parse_datagram(response.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(m.status(), Some(200));
    }

    #[test]
    fn parses_and_serialises_a_request() {
        let m = Message::parse_datagram(INVITE.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(
            m.headers.get("call-id"),
            Some("a84b4c76e66710@pc33.atlanta.example.com")
        );
        assert_eq!(
            m.headers.get("i"),
            Some("a84b4c76e66710@pc33.atlanta.example.com")
        );
        assert_eq!(m.body, b"v=0\n");
        let again = Message::parse_datagram(&m.to_bytes(), &Limits::default()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn compact_forms_folding_and_lists() {
        let raw = "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1,\r\n SIP/2.0/UDP b;branch=z9hG4bK2\r\n\
i: x@y\r\nSubject: one\r\n\ttwo\r\nl: 0\r\n\r\n";
        let m = Message::parse_datagram(raw.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(
            m.headers.get_all("Via"),
            vec![
                "SIP/2.0/UDP a;branch=z9hG4bK1",
                "SIP/2.0/UDP b;branch=z9hG4bK2"
            ]
        );
        assert_eq!(m.headers.get("Subject"), Some("one two"));
        assert_eq!(
            split_list(r#""Doe, John" <sip:j@x>;q=1, <sip:k@y,z>"#),
            vec![r#""Doe, John" <sip:j@x>;q=1"#, "<sip:k@y,z>"]
        );
    }

    #[test]
    fn stream_framing_waits_for_the_whole_body() {
        let bytes = INVITE.as_bytes();
        let limits = Limits::default();
        assert_eq!(Message::parse_stream(&bytes[..40], &limits), Ok(None));
        assert_eq!(
            Message::parse_stream(&bytes[..bytes.len() - 1], &limits),
            Ok(None)
        );
        let mut two = b"\r\n\r\n".to_vec();
        two.extend_from_slice(bytes);
        two.extend_from_slice(bytes);
        let (first, used) = Message::parse_stream(&two, &limits).unwrap().unwrap();
        assert_eq!(used, 4 + bytes.len());
        assert_eq!(first.body, b"v=0\n");
        assert!(Message::parse_stream(&two[used..], &limits)
            .unwrap()
            .is_some());
    }

    #[test]
    fn refuses_hostile_input() {
        let limits = Limits::default();
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        assert_eq!(
            Message::parse_datagram(short.as_bytes(), &limits),
            Err(ParseError::BodyTooShort)
        );
        let neg = INVITE.replace("Content-Length: 4", "Content-Length: -4");
        assert_eq!(
            Message::parse_datagram(neg.as_bytes(), &limits),
            Err(ParseError::ContentLength)
        );
        let two = INVITE.replace("Content-Length: 4", "Content-Length: 4\r\nl: 5");
        assert_eq!(
            Message::parse_datagram(two.as_bytes(), &limits),
            Err(ParseError::ContentLength)
        );
        let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
        let big = INVITE.replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{many}"),
        );
        assert_eq!(
            Message::parse_datagram(big.as_bytes(), &limits),
            Err(ParseError::TooManyHeaders(128))
        );
        assert!(matches!(
            Message::parse_datagram(&vec![b'A'; 70_000], &limits),
            Err(ParseError::TooLarge(_))
        ));
        let injected = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 70\u{0}Evil: 1");
        assert!(Message::parse_datagram(injected.as_bytes(), &limits).is_err());
        for start in [
            "INVITE sip:a@b SIP/3.0",
            "INVITE  sip:a@b SIP/2.0",
            "SIP/2.0 99 Low",
            "SIP/2.0 2000 OK",
            "INV<ITE sip:a@b SIP/2.0",
        ] {
            let raw = format!("{start}\r\nCall-ID: x\r\n\r\n");
            assert!(
                Message::parse_datagram(raw.as_bytes(), &limits).is_err(),
                "{start}"
            );
        }
        assert!(Message::parse_datagram(b"\xff\xfe INVITE\r\n\r\n", &limits).is_err());
    }

    #[test]
    fn unknown_methods_parse_for_a_501() {
        let raw = "NEWMETHOD sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse_datagram(raw.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(m.method(), Some(&Method::Other("NEWMETHOD".into())));
    }
}

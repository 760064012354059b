//! Whether a user agent can act on a request that parsed (RFC 3261 §8.2), and if not, which
//! answer it gets: the checks RFC 4475's torture messages exercise, in the order §8.2 gives.

use crate::header::CSeq;
use crate::message::{split_list, Message, Method};

/// Extensions this user agent implements (for `Require`).
pub const SUPPORTED: &[&str] = &["replaces"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
    /// Header fields the answer must carry (Unsupported, Accept).
    pub headers: Vec<(&'static str, String)>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str) -> Self {
        Rejection {
            status,
            reason,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// `Ok` when the request may be processed; otherwise the answer to send.
pub fn check_request(request: &Message) -> Result<(), Rejection> {
    let Some(method) = request.method() else {
        return Ok(());
    };
    let bad = || Rejection::new(400, "Bad Request");
    // Exactly one of each field that identifies the transaction and dialog (multi01, insuf).
    for name in ["From", "To", "Call-ID", "CSeq"] {
        let count = request.headers.get_all(name).len();
        let listed = request.headers.get(name).map_or(0, |v| split_list(v).len());
        if count != 1 || listed != 1 {
            return Err(bad());
        }
    }
    if request.headers.get_all("Max-Forwards").len() > 1 {
        return Err(bad());
    }
    let cseq = request
        .headers
        .get("CSeq")
        .and_then(|c| CSeq::parse(c).ok())
        .ok_or_else(bad)?;
    if cseq.method != *method && *method != Method::Ack && *method != Method::Cancel {
        return Err(bad());
    }
    // Any URI scheme may stand in From and To (tel:, even http:, RFC 4475 unksm2); what must
    // hold is the name-addr's own structure (quotbal).
    for name in ["From", "To"] {
        if !balanced(request.headers.get(name).unwrap_or_default()) {
            return Err(bad());
        }
    }
    // Empty list elements and parameters are malformed (badinv01).
    for name in ["Via", "Contact"] {
        for value in request.headers.get_all(name) {
            if value.is_empty() || value.contains(";;") || value.ends_with(';') {
                return Err(bad());
            }
        }
    }
    if *method == Method::Ack || *method == Method::Cancel {
        return Ok(());
    }
    let unsupported: Vec<&str> = request
        .headers
        .get_all("Require")
        .into_iter()
        .flat_map(split_list)
        .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .collect();
    if !unsupported.is_empty() {
        return Err(
            Rejection::new(420, "Bad Extension").with("Unsupported", unsupported.join(", "))
        );
    }
    if *method == Method::Invite {
        check_invite_body(request)?;
    }
    Ok(())
}

/// Quotes closed (escapes honoured) and at most one `<…>`, closed.
fn balanced(value: &str) -> bool {
    let (mut quoted, mut escaped, mut angle, mut angles) = (false, false, false, 0);
    for c in value.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => {
                angle = true;
                angles += 1;
            }
            '>' if !quoted && angle => angle = false,
            _ => {}
        }
    }
    !quoted && !angle && angles <= 1
}

/// INVITE carries SDP, and we can only answer in SDP (invut, sdp01).
fn check_invite_body(request: &Message) -> Result<(), Rejection> {
    let sdp = "application/sdp";
    if !request.body.is_empty() {
        let content_type = request.headers.get("Content-Type").unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(sdp) {
            return Err(Rejection::new(415, "Unsupported Media Type").with("Accept", sdp.into()));
        }
    }
    let accept = request.headers.get_all("Accept");
    let accepts_sdp = accept.is_empty()
        || accept.iter().flat_map(|a| split_list(a)).any(|a| {
            let media = a.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case(sdp)
                || media == "*/*"
                || media.eq_ignore_ascii_case("application/*")
        });
    if !accepts_sdp {
        return Err(Rejection::new(406, "Not Acceptable").with(
            "Warning",
            "399 ringdesk \"only application/sdp answers\"".into(),
        ));
    }
    Ok(())
}

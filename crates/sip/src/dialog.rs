//! Dialog state (RFC 3261 §12): identifiers, route set, remote target, CSeq numbering, and
//! building in-dialog requests.

use crate::header::{CSeq, NameAddr};
use crate::message::{Message, Method};
use crate::uri::Uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our From (UAC) / To (UAS) address.
    pub local: NameAddr,
    pub remote: NameAddr,
    pub remote_target: Uri,
    /// In the order requests must visit them.
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: Option<u32>,
    pub confirmed: bool,
}

impl Dialog {
    /// The UAC side, from our INVITE and a response that carries a To tag.
    pub fn from_uac(invite: &Message, response: &Message) -> Option<Dialog> {
        let call_id = invite.headers.get("Call-ID")?.to_string();
        let local = NameAddr::parse(invite.headers.get("From")?).ok()?;
        let remote = NameAddr::parse(response.headers.get("To")?).ok()?;
        let remote_target = response
            .headers
            .get_all("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c).ok())
            .map(|c| c.uri)
            .or_else(|| match &invite.start {
                crate::message::StartLine::Request { uri, .. } => Some(uri.clone()),
                _ => None,
            })?;
        let mut route_set: Vec<String> = response
            .headers
            .get_all("Record-Route")
            .into_iter()
            .map(str::to_string)
            .collect();
        route_set.reverse();
        let local_cseq = CSeq::parse(invite.headers.get("CSeq")?).ok()?.seq;
        Some(Dialog {
            call_id,
            local_tag: local.tag()?.to_string(),
            remote_tag: remote.tag().map(str::to_string),
            local,
            remote,
            remote_target,
            route_set,
            local_cseq,
            remote_cseq: None,
            confirmed: false,
        })
    }

    /// The UAS side, from an incoming INVITE and the tag we give our side.
    pub fn from_uas(invite: &Message, local_tag: &str) -> Option<Dialog> {
        let call_id = invite.headers.get("Call-ID")?.to_string();
        let remote = NameAddr::parse(invite.headers.get("From")?).ok()?;
        let mut local = NameAddr::parse(invite.headers.get("To")?).ok()?;
        local.params.set("tag", Some(local_tag));
        let remote_target = NameAddr::parse(invite.headers.get_all("Contact").first()?)
            .ok()?
            .uri;
        let route_set = invite
            .headers
            .get_all("Record-Route")
            .into_iter()
            .map(str::to_string)
            .collect();
        let remote_cseq = CSeq::parse(invite.headers.get("CSeq")?).ok()?.seq;
        Some(Dialog {
            call_id,
            local_tag: local_tag.to_string(),
            remote_tag: remote.tag().map(str::to_string),
            local,
            remote,
            remote_target,
            route_set,
            local_cseq: 0,
            remote_cseq: Some(remote_cseq),
            confirmed: false,
        })
    }

    /// Whether an incoming in-dialog request belongs here (Call-ID, To tag = ours, From tag = theirs).
    pub fn matches_request(&self, request: &Message) -> bool {
        let to_tag = request
            .headers
            .get("To")
            .and_then(|t| NameAddr::parse(t).ok())
            .and_then(|t| t.tag().map(str::to_string));
        let from_tag = request
            .headers
            .get("From")
            .and_then(|f| NameAddr::parse(f).ok())
            .and_then(|f| f.tag().map(str::to_string));
        request.headers.get("Call-ID") == Some(self.call_id.as_str())
            && to_tag.as_deref() == Some(self.local_tag.as_str())
            && from_tag == self.remote_tag
    }

    /// A new in-dialog request (its CSeq taken from the dialog; not for ACK or CANCEL).
    pub fn request(&mut self, method: Method, via: String, contact: &Uri) -> Message {
        self.local_cseq += 1;
        let seq = self.local_cseq;
        self.request_with_cseq(method, via, contact, seq)
    }

    pub fn request_with_cseq(
        &self,
        method: Method,
        via: String,
        contact: &Uri,
        seq: u32,
    ) -> Message {
        // Loose routing (RFC 3261 §12.2.1.1): the Request-URI is the remote target.
        let mut m = Message::request(method.clone(), self.remote_target.clone());
        m.headers.push("Via", via);
        m.headers.push("Max-Forwards", "70");
        m.headers.push("From", self.local.to_string());
        let mut to = self.remote.clone();
        if let Some(tag) = &self.remote_tag {
            to.params.set("tag", Some(tag));
        }
        m.headers.push("To", to.to_string());
        m.headers.push("Call-ID", self.call_id.clone());
        m.headers.push("CSeq", format!("{seq} {method}"));
        for route in &self.route_set {
            m.headers.push("Route", route.clone());
        }
        if matches!(
            method,
            Method::Invite | Method::Refer | Method::Update | Method::Subscribe | Method::Notify
        ) {
            m.headers.push("Contact", format!("<{contact}>"));
        }
        m
    }

    /// Target refresh (RFC 3261 §12.2): a re-INVITE or its answer may move the remote target.
    pub fn refresh_target(&mut self, message: &Message) {
        if let Some(uri) = message
            .headers
            .get_all("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c).ok())
            .map(|c| c.uri)
        {
            self.remote_target = uri;
        }
    }
}

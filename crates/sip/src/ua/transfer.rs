//! Transfer (RFC 3515, RFC 3891): REFER to a target or to replace another call, NOTIFY of
//! its progress, and an incoming INVITE that replaces one of our calls.

use std::time::Instant;

use super::*;

impl UserAgent {
    /// Blind transfer: asks the other side to call `target` (REFER, RFC 3515).
    pub fn refer(&mut self, call: CallId, target: &Uri, now: Instant) -> bool {
        self.refer_to(call, format!("<{target}>"), now)
    }

    /// Attended transfer: asks the other side of `call` to replace `other` (RFC 3891) — the
    /// Refer-To carries the other dialog's Call-ID with both tags.
    pub fn refer_replacing(&mut self, call: CallId, other: CallId, now: Instant) -> bool {
        let Some(d) = self.calls.get(&other).and_then(|c| c.dialog.clone()) else {
            return false;
        };
        let Some(remote_tag) = d.remote_tag.clone() else {
            return false;
        };
        let escape = |s: &str| {
            s.replace('%', "%25")
                .replace('@', "%40")
                .replace(';', "%3B")
                .replace('=', "%3D")
        };
        let replaces = format!(
            "{};to-tag={};from-tag={}",
            d.call_id, remote_tag, d.local_tag
        );
        // The target's address of record, not its Contact: a Contact is only reachable from
        // elsewhere when it is a GRUU (RFC 5589 §7.3), while the AoR routes through the proxy.
        let mut target = d.remote.uri.clone();
        target.params = Default::default();
        self.refer_to(
            call,
            format!("<{target}?Replaces={}>", escape(&replaces)),
            now,
        )
    }

    pub(super) fn refer_to(&mut self, call: CallId, refer_to: String, now: Instant) -> bool {
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Confirmed)
        {
            return false;
        }
        let referred_by = format!("<{}>", self.config.aor);
        self.send_in_dialog_with(
            call,
            Method::Refer,
            None,
            Vec::new(),
            Purpose::Refer(call),
            now,
            |m| {
                m.headers.push("Refer-To", refer_to.clone());
                m.headers.push("Referred-By", referred_by.clone());
            },
        );
        true
    }

    /// Reports the progress of a transfer we were asked to make (NOTIFY with a sipfrag).
    pub fn notify_transfer(
        &mut self,
        call: CallId,
        status: u16,
        reason: &str,
        now: Instant,
    ) -> bool {
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Confirmed | CallState::Terminating))
        {
            return false;
        }
        let state = if status >= 200 {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let body = format!("SIP/2.0 {status} {reason}\r\n").into_bytes();
        self.send_in_dialog_with(
            call,
            Method::Notify,
            Some("message/sipfrag;version=2.0"),
            body,
            Purpose::Notify(call),
            now,
            |m| {
                m.headers.push("Event", "refer");
                m.headers.push("Subscription-State", state);
            },
        );
        true
    }

    pub(super) fn find_replaced(&self, value: &str) -> Option<CallId> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        let params = crate::uri::Params::parse(&value[call_id.len()..]);
        let (to_tag, from_tag) = (params.get("to-tag")?, params.get("from-tag")?);
        self.calls
            .values()
            .find(|c| {
                c.state != CallState::Ended
                    && c.dialog.as_ref().is_some_and(|d| {
                        d.call_id == call_id
                            && d.local_tag == to_tag
                            && d.remote_tag.as_deref() == Some(from_tag)
                    })
            })
            .map(|c| c.id)
    }

    /// Ends `call` because an incoming call replaced it (the app answers the new one).
    pub fn replaced(&mut self, call: CallId, now: Instant) {
        if self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Confirmed | CallState::Answered))
        {
            self.send_in_dialog(call, Method::Bye, None, Vec::new(), Purpose::Bye(call), now);
            self.end(call, EndReason::Replaced);
        }
    }
}

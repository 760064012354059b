//! Carrying the controller's SIP actions out on a user agent: the one mapping the app, the
//! CLI and the tests share.

use std::time::Instant;

use ringdesk_sip::ua::{CallId as SipCallId, UserAgent};

use crate::controller::Action;

/// What became of a SIP action: the driver tells the controller
/// ([`Controller::applied`](crate::Controller::applied)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipOutcome {
    /// Sent (or, for a call the user agent no longer has, nothing to do).
    Sent,
    /// The user agent refused it now.
    Refused,
    /// The INVITE of [`Action::Call`] is out as this call.
    Placed(SipCallId),
}

/// Carries out `action` on `ua` if it is a SIP action; None for the driver's own (media, tones,
/// keys).
pub fn apply(action: &Action, ua: &mut UserAgent, now: Instant) -> Option<SipOutcome> {
    let sent = match action {
        Action::Call {
            target,
            offer,
            headers,
            ..
        } => {
            let extra: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let call = ua.call_with_headers(target.clone(), offer.clone(), &extra, now);
            return Some(SipOutcome::Placed(call));
        }
        // The caller may have given up meanwhile: its end comes as an event.
        Action::Answer { sip, sdp } => {
            let _ = ua.answer(*sip, sdp.clone(), now);
            true
        }
        Action::Reject { sip, status } => {
            let _ = ua.reject(*sip, *status, now);
            true
        }
        Action::Hangup { sip } => {
            let _ = ua.hangup(*sip, now);
            true
        }
        Action::Reinvite { sip, sdp } => ua.reinvite(*sip, sdp.clone(), now),
        Action::AnswerReoffer { sip, sdp } => {
            let _ = ua.answer_reoffer(*sip, sdp.clone(), now);
            true
        }
        Action::RejectReoffer { sip, status, why } => {
            let _ = ua.reject_reoffer(*sip, *status, why, now);
            true
        }
        Action::Refer { sip, target } => ua.refer(*sip, target, now),
        Action::ReferReplacing { sip, other } => ua.refer_replacing(*sip, *other, now),
        Action::Replaced { sip } => {
            ua.replaced(*sip, now);
            true
        }
        Action::Notify {
            sip,
            status,
            reason,
        } => {
            let _ = ua.notify_transfer(*sip, *status, reason, now);
            true
        }
        Action::OpenMedia(_) | Action::CloseMedia(_) | Action::Dtmf { .. } | Action::Tone(_) => {
            return None
        }
    };
    Some(if sent {
        SipOutcome::Sent
    } else {
        SipOutcome::Refused
    })
}

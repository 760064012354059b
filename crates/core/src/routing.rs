//! What to do with a call a provider asks about (its voice URL): one decision for every host
//! that answers providers — the desktop's own receiver (solo: the only agent is the one at
//! that desktop) and the team server (any agent, wherever they are signed in). Each host
//! gathers the [`Facts`]; the decision is a plain function of them.

use crate::ports::{CallParty, DialTarget, VoiceAnswer, VoiceRequest};
use crate::{E164Number, NumberRoute, PhoneNumber, Region, User, UserStatus};

/// A softphone's login on a provider: `sip:user@domain` rings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipLogin {
    pub user: String,
    pub domain: String,
}

/// The agent a call to a number is for, as far as the host can reach them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// None: a desktop with no agents set up rings its softphone, whoever answers.
    pub user: Option<User>,
    /// Their softphone's login when it can ring now (the desktop's own; on the team server,
    /// a signed-in desktop's).
    pub softphone: Option<SipLogin>,
}

/// Everything the decision reads, gathered beforehand by the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// When the call comes from one of our softphone logins: the caller ID it leaves with
    /// (its agent's primary number on this provider, else the provider's default). `None`
    /// inside: ours, but with no number to show.
    pub caller: Option<Option<E164Number>>,
    /// The called number, when it is one of the account's.
    pub called: Option<PhoneNumber>,
    /// Who a call to `called` is for (its route's agent; on a desktop, its own agent when the
    /// number is not routed elsewhere).
    pub target: Option<Target>,
}

const NO_CALLER_ID: &str =
    "This softphone has no caller I D. Choose a primary number for the agent in Ringdesk.";
const NOT_A_NUMBER: &str = "That number cannot be dialled.";
const NOT_OURS: &str = "This SIP login is not Ringdesk's.";
const NOBODY: &str = "Sorry, nobody can take your call right now. Please call again later.";

pub fn decide(request: &VoiceRequest, facts: &Facts, region: Region) -> VoiceAnswer {
    if let CallParty::Sip { .. } = &request.from {
        return match &facts.caller {
            Some(caller_id) => outgoing(&request.to, caller_id.as_ref(), region),
            None => refuse(NOT_OURS),
        };
    }
    if let Some(NumberRoute::External { number }) =
        facts.called.as_ref().and_then(|n| n.route.as_ref())
    {
        return dial_number(number.clone());
    }
    match &facts.target {
        Some(target) => ring(target, &request.provider_call_id),
        None => refuse(NOBODY),
    }
}

/// Where a call a softphone passed on goes: the number it named (typed as the SIP user part,
/// as the softphone dials), else that SIP address on the provider's domain (another login).
/// The caller keeps their own number.
pub fn transfer(target: &CallParty, region: Region) -> VoiceAnswer {
    match target {
        CallParty::Number(n) => dial_number(n.clone()),
        CallParty::Sip { user, host } => match E164Number::parse(user, region) {
            Ok(n) => dial_number(n),
            Err(_) => VoiceAnswer::Dial {
                target: DialTarget::Sip {
                    user: user.clone(),
                    host: host.clone(),
                    call: None,
                    queue: None,
                },
                caller_id: None,
                transfer_url: None,
                record: None,
            },
        },
        CallParty::Other(_) => refuse(NOT_A_NUMBER),
    }
}

fn outgoing(to: &CallParty, caller_id: Option<&E164Number>, region: Region) -> VoiceAnswer {
    let dialled = match to {
        CallParty::Number(n) => Some(n.clone()),
        CallParty::Sip { user, .. } => E164Number::parse(user, region).ok(),
        CallParty::Other(_) => None,
    };
    match (dialled, caller_id) {
        (None, _) => refuse(NOT_A_NUMBER),
        (Some(_), None) => refuse(NO_CALLER_ID),
        (Some(to), Some(caller_id)) => VoiceAnswer::Dial {
            target: DialTarget::Number(to),
            caller_id: Some(caller_id.clone()),
            transfer_url: None,
            record: None,
        },
    }
}

/// The agent's softphone when it can ring and they take calls; else (offline, Do not disturb,
/// calls not taken in the app) their forwarding number when they asked for it; else an
/// apology.
pub fn ring(target: &Target, call: &str) -> VoiceAnswer {
    let user = target.user.as_ref();
    let dnd = user.is_some_and(|u| u.settings.dnd_enabled || u.status == UserStatus::Dnd);
    let takes_calls_in_app =
        user.is_none_or(|u| u.settings.receive_calls_in_app && u.status != UserStatus::Offline);
    if let (Some(login), false, true) = (&target.softphone, dnd, takes_calls_in_app) {
        return VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: login.user.clone(),
                host: login.domain.clone(),
                call: Some(call.to_string()),
                queue: None,
            },
            caller_id: None,
            transfer_url: None,
            record: None,
        };
    }
    let forward = user
        .filter(|u| u.settings.forward_when_offline)
        .and_then(|u| u.forwarding_number.clone());
    match forward {
        Some(number) => dial_number(number),
        None => refuse(NOBODY),
    }
}

/// Forwarding keeps the caller's own number as caller ID.
fn dial_number(number: E164Number) -> VoiceAnswer {
    VoiceAnswer::Dial {
        target: DialTarget::Number(number),
        caller_id: None,
        transfer_url: None,
        record: None,
    }
}

fn refuse(say: &str) -> VoiceAnswer {
    VoiceAnswer::Refuse { say: say.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{NumberCapabilities, NumberType};
    use crate::{PhoneNumberId, ProviderId, UserId, UserSettings};

    fn n(s: &str) -> E164Number {
        E164Number::parse_international(s).unwrap()
    }

    fn sip(user: &str) -> CallParty {
        CallParty::Sip {
            user: user.into(),
            host: "rd.sip.twilio.com".into(),
        }
    }

    fn user(is_me: bool) -> User {
        User {
            id: UserId::new(),
            name: "Ada".into(),
            email: None,
            is_me,
            assigned_numbers: vec![],
            primary_number: None,
            forwarding_number: Some(n("+14155550199")),
            settings: UserSettings::default(),
            status: UserStatus::Online,
        }
    }

    fn number(route: Option<NumberRoute>) -> PhoneNumber {
        PhoneNumber {
            id: PhoneNumberId::new(),
            provider_id: ProviderId(uuid::Uuid::nil()),
            provider_number_id: "PN1".into(),
            phone_number: n("+15417543010"),
            friendly_name: None,
            number_type: NumberType::Local,
            country: None,
            capabilities: NumberCapabilities::default(),
            route,
            record_calls: None,
            active: true,
        }
    }

    fn login() -> SipLogin {
        SipLogin {
            user: "ringdesk-1a2b3c4d".into(),
            domain: "rd.sip.twilio.com".into(),
        }
    }

    /// A desktop's facts: its own agent, reachable on its softphone.
    fn facts() -> Facts {
        Facts {
            caller: None,
            called: Some(number(None)),
            target: Some(Target {
                user: Some(user(true)),
                softphone: Some(login()),
            }),
        }
    }

    /// …and for a call from its softphone.
    fn outbound() -> Facts {
        Facts {
            caller: Some(Some(n("+15417543010"))),
            ..facts()
        }
    }

    fn me(f: &mut Facts) -> &mut User {
        f.target.as_mut().unwrap().user.as_mut().unwrap()
    }

    fn request(from: CallParty, to: CallParty) -> VoiceRequest {
        VoiceRequest {
            provider_call_id: "CA1".into(),
            from,
            to,
        }
    }

    fn dial(target: DialTarget, caller_id: Option<&str>) -> VoiceAnswer {
        VoiceAnswer::Dial {
            target,
            caller_id: caller_id.map(n),
            transfer_url: None,
            record: None,
        }
    }

    #[test]
    fn a_transfer_asked_by_the_softphone_dials_the_number_it_named_or_the_login() {
        let us: Region = "US".parse().unwrap();
        assert_eq!(
            transfer(&sip("4155550177"), us),
            dial(DialTarget::Number(n("+14155550177")), None),
            "typed nationally, as the softphone dials"
        );
        assert_eq!(
            transfer(&CallParty::Number(n("+442079460958")), us),
            dial(DialTarget::Number(n("+442079460958")), None)
        );
        assert_eq!(
            transfer(&sip("ringdesk-colleague"), us),
            dial(
                DialTarget::Sip {
                    user: "ringdesk-colleague".into(),
                    host: "rd.sip.twilio.com".into(),
                    call: None,
                    queue: None,
                },
                None
            )
        );
        assert!(matches!(
            transfer(&CallParty::Other("anonymous".into()), us),
            VoiceAnswer::Refuse { .. }
        ));
    }

    fn rings_me() -> VoiceAnswer {
        dial(
            DialTarget::Sip {
                user: "ringdesk-1a2b3c4d".into(),
                host: "rd.sip.twilio.com".into(),
                // The call put through, named to the softphone.
                call: Some("CA1".into()),
                queue: None,
            },
            None,
        )
    }

    #[test]
    fn the_softphone_dials_out_with_my_caller_id_national_numbers_included() {
        let f = outbound();
        let out = request(sip("ringdesk-1a2b3c4d"), sip("+442071838750"));
        assert_eq!(
            decide(&out, &f, Region::default()),
            dial(DialTarget::Number(n("+442071838750")), Some("+15417543010"))
        );
        let national = request(sip("ringdesk-1a2b3c4d"), sip("(415) 555-0100"));
        assert_eq!(
            decide(&national, &f, Region::default()),
            dial(DialTarget::Number(n("+14155550100")), Some("+15417543010"))
        );
        let nonsense = request(sip("ringdesk-1a2b3c4d"), sip("alice"));
        assert_eq!(
            decide(&nonsense, &f, Region::default()),
            refuse(NOT_A_NUMBER)
        );
        let no_caller_id = Facts {
            caller: Some(None),
            ..facts()
        };
        assert_eq!(
            decide(&out, &no_caller_id, Region::default()),
            refuse(NO_CALLER_ID)
        );
        let stranger = request(sip("someone-else"), sip("+442071838750"));
        assert_eq!(
            decide(&stranger, &facts(), Region::default()),
            refuse(NOT_OURS),
            "the host found no login of ours"
        );
    }

    #[test]
    fn a_call_to_my_number_rings_my_softphone_unless_i_am_away() {
        let inbound = request(
            CallParty::Number(n("+14155550100")),
            CallParty::Number(n("+15417543010")),
        );
        assert_eq!(decide(&inbound, &facts(), Region::default()), rings_me());

        let mut dnd = facts();
        me(&mut dnd).settings.dnd_enabled = true;
        assert_eq!(decide(&inbound, &dnd, Region::default()), refuse(NOBODY));
        me(&mut dnd).settings.forward_when_offline = true;
        assert_eq!(
            decide(&inbound, &dnd, Region::default()),
            dial(DialTarget::Number(n("+14155550199")), None),
            "Do not disturb forwards, as the agent asked"
        );

        let mut offline = facts();
        me(&mut offline).status = UserStatus::Offline;
        assert_eq!(
            decide(&inbound, &offline, Region::default()),
            refuse(NOBODY)
        );
        me(&mut offline).settings.forward_when_offline = true;
        assert_eq!(
            decide(&inbound, &offline, Region::default()),
            dial(DialTarget::Number(n("+14155550199")), None)
        );

        let no_agents = Facts {
            target: Some(Target {
                user: None,
                softphone: Some(login()),
            }),
            ..facts()
        };
        assert_eq!(decide(&inbound, &no_agents, Region::default()), rings_me());

        // A team's agent whose desktop is not signed in: forwarded when they asked for it.
        let mut signed_out = facts();
        signed_out.target.as_mut().unwrap().softphone = None;
        assert_eq!(
            decide(&inbound, &signed_out, Region::default()),
            refuse(NOBODY)
        );
        me(&mut signed_out).settings.forward_when_offline = true;
        assert_eq!(
            decide(&inbound, &signed_out, Region::default()),
            dial(DialTarget::Number(n("+14155550199")), None)
        );
        let nobody = Facts {
            target: None,
            ..facts()
        };
        assert_eq!(decide(&inbound, &nobody, Region::default()), refuse(NOBODY));
    }

    #[test]
    fn a_numbers_route_wins() {
        let inbound = request(
            CallParty::Other("anonymous".into()),
            CallParty::Number(n("+15417543010")),
        );
        let external = Facts {
            called: Some(number(Some(NumberRoute::External {
                number: n("+14155550123"),
            }))),
            ..facts()
        };
        assert_eq!(
            decide(&inbound, &external, Region::default()),
            dial(DialTarget::Number(n("+14155550123")), None)
        );

        // Routed to a colleague the host cannot ring: their forwarding number, when they
        // asked for it.
        let mut colleague = user(false);
        colleague.settings.forward_when_offline = true;
        let mut theirs = Facts {
            called: Some(number(Some(NumberRoute::User {
                user_id: colleague.id,
            }))),
            target: Some(Target {
                user: Some(colleague),
                softphone: None,
            }),
            ..facts()
        };
        assert_eq!(
            decide(&inbound, &theirs, Region::default()),
            dial(DialTarget::Number(n("+14155550199")), None)
        );
        me(&mut theirs).forwarding_number = None;
        assert_eq!(decide(&inbound, &theirs, Region::default()), refuse(NOBODY));
    }
}

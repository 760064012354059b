//! What to do with a call a provider asks about (Twilio's voice URL): a call placed from
//! the softphone's login goes out with the agent's caller ID; a call to a number pointed at
//! this desktop follows the number's route and the agent's availability.

use ringdesk_core::ports::{CallParty, DialTarget, VoiceAnswer, VoiceRequest};
use ringdesk_core::service::ProviderService;
use ringdesk_core::{E164Number, NumberRoute, PhoneNumber, ProviderId, Region, User, UserStatus};
use ringdesk_store::SettingsRepository;

use crate::numbers::{Agents, NumbersError};
use crate::softphone_setup::{self, SetupError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum VoiceError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Numbers(#[from] NumbersError),
}

/// Everything the decision reads, gathered beforehand (so the decision is a plain function).
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The softphone's login made from this provider: (user name, SIP domain).
    pub softphone: Option<(String, String)>,
    pub me: Option<User>,
    /// My caller ID on this provider (my primary number, else the provider's default).
    pub caller_id: Option<E164Number>,
    /// The called number, when it is one of the account's.
    pub called: Option<PhoneNumber>,
    /// The agent the called number is routed to, when that is not me.
    pub routed_user: Option<User>,
}

impl Facts {
    pub(crate) async fn gather(
        agents: &Agents,
        settings: &SettingsRepository,
        providers: &ProviderService,
        provider: ProviderId,
        request: &VoiceRequest,
    ) -> Result<Facts, VoiceError> {
        let softphone = softphone_setup::login(settings, providers, provider).await?;
        let me = agents.users.me().await.map_err(NumbersError::from)?;
        let mine = match &me {
            Some(me) => agents.caller_id_of(me, provider).await?,
            None => None,
        };
        let caller_id = match mine {
            Some(n) => Some(n),
            None => {
                providers
                    .get(provider)
                    .await
                    .map_err(NumbersError::from)?
                    .settings
                    .default_caller_id
            }
        };
        let called = match &request.to {
            CallParty::Number(to) => agents
                .numbers
                .list(Some(provider))
                .await
                .map_err(NumbersError::from)?
                .into_iter()
                .find(|n| &n.phone_number == to),
            _ => None,
        };
        let routed_user = match called.as_ref().and_then(|n| n.route.as_ref()) {
            Some(NumberRoute::User { user_id }) if me.as_ref().map(|m| m.id) != Some(*user_id) => {
                agents
                    .users
                    .get(*user_id)
                    .await
                    .map_err(NumbersError::from)?
            }
            _ => None,
        };
        Ok(Facts {
            softphone,
            me,
            caller_id,
            called,
            routed_user,
        })
    }
}

const NO_CALLER_ID: &str =
    "This softphone has no caller I D. Choose a primary number for the agent in Ringdesk.";
const NOT_A_NUMBER: &str = "That number cannot be dialled.";
const NOT_OURS: &str = "This SIP login is not Ringdesk's.";
const NOBODY: &str = "Sorry, nobody can take your call right now. Please call again later.";

pub(crate) fn decide(request: &VoiceRequest, facts: &Facts, region: Region) -> VoiceAnswer {
    if let CallParty::Sip { user, .. } = &request.from {
        return match &facts.softphone {
            Some((mine, _)) if mine == user => outgoing(&request.to, facts, region),
            _ => refuse(NOT_OURS),
        };
    }
    match facts.called.as_ref().and_then(|n| n.route.as_ref()) {
        Some(NumberRoute::External { number }) => dial_number(number.clone()),
        Some(NumberRoute::User { user_id })
            if facts.me.as_ref().map(|m| m.id) != Some(*user_id) =>
        {
            // Routed to an agent at another desktop: only their forwarding number reaches them.
            match facts
                .routed_user
                .as_ref()
                .and_then(|u| u.forwarding_number.clone())
            {
                Some(forward) => dial_number(forward),
                None => refuse(NOBODY),
            }
        }
        // Routed to me, to a queue (queues ring the agents here until they exist), or not
        // routed: the number was pointed at this desktop, so it rings me.
        _ => ring_me(facts),
    }
}

/// Where a call a softphone passed on goes: the number it named (typed as the SIP user part,
/// as the softphone dials), else that SIP address on the provider's domain (another login).
/// The caller keeps their own number.
pub(crate) fn transfer(target: &CallParty, region: Region) -> VoiceAnswer {
    match target {
        CallParty::Number(n) => dial_number(n.clone()),
        CallParty::Sip { user, host } => match E164Number::parse(user, region) {
            Ok(n) => dial_number(n),
            Err(_) => VoiceAnswer::Dial {
                target: DialTarget::Sip {
                    user: user.clone(),
                    host: host.clone(),
                },
                caller_id: None,
                transfer_url: None,
            },
        },
        CallParty::Other(_) => refuse(NOT_A_NUMBER),
    }
}

fn outgoing(to: &CallParty, facts: &Facts, region: Region) -> VoiceAnswer {
    let dialled = match to {
        CallParty::Number(n) => Some(n.clone()),
        CallParty::Sip { user, .. } => E164Number::parse(user, region).ok(),
        CallParty::Other(_) => None,
    };
    match (dialled, &facts.caller_id) {
        (None, _) => refuse(NOT_A_NUMBER),
        (Some(_), None) => refuse(NO_CALLER_ID),
        (Some(to), Some(caller_id)) => VoiceAnswer::Dial {
            target: DialTarget::Number(to),
            caller_id: Some(caller_id.clone()),
            transfer_url: None,
        },
    }
}

fn ring_me(facts: &Facts) -> VoiceAnswer {
    let dnd = facts
        .me
        .as_ref()
        .is_some_and(|m| m.settings.dnd_enabled || m.status == UserStatus::Dnd);
    let takes_calls_here = facts
        .me
        .as_ref()
        .is_none_or(|m| m.settings.receive_calls_in_app && m.status != UserStatus::Offline);
    if let (Some((user, host)), false, true) = (&facts.softphone, dnd, takes_calls_here) {
        return VoiceAnswer::Dial {
            target: DialTarget::Sip {
                user: user.clone(),
                host: host.clone(),
            },
            caller_id: None,
            transfer_url: None,
        };
    }
    let forward = facts
        .me
        .as_ref()
        .filter(|m| m.settings.forward_when_offline && !dnd)
        .and_then(|m| m.forwarding_number.clone());
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
    }
}

fn refuse(say: &str) -> VoiceAnswer {
    VoiceAnswer::Refuse { say: say.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdesk_core::ports::{NumberCapabilities, NumberType};
    use ringdesk_core::{PhoneNumberId, ProviderId, UserId, UserSettings};

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
            active: true,
        }
    }

    fn facts() -> Facts {
        Facts {
            softphone: Some(("ringdesk-1a2b3c4d".into(), "rd.sip.twilio.com".into())),
            me: Some(user(true)),
            caller_id: Some(n("+15417543010")),
            called: Some(number(None)),
            routed_user: None,
        }
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
                    host: "rd.sip.twilio.com".into()
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
            },
            None,
        )
    }

    #[test]
    fn the_softphone_dials_out_with_my_caller_id_national_numbers_included() {
        let f = facts();
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
            caller_id: None,
            ..facts()
        };
        assert_eq!(
            decide(&out, &no_caller_id, Region::default()),
            refuse(NO_CALLER_ID)
        );
        let stranger = request(sip("someone-else"), sip("+442071838750"));
        assert_eq!(decide(&stranger, &f, Region::default()), refuse(NOT_OURS));
    }

    #[test]
    fn a_call_to_my_number_rings_my_softphone_unless_i_am_away() {
        let inbound = request(
            CallParty::Number(n("+14155550100")),
            CallParty::Number(n("+15417543010")),
        );
        assert_eq!(decide(&inbound, &facts(), Region::default()), rings_me());

        let mut dnd = facts();
        dnd.me.as_mut().unwrap().settings.dnd_enabled = true;
        dnd.me.as_mut().unwrap().settings.forward_when_offline = true;
        assert_eq!(decide(&inbound, &dnd, Region::default()), refuse(NOBODY));

        let mut offline = facts();
        offline.me.as_mut().unwrap().status = UserStatus::Offline;
        assert_eq!(
            decide(&inbound, &offline, Region::default()),
            refuse(NOBODY)
        );
        offline.me.as_mut().unwrap().settings.forward_when_offline = true;
        assert_eq!(
            decide(&inbound, &offline, Region::default()),
            dial(DialTarget::Number(n("+14155550199")), None)
        );

        let no_agents = Facts {
            me: None,
            ..facts()
        };
        assert_eq!(decide(&inbound, &no_agents, Region::default()), rings_me());
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

        let colleague = user(false);
        let mut theirs = Facts {
            called: Some(number(Some(NumberRoute::User {
                user_id: colleague.id,
            }))),
            routed_user: Some(colleague),
            ..facts()
        };
        assert_eq!(
            decide(&inbound, &theirs, Region::default()),
            dial(DialTarget::Number(n("+14155550199")), None)
        );
        theirs.routed_user.as_mut().unwrap().forwarding_number = None;
        assert_eq!(decide(&inbound, &theirs, Region::default()), refuse(NOBODY));

        let mut mine = facts();
        let my_id = mine.me.as_ref().unwrap().id;
        mine.called = Some(number(Some(NumberRoute::User { user_id: my_id })));
        assert_eq!(decide(&inbound, &mine, Region::default()), rings_me());
        let queued = Facts {
            called: Some(number(Some(NumberRoute::Queue {
                queue: "Sales".into(),
            }))),
            ..facts()
        };
        assert_eq!(decide(&inbound, &queued, Region::default()), rings_me());
    }
}

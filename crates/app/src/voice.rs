//! The desktop's facts for the routing decision (`ringdesk_core::routing`): its softphone's
//! login, its own agent and the called number's route as this desktop knows them. Alone, the
//! desktop rings its own agent for every number not routed elsewhere; an agent at another
//! desktop is reached only through their forwarding number.

use ringdesk_core::ports::{CallParty, VoiceRequest};
use ringdesk_core::routing::{Facts, SipLogin, Target};
use ringdesk_core::service::ProviderService;
use ringdesk_core::{NumberRoute, ProviderId};
use ringdesk_store::SettingsRepository;

use crate::softphone_setup::{self, SetupError};
use ringdesk_store::{Agents, NumbersError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum VoiceError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Numbers(#[from] NumbersError),
}

pub(crate) async fn gather(
    agents: &Agents,
    settings: &SettingsRepository,
    providers: &ProviderService,
    provider: ProviderId,
    request: &VoiceRequest,
) -> Result<Facts, VoiceError> {
    let softphone = softphone_setup::login(settings, providers, provider)
        .await?
        .map(|(user, domain)| SipLogin { user, domain });
    let me = agents.users.me().await.map_err(NumbersError::from)?;
    let caller = match (&request.from, &softphone) {
        (CallParty::Sip { user, .. }, Some(login)) if &login.user == user => {
            let mine = match &me {
                Some(me) => agents.caller_id_of(me, provider).await?,
                None => None,
            };
            Some(match mine {
                Some(n) => Some(n),
                None => {
                    providers
                        .get(provider)
                        .await
                        .map_err(NumbersError::from)?
                        .settings
                        .default_caller_id
                }
            })
        }
        _ => None,
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
    let target = match called.as_ref().and_then(|n| n.route.as_ref()) {
        Some(NumberRoute::User { user_id }) if me.as_ref().map(|m| m.id) != Some(*user_id) => {
            let colleague = agents
                .users
                .get(*user_id)
                .await
                .map_err(NumbersError::from)?;
            colleague.map(|user| Target {
                user: Some(user),
                softphone: None,
            })
        }
        // Routed to me, to a queue (queues ring the agent here until they exist), or not
        // routed: the number was pointed at this desktop, so it rings me.
        _ => Some(Target {
            user: me,
            softphone,
        }),
    };
    Ok(Facts {
        caller,
        called,
        target,
    })
}

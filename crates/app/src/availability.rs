use ringdesk_store::{SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};

const KEY: &str = "availability";

/// Whether the agent takes calls now (tray menu and status line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    #[default]
    Available,
    DoNotDisturb,
}

impl Availability {
    fn code(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::DoNotDisturb => "do_not_disturb",
        }
    }
}

pub(crate) async fn load(settings: &SettingsRepository) -> Result<Availability, StoreError> {
    Ok(match settings.get(KEY).await?.as_deref() {
        Some("do_not_disturb") => Availability::DoNotDisturb,
        _ => Availability::Available,
    })
}

pub(crate) async fn save(
    settings: &SettingsRepository,
    availability: Availability,
) -> Result<(), StoreError> {
    settings.set(KEY, availability.code()).await
}

//! How many calls the agent may have at once (Settings → Telephony → "Calls at once"): 1
//! refuses a second caller busy, as before call waiting; more let a second call ring while
//! the agent talks, and leave room for a consultation call during an attended transfer.

use ringdesk_store::{SettingsRepository, StoreError};

const KEY: &str = "calls_at_once";
pub const DEFAULT: usize = 2;
pub const MOST: usize = 4;

pub(crate) async fn load(settings: &SettingsRepository) -> Result<usize, StoreError> {
    Ok(settings
        .get_json::<usize>(KEY)
        .await?
        .unwrap_or(DEFAULT)
        .clamp(1, MOST))
}

/// Saves `count` if it is one the softphone can do.
pub(crate) async fn save(settings: &SettingsRepository, count: usize) -> Result<bool, StoreError> {
    if !(1..=MOST).contains(&count) {
        return Ok(false);
    }
    settings.set_json(KEY, &count).await?;
    Ok(true)
}

use std::path::PathBuf;

use ringdesk_core::Region;
use ringdesk_providers::Endpoints;

/// Where Ringdesk keeps its journal, which keyring service it uses, whom it calls.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub data_dir: PathBuf,
    pub keyring_service: String,
    pub endpoints: Endpoints,
    /// Region for numbers typed without a country code.
    pub region: Region,
}

impl AppConfig {
    /// Defaults for `default_data_dir`, overridden by `RINGDESK_DATA_DIR`, `RINGDESK_KEYRING_SERVICE`,
    /// `RINGDESK_REGION` and the `RINGDESK_*_URL` endpoint variables.
    pub fn from_env(default_data_dir: PathBuf) -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let region = match var("RINGDESK_REGION") {
            Some(code) => code.parse().map_err(|e| format!("RINGDESK_REGION: {e}"))?,
            None => ["LC_ALL", "LC_TELEPHONE", "LANG"]
                .iter()
                .find_map(|name| var(name).and_then(|l| Region::from_locale(&l)))
                .unwrap_or_default(),
        };
        Ok(Self {
            data_dir: var("RINGDESK_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or(default_data_dir),
            keyring_service: var("RINGDESK_KEYRING_SERVICE")
                .unwrap_or_else(|| ringdesk_secrets::DEFAULT_SERVICE.to_string()),
            endpoints: Endpoints::from_env()?,
            region,
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("ringdesk.db")
    }
}

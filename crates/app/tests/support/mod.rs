//! What the app's test binaries share (each uses a part of it).
#![allow(dead_code)]

use ringdesk_app::AppConfig;
use ringdesk_providers::Endpoints;

/// A keyring service of its own, so tests never see each other's secrets.
pub fn keyring() -> String {
    format!("ringdesk-test-{}", uuid::Uuid::new_v4())
}

/// A Ringdesk on `dir` with `keyring`; no provider API is reachable.
pub fn config(dir: &std::path::Path, keyring: &str) -> AppConfig {
    AppConfig {
        data_dir: dir.to_path_buf(),
        keyring_service: keyring.to_string(),
        endpoints: Endpoints::all_at("http://127.0.0.1:9").unwrap(),
        region: "US".parse().unwrap(),
    }
}

/// The generic CRM contract's own stand-in (checking every body), connected to `ringdesk`.
pub async fn contract_crm(
    ringdesk: &ringdesk_app::Ringdesk,
) -> ringdesk_test_support::contract_crm::Shared {
    use ringdesk_test_support::contract_crm;
    let crm: contract_crm::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(contract_crm::Data::default()));
    let base_url = contract_crm::url(contract_crm::start(crm.clone()).await);
    ringdesk
        .set_crm(
            ringdesk_app::CrmSettings {
                kind: ringdesk_app::CrmKind::Generic,
                base_url,
            },
            Some(contract_crm::TOKEN.into()),
        )
        .await
        .unwrap();
    crm
}

//! Against the real Secret Service of the session (gnome-keyring in CI, started by
//! scripts/test.sh). Ignored by a bare `cargo test`, which may have no keyring to talk to.

use ringdesk_core::ports::SecretStore;
use ringdesk_secrets::KeyringSecretStore;
use secrecy::{ExposeSecret, SecretString};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn round_trip_through_the_os_keyring() {
    let store = KeyringSecretStore::new(format!("ringdesk-test-{}", uuid::Uuid::new_v4()));
    let key = "provider/round-trip";
    assert!(store.get(key).await.unwrap().is_none());

    store.set(key, &SecretString::from("first")).await.unwrap();
    assert_eq!(
        store.get(key).await.unwrap().unwrap().expose_secret(),
        "first"
    );

    store
        .set(key, &SecretString::from("second ✓"))
        .await
        .unwrap();
    assert_eq!(
        store.get(key).await.unwrap().unwrap().expose_secret(),
        "second ✓"
    );

    // A fresh handle (as after a restart) reads what the keyring kept.
    let reopened = KeyringSecretStore::new(store.service().to_owned());
    assert_eq!(
        reopened.get(key).await.unwrap().unwrap().expose_secret(),
        "second ✓"
    );

    store.delete(key).await.unwrap();
    assert!(store.get(key).await.unwrap().is_none());
    store.delete(key).await.unwrap();
}

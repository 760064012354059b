//! Secrets at rest on the server: AES-256-GCM with one key the database never holds (an
//! environment variable, a systemd credential, or a 0600 key file made on first start). Each
//! sealed value carries its own random nonce and is bound to its row's key, so a value copied
//! to another row does not open. `SealedSecretStore` gives the provider service the same
//! port the desktop's keyring does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use ringdesk_core::ports::{SecretError, SecretStore};
use ringdesk_store::TeamRepository;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const NONCE: usize = 12;
/// The systemd credential (`LoadCredential=ringdesk-server-key:…`) read from
/// `$CREDENTIALS_DIRECTORY`.
const CREDENTIAL: &str = "ringdesk-server-key";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the sealing key {0} is not 32 bytes of base64")]
    BadKey(String),
    #[error("the sealing key file {0} may be read by others: make it 0600")]
    OpenToOthers(String),
    #[error("cannot read or create the sealing key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed value does not open with this key (another key, or tampered with)")]
    Unseal,
}

pub struct Sealer {
    cipher: Aes256Gcm,
    /// Signs links the server hands out (derived from the sealing key, so every replica
    /// with the key checks them and a new key retires them all).
    links: [u8; 32],
}

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Sealer {
        let links = Sha256::new()
            .chain_update(b"ringdesk link signatures v1\0")
            .chain_update(key)
            .finalize()
            .into();
        Sealer {
            cipher: Aes256Gcm::new(key.into()),
            links,
        }
    }

    /// HMAC-SHA256 of `message` under the link key, base64url.
    pub fn sign(&self, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(message).finalize().into_bytes())
    }

    /// Whether `signature` is [`sign`](Self::sign)'s for `message` (in constant time).
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|bytes| self.mac(message).verify_slice(&bytes).is_ok())
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.links)
            .expect("HMAC takes a key of any length");
        mac.update(message.as_bytes());
        mac
    }

    /// The key from `RINGDESK_SERVER_KEY`, else the systemd credential, else `file` (made,
    /// 0600, with a fresh key when missing).
    pub fn load(file: &Path) -> Result<Sealer, SealError> {
        if let Ok(text) = std::env::var("RINGDESK_SERVER_KEY") {
            return Ok(Sealer::from_key(&decode(&text, "RINGDESK_SERVER_KEY")?));
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = PathBuf::from(dir).join(CREDENTIAL);
            if path.exists() {
                return Ok(Sealer::from_key(&read_key(&path)?));
            }
        }
        if !file.exists() {
            create_key(file)?;
            tracing::info!(path = %file.display(), "sealing key created");
        }
        Ok(Sealer::from_key(&read_key(file)?))
    }

    pub fn seal(&self, key: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain,
            aad: key.as_bytes(),
        };
        // AES-GCM fails only on inputs of gigabytes; a secret is a few hundred bytes.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, key: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE {
            return Err(SealError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let payload = Payload {
            msg: body,
            aad: key.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SealError::Unseal)
    }
}

fn decode(text: &str, source: &str) -> Result<[u8; 32], SealError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| SealError::BadKey(source.to_string()))
}

fn read_key(path: &Path) -> Result<[u8; 32], SealError> {
    let io = |source| SealError::Io {
        path: path.display().to_string(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(SealError::OpenToOthers(path.display().to_string()));
        }
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    decode(&text, &path.display().to_string())
}

fn create_key(path: &Path) -> Result<(), SealError> {
    let io = |source| SealError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(STANDARD.encode(key).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

/// The provider service's secret store on the server: sealed rows in the team database.
pub struct SealedSecretStore {
    pub sealer: Arc<Sealer>,
    pub team: TeamRepository,
}

fn failed(e: impl std::fmt::Display) -> SecretError {
    SecretError::Failed(e.to_string())
}

#[async_trait]
impl SecretStore for SealedSecretStore {
    async fn get(&self, key: &str) -> Result<Option<SecretString>, SecretError> {
        let Some(sealed) = self.team.sealed(key).await.map_err(failed)? else {
            return Ok(None);
        };
        let plain = self.sealer.open(key, &sealed).map_err(failed)?;
        let text = String::from_utf8(plain).map_err(failed)?;
        Ok(Some(SecretString::from(text)))
    }

    async fn set(&self, key: &str, value: &SecretString) -> Result<(), SecretError> {
        let sealed = self.sealer.seal(key, value.expose_secret().as_bytes());
        self.team.put_sealed(key, &sealed).await.map_err(failed)
    }

    async fn delete(&self, key: &str) -> Result<(), SecretError> {
        self.team.delete_sealed(key).await.map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_signed_by_this_key_alone() {
        let sealer = Sealer::from_key(&[7u8; 32]);
        let signature = sealer.sign("recording:abc:1800000000");
        assert!(sealer.verify("recording:abc:1800000000", &signature));
        assert!(!sealer.verify("recording:abc:1800000001", &signature));
        assert!(!sealer.verify("recording:abc:1800000000", "not base64!"));
        assert!(!sealer.verify("recording:abc:1800000000", ""));
        let other = Sealer::from_key(&[8u8; 32]);
        assert!(!other.verify("recording:abc:1800000000", &signature));
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_in_its_row() {
        let sealer = Sealer::from_key(&[7; 32]);
        let sealed = sealer.seal("provider/a", b"auth-token");
        assert!(!sealed.windows(10).any(|w| w == b"auth-token"));
        assert_eq!(sealer.open("provider/a", &sealed).unwrap(), b"auth-token");
        assert!(
            sealer.open("provider/b", &sealed).is_err(),
            "moved to another row"
        );
        assert!(Sealer::from_key(&[8; 32])
            .open("provider/a", &sealed)
            .is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("provider/a", &tampered).is_err());
        assert!(sealer.open("provider/a", b"short").is_err());
    }

    #[test]
    fn a_key_file_is_made_0600_once_and_refused_when_others_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/sealing.key");
        let first = Sealer::load(&path).unwrap();
        let sealed = first.seal("k", b"v");
        let again = Sealer::load(&path).unwrap();
        assert_eq!(
            again.open("k", &sealed).unwrap(),
            b"v",
            "the same key read back"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                Sealer::load(&path),
                Err(SealError::OpenToOthers(_))
            ));
        }
    }
}

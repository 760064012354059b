//! The server's configuration: a TOML file (`--config`, see `deploy/ringdesk-server.toml`),
//! each value overridable by an environment variable, every value with a default that runs
//! one team on one machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ringdesk_core::Region;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the configuration {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the server listens, `address:port` (`RINGDESK_SERVER_LISTEN`).
    pub listen: String,
    /// The address providers and desktops reach the server at (a reverse proxy's), without a
    /// path; Twilio signs the exact URL it calls (`RINGDESK_SERVER_PUBLIC_URL`). Unset: the
    /// listening address.
    pub public_url: Option<String>,
    /// The database and the sealing key's default home (`RINGDESK_SERVER_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Where call recordings, voicemail and the queues' and agents' own recordings are kept
    /// (`RINGDESK_SERVER_MEDIA_DIR`): a folder every replica mounts when several serve one
    /// team. Unset: the data folder.
    pub media_dir: Option<PathBuf>,
    /// The sealing key file (32 bytes, base64; created 0600 when missing). The key may come
    /// instead from `RINGDESK_SERVER_KEY` or a systemd credential named `ringdesk-server-key`.
    pub key_file: Option<PathBuf>,
    /// How national numbers are read (ISO 3166 code).
    pub region: String,
    /// A desktop not heard from for this long is offline (its agent is routed around).
    pub presence_grace_secs: u64,
    /// How long an invite to join stays valid.
    pub invite_ttl_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8790".into(),
            public_url: None,
            data_dir: PathBuf::from("ringdesk-server-data"),
            media_dir: None,
            key_file: None,
            region: "US".into(),
            presence_grace_secs: 30,
            invite_ttl_secs: 3600,
        }
    }
}

impl ServerConfig {
    /// The file's settings (defaults without one), then the environment's, checked.
    pub fn load(path: Option<&Path>) -> Result<ServerConfig, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: e.message().to_string(),
                })?
            }
            None => ServerConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = env("RINGDESK_SERVER_LISTEN") {
            config.listen = v;
        }
        if let Some(v) = env("RINGDESK_SERVER_PUBLIC_URL") {
            config.public_url = Some(v);
        }
        if let Some(v) = env("RINGDESK_SERVER_DATA_DIR") {
            config.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("RINGDESK_SERVER_MEDIA_DIR") {
            config.media_dir = Some(PathBuf::from(v));
        }
        config.checked()
    }

    pub fn checked(mut self) -> Result<ServerConfig, ConfigError> {
        self.listen = self.listen.trim().to_string();
        self.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::Invalid(format!("listen: “{}” is not address:port", self.listen))
        })?;
        if let Some(u) = &self.public_url {
            let parsed = url::Url::parse(u.trim())
                .map_err(|_| ConfigError::Invalid(format!("public_url: “{u}” is not a URL")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(ConfigError::Invalid(format!(
                    "public_url: “{u}” is not an http(s) URL"
                )));
            }
            self.public_url = Some(u.trim().trim_end_matches('/').to_string());
        }
        self.region()?;
        if self.presence_grace_secs == 0 || self.invite_ttl_secs == 0 {
            return Err(ConfigError::Invalid(
                "presence_grace_secs and invite_ttl_secs must be above 0".into(),
            ));
        }
        Ok(self)
    }

    pub fn region(&self) -> Result<Region, ConfigError> {
        self.region.parse().map_err(|_| {
            ConfigError::Invalid(format!("region: “{}” is not a country code", self.region))
        })
    }

    /// The base URL providers and desktops are given.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("team.db")
    }

    /// The folder that holds the audio the server keeps.
    pub fn media_path(&self) -> PathBuf {
        self.media_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("sealing.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_what_it_names_and_refuses_what_it_does_not_know() {
        let config: ServerConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\npublic_url = \"https://rd.example/\"")
                .unwrap();
        let config = config.checked().unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000");
        assert_eq!(config.public_url.as_deref(), Some("https://rd.example"));
        assert_eq!(config.presence_grace_secs, 30);
        assert_eq!(
            config.media_path(),
            config.data_dir,
            "the data folder by default"
        );
        let shared: ServerConfig = toml::from_str("media_dir = \"/mnt/team-media\"").unwrap();
        assert_eq!(shared.media_path(), PathBuf::from("/mnt/team-media"));
        assert!(toml::from_str::<ServerConfig>("lisen = \"x\"").is_err());
        // The sample shipped for deployments is a configuration the server takes.
        let sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/ringdesk-server.toml"
        );
        let sample: ServerConfig =
            toml::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
        sample.checked().unwrap();
        let bad = ServerConfig {
            public_url: Some("ftp://x".into()),
            ..ServerConfig::default()
        };
        assert!(bad.checked().is_err());
    }
}

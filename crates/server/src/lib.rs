//! `ringdesk-server`: the team's one always-on place. It holds the providers (keys sealed at
//! rest), numbers and routes, agents and their desktops, and answers every provider webhook
//! at one public URL — the same core crates as the desktop: the provider adapters, the store,
//! the webhook receiver and the routing decision.

pub mod api;
pub mod config;
pub mod host;
pub mod live;
pub mod queue_api;
pub mod queues;
pub mod recordings;
pub mod sealing;
pub mod sounds;
pub mod team;
pub mod voicemail;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ringdesk_core::service::ProviderService;
use ringdesk_providers::{Endpoints, HttpAdapterFactory};
use ringdesk_store::{Agents, Store, StoreError};
use tokio::net::TcpListener;

use crate::config::{ConfigError, ServerConfig};
use crate::live::Live;
use crate::sealing::{SealError, SealedSecretStore, Sealer};
use crate::team::Team;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot use the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {bind}: {source}")]
    Listen {
        bind: String,
        source: std::io::Error,
    },
}

/// What every request handler shares.
pub struct Shared {
    pub team: Arc<Team>,
    pub store: Store,
    pub recordings: recordings::Recordings,
    pub voicemails: voicemail::Voicemails,
    pub sounds: sounds::Sounds,
    /// Set when shutdown starts: readiness fails so a proxy stops sending work here.
    pub stopping: AtomicBool,
}

/// Copies what a lost event, an expired link or a provider down left behind — call recordings
/// and voicemail — now and every ten minutes.
async fn reconcile_forever(shared: Arc<Shared>) {
    loop {
        let now = time::OffsetDateTime::now_utc();
        shared.recordings.reconcile(now).await;
        shared.voicemails.reconcile(now).await;
        tokio::time::sleep(recordings::RECONCILE_EVERY).await;
    }
}

pub struct Server {
    pub shared: Arc<Shared>,
    pub base_url: String,
}

impl Server {
    /// Binds the listening socket, then opens the team (its base URL is the public one, or
    /// the address bound).
    pub async fn bind(
        config: &ServerConfig,
        endpoints: Endpoints,
    ) -> Result<(Server, TcpListener), ServerError> {
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ServerError::Listen {
                    bind: config.listen.clone(),
                    source,
                })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                bind: config.listen.clone(),
                source,
            })?;
        let server = Server::open_at(config, config.base_url(bound), endpoints).await?;
        tracing::info!(address = %bound, public = %server.base_url, "team server listening");
        Ok((server, listener))
    }

    /// Opens the team without serving it (the command line's `invite`).
    pub async fn open(config: &ServerConfig, endpoints: Endpoints) -> Result<Server, ServerError> {
        let listen = config.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!("listen: “{}” is not address:port", config.listen))
        })?;
        Server::open_at(config, config.base_url(listen), endpoints).await
    }

    async fn open_at(
        config: &ServerConfig,
        base_url: String,
        endpoints: Endpoints,
    ) -> Result<Server, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let sealer = Arc::new(Sealer::load(&config.key_path())?);
        let store = Store::open_team(&config.database_path()).await?;
        let region = config.region()?;
        let providers = ProviderService::new(
            Arc::new(store.providers()),
            Arc::new(SealedSecretStore {
                sealer: sealer.clone(),
                team: store.team(),
            }),
            Arc::new(HttpAdapterFactory::new(endpoints)),
            region,
        );
        let grace = Duration::from_secs(config.presence_grace_secs);
        let team = Arc::new(Team {
            live: Arc::new(Live::new(store.team(), grace)),
            providers,
            agents: Agents {
                numbers: store.numbers(),
                users: store.users(),
                region,
            },
            repo: store.team(),
            sealer,
            region,
            base_url: base_url.clone(),
            grace,
            invite_ttl: Duration::from_secs(config.invite_ttl_secs),
        });
        tracing::info!(database = %config.database_path().display(), "team opened");
        let recordings = recordings::Recordings {
            team: team.clone(),
            calls: store.calls(),
            folder: config.media_path().join("recordings"),
        };
        let voicemails = voicemail::Voicemails {
            team: team.clone(),
            repo: store.queues(),
            folder: config.media_path().join("voicemail"),
        };
        Ok(Server {
            shared: Arc::new(Shared {
                team,
                recordings,
                voicemails,
                sounds: sounds::Sounds {
                    folder: config.media_path().join("sounds"),
                },
                store,
                stopping: AtomicBool::new(false),
            }),
            base_url,
        })
    }

    pub fn router(&self) -> Router {
        let receiver = host::Receiver {
            team: self.shared.team.clone(),
            calls: self.shared.store.calls(),
            recordings: self.shared.recordings.clone(),
            queues: self.shared.store.queues(),
            voicemails: self.shared.voicemails.clone(),
            sounds: self.shared.sounds.clone(),
            apply: Default::default(),
        };
        api::router()
            .with_state(self.shared.clone())
            .merge(ringdesk_webhooks::router(
                Arc::new(receiver),
                self.base_url.clone(),
            ))
    }

    /// Serves until `shutdown` completes; requests in flight then finish (a webhook half
    /// applied would be redelivered, but need not be).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        let shared = self.shared.clone();
        let live = self.shared.team.live.clone();
        tokio::spawn(live.clone().watch_presence());
        let reconcile = tokio::spawn(reconcile_forever(self.shared.clone()));
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                shared.stopping.store(true, Ordering::SeqCst);
                // Open live links would hold the shutdown forever: they end now.
                live.close();
                tracing::info!("stopping: finishing the requests in flight");
            })
            .await;
        reconcile.abort();
        self.shared.store.close().await;
        tracing::info!("stopped");
        served
    }
}

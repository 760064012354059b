//! The traits the outer crates implement. The core depends on these, never on SQLite, the
//! keyring or HTTP.

mod adapter;
mod provider_repository;
mod secret_store;

pub use adapter::{
    AccountInfo, AdapterFactory, CallHandle, CallParty, CallRequest, DialResult, DialTarget,
    NumberCapabilities, NumberType, Prompt, ProviderAdapter, ProviderNumber, ProviderRecording,
    ProvisionedResource, RecordingAudio, Ringing, SoftphoneLogin, SoftphoneRequest, StepRecording,
    StepRequest, TransferRequest, VoiceAnswer, VoiceRequest, WebhookEvent, WebhookEventKind,
    WebhookRequest, CALL_HEADER, QUEUE_HEADER,
};
pub use provider_repository::{ProviderRepository, RepositoryError};
pub use secret_store::{SecretError, SecretStore};

//! Calls through the softphone: the agent's commands (dial, answer, decline, hang up, mute,
//! hold, keypad, swap, transfer) and the SIP user agent's events meet the call controller
//! here, in the softphone's task. Every state change is written to the journal first and only
//! then published (the calls in progress on a watch channel, `CallNotice`s on a broadcast), so
//! what the agent sees is always what is stored.

use ringdesk_core::ports::{WebhookEvent, WebhookEventKind};
use ringdesk_core::{
    follow_event, Call, CallAudio, CallDirection, CallEndReason, ContactId, E164Number, Followed,
    ProviderId, Region, SipSettings, SipTransport,
};
use ringdesk_media::audio::{AudioSink, AudioSource, NullSink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::device::{DeviceSink, DeviceSource};
use ringdesk_media::quality::Quality;
use ringdesk_media::session::MediaEvent;
use ringdesk_sip::account::Phone;
use ringdesk_sip::header::NameAddr;
use ringdesk_sip::ua::CallEvent;
use ringdesk_sip::Uri;
use std::sync::Arc;

use ringdesk_store::{
    CallRepository, ContactRepository, OutboxRepository, SettingsRepository, StoreError,
};

use crate::crm::CrmKind;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{broadcast, oneshot, watch};

use crate::audio;
use crate::availability::{self, Availability};
use crate::device_follow::CallDevices;
use crate::recordings;
use crate::tones::{self, Tone};

mod desk;
mod journal;
mod media;
mod party;
mod types;

use desk::now;
pub use desk::{CallDesk, Line};
pub use journal::{Applied, Journal};
use media::{open_media, open_microphone, open_speaker};
pub(crate) use party::party_of;
pub use types::{
    ActiveCall, CallChannels, CallCommand, CallControl, CallError, CallNotice, CallQuality,
    PendingTransfer,
};

//! A call's RTP ports and sound devices: the ones the agent chose, else the defaults, else
//! silence rather than no call.

use std::collections::BTreeMap;
use std::task::Poll;

use ringdesk_phone::{LegId, Media};

use super::*;

/// Offered in this order: Opus, then wideband G.722, then G.711 (what every peer has).
const CODECS: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

/// The RTP ports and audio devices of one call, on the address the registrar saw us at.
/// The call's media, and the devices it uses.
pub(super) async fn open_media(
    phone: &Phone,
    settings: &SettingsRepository,
    encrypted: bool,
) -> Result<(CallMedia, CallDevices), CallError> {
    let address = phone
        .media_address()
        .await
        .map_err(|_| CallError::NotConnected)?;
    let (source, sink, devices) = open_devices(settings).await;
    let media = CallMedia::new(address, CODECS.to_vec(), encrypted, source, sink)
        .await
        .map_err(|e| CallError::Media(e.to_string()))?;
    Ok((media, devices))
}

/// The microphone and speaker the agent chose (Settings → Audio), and their names;
/// silence and nothing heard rather than no call when a device cannot open.
pub(super) async fn open_devices(
    settings: &SettingsRepository,
) -> (Box<dyn AudioSource>, Box<dyn AudioSink>, CallDevices) {
    let preferences = audio::load(settings).await.unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let chosen = CallDevices::of(&audio::view(&preferences));
        let source = open_microphone(&chosen.microphone)
            .unwrap_or_else(|| Box::new(WavSource::from_samples(8000, Vec::new())));
        let sink = open_speaker(&chosen.speaker).unwrap_or_else(|| Box::new(NullSink(8000)));
        (source, sink, chosen)
    })
    .await
    .unwrap_or_else(|_| {
        (
            Box::new(WavSource::from_samples(8000, Vec::new())),
            Box::new(NullSink(8000)),
            CallDevices::default(),
        )
    })
}

pub(super) fn open_microphone(name: &Option<String>) -> Option<Box<dyn AudioSource>> {
    match DeviceSource::open(name.as_deref()) {
        Ok(mic) => Some(Box::new(mic)),
        Err(e) => {
            tracing::warn!(error = %e, "no microphone: the call sends silence");
            None
        }
    }
}

pub(super) fn open_speaker(name: &Option<String>) -> Option<Box<dyn AudioSink>> {
    match DeviceSink::open(name.as_deref()) {
        Ok(speaker) => Some(Box::new(speaker)),
        Err(e) => {
            tracing::warn!(error = %e, "no speaker: the call is not heard");
            None
        }
    }
}

/// One call's audio and the devices it plays on.
pub(super) struct LegAudio {
    pub media: CallMedia,
    pub devices: CallDevices,
}

/// The audio of every call that has some: the controller's [`Media`] port.
#[derive(Default)]
pub(super) struct Audio {
    pub calls: BTreeMap<LegId, LegAudio>,
}

impl Audio {
    /// The next media event of any call (None: no call has a running stream).
    pub async fn next_event(&mut self) -> Option<(LegId, MediaEvent)> {
        if !self.calls.values_mut().any(|a| a.media.events().is_some()) {
            return None;
        }
        std::future::poll_fn(|cx| {
            for (leg, audio) in self.calls.iter_mut() {
                if let Some(events) = audio.media.events() {
                    if let Poll::Ready(Some(event)) = events.poll_recv(cx) {
                        return Poll::Ready(Some((*leg, event)));
                    }
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl Media for Audio {
    fn offer(&mut self, leg: LegId, held: bool) -> Option<Vec<u8>> {
        let direction = if held {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        Some(self.calls.get_mut(&leg)?.media.offer(direction))
    }

    fn answer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String> {
        let audio = self.calls.get_mut(&leg).ok_or("no audio for the call")?;
        audio.media.answer(offer).map_err(|e| e.to_string())
    }

    fn answered(&mut self, leg: LegId, answer: &[u8]) -> Result<(), String> {
        let audio = self.calls.get_mut(&leg).ok_or("no audio for the call")?;
        audio.media.answered(answer).map_err(|e| e.to_string())
    }

    fn reoffer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String> {
        let audio = self
            .calls
            .get_mut(&leg)
            .ok_or("no audio on this computer for this call")?;
        audio.media.reoffer(offer).map_err(|e| e.to_string())
    }

    fn offer_refused(&mut self, leg: LegId) {
        if let Some(audio) = self.calls.get_mut(&leg) {
            audio.media.offer_refused();
        }
    }

    fn mute(&mut self, leg: LegId, muted: bool) {
        if let Some(audio) = self.calls.get(&leg) {
            audio.media.mute(muted);
        }
    }
}

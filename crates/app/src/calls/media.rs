//! A call's RTP ports and sound devices: the ones the agent chose, else the defaults, else
//! silence rather than no call.

use super::*;

/// Offered in this order: Opus, then wideband G.722, then G.711 (what every peer has).
const CODECS: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

/// The RTP ports and audio devices of one call, on the address the registrar saw us at, and
/// the devices it uses.
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

/// Every call's audio and the devices it plays on: the controller's media port.
pub(super) type Audio = ringdesk_phone::Streams<CallDevices>;
/// One call's audio and the devices it plays on.
pub(super) type LegAudio = ringdesk_phone::Stream<CallDevices>;

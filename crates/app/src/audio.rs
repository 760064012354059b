//! Settings → Audio: which microphone, speaker and ringer calls use, remembered as preference
//! lists so that a headset chosen once is used whenever it is plugged in and the previous
//! device returns when it is pulled; a microphone test and a test sound.

use std::time::Duration;

use ringdesk_media::audio::{AudioSink, AudioSource};
use ringdesk_media::device::{self, DeviceSink, DeviceSource};
use ringdesk_store::{SettingsRepository, StoreError};
use serde::{Deserialize, Serialize};

const KEY: &str = "audio_devices";
/// Devices remembered per role, most recent choice first.
const REMEMBERED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioRole {
    Microphone,
    Speaker,
    Ringer,
}

/// What the agent chose, per role; empty lists mean the system default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioPreferences {
    #[serde(default)]
    pub microphone: Vec<String>,
    #[serde(default)]
    pub speaker: Vec<String>,
    #[serde(default)]
    pub ringer: Vec<String>,
}

impl AudioPreferences {
    fn list(&mut self, role: AudioRole) -> &mut Vec<String> {
        match role {
            AudioRole::Microphone => &mut self.microphone,
            AudioRole::Speaker => &mut self.speaker,
            AudioRole::Ringer => &mut self.ringer,
        }
    }

    /// `device` to the front of `role`'s list; None forgets the choices (system default).
    pub fn choose(&mut self, role: AudioRole, device: Option<String>) {
        let list = self.list(role);
        match device {
            None => list.clear(),
            Some(name) => {
                list.retain(|d| *d != name);
                list.insert(0, name);
                list.truncate(REMEMBERED);
            }
        }
    }
}

/// The Audio page: the devices present and the one each role uses now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioView {
    pub microphones: Vec<String>,
    pub speakers: Vec<String>,
    /// None: the system default (also when no chosen device is connected).
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub ringer: Option<String>,
}

pub fn view(preferences: &AudioPreferences) -> AudioView {
    let present = device::devices();
    view_of(preferences, present.inputs, present.outputs)
}

/// Each role's device among those present: the first preferred one, else the default.
pub(crate) fn view_of(
    preferences: &AudioPreferences,
    inputs: Vec<String>,
    outputs: Vec<String>,
) -> AudioView {
    let pick =
        |preferred: &[String], available: &[String]| device::choose(preferred, available, None);
    AudioView {
        microphone: pick(&preferences.microphone, &inputs),
        speaker: pick(&preferences.speaker, &outputs),
        ringer: pick(&preferences.ringer, &outputs),
        microphones: inputs,
        speakers: outputs,
    }
}

pub(crate) async fn load(settings: &SettingsRepository) -> Result<AudioPreferences, StoreError> {
    Ok(settings.get_json(KEY).await?.unwrap_or_default())
}

pub(crate) async fn save(
    settings: &SettingsRepository,
    preferences: &AudioPreferences,
) -> Result<(), StoreError> {
    settings.set_json(KEY, preferences).await
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AudioTestError(String);

impl AudioTestError {
    pub(crate) fn new(message: String) -> Self {
        AudioTestError(message)
    }
}

/// A two-note chime (A5 then E6, 250 ms each, faded) on `device`, at its own rate.
pub async fn play_test_sound(device: Option<String>) -> Result<(), AudioTestError> {
    tokio::task::spawn_blocking(move || {
        let mut sink =
            DeviceSink::open(device.as_deref()).map_err(|e| AudioTestError(e.to_string()))?;
        let rate = sink.sample_rate() as usize;
        let mut chime = Vec::with_capacity(rate / 2);
        for (note, hz) in [(0, 880.0f32), (1, 1318.5)] {
            let n = rate / 4;
            chime.extend((0..n).map(|i| {
                let fade = (i.min(n - i) as f32 / (rate as f32 * 0.02)).min(1.0);
                let t = (note * n + i) as f32 / rate as f32;
                ((t * hz * 2.0 * std::f32::consts::PI).sin() * 9000.0 * fade) as i16
            }));
        }
        // Fed at the device's pace, 20 ms at a time, then a moment to drain.
        for frame in chime.chunks(rate / 50) {
            sink.write(frame);
            std::thread::sleep(Duration::from_millis(20));
        }
        // The device may have started late (a suspended sound server): let it play out.
        std::thread::sleep(Duration::from_millis(600));
        Ok(())
    })
    .await
    .map_err(|e| AudioTestError(e.to_string()))?
}

/// Listens to `device` for `seconds`, reporting its level (dBFS) every 100 ms to `report`.
pub async fn test_microphone(
    device: Option<String>,
    seconds: u64,
    report: impl Fn(f32) + Send + 'static,
) -> Result<(), AudioTestError> {
    tokio::task::spawn_blocking(move || {
        let mut mic =
            DeviceSource::open(device.as_deref()).map_err(|e| AudioTestError(e.to_string()))?;
        let level = mic.level();
        let mut drain = vec![0i16; mic.sample_rate() as usize / 10];
        for _ in 0..seconds * 10 {
            std::thread::sleep(Duration::from_millis(100));
            mic.read(&mut drain);
            report(level.dbfs());
        }
        Ok(())
    })
    .await
    .map_err(|e| AudioTestError(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_device_goes_first_and_default_forgets() {
        let mut p = AudioPreferences::default();
        p.choose(AudioRole::Speaker, Some("Built-in".into()));
        p.choose(AudioRole::Speaker, Some("Headset".into()));
        p.choose(AudioRole::Speaker, Some("Built-in".into()));
        assert_eq!(p.speaker, vec!["Built-in", "Headset"]);
        for n in 0..10 {
            p.choose(AudioRole::Ringer, Some(format!("d{n}")));
        }
        assert_eq!(p.ringer.len(), REMEMBERED);
        p.choose(AudioRole::Speaker, None);
        assert!(p.speaker.is_empty());
        assert!(p.microphone.is_empty());
    }
}

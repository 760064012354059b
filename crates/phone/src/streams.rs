//! The controller's [`Media`] port over real calls' media ([`CallMedia`]: RTP ports, codecs,
//! devices or files), one per call, for the drivers that have sockets: the app and the CLI.

use std::collections::BTreeMap;
use std::task::Poll;

use ringdesk_media::call::CallMedia;
use ringdesk_media::sdp::Direction;
use ringdesk_media::session::MediaEvent;

use crate::controller::{LegId, Media};

/// One call's media, and what its driver keeps beside it (the devices it plays on).
pub struct Stream<D> {
    pub media: CallMedia,
    pub devices: D,
}

/// The media of every call that has some.
pub struct Streams<D> {
    pub calls: BTreeMap<LegId, Stream<D>>,
}

impl<D> Default for Streams<D> {
    fn default() -> Self {
        Streams {
            calls: BTreeMap::new(),
        }
    }
}

impl<D> Streams<D> {
    /// The next media event of any call (None: no call has a running stream).
    pub async fn next_event(&mut self) -> Option<(LegId, MediaEvent)> {
        if !self.calls.values_mut().any(|s| s.media.events().is_some()) {
            return None;
        }
        std::future::poll_fn(|cx| {
            for (leg, stream) in self.calls.iter_mut() {
                if let Some(events) = stream.media.events() {
                    if let Poll::Ready(Some(event)) = events.poll_recv(cx) {
                        return Poll::Ready(Some((*leg, event)));
                    }
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Sends keypad tones on `leg`; false when the far end takes none (or there is no media).
    pub async fn press(&mut self, leg: LegId, digits: &str) -> bool {
        match self.calls.get_mut(&leg) {
            Some(stream) => stream.media.press(digits).await,
            None => false,
        }
    }

    fn media(&mut self, leg: LegId) -> Result<&mut CallMedia, String> {
        self.calls
            .get_mut(&leg)
            .map(|s| &mut s.media)
            .ok_or_else(|| "no audio on this computer for this call".to_string())
    }
}

impl<D> Media for Streams<D> {
    fn offer(&mut self, leg: LegId, held: bool) -> Option<Vec<u8>> {
        let direction = if held {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        Some(self.media(leg).ok()?.offer(direction))
    }

    fn answer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String> {
        self.media(leg)?.answer(offer).map_err(|e| e.to_string())
    }

    fn answered(&mut self, leg: LegId, answer: &[u8]) -> Result<(), String> {
        self.media(leg)?.answered(answer).map_err(|e| e.to_string())
    }

    fn reoffer(&mut self, leg: LegId, offer: &[u8]) -> Result<Vec<u8>, String> {
        self.media(leg)?.reoffer(offer).map_err(|e| e.to_string())
    }

    fn offer_refused(&mut self, leg: LegId) {
        if let Ok(media) = self.media(leg) {
            media.offer_refused();
        }
    }

    fn mute(&mut self, leg: LegId, muted: bool) {
        if let Ok(media) = self.media(leg) {
            media.mute(muted);
        }
    }
}

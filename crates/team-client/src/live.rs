//! The live link as a desktop reads it: Server-Sent Events from the team server. The framing
//! (RFC-less but small: `id:`, `event:`, `data:` lines, a blank line ends an event, `:` lines
//! are keep-alives) is read here rather than through a crate: the server is our own and sends
//! nothing else, and its reader has to watch the link's silence, which an SSE crate hides.

use std::time::Duration;

use ringdesk_core::team::TeamEvent;
use url::Url;

use crate::TeamError;

/// The server sends a keep-alive every 15 s: three missed and the link is dead (a server
/// gone without closing the connection, a laptop's network gone).
const SILENCE: Duration = Duration::from_secs(45);
/// A line longer than this is not from our server.
const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// Caught up: what was missed was sent; the cursor to reconnect from.
    Ready(i64),
    /// An event and its cursor.
    Event(i64, TeamEvent),
}

pub struct LiveLink {
    response: reqwest::Response,
    server: Url,
    frames: Frames,
}

impl LiveLink {
    pub(crate) fn new(response: reqwest::Response, server: Url) -> LiveLink {
        LiveLink {
            response,
            server,
            frames: Frames::default(),
        }
    }

    /// The next event; None when the server ended the link (it stops, or this device was
    /// signed out). An event this desktop does not know (a newer server) is passed over.
    pub async fn next(&mut self) -> Result<Option<LinkEvent>, TeamError> {
        loop {
            while let Some(frame) = self.frames.next_frame() {
                if let Some(event) = frame.into_event() {
                    return Ok(Some(event));
                }
            }
            let chunk = tokio::time::timeout(SILENCE, self.response.chunk())
                .await
                .map_err(|_| TeamError::Unreachable(format!("{} (silent)", self.server)))?
                .map_err(|_| TeamError::Unreachable(self.server.to_string()))?;
            match chunk {
                Some(bytes) => self.frames.push(&bytes)?,
                None => return Ok(None),
            }
        }
    }
}

#[derive(Debug, Default, PartialEq)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl Frame {
    fn into_event(self) -> Option<LinkEvent> {
        let id: i64 = self.id?.trim().parse().ok()?;
        match self.event.as_deref() {
            Some("ready") => Some(LinkEvent::Ready(id)),
            Some("team") => serde_json::from_str(&self.data)
                .ok()
                .map(|e| LinkEvent::Event(id, e)),
            _ => None,
        }
    }
}

/// Bytes in, whole events out.
#[derive(Default)]
struct Frames {
    pending: Vec<u8>,
    current: Frame,
    done: std::collections::VecDeque<Frame>,
}

impl Frames {
    fn push(&mut self, bytes: &[u8]) -> Result<(), TeamError> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            self.line(line.trim_end_matches(['\n', '\r']));
        }
        if self.pending.len() > MAX_LINE {
            return Err(TeamError::Unreadable("a live-link line without end".into()));
        }
        Ok(())
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            let frame = std::mem::take(&mut self.current);
            if frame != Frame::default() {
                self.done.push_back(frame);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.current.id = Some(value.to_string()),
            "event" => self.current.event = Some(value.to_string()),
            "data" => {
                if !self.current.data.is_empty() {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
            }
            _ => {}
        }
    }

    fn next_frame(&mut self) -> Option<Frame> {
        self.done.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<LinkEvent> {
        let mut frames = Frames::default();
        let mut out = Vec::new();
        for chunk in chunks {
            frames.push(chunk).unwrap();
            while let Some(f) = frames.next_frame() {
                out.extend(f.into_event());
            }
        }
        out
    }

    #[test]
    fn events_split_anywhere_are_put_back_together() {
        let wire: &[u8] = b":\n\nid: 7\nevent: team\ndata: {\"kind\":\"agents\"}\n\n\
                            id: 8\r\nevent: ready\r\ndata: {}\r\n\r\n";
        let whole = events(&[wire]);
        assert_eq!(
            whole,
            vec![LinkEvent::Event(7, TeamEvent::Agents), LinkEvent::Ready(8)]
        );
        for cut in 1..wire.len() {
            assert_eq!(events(&[&wire[..cut], &wire[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn what_is_not_understood_is_passed_over() {
        let wire: &[u8] = b"id: 1\nevent: team\ndata: {\"kind\":\"fromTheFuture\"}\n\n\
                            id: x\nevent: ready\ndata: {}\n\n\
                            event: team\ndata: {\"kind\":\"numbers\"}\n\n\
                            id: 3\nevent: team\ndata: {\"kind\":\"numbers\"}\n\n";
        assert_eq!(
            events(&[wire]),
            vec![LinkEvent::Event(3, TeamEvent::Numbers)]
        );
    }

    #[test]
    fn a_line_without_end_is_refused() {
        let mut frames = Frames::default();
        assert!(frames.push(&vec![b'a'; MAX_LINE + 1]).is_err());
    }
}

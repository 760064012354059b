//! The signalling side of SDP (RFC 4566/3264): an audio offer or answer and the direction
//! attribute that hold and resume turn on. Codec negotiation and media belong to the media
//! crate; this is what the user agent needs to place, answer and hold calls meanwhile.

use std::net::IpAddr;

/// Media direction (RFC 3264 §5.1, §8.4): hold is `SendOnly` from the holder's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// What an answerer replies to an offer with this direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// A G.711 µ-law + telephone-event audio description, `version` incremented on each re-offer.
pub fn audio(address: IpAddr, rtp_port: u16, version: u32, direction: Direction) -> Vec<u8> {
    let family = if address.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\n\
         o=ringdesk 1 {version} IN {family} {address}\r\n\
         s=Ringdesk\r\n\
         c=IN {family} {address}\r\n\
         t=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\n\
         a=ptime:20\r\n\
         a={}\r\n",
        direction.as_str()
    )
    .into_bytes()
}

/// The direction of the first audio stream (session-level default `sendrecv`).
pub fn direction(sdp: &[u8]) -> Direction {
    let text = String::from_utf8_lossy(sdp);
    let mut found = Direction::SendRecv;
    for line in text.lines().map(str::trim) {
        found = match line {
            "a=sendonly" => Direction::SendOnly,
            "a=recvonly" => Direction::RecvOnly,
            "a=inactive" => Direction::Inactive,
            "a=sendrecv" => Direction::SendRecv,
            _ => continue,
        };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_and_reads_directions() {
        let offer = audio("127.0.0.1".parse().unwrap(), 4000, 2, Direction::SendOnly);
        let text = String::from_utf8(offer.clone()).unwrap();
        assert!(text.contains("o=ringdesk 1 2 IN IP4 127.0.0.1\r\n"));
        assert!(text.contains("m=audio 4000 RTP/AVP 0 101\r\n"));
        assert_eq!(direction(&offer), Direction::SendOnly);
        assert_eq!(direction(&offer).answer(), Direction::RecvOnly);
        assert_eq!(
            direction(b"v=0\r\nm=audio 1 RTP/AVP 0\r\n"),
            Direction::SendRecv
        );
        let v6 = audio("::1".parse().unwrap(), 4000, 1, Direction::Inactive);
        assert!(String::from_utf8(v6).unwrap().contains("c=IN IP6 ::1\r\n"));
    }
}

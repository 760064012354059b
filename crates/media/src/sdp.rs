//! SDP offer/answer for one audio stream (RFC 4566, RFC 3264): what we offer, what a peer's
//! description says, and the codec, DTMF payload type, addresses and direction both agree on.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::codec::Codec;
use crate::srtp::SrtpKey;

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

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// Payload types we use for what has no static one.
pub const OPUS_PT: u8 = 111;
pub const DTMF_PT: u8 = 101;
pub const DTMF_WIDEBAND_PT: u8 = 110;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("the description has no audio stream")]
    NoAudio,
    #[error("the description has no usable connection address")]
    NoAddress,
    #[error("no codec in common (they offer {0})")]
    NoCommonCodec(String),
    #[error("line {0} is malformed")]
    Malformed(usize),
    #[error("the far end does not encrypt its audio (no SRTP key in its answer)")]
    Unencrypted,
    #[error("their SRTP key: {0}")]
    Srtp(#[from] crate::srtp::SrtpError),
}

/// Our side: where we receive and what we can do, in order of preference.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub address: IpAddr,
    pub port: u16,
    pub codecs: Vec<Codec>,
    pub direction: Direction,
    /// Incremented on each new offer or answer within a call (the o= line's version).
    pub version: u32,
    /// Our SRTP key: set, the stream is offered as RTP/SAVP and must be encrypted.
    pub srtp: Option<SrtpKey>,
}

/// One `a=rtpmap` (or a static payload type without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub payload_type: u8,
    pub name: String,
    pub clock_rate: u32,
}

/// The parts of a peer's description that media needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    pub address: IpAddr,
    pub port: u16,
    pub rtcp_port: u16,
    pub formats: Vec<Format>,
    pub ptime: Option<u32>,
    pub direction: Direction,
    /// RTP/SAVP: the stream is SRTP, keyed by the `a=crypto` lines.
    pub secure: bool,
    pub crypto: Vec<String>,
}

/// Payload types a peer may send beside the one chosen: an answer may list several codecs,
/// and its sender may switch between them without a new offer (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receivable([Option<(u8, Codec)>; 4]);

impl Receivable {
    pub fn new(formats: impl IntoIterator<Item = (u8, Codec)>) -> Self {
        let mut slots = [None; 4];
        for (slot, format) in slots.iter_mut().zip(formats) {
            *slot = Some(format);
        }
        Receivable(slots)
    }

    pub fn codec(&self, payload_type: u8) -> Option<Codec> {
        self.0
            .iter()
            .flatten()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, c)| *c)
    }
}

/// What both sides agreed on for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// Other codecs the peer may switch to (the chosen one need not be listed).
    pub receivable: Receivable,
    pub dtmf_payload_type: Option<u8>,
    /// The telephone-event clock: the codec's where the peer offers it, else its own (8 kHz
    /// beside Opus is common, e.g. baresip).
    pub dtmf_clock_rate: u32,
    pub remote_rtp: SocketAddr,
    pub remote_rtcp: SocketAddr,
    /// Our direction: what we may do, given theirs.
    pub direction: Direction,
    /// SRTP keys (ours, theirs) when the stream is encrypted.
    pub srtp: Option<(SrtpKey, SrtpKey)>,
}

impl Negotiated {
    /// The codec of audio the peer sends with `payload_type`, if it is one we agreed on.
    pub fn codec_for(&self, payload_type: u8) -> Option<Codec> {
        if payload_type == self.payload_type {
            return Some(self.codec);
        }
        self.receivable.codec(payload_type)
    }
}

/// Our offer: every codec we have, DTMF at each clock rate in use.
pub fn offer(local: &LocalMedia) -> Vec<u8> {
    let formats: Vec<(u8, Codec)> = local
        .codecs
        .iter()
        .map(|c| (c.static_payload_type().unwrap_or(OPUS_PT), *c))
        .collect();
    // telephone-event/8000 always, and first: many peers (baresip) support no other rate and
    // pair it with Opus too; the codec's own rate beside it for those that follow RFC 4733.
    let mut rates: Vec<u32> = formats.iter().map(|(_, c)| c.rtp_clock_rate()).collect();
    rates.push(8000);
    rates.sort_unstable();
    rates.dedup();
    let dtmf: Vec<(u8, u32)> = rates
        .into_iter()
        .map(|r| (if r == 8000 { DTMF_PT } else { DTMF_WIDEBAND_PT }, r))
        .collect();
    describe(local, &formats, &dtmf, local.direction)
}

/// Our answer to `remote`'s offer, as negotiated by [`negotiate`].
pub fn answer(local: &LocalMedia, agreed: &Negotiated) -> Vec<u8> {
    let dtmf: Vec<(u8, u32)> = agreed
        .dtmf_payload_type
        .map(|pt| (pt, agreed.dtmf_clock_rate))
        .into_iter()
        .collect();
    // Our key under the tag of the offer's line we chose (RFC 4568 §5.1.2).
    let local = LocalMedia {
        srtp: agreed.srtp.map(|(ours, _)| ours),
        ..local.clone()
    };
    describe(
        &local,
        &[(agreed.payload_type, agreed.codec)],
        &dtmf,
        agreed.direction,
    )
}

fn describe(
    local: &LocalMedia,
    formats: &[(u8, Codec)],
    dtmf: &[(u8, u32)],
    direction: Direction,
) -> Vec<u8> {
    let family = if local.address.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    let address = local.address;
    let mut pts: Vec<String> = formats.iter().map(|(pt, _)| pt.to_string()).collect();
    pts.extend(dtmf.iter().map(|(pt, _)| pt.to_string()));
    let profile = if local.srtp.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let mut s = format!(
        "v=0\r\no=ringdesk 1 {} IN {family} {address}\r\ns=Ringdesk\r\nc=IN {family} {address}\r\nt=0 0\r\nm=audio {} {profile} {}\r\n",
        local.version,
        local.port,
        pts.join(" ")
    );
    if let Some(key) = &local.srtp {
        let _ = write!(s, "a=crypto:{}\r\n", key.attribute());
    }
    for (pt, codec) in formats {
        let _ = write!(s, "a=rtpmap:{pt} {}\r\n", codec.rtpmap());
        if let Some(fmtp) = codec.fmtp() {
            let _ = write!(s, "a=fmtp:{pt} {fmtp}\r\n");
        }
    }
    for (pt, rate) in dtmf {
        let _ = write!(
            s,
            "a=rtpmap:{pt} telephone-event/{rate}\r\na=fmtp:{pt} 0-15\r\n"
        );
    }
    let _ = write!(s, "a=ptime:20\r\na={}\r\n", direction.as_str());
    s.into_bytes()
}

/// Reads the first audio stream of a description.
pub fn parse(sdp: &[u8]) -> Result<RemoteMedia, SdpError> {
    let text = String::from_utf8_lossy(sdp);
    let mut session_address = None;
    let mut session_direction = Direction::SendRecv;
    let mut media: Option<(u16, Vec<u8>)> = None;
    let mut in_audio = false;
    let mut address = None;
    let mut rtcp_port = None;
    let mut rtpmaps: Vec<Format> = Vec::new();
    let mut ptime = None;
    let mut direction = None;
    let mut secure = false;
    let mut crypto = Vec::new();
    for (n, line) in text.lines().map(str::trim).enumerate() {
        let Some((kind, value)) = line.split_once('=') else {
            if line.is_empty() {
                continue;
            }
            return Err(SdpError::Malformed(n + 1));
        };
        match kind {
            "m" => {
                if media.is_some() {
                    // Only the first audio stream is ours; later streams are ignored.
                    in_audio = false;
                    continue;
                }
                let mut parts = value.split_whitespace();
                if parts.next() == Some("audio") {
                    let port = parts
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or(SdpError::Malformed(n + 1))?;
                    secure = parts.next().is_some_and(|p| p.contains("SAVP"));
                    let pts = parts.filter_map(|p| p.parse().ok()).collect();
                    media = Some((port, pts));
                    in_audio = true;
                }
            }
            "c" => {
                let parsed = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok());
                if media.is_none() {
                    session_address = parsed;
                } else if in_audio {
                    address = parsed;
                }
            }
            "a" if media.is_none() || in_audio => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let d = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = d {
                    if media.is_none() {
                        session_direction = d;
                    } else {
                        direction = Some(d);
                    }
                    continue;
                }
                match name {
                    "rtpmap" if in_audio => rtpmaps.extend(parse_rtpmap(arg)),
                    "ptime" if in_audio => ptime = arg.trim().parse().ok(),
                    "crypto" if in_audio => crypto.push(arg.trim().to_string()),
                    "rtcp" if in_audio => {
                        rtcp_port = arg.split_whitespace().next().and_then(|p| p.parse().ok())
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let (port, pts) = media.ok_or(SdpError::NoAudio)?;
    let address = address.or(session_address).ok_or(SdpError::NoAddress)?;
    let formats = pts
        .into_iter()
        .filter_map(|pt| {
            rtpmaps
                .iter()
                .find(|f| f.payload_type == pt)
                .cloned()
                .or_else(|| static_format(pt))
        })
        .collect();
    Ok(RemoteMedia {
        address,
        port,
        rtcp_port: rtcp_port.unwrap_or(port.wrapping_add(1)),
        formats,
        ptime,
        direction: direction.unwrap_or(session_direction),
        secure,
        crypto,
    })
}

fn parse_rtpmap(arg: &str) -> Option<Format> {
    let (pt, encoding) = arg.split_once(' ')?;
    let mut parts = encoding.trim().split('/');
    Some(Format {
        payload_type: pt.trim().parse().ok()?,
        name: parts.next()?.to_string(),
        clock_rate: parts.next()?.parse().ok()?,
    })
}

fn static_format(pt: u8) -> Option<Format> {
    let (name, rate) = match pt {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        _ => return None,
    };
    Some(Format {
        payload_type: pt,
        name: name.into(),
        clock_rate: rate,
    })
}

/// The first of the peer's formats that we support (the peer's order wins, RFC 3264 §6.1),
/// the telephone-event at that codec's clock rate, and our direction given theirs.
pub fn negotiate(local: &LocalMedia, remote: &RemoteMedia) -> Result<Negotiated, SdpError> {
    let common: Vec<(u8, Codec)> = remote
        .formats
        .iter()
        .filter_map(|f| {
            local
                .codecs
                .iter()
                .find(|c| c.matches(&f.name, f.clock_rate))
                .map(|c| (f.payload_type, *c))
        })
        .collect();
    let (payload_type, codec) = common.first().copied().ok_or_else(|| {
        SdpError::NoCommonCodec(
            remote
                .formats
                .iter()
                .map(|f| format!("{}/{}", f.name, f.clock_rate))
                .collect::<Vec<_>>()
                .join(", "),
        )
    })?;
    let events: Vec<&Format> = remote
        .formats
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("telephone-event"))
        .collect();
    let dtmf = events
        .iter()
        .find(|f| f.clock_rate == codec.rtp_clock_rate())
        .or(events.first());
    // Encrypted when either side asks for it; then both must have a key.
    let srtp = if remote.secure || local.srtp.is_some() {
        let ours = local.srtp.ok_or(SdpError::Unencrypted)?;
        if !remote.secure {
            return Err(SdpError::Unencrypted);
        }
        let theirs = SrtpKey::parse(remote.crypto.iter().map(String::as_str))?;
        Some((SrtpKey::from_material(theirs.tag, *ours.material()), theirs))
    } else {
        None
    };
    let theirs = remote.direction.answer();
    let direction = match (local.direction, theirs) {
        (Direction::Inactive, _) | (_, Direction::Inactive) => Direction::Inactive,
        (a, b) if a == b => a,
        (Direction::SendRecv, b) => b,
        (a, Direction::SendRecv) => a,
        _ => Direction::Inactive,
    };
    Ok(Negotiated {
        codec,
        payload_type,
        receivable: Receivable::new(common),
        dtmf_payload_type: dtmf.map(|f| f.payload_type),
        dtmf_clock_rate: dtmf.map_or(codec.rtp_clock_rate(), |f| f.clock_rate),
        remote_rtp: SocketAddr::new(remote.address, remote.port),
        remote_rtcp: SocketAddr::new(remote.address, remote.rtcp_port),
        direction,
        srtp,
    })
}

/// The direction of a description's first audio stream, `sendrecv` when unreadable.
pub fn direction(sdp: &[u8]) -> Direction {
    parse(sdp).map_or(Direction::SendRecv, |m| m.direction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(codecs: Vec<Codec>) -> LocalMedia {
        LocalMedia {
            address: "192.0.2.1".parse().unwrap(),
            port: 4000,
            codecs,
            direction: Direction::SendRecv,
            version: 1,
            srtp: None,
        }
    }

    #[test]
    fn our_offer_lists_codecs_in_preference_and_dtmf_per_rate() {
        let offer = offer(&local(vec![Codec::Opus, Codec::Pcmu, Codec::Pcma]));
        let text = String::from_utf8(offer.clone()).unwrap();
        assert!(
            text.contains("m=audio 4000 RTP/AVP 111 0 8 101 110\r\n"),
            "{text}"
        );
        assert!(text.contains("a=rtpmap:111 opus/48000/2\r\n"));
        assert!(text.contains("a=fmtp:111 useinbandfec=1"));
        assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(text.contains("a=rtpmap:110 telephone-event/48000\r\n"));
        let parsed = parse(&offer).unwrap();
        assert_eq!(parsed.formats.len(), 5);
        assert_eq!(parsed.rtcp_port, 4001);
    }

    #[test]
    fn the_peers_order_wins_and_its_payload_types_are_used() {
        let remote = parse(
            b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
              m=audio 30000 RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n",
        )
        .unwrap();
        let agreed =
            negotiate(&local(vec![Codec::Opus, Codec::Pcmu, Codec::Pcma]), &remote).unwrap();
        assert_eq!(agreed.codec, Codec::Pcma);
        assert_eq!(agreed.payload_type, 8);
        assert_eq!(agreed.dtmf_payload_type, Some(96));
        assert_eq!(agreed.remote_rtp, "198.51.100.7:30000".parse().unwrap());
        assert_eq!(agreed.direction, Direction::RecvOnly, "they hold us");
        let answer = String::from_utf8(answer(&local(vec![Codec::Pcma]), &agreed)).unwrap();
        assert!(answer.contains("m=audio 4000 RTP/AVP 8 96\r\n"), "{answer}");
        assert!(answer.contains("a=recvonly\r\n"));
    }

    #[test]
    fn dynamic_opus_and_a_media_level_address() {
        let remote = parse(
            b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5004 RTP/AVP 107 0\r\nc=IN IP6 2001:db8::5\r\n\
              a=rtpmap:107 OPUS/48000/2\r\na=rtcp:6000\r\na=ptime:40\r\n",
        )
        .unwrap();
        assert_eq!(remote.address, "2001:db8::5".parse::<IpAddr>().unwrap());
        assert_eq!(remote.rtcp_port, 6000);
        assert_eq!(remote.ptime, Some(40));
        let agreed = negotiate(&local(vec![Codec::Pcmu, Codec::Opus]), &remote).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::Opus, 107));
        assert_eq!(agreed.dtmf_payload_type, None);
        let remote = parse(
            b"c=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 107 101\r\na=rtpmap:107 opus/48000/2\r\n\
              a=rtpmap:101 telephone-event/8000\r\n",
        )
        .unwrap();
        let agreed = negotiate(&local(vec![Codec::Opus]), &remote).unwrap();
        assert_eq!(
            (agreed.dtmf_payload_type, agreed.dtmf_clock_rate),
            (Some(101), 8000)
        );
    }

    #[test]
    fn g722_is_static_payload_9_on_an_8000_hz_clock_even_without_rtpmap() {
        let ours = offer(&local(vec![Codec::Opus, Codec::G722, Codec::Pcmu]));
        let ours = String::from_utf8(ours).unwrap();
        assert!(ours.contains("a=rtpmap:9 G722/8000\r\n"), "{ours}");
        // A peer preferring G.722, naming it by its static number alone.
        let remote = parse(b"c=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 9 0 101\r\na=rtpmap:101 telephone-event/8000\r\n").unwrap();
        let agreed =
            negotiate(&local(vec![Codec::Opus, Codec::G722, Codec::Pcmu]), &remote).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::G722, 9));
        assert_eq!(
            (agreed.dtmf_payload_type, agreed.dtmf_clock_rate),
            (Some(101), 8000)
        );
    }

    #[test]
    fn unusable_descriptions_are_refused_with_a_reason() {
        assert_eq!(
            parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\n"),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            parse(b"v=0\r\nm=audio 1 RTP/AVP 0\r\n"),
            Err(SdpError::NoAddress)
        );
        assert_eq!(parse(b"v=0\r\ngarbage\r\n"), Err(SdpError::Malformed(2)));
        let remote =
            parse(b"c=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
                .unwrap();
        assert_eq!(
            negotiate(&local(vec![Codec::Pcmu]), &remote),
            Err(SdpError::NoCommonCodec("G729/8000".into()))
        );
    }

    #[test]
    fn srtp_is_offered_answered_and_required() {
        let mut ours = local(vec![Codec::Pcmu]);
        ours.srtp = Some(SrtpKey::random(1));
        let offer = offer(&ours);
        let text = String::from_utf8(offer.clone()).unwrap();
        assert!(text.contains("m=audio 4000 RTP/SAVP 0 101\r\n"), "{text}");
        assert!(text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
        // They answer with their key under tag 1.
        let mut theirs = local(vec![Codec::Pcmu]);
        theirs.srtp = Some(SrtpKey::random(7));
        let agreed = negotiate(&theirs, &parse(&offer).unwrap()).unwrap();
        let (their_key, our_key) = agreed.srtp.unwrap();
        assert_eq!(
            our_key,
            SrtpKey::from_material(1, *ours.srtp.unwrap().material())
        );
        assert_eq!(their_key.tag, 1, "the answer uses the offer's tag");
        let reply = answer(&theirs, &agreed);
        let back = negotiate(&ours, &parse(&reply).unwrap()).unwrap();
        assert_eq!(back.srtp.unwrap().1, their_key);
        // A plain answer to our SRTP offer, and an SRTP offer we cannot key, are refused.
        let plain = super::offer(&local(vec![Codec::Pcmu]));
        assert_eq!(
            negotiate(&ours, &parse(&plain).unwrap()),
            Err(SdpError::Unencrypted)
        );
        assert_eq!(
            negotiate(&local(vec![Codec::Pcmu]), &parse(&offer).unwrap()),
            Err(SdpError::Unencrypted)
        );
    }

    #[test]
    fn hold_directions() {
        let mut ours = local(vec![Codec::Pcmu]);
        ours.direction = Direction::SendOnly;
        let offer = offer(&ours);
        assert_eq!(direction(&offer), Direction::SendOnly);
        assert_eq!(direction(&offer).answer(), Direction::RecvOnly);
        assert_eq!(
            direction(b"v=0\r\nm=audio 1 RTP/AVP 0\r\n"),
            Direction::SendRecv
        );
        assert_eq!(
            direction(b"v=0\r\na=inactive\r\nc=IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 0\r\n"),
            Direction::Inactive
        );
    }
}

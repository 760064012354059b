//! SRTP (RFC 3711) keyed by SDES (RFC 4568): our `a=crypto` line, reading theirs, and the
//! two contexts of a call — ours encrypts what we send, theirs decrypts what we receive.
//! The cipher is webrtc-rs's `webrtc-srtp`; suite AES_CM_128_HMAC_SHA1_80, the one every SIP
//! peer that does SDES supports.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use webrtc_srtp::context::Context;
use webrtc_srtp::option;
use webrtc_srtp::protection_profile::ProtectionProfile;

pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
const KEY_LEN: usize = 16;
const SALT_LEN: usize = 14;
const REPLAY_WINDOW: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SrtpError {
    #[error("no a=crypto line with {SUITE}")]
    NoSuite,
    #[error("the a=crypto key is not 30 bytes of base64")]
    BadKey,
    #[error("SRTP: {0}")]
    Cipher(String),
}

/// A master key and salt, as carried inline in `a=crypto`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SrtpKey {
    pub tag: u32,
    material: [u8; KEY_LEN + SALT_LEN],
}

impl std::fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SrtpKey")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl SrtpKey {
    pub fn random(tag: u32) -> SrtpKey {
        SrtpKey {
            tag,
            material: rand::random(),
        }
    }

    pub fn from_material(tag: u32, material: [u8; KEY_LEN + SALT_LEN]) -> SrtpKey {
        SrtpKey { tag, material }
    }

    pub fn material(&self) -> &[u8; KEY_LEN + SALT_LEN] {
        &self.material
    }

    /// The SDP attribute value: `1 AES_CM_128_HMAC_SHA1_80 inline:…`.
    pub fn attribute(&self) -> String {
        format!(
            "{} {SUITE} inline:{}",
            self.tag,
            STANDARD.encode(self.material)
        )
    }

    /// The first `a=crypto` value (without `crypto:`) in `values` with our suite.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<SrtpKey, SrtpError> {
        for value in values {
            let mut parts = value.split_whitespace();
            let (Some(tag), Some(suite), Some(params)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !suite.eq_ignore_ascii_case(SUITE) {
                continue;
            }
            let tag = tag.parse().map_err(|_| SrtpError::BadKey)?;
            // inline:KEY||lifetime|MKI:length — only the key matters to us.
            let key = params
                .strip_prefix("inline:")
                .and_then(|p| p.split('|').next())
                .ok_or(SrtpError::BadKey)?;
            let bytes = STANDARD.decode(key).map_err(|_| SrtpError::BadKey)?;
            let material = bytes.try_into().map_err(|_| SrtpError::BadKey)?;
            return Ok(SrtpKey { tag, material });
        }
        Err(SrtpError::NoSuite)
    }

    fn context(&self) -> Result<Context, SrtpError> {
        Context::new(
            &self.material[..KEY_LEN],
            &self.material[KEY_LEN..],
            ProtectionProfile::Aes128CmHmacSha1_80,
            // RFC 3711 §3.3.2's replay list: 64 packets is its suggested minimum.
            Some(option::srtp_replay_protection(REPLAY_WINDOW)),
            Some(option::srtcp_replay_protection(REPLAY_WINDOW)),
        )
        .map_err(|e| SrtpError::Cipher(e.to_string()))
    }
}

/// Both directions of a call's SRTP.
pub struct Srtp {
    outbound: Context,
    inbound: Context,
}

impl Srtp {
    /// `ours` protects what we send; `theirs` (from their `a=crypto`) what they send.
    pub fn new(ours: &SrtpKey, theirs: &SrtpKey) -> Result<Srtp, SrtpError> {
        Ok(Srtp {
            outbound: ours.context()?,
            inbound: theirs.context()?,
        })
    }

    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.outbound
            .encrypt_rtp(packet)
            .map(|b| b.to_vec())
            .map_err(|e| SrtpError::Cipher(e.to_string()))
    }

    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.inbound
            .decrypt_rtp(packet)
            .map(|b| b.to_vec())
            .map_err(|e| SrtpError::Cipher(e.to_string()))
    }

    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.outbound
            .encrypt_rtcp(packet)
            .map(|b| b.to_vec())
            .map_err(|e| SrtpError::Cipher(e.to_string()))
    }

    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.inbound
            .decrypt_rtcp(packet)
            .map(|b| b.to_vec())
            .map_err(|e| SrtpError::Cipher(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 Appendix B.3's master key and salt, which libsrtp's `srtp_validate` also uses.
    const MASTER: [u8; 30] = [
        0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41,
        0x39, 0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
    ];
    const RTP: [u8; 28] = [
        0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab,
        0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    ];
    /// libsrtp's reference SRTP packet for `RTP` under `MASTER`.
    const SRTP: [u8; 38] = [
        0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e, 0x55, 0xdc,
        0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d,
        0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
    ];
    const RTCP: [u8; 24] = [
        0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
        0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    ];
    /// libsrtp's reference SRTCP packet (index 1, encrypted) for `RTCP` under `MASTER`.
    const SRTCP: [u8; 38] = [
        0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4, 0x87, 0xb9,
        0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e,
        0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98,
    ];

    fn pair() -> Srtp {
        let key = SrtpKey::from_material(1, MASTER);
        Srtp::new(&key, &key).unwrap()
    }

    #[test]
    fn protects_rtp_and_rtcp_exactly_like_the_reference() {
        let mut s = pair();
        assert_eq!(s.protect_rtp(&RTP).unwrap(), SRTP);
        assert_eq!(s.protect_rtcp(&RTCP).unwrap(), SRTCP);
        let mut r = pair();
        assert_eq!(r.unprotect_rtp(&SRTP).unwrap(), RTP);
        assert_eq!(r.unprotect_rtcp(&SRTCP).unwrap(), RTCP);
    }

    #[test]
    fn tampered_and_replayed_packets_are_refused() {
        let mut r = pair();
        let mut forged = SRTP;
        forged[20] ^= 1;
        assert!(r.unprotect_rtp(&forged).is_err(), "authentication tag");
        assert!(r.unprotect_rtp(&SRTP).is_ok());
        assert!(r.unprotect_rtp(&SRTP).is_err(), "replay");
        let other = SrtpKey::random(1);
        let mut wrong = Srtp::new(&other, &other).unwrap();
        assert!(wrong.unprotect_rtp(&SRTP).is_err(), "wrong key");
    }

    #[test]
    fn sdes_attribute_round_trips_and_bad_ones_are_named() {
        let key = SrtpKey::from_material(1, MASTER);
        let attribute = key.attribute();
        assert_eq!(
            attribute,
            "1 AES_CM_128_HMAC_SHA1_80 inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm"
        );
        assert_eq!(SrtpKey::parse([attribute.as_str()]), Ok(key));
        let with_lifetime = format!("{}|2^20|1:32", attribute);
        assert_eq!(SrtpKey::parse([with_lifetime.as_str()]), Ok(key));
        assert_eq!(
            SrtpKey::parse(["1 AES_256_CM_HMAC_SHA1_80 inline:AAAA"]),
            Err(SrtpError::NoSuite)
        );
        assert_eq!(
            SrtpKey::parse(["1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ="]),
            Err(SrtpError::BadKey)
        );
        assert!(!format!("{:?}", SrtpKey::random(2)).contains("material"));
    }
}

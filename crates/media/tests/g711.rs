//! G.711 bit-exactness: every 16-bit input and every code, against vectors made by the ITU-T
//! G.191 reference code (`tests/vectors/README.md`).

use ringdesk_media::g711;

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn check_encoder(name: &str, encode: fn(i16) -> u8) {
    let expected = vector(name);
    assert_eq!(expected.len(), 65_536);
    let wrong: Vec<i16> = (i16::MIN..=i16::MAX)
        .zip(&expected)
        .filter(|(s, e)| encode(*s) != **e)
        .map(|(s, _)| s)
        .collect();
    assert!(
        wrong.is_empty(),
        "{name}: {} inputs differ, first {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

fn check_decoder(name: &str, decode: fn(u8) -> i16) {
    let expected: Vec<i16> = vector(name)
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    for code in 0..=255u8 {
        assert_eq!(
            decode(code),
            expected[usize::from(code)],
            "{name}: code {code:#04x}"
        );
    }
}

#[test]
fn mu_law_encodes_every_sample_like_the_reference() {
    check_encoder("ulaw.bin", g711::ulaw_encode);
}

#[test]
fn a_law_encodes_every_sample_like_the_reference() {
    check_encoder("alaw.bin", g711::alaw_encode);
}

#[test]
fn both_laws_decode_every_code_like_the_reference() {
    check_decoder("ulaw_decoded.bin", g711::ulaw_decode);
    check_decoder("alaw_decoded.bin", g711::alaw_decode);
}

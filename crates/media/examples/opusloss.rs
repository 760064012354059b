use ringdesk_media::audio::{AudioSink, AudioSource, Resampler, WavSink, WavSource};
use ringdesk_media::codec::Codec;
fn main() {
    let mut src = WavSource::open(std::path::Path::new(
        "/tmp/ringdesk-quality-x/speech-16k.wav",
    ))
    .unwrap();
    let mut pcm = vec![0i16; 1 << 20];
    let n = src.read(&mut pcm);
    pcm.truncate(n);
    let mut up = Resampler::new(16000, 48000).unwrap();
    let mut wide = Vec::new();
    for f in pcm.chunks(320) {
        let mut f = f.to_vec();
        f.resize(320, 0);
        up.process(&f, &mut wide);
    }
    let mut enc = Codec::Opus.encoder().unwrap();
    let packets: Vec<Vec<u8>> = wide
        .chunks(960)
        .map(|f| {
            let mut p = Vec::new();
            let mut f = f.to_vec();
            f.resize(960, 0);
            enc.encode(&f, &mut p).unwrap();
            p
        })
        .collect();
    for (label, fec) in [("plc", false), ("fec", true)] {
        let mut dec = Codec::Opus.decoder().unwrap();
        let mut out = Vec::new();
        let mut seed: u64 = 1;
        for (i, p) in packets.iter().enumerate() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let lost = (seed >> 33) % 100
                < std::env::var("LOSS")
                    .map(|v| v.parse().unwrap())
                    .unwrap_or(3);
            if lost {
                let next = packets.get(i + 1).filter(|_| fec).map(|p| p.as_slice());
                dec.conceal(next, 960, &mut out);
            } else {
                dec.decode(p, &mut out).unwrap();
            }
        }
        let mut down = Resampler::new(48000, 16000).unwrap();
        let mut narrow = Vec::new();
        for f in out.chunks(960) {
            down.process(f, &mut narrow);
        }
        let mut sink = WavSink::create(
            std::path::Path::new(&format!("/tmp/opus-{label}.wav")),
            16000,
        )
        .unwrap();
        sink.write(&narrow[..pcm.len().min(narrow.len())]);
        sink.finish();
    }
}

#!/usr/bin/env python3
"""Turns a mono 8 kHz 16-bit WAV into a pcap of G.711 µ-law RTP for sipp's play_pcap_audio.

One RTP packet per 20 ms (160 samples, the last one padded with silence), 20 ms apart in
pcap time. sipp (3.6.1) replays the UDP payload byte for byte, paced by the capture times:
only the addresses and ports change (from its -mp port to the far end's SDP address), so
the RTP header fields are ours to choose. Two talk spurts around a hold, the second going on
with the first's sequence numbers while its timestamps jump 1047 ms (8376 samples, not a
multiple of 160) as a phone stamping wall-clock time across a hold does:

  make_rtp_pcap.py one.wav one.pcap --seq 1000 --ts 160000 --ssrc 0x1234abcd --marker
    -> one.pcap: 211 packets, 4220 ms; next seq 1211, next ts 193760
  make_rtp_pcap.py two.wav two.pcap --seq 1211 --ts $((193760 + 8376)) --ssrc 0x1234abcd --marker

Make the WAV with e.g. sox in.wav -r 8000 -c 1 -b 16 out.wav. Standard library only
(audioop is gone from Python 3.13).
"""
import argparse
import struct
import sys
import wave

SAMPLES = 160  # 20 ms at 8 kHz
# The capture time of the first packet. Not zero: sipp 3.6.1 takes a zero timestamp for
# "no previous packet" and sends the second packet right after the first, 20 ms early.
START = 1_700_000_000


def ulaw(sample):
    """One 16-bit linear sample to G.711 µ-law, bit-exact with the ITU/Sun reference coder
    (and so with audioop; sox rounds differently): 14-bit magnitude, bias 33, a 3-bit segment and a 4-bit
    mantissa, all bits inverted (the mask also carries the sign)."""
    sample >>= 2
    mask = 0xFF
    if sample < 0:
        sample, mask = -sample, 0x7F
    sample = min(sample, 8159) + 33
    segment = max(0, sample.bit_length() - 6)
    if segment > 7:
        return 0x7F ^ mask
    return (segment << 4 | (sample >> (segment + 1)) & 0x0F) ^ mask


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(args, seq, ts, marker, payload, ident):
    rtp = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | args.pt, seq, ts, args.ssrc)
    udp_len = 8 + len(rtp) + len(payload)
    src, dst = bytes(map(int, args.src_ip.split("."))), bytes(map(int, args.dst_ip.split(".")))
    udp = struct.pack("!HHHH", args.sport, args.dport, udp_len, 0) + rtp + payload
    # A correct checksum keeps the pcap clean in wireshark; sipp recomputes its own anyway.
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    ether = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return ether + ip + udp


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("wav", help="mono, 8000 Hz, 16-bit PCM")
    p.add_argument("pcap")
    num = lambda s: int(s, 0)  # noqa: E731 - accepts 0x... for the SSRC
    p.add_argument("--seq", type=num, default=0, help="first RTP sequence number")
    p.add_argument("--ts", type=num, default=0, help="first RTP timestamp")
    p.add_argument("--ssrc", type=num, default=0x52494E47)
    p.add_argument("--pt", type=num, default=0,
                   help="payload type in the header (0 = PCMU; the payload is µ-law regardless)")
    p.add_argument("--marker", action="store_true", help="set the marker bit on the first packet")
    p.add_argument("--sport", type=num, default=6000, help="UDP source port (sipp replaces it)")
    p.add_argument("--dport", type=num, default=6000,
                   help="UDP destination port: sipp maps the lowest one in the file to the peer's "
                        "SDP port, so keep every packet on one port")
    p.add_argument("--src-ip", default="127.0.0.1")
    p.add_argument("--dst-ip", default="127.0.0.1")
    args = p.parse_args()

    with wave.open(args.wav, "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 8000):
            sys.exit(f"{args.wav}: need mono 16-bit 8000 Hz, e.g. sox in.wav -r 8000 -c 1 -b 16 out.wav")
        pcm = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    law = bytes(ulaw(s) for s in samples)
    law += b"\xff" * (-len(law) % SAMPLES)  # µ-law silence pads the last packet

    count = len(law) // SAMPLES
    with open(args.pcap, "wb") as out:
        # pcap global header: microsecond timestamps, snaplen 65535, linktype 1 (Ethernet).
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            packet = frame(args, (args.seq + i) & 0xFFFF, (args.ts + i * SAMPLES) & 0xFFFFFFFF,
                           args.marker and i == 0, law[i * SAMPLES:(i + 1) * SAMPLES], i & 0xFFFF)
            usec = i * 20_000
            out.write(struct.pack("<IIII", START + usec // 1_000_000, usec % 1_000_000,
                                  len(packet), len(packet)))
            out.write(packet)
    print(f"{args.pcap}: {count} packets, {count * 20} ms; "
          f"next seq {(args.seq + count) & 0xFFFF}, next ts {(args.ts + count * SAMPLES) & 0xFFFFFFFF}")


if __name__ == "__main__":
    main()

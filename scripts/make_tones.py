#!/usr/bin/env python3
"""Writes assets/audio/ringtone.wav, ringback.wav, callwaiting.wav and hold-music.wav (16 kHz,
16-bit mono, one loop each).

ringback: what a caller hears while the far end rings — the North American tone (ANSI
T1.401), 440 + 480 Hz, 2 s on, 4 s off, at -19 dBm0 per tone as the standard says.
ringtone: what rings the agent — the same dual tone warbled at 20 Hz like a bell, in the
British double-ring cadence (0.4 s on, 0.2 s off, 0.4 s on, 2 s off) so it is never
mistaken for ringback. Every burst fades in and out over 10 ms: no clicks.
callwaiting: what the agent hears in the call's own speaker when a second call rings — the
North American call-waiting tone, one 440 Hz burst of 300 ms, repeated every 10 s, quiet
enough to talk over.
hold-music: what a queue's caller hears while they wait — a slow arpeggio over four chords
(C, A minor, F, G), plucked notes with soft harmonics, 8 s: the team server asks again what
to do with the caller after each play, so the loop's length is also how often it decides.
"""
import math
import struct
import sys
import wave

RATE = 16000


def burst(seconds, level, warble=False, frequencies=(440, 480)):
    n = int(seconds * RATE)
    fade = int(0.010 * RATE)
    out = []
    for i in range(n):
        t = i / RATE
        tone = sum(math.sin(2 * math.pi * f * t) for f in frequencies)
        if warble:
            tone *= 0.5 + 0.5 * (1 if math.sin(2 * math.pi * 20 * t) >= 0 else 0.35)
        gain = min(1.0, i / fade, (n - 1 - i) / fade)
        out.append(tone * level * gain)
    return out


def silence(seconds):
    return [0.0] * int(seconds * RATE)


def write(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", max(-32768, min(32767, round(s)))) for s in samples))


def pluck(frequency, seconds, level):
    n = int(seconds * RATE)
    fade = int(0.005 * RATE)
    out = []
    for i in range(n):
        t = i / RATE
        tone = sum(math.sin(2 * math.pi * frequency * k * t) / k**2 for k in (1, 2, 3))
        gain = min(1.0, i / fade) * math.exp(-3.0 * t) * min(1.0, (n - 1 - i) / fade)
        out.append(tone * level * gain)
    return out


def hold_music():
    chords = [(261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66)]
    out = []
    for chord in chords:
        for note in chord + (chord[1] * 2, chord[0] * 2, chord[1] * 2, chord[2], chord[1]):
            out += pluck(note, 0.25, 6000)
    return out


def main(directory):
    # -19 dBm0 per tone: 0 dBm0 is a sine of peak 22 702 (ITU-T G.711's digital milliwatt).
    ringback_level = 22702 * 10 ** (-19 / 20)
    write(f"{directory}/ringback.wav", burst(2.0, ringback_level) + silence(4.0))
    ringtone_level = 9000
    write(
        f"{directory}/ringtone.wav",
        burst(0.4, ringtone_level, True) + silence(0.2) + burst(0.4, ringtone_level, True) + silence(2.0),
    )
    # -13 dBm0, a single tone.
    write(f"{directory}/callwaiting.wav", burst(0.3, 22702 * 10 ** (-13 / 20), frequencies=(440,)) + silence(9.7))
    write(f"{directory}/hold-music.wav", hold_music())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets/audio")

#!/usr/bin/env python3
"""PESQ (ITU-T P.862, the `pesq` package from PyPI) of a degraded WAV against its reference.
usage: pesq_score.py REFERENCE.wav DEGRADED.wav nb|wb   — both mono 16-bit at 8 kHz (nb) or
16 kHz (wb); prints the MOS-LQO."""
import sys
import wave

import numpy as np
from pesq import pesq


def read(path):
    with wave.open(path) as w:
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


rate, ref = read(sys.argv[1])
rate_deg, deg = read(sys.argv[2])
assert rate == rate_deg, f"rates differ: {rate} and {rate_deg}"
print(f"{pesq(rate, ref.astype(np.float32), deg.astype(np.float32), sys.argv[3]):.3f}")

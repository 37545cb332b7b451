"""Speech features for voice keys and speech-rate estimation: 13 MFCC (c0 = log energy) per 10 ms.

The kernel is cext/features.pyx; frames are counted from stream start, so any frame split
of the input gives the same features.
"""
from __future__ import annotations

import numpy as np

from edgepbx.dsp._features import MfccCore
from edgepbx.dsp.pcm import as_int16, check_rate

FRAME_S = 0.010


class Mfcc:
    def __init__(self, rate: int = 8000) -> None:
        self.rate = check_rate(rate)
        self._core = MfccCore(rate)

    def feed(self, pcm: np.ndarray | bytes) -> np.ndarray:
        """(frames, 13) float32 for the 25 ms frames this input completed."""
        return self._core.feed(as_int16(pcm))

    def reset(self) -> None:
        self._core.reset()


def mfcc(pcm: np.ndarray | bytes, rate: int = 8000) -> np.ndarray:
    return Mfcc(rate).feed(pcm)

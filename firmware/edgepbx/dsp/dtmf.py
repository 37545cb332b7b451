"""In-band DTMF: digits pressed as tones inside the caller's audio (ITU-T Q.24 receiver).

`decode` reads a whole signal; `DtmfDetector` reads a stream in frames of any size and
gives exactly the same digits, because the kernel's analysis blocks are counted from
stream start. The kernel (cext/dtmf.pyx) documents the decision rules.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepbx.dsp._dtmf import DtmfCore
from edgepbx.dsp.pcm import as_int16, check_rate

DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    digit: str
    start: float  # seconds from stream start: the estimated onset of the tone


class DtmfDetector:
    """Streaming receiver for one call direction. Not thread-safe: one feeder per detector."""

    def __init__(self, rate: int = 8000) -> None:
        self.rate = check_rate(rate)
        self._core = DtmfCore(rate)

    def feed(self, pcm: np.ndarray | bytes) -> list[DtmfEvent]:
        """Feed the next samples (int16 array, or little-endian 16-bit bytes)."""
        try:  # the kernel takes bytes and contiguous int16 arrays as they are
            hits = self._core.feed(pcm)
        except (ValueError, TypeError):  # anything else is converted, or refused with the reason
            hits = self._core.feed(as_int16(pcm))
        if not hits:
            return []
        return [DtmfEvent(digit, start / self.rate) for digit, start in hits]

    def reset(self) -> None:
        """Start a new stream: the next sample is time zero."""
        self._core.reset()


def decode(pcm: np.ndarray | bytes, rate: int = 8000) -> list[tuple[str, float]]:
    """Every keypress in a whole signal, as (digit, start time in seconds)."""
    return [(e.digit, e.start) for e in DtmfDetector(rate).feed(pcm)]

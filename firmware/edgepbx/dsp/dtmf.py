"""In-band DTMF: digits pressed as tones inside the caller's audio.

`decode` reads a whole signal; `DtmfDetector` reads a stream in frames of any size and
gives exactly the same digits, because the kernel's blocks are counted from stream start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepbx.dsp._dtmf import GoertzelDtmf
from edgepbx.dsp.pcm import as_int16, check_rate

DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    digit: str
    start: float  # seconds from stream start


class DtmfDetector:
    """Streaming detector for one call direction."""

    def __init__(self, rate: int = 8000) -> None:
        self.rate = check_rate(rate)
        self._core = GoertzelDtmf(rate)

    def feed(self, pcm: np.ndarray | bytes) -> list[DtmfEvent]:
        hits = self._core.feed(as_int16(pcm))
        return [DtmfEvent(digit, start / self.rate) for digit, start in hits]

    def reset(self) -> None:
        self._core.reset()


def decode(pcm: np.ndarray | bytes, rate: int = 8000) -> list[tuple[str, float]]:
    """Every keypress in a whole signal, as (digit, start time in seconds)."""
    return [(e.digit, e.start) for e in DtmfDetector(rate).feed(pcm)]

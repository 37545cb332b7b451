"""Slower (or quicker) speech at the same pitch, for elderly callers' prompts.

The kernel is WSOLA (cext/stretch.pyx). Prompts are stretched once, when they change, and
cached beside the original; never on the call path.
"""
from __future__ import annotations

import numpy as np

from edgepbx.dsp._stretch import wsola
from edgepbx.dsp.pcm import as_int16, check_rate


def time_stretch(pcm: np.ndarray | bytes, rate: int, tempo: float) -> np.ndarray:
    """`pcm` (int16) at `tempo` (0.75 plays a third longer) -> int16, same pitch,
    round(len / tempo) samples."""
    x = as_int16(pcm).astype(np.float64)
    y = wsola(np.ascontiguousarray(x), float(tempo), check_rate(rate))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)

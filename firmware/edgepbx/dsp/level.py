"""Prompt loudness: the active speech level of ITU-T P.56 (cext/level.pyx), and normalising
a prompt to a target level without clipping.

Levels are in dBov: dB relative to a full-scale 16-bit square wave (a full-scale sine is
-3.01 dBov). Prompts are set to -26 dBov, or -20 dBov in elderly mode; where the gain would
push peaks past PEAK_LIMIT a limiter (instant attack, 50 ms release) holds them just below.
"""
from __future__ import annotations

import numpy as np

from edgepbx.dsp._level import p56
from edgepbx.dsp.pcm import as_int16, check_rate

NORMAL_DBOV = -26.0
ELDERLY_DBOV = -20.0
PEAK_LIMIT = 0.97 * 32767


def active_speech_level(pcm: np.ndarray | bytes, rate: int = 8000) -> float:
    """Active speech level in dBov (-inf for silence)."""
    x = as_int16(pcm).astype(np.float64)
    return p56(np.ascontiguousarray(x), float(check_rate(rate)))[0]


def speech_activity(pcm: np.ndarray | bytes, rate: int = 8000) -> float:
    """Share of the signal P.56 counts as active speech (0..1)."""
    return p56(np.ascontiguousarray(as_int16(pcm).astype(np.float64)), float(check_rate(rate)))[1]


def normalise(pcm: np.ndarray | bytes, rate: int = 8000, target_dbov: float = NORMAL_DBOV) -> np.ndarray:
    """`pcm` at `target_dbov` active level, peaks limited below full scale (int16)."""
    x = as_int16(pcm).astype(np.float64)
    level = active_speech_level(x.astype(np.int16), rate)
    if not np.isfinite(level):
        return x.astype(np.int16)
    y = x * 10 ** ((target_dbov - level) / 20)
    peak = np.abs(y)
    if peak.max() > PEAK_LIMIT:
        need = np.minimum(1.0, PEAK_LIMIT / np.maximum(peak, 1e-9))
        release = np.exp(-1.0 / (0.05 * rate))
        gain = np.empty_like(need)
        g = 1.0
        for i in range(len(need) - 1, -1, -1):   # backwards: gain falls before each peak
            g = min(need[i], release * g + (1 - release))
            gain[i] = g
        g = 1.0
        for i in range(len(need)):               # forwards: and recovers smoothly after it
            g = min(gain[i], release * g + (1 - release))
            gain[i] = g
        y = y * gain
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)

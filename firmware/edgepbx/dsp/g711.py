"""G.711 mu-law in numpy: what a telephone line does to audio, for tests, benches and training."""
from __future__ import annotations

import numpy as np


def mulaw_encode(pcm: np.ndarray) -> np.ndarray:
    x = np.asarray(pcm, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def mulaw_decode(code: np.ndarray) -> np.ndarray:
    c = ~np.asarray(code, dtype=np.int32) & 0xFF
    exponent = (c >> 4) & 0x07
    mag = ((((c & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(c & 0x80, -mag, mag).astype(np.int16)


def line(x: np.ndarray) -> np.ndarray:
    """What the receiver gets: the float signal clipped to 16 bits, through G.711 mu-law."""
    return mulaw_decode(mulaw_encode(np.clip(np.round(x), -32768, 32767)))

"""Coercion of caller audio into the contiguous int16 arrays the kernels take."""
from __future__ import annotations

import numpy as np

SUPPORTED_RATES = (8000, 16000)


def as_int16(pcm: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """Return `pcm` as a C-contiguous int16 array (bytes are read as little-endian int16)."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        raw = bytes(pcm)
        if len(raw) % 2:
            raise ValueError("PCM bytes must hold whole 16-bit samples (odd length given)")
        return np.frombuffer(raw, dtype="<i2").astype(np.int16, copy=False)
    array = np.asarray(pcm)
    if array.ndim != 1:
        raise ValueError(f"PCM must be one channel (1-D), got shape {array.shape}")
    if array.dtype != np.int16:
        hint = " (float audio in -1..1: multiply by 32767 and cast to int16)" if array.dtype.kind == "f" else ""
        raise TypeError(f"PCM must be int16, got {array.dtype}{hint}")
    return np.ascontiguousarray(array)


def check_rate(rate: int) -> int:
    if rate not in SUPPORTED_RATES:
        raise ValueError(f"sample rate must be one of {SUPPORTED_RATES}, got {rate}")
    return rate

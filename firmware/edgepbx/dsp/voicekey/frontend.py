"""One spoken word's MFCC frames -> the network's fixed-size input.

Level and channel are normalised away (energy relative to the word's peak, cepstral mean
removed: a telephone line's colouring is a constant cepstral offset), and the word is
resampled onto GRID frames so a slow and a quick speaker give the same shape.
"""
from __future__ import annotations

import numpy as np

GRID = 32
FLOOR_DB = 30.0
DB = 0.2302585


def word_input(frames: np.ndarray) -> np.ndarray:
    """(T, 13) MFCC frames, c0 = log energy -> (13, GRID) float32."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] < 2:
        raise ValueError(f"a word needs at least two frames, got shape {frames.shape}")
    energy = np.maximum(frames[:, 0] - frames[:, 0].max(), -FLOOR_DB * DB)
    weight = energy + FLOOR_DB * DB + 1e-3          # quiet edges count little in the mean
    ceps = frames[:, 1:] - (weight[:, None] * frames[:, 1:]).sum(0) / weight.sum()
    x = np.concatenate([energy[:, None], ceps], axis=1)
    at = np.linspace(0, len(x) - 1, GRID)
    grid = np.stack([np.interp(at, np.arange(len(x)), x[:, k]) for k in range(x.shape[1])])
    return grid.astype(np.float32)

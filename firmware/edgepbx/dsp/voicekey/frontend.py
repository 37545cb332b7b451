"""One spoken word's MFCC frames -> the network's fixed-size input.

Level and channel are normalised away (energy relative to the word's peak, cepstral mean
removed: a telephone line's colouring is a constant cepstral offset), and the word is
resampled onto GRID frames so a slow and a quick speaker give the same shape.

Tonal languages add two channels (`tone=True`): the pitch contour in octaves relative to the
word's own median pitch (so a deep and a high voice give the same contour: Mandarin's tones are
shapes, not heights; unvoiced frames are bridged from their voiced neighbours) and the voicing
strength (NCCF peak). 一 (yi1), 七 (qi1) and 四 (si4), 十 (shi2) differ mostly in that contour.
"""
from __future__ import annotations

import numpy as np

from edgepbx.dsp._pitch import pitch_frames
from edgepbx.dsp.pcm import as_int16

GRID = 32
FLOOR_DB = 30.0
DB = 0.2302585
TONE_CHANNELS = 2


def word_input(frames: np.ndarray, audio: np.ndarray | None = None) -> np.ndarray:
    """(T, 13) MFCC frames, c0 = log energy -> (13, GRID) float32; with the word's audio
    (samples of frames [0, T), as cut by the decoder) -> (15, GRID) with the tone channels."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] < 2:
        raise ValueError(f"a word needs at least two frames, got shape {frames.shape}")
    energy = np.maximum(frames[:, 0] - frames[:, 0].max(), -FLOOR_DB * DB)
    weight = energy + FLOOR_DB * DB + 1e-3          # quiet edges count little in the mean
    ceps = frames[:, 1:] - (weight[:, None] * frames[:, 1:]).sum(0) / weight.sum()
    columns = [energy[:, None], ceps]
    if audio is not None:
        columns.append(tone_channels(audio, len(frames)))
    x = np.concatenate(columns, axis=1)
    at = np.linspace(0, len(x) - 1, GRID)
    grid = np.stack([np.interp(at, np.arange(len(x)), x[:, k]) for k in range(x.shape[1])])
    return grid.astype(np.float32)


def tone_channels(audio: np.ndarray, frames: int) -> np.ndarray:
    """(frames, 2): relative pitch in octaves (clipped to +-1) and voicing strength."""
    f0, nccf = pitch_frames(np.ascontiguousarray(as_int16(audio)), frames)
    f0 = f0.astype(np.float64)
    voiced = f0 > 0
    if voiced.sum() >= 3:
        # a 3-frame median removes single-frame octave slips
        padded = np.concatenate([f0[:1], f0, f0[-1:]])
        med3 = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
        f0 = np.where(voiced & (med3 > 0), med3, f0)
        octaves = np.log2(f0[voiced] / np.median(f0[voiced]))
        contour = np.interp(np.arange(frames), np.flatnonzero(voiced), octaves)
    else:
        contour = np.zeros(frames)
    return np.stack([np.clip(contour, -1.0, 1.0), nccf.astype(np.float64)], axis=1)

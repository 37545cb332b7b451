"""The MFCC front end (groundwork for voice keys and speech rate) on generated signals."""
from __future__ import annotations

import numpy as np
import pytest

from edgepbx.dsp.features import Mfcc, mfcc


def tone(freq: float, amplitude: float, seconds: float = 1.0, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_frames_every_10_ms_and_any_split_gives_the_same(rate: int) -> None:
    x = (np.random.default_rng(rate).normal(0, 2000, rate * 2)).astype(np.int16)
    whole = mfcc(x, rate)
    assert whole.shape == (198, 13) and whole.dtype == np.float32  # 2 s: (2000 - 25) // 10 + 1
    rng = np.random.default_rng(1)
    for cuts in (np.arange(rate // 50, len(x), rate // 50), np.sort(rng.integers(0, len(x), 300))):
        m = Mfcc(rate)
        parts = [m.feed(chunk) for chunk in np.split(x, cuts)]
        assert np.array_equal(np.concatenate(parts), whole)


def test_log_energy_follows_level_and_spectra_differ_by_pitch() -> None:
    quiet, loud = mfcc(tone(1000, 1000)), mfcc(tone(1000, 4000))
    assert abs(float(np.median(loud[:, 0] - quiet[:, 0])) - np.log(16)) < 0.05  # +12 dB = x16 power
    low, high = mfcc(tone(300, 3000)), mfcc(tone(2500, 3000))
    assert np.linalg.norm(low[10:, 1:].mean(0) - high[10:, 1:].mean(0)) > 5.0
    assert np.allclose(mfcc(tone(300, 3000))[5:], low[5:])  # deterministic
    with pytest.raises(ValueError):
        Mfcc(11025)

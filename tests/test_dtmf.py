"""The first in-band decoder on generated tones (seeded), after a G.711 mu-law round trip."""
from __future__ import annotations

import numpy as np
import pytest

from edgepbx.dsp.dtmf import DtmfDetector, decode

ROWS = {"1": 697, "2": 697, "3": 697, "A": 697, "4": 770, "5": 770, "6": 770, "B": 770,
        "7": 852, "8": 852, "9": 852, "C": 852, "*": 941, "0": 941, "#": 941, "D": 941}
COLS = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336,
        "3": 1477, "6": 1477, "9": 1477, "#": 1477, "A": 1633, "B": 1633, "C": 1633, "D": 1633}


def dbm0_amplitude(dbm0: float) -> float:
    return 32767 * 10 ** ((dbm0 - 3.14) / 20)


def mulaw_round_trip(x: np.ndarray) -> np.ndarray:
    y = np.clip(x, -32768, 32767) / 32768.0
    mu = 255.0
    enc = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
    enc = np.round(enc * 127) / 127  # 8-bit quantisation
    dec = np.sign(enc) * (np.power(1 + mu, np.abs(enc)) - 1) / mu
    return np.round(dec * 32767).astype(np.int16)


def keys(digits: str, rate: int = 8000, on_ms: int = 50, off_ms: int = 50, level: float = -10.0,
         noise_db: float | None = None, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(rate * 0.1))]
    for d in digits:
        t = np.arange(int(rate * on_ms / 1000)) / rate
        a = dbm0_amplitude(level)
        parts.append(a * np.sin(2 * np.pi * ROWS[d] * t + rng.uniform(0, 6.28))
                     + a * np.sin(2 * np.pi * COLS[d] * t + rng.uniform(0, 6.28)))
        parts.append(np.zeros(int(rate * off_ms / 1000)))
    x = np.concatenate(parts)
    if noise_db is not None:
        tone_power = dbm0_amplitude(level) ** 2 / 2
        x = x + rng.normal(0, np.sqrt(tone_power / 10 ** (noise_db / 10)), len(x))
    return mulaw_round_trip(x)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_all_sixteen_digits(rate: int) -> None:
    digits = "123A456B789C*0#D"
    found = decode(keys(digits, rate=rate), rate=rate)
    assert "".join(d for d, _ in found) == digits
    starts = [t for _, t in found]
    assert all(abs(s - (0.1 + 0.1 * i)) < 0.03 for i, s in enumerate(starts))


def test_same_digit_twice_and_levels() -> None:
    assert "".join(d for d, _ in decode(keys("5555", off_ms=60))) == "5555"
    assert "".join(d for d, _ in decode(keys("159", level=-25))) == "159"
    assert decode(keys("159", level=-55)) == []


def test_noise_alone_and_silence_give_nothing() -> None:
    rng = np.random.default_rng(7)
    noise = mulaw_round_trip(rng.normal(0, 3000, 8000 * 5))
    assert decode(noise) == []
    assert decode(np.zeros(8000, dtype=np.int16)) == []


def test_tones_in_noise_at_15_db() -> None:
    assert "".join(d for d, _ in decode(keys("2580", noise_db=15, seed=3))) == "2580"


def test_stream_equals_whole_signal_over_random_splits() -> None:
    signal = keys("0123456789*#", seed=5)
    whole = decode(signal)
    rng = np.random.default_rng(11)
    for _ in range(20):
        det = DtmfDetector()
        cuts = np.sort(rng.integers(0, len(signal), rng.integers(1, 60)))
        got = []
        for chunk in np.split(signal, cuts):
            got += [(e.digit, e.start) for e in det.feed(chunk)]
        assert got == whole
    det = DtmfDetector()
    det.feed(signal)
    det.reset()
    assert [(e.digit, e.start) for e in det.feed(signal)] == whole


def test_bytes_input_and_bad_input() -> None:
    signal = keys("7")
    assert decode(signal.tobytes()) == decode(signal)
    with pytest.raises(ValueError):
        decode(b"\x00")
    with pytest.raises(TypeError):
        decode(signal.astype(np.float32))
    with pytest.raises(ValueError):
        DtmfDetector(rate=11025)

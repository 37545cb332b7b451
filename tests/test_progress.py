"""Call-progress tones: busy and congestion by cadence within two cycles; speech and music never."""
from __future__ import annotations

import glob
import wave

import numpy as np
import pytest

from edgepbx.dsp.progress import PLANS, ToneDetector, plan
from tests.callerid_signals import cadenced
from tests.dtmf_q24 import dbm0_amplitude, line, white_noise


def events(x: np.ndarray, country: str = "cn", kinds: tuple[str, ...] | None = None) -> list[tuple[str, float]]:
    detector = ToneDetector(country, kinds=kinds)
    return [(e.kind, e.at) for i in range(0, len(x), 160) for e in detector.feed(x[i:i + 160])]


@pytest.mark.parametrize("country", sorted(PLANS))
@pytest.mark.parametrize("start", [0.0, 0.13, 0.37, 0.61])
def test_busy_within_two_cycles_from_any_phase(country: str, start: float) -> None:
    busy = next(t for t in plan(country) if t.kind == "busy")
    rng = np.random.default_rng(int(start * 100))
    x = cadenced(busy.freqs, busy.cadence, 6.0, level=-25, start=start, error=0.01)
    x = line(np.concatenate([np.zeros(4000), x]) + white_noise(len(x) + 4000, 8000, dbm0_amplitude(-45) ** 2 / 2, rng))
    found = events(x, country, kinds=("busy", "congestion"))
    assert found and found[0][0] == "busy", found
    assert found[0][1] - 0.5 <= 2 * sum(busy.cadence) + 0.02


def test_congestion_is_not_busy() -> None:
    x = line(cadenced((450.0,), (0.7, 0.7), 5.0))
    assert [k for k, _ in events(x, kinds=("busy", "congestion"))][:1] == ["congestion"]


def test_dial_tone_is_continuous() -> None:
    assert events(line(cadenced((450.0,), (3.0, 0.0), 3.0)), kinds=("dial",))[0][0] == "dial"


def test_wrong_frequency_or_too_quiet_is_not_busy() -> None:
    assert events(line(cadenced((520.0,), (0.35, 0.35), 5.0)), kinds=("busy",)) == []
    assert events(line(cadenced((450.0,), (0.35, 0.35), 5.0, level=-50)), kinds=("busy",)) == []


def test_busy_under_talk_is_not_enough_without_quiet_gaps() -> None:
    """A 450 Hz tone gated at the busy cadence but with other sound in its gaps."""
    rng = np.random.default_rng(1)
    x = cadenced((450.0,), (0.35, 0.35), 5.0) + white_noise(40000, 8000, dbm0_amplitude(-25) ** 2 / 2, rng)
    assert events(line(x), kinds=("busy",)) == []


def recordings() -> list[str]:
    return sorted(glob.glob("/usr/share/asterisk/sounds/en/*.wav"))[::7] + sorted(glob.glob("/usr/share/asterisk/moh/*.wav"))


@pytest.mark.skipif(not recordings(), reason="asterisk-core-sounds-en-wav / asterisk-moh-opsound-wav not installed")
def test_no_disconnect_tone_in_speech_or_music() -> None:
    heard = 0.0
    for path in recordings():
        with wave.open(path) as w:
            if w.getframerate() != 8000 or w.getnchannels() != 1:
                continue
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        heard += len(x) / 8000
        for country in ("cn", "eu", "us"):
            assert ToneDetector(country, kinds=("busy", "congestion")).feed(x) == [], (path, country)
    assert heard > 300


def test_unknown_country_says_which_exist() -> None:
    with pytest.raises(ValueError, match="cn"):
        ToneDetector("xx")

"""The accessibility DSP on generated signals: P.56 level, WSOLA time stretch, speech rate,
and the prompt versions made from them."""
from __future__ import annotations

import numpy as np
import pytest

from edgepbx.config import AccessSection
from edgepbx.dsp.g711 import line
from edgepbx.dsp.level import PEAK_LIMIT, active_speech_level, normalise, speech_activity
from edgepbx.dsp.speechrate import SpeechRate
from edgepbx.dsp.stretch import time_stretch
from edgepbx.ivr.variants import lengthen_pauses, make

RATE = 8000


def sine(hz: float, seconds: float, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)


def vowel_train(syllables_per_s: float, seconds: float, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """Voiced 'syllables': a glottal pulse train through two formants, swelled and faded
    `syllables_per_s` times a second (70 % voiced, 30 % near-silent consonant gap)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    pulses = np.zeros(n)
    pulses[(np.arange(0, seconds, 1 / f0) * RATE).astype(int)] = 1.0
    x = pulses
    for formant, bw in ((700.0, 90.0), (1200.0, 110.0)):
        r = np.exp(-np.pi * bw / RATE)
        a1, a2 = -2 * r * np.cos(2 * np.pi * formant / RATE), r * r
        y = np.zeros(n)
        for i in range(n):
            y[i] = x[i] - a1 * (y[i - 1] if i else 0) - a2 * (y[i - 2] if i > 1 else 0)
        x = y
    period = 1.0 / syllables_per_s
    phase = (np.arange(n) / RATE) % period / period
    envelope = np.where(phase < 0.7, np.sin(np.pi * phase / 0.7) ** 2, 0.0)
    x = x / np.abs(x).max() * 8000 * envelope
    return x + rng.normal(size=n) * 20


def test_p56_level_of_tones_and_bursts():
    for amplitude in (32767, 3277, 328):
        expected = 20 * np.log10(amplitude / 32768) - 3.01
        assert active_speech_level(sine(440, 2, amplitude).astype(np.int16)) == pytest.approx(expected, abs=0.1)
    bursts = np.concatenate([np.r_[sine(440, 1, 3277), np.zeros(RATE)] for _ in range(3)]).astype(np.int16)
    # the level while active, 200 ms hangover after each burst counted active (as P.56 does)
    assert active_speech_level(bursts) == pytest.approx(-23.01 + 10 * np.log10(3 / 3.6), abs=0.4)
    assert 0.55 < speech_activity(bursts) < 0.65                           # 50 % + 200 ms hangovers
    assert active_speech_level(np.zeros(8000, np.int16)) == float("-inf")


def test_normalise_hits_the_target_without_clipping():
    x = vowel_train(4, 3).astype(np.int16)
    for target in (-26.0, -20.0):
        assert active_speech_level(normalise(x, RATE, target)) == pytest.approx(target, abs=0.05)
    loud = normalise(x, RATE, -6.0)             # far more gain than the peaks allow
    assert np.abs(loud.astype(int)).max() <= PEAK_LIMIT + 1


@pytest.mark.parametrize("tempo", [0.6, 0.75, 0.9, 1.25])
def test_time_stretch_keeps_pitch_and_length_and_makes_no_clicks(tempo):
    x = vowel_train(4, 2.0).astype(np.int16)
    y = time_stretch(x, RATE, tempo)
    assert len(y) == round(len(x) / tempo)

    def f0(sig):   # autocorrelation pitch of the loudest 100 ms
        s = sig.astype(np.float64)
        centre = int(np.argmax(np.convolve(s ** 2, np.ones(800), "same")))
        seg = s[centre - 400:centre + 400]
        ac = np.correlate(seg, seg, "full")[len(seg) - 1:]
        lag = np.argmax(ac[RATE // 400:RATE // 60]) + RATE // 400
        return RATE / lag
    assert f0(y) == pytest.approx(f0(x), rel=0.02)
    tone = sine(200, 1.0, 10000).astype(np.int16)
    assert np.abs(np.diff(time_stretch(tone, RATE, tempo)[400:-400].astype(int))).max() <= 1.05 * np.abs(np.diff(tone.astype(int))).max()


def test_time_stretch_refuses_silly_tempos():
    with pytest.raises(ValueError, match="tempo"):
        time_stretch(np.zeros(800, np.int16), RATE, 0.1)


def test_speech_rate_counts_syllable_nuclei():
    for rate in (2.0, 3.5, 5.0, 7.0):
        meter = SpeechRate(RATE)
        x = line(vowel_train(rate, 6.0))
        for i in range(0, len(x), 160):          # streamed in 20 ms frames
            meter.feed(x[i:i + 160])
        assert meter.syllables_per_second == pytest.approx(rate, rel=0.15)   # short gaps count as speech
        assert abs(meter.syllables - round(6.0 * rate)) <= 1, (rate, meter.syllables)
        assert meter.slow == (rate < 3.0)


def test_speech_rate_ignores_noise_and_tones():
    meter = SpeechRate(RATE)
    rng = np.random.default_rng(3)
    meter.feed(line(rng.normal(size=5 * RATE) * 300))
    meter.feed(line(sine(1000, 2, 5000)))
    assert meter.syllables <= 1 and meter.slow in (None, False)


def test_prompt_versions():
    access = AccessSection()
    x = np.concatenate([vowel_train(4, 1.0), np.zeros(int(0.4 * RATE)), vowel_train(4, 1.0)]).astype(np.int16)
    x = normalise(x, RATE, -26)
    elderly = make(x, "elderly", access, "en")
    assert len(elderly) == round(len(x) / 0.75)
    assert active_speech_level(elderly) == pytest.approx(-20.0, abs=0.1)
    paused = lengthen_pauses(x, RATE, 2.0, 0.33)

    def longest_silence(sig):
        quiet = np.abs(sig.astype(np.float64)) < 0.01 * np.abs(sig).max()
        best = run = 0
        for q in quiet:
            run = run + 1 if q else 0
            best = max(best, run)
        return best / RATE
    assert longest_silence(x) < 0.6 and longest_silence(paused) == pytest.approx(2.1, abs=0.05)
    assert len(lengthen_pauses(x, RATE, 2.0, 0.5)) == len(x)      # a 0.4 s pause is not an option's end

"""The in-band DTMF receiver against ITU-T Q.24: every group, at 8 and 16 kHz, exact digits.

Signals come from the seeded generator in tests/dtmf_q24.py (after G.711 mu-law); talk-off
uses real recordings that `make test` installs (tests/dtmf_talkoff.py).
"""
from __future__ import annotations

import statistics

import numpy as np
import pytest

from edgepbx.dsp.dtmf import DtmfDetector, DtmfEvent, decode
from tests.dtmf_q24 import Group, detection_delays, q24_groups
from tests.dtmf_talkoff import corpus, speech_with_keys, talkoff_signals

GROUPS = {(rate, g.name): g for rate in (8000, 16000) for g in q24_groups(rate)}


def digits(found: list[tuple[str, float]]) -> str:
    return "".join(d for d, _ in found)


@pytest.mark.parametrize("key", list(GROUPS), ids=[f"{r // 1000}k-{n}" for r, n in GROUPS])
def test_q24_group(key: tuple[int, str]) -> None:
    group = GROUPS[key]
    found = decode(group.signal, group.rate)
    assert digits(found) == group.expected, group.requirement
    if group.expected:  # every tone reported once, at the tone's own onset
        for (_, start), onset in zip(found, group.onsets):
            if "interruption" in group.name:  # a drop-out before 26 ms restarts the count
                assert onset - 0.004 < start < onset + 0.035
            else:
                assert abs(start - onset) < 0.004


def test_rejected_tones_are_rejected_for_the_right_reason() -> None:
    """Controls: the same tones just inside each limit are accepted, so the rejections above
    come from the limits and not from a receiver that hears nothing."""
    from tests.dtmf_q24 import KEYPAD, Tone, make_group
    inside = [Tone(d, on_s=0.034, row_err=0.017, col_err=-0.017, level=-30.0) for d in KEYPAD]
    group = make_group("inside", "", 8000, 5, inside)
    assert digits(decode(group.signal)) == KEYPAD


def test_detection_delay_median_under_40_ms() -> None:
    def feeder(rate: int):
        det = DtmfDetector(rate)
        return lambda pcm: [e.digit for e in det.feed(pcm)]

    for frame_ms in (1.0, 10.0):
        delays = detection_delays(feeder, frame_ms=frame_ms)
        assert len(delays) == 64
        assert statistics.median(delays) < 0.040, (frame_ms, statistics.median(delays))


def _split_feed(signal: np.ndarray, rate: int, cuts: np.ndarray) -> list[tuple[str, float]]:
    det = DtmfDetector(rate)
    out: list[tuple[str, float]] = []
    for chunk in np.split(signal, cuts):
        out += [(e.digit, e.start) for e in det.feed(chunk)]
    return out


@pytest.mark.parametrize("rate", [8000, 16000])
def test_stream_equals_whole_signal_over_any_split(rate: int) -> None:
    groups = [g for (r, _), g in GROUPS.items() if r == rate and g.expected][:4]
    signal = np.concatenate([g.signal for g in groups])
    whole = decode(signal, rate)
    assert len(whole) > 100
    rng = np.random.default_rng(rate)
    frame = rate // 50
    splits = [np.arange(frame, len(signal), frame),                       # 20 ms frames
              np.arange(1, 2000),                                          # single samples first
              *(np.sort(rng.integers(0, len(signal), int(rng.integers(1, 400)))) for _ in range(6))]
    for cuts in splits:
        assert _split_feed(signal, rate, cuts) == whole


def test_reset_starts_a_new_stream_and_bytes_equal_arrays() -> None:
    signal = GROUPS[(8000, "all 16 digits")].signal
    det = DtmfDetector()
    first = det.feed(signal[:5000])
    det.reset()
    assert [(e.digit, e.start) for e in det.feed(signal)] == decode(signal)
    assert first and all(isinstance(e, DtmfEvent) for e in first)
    assert decode(signal.tobytes()) == decode(signal)
    assert decode(signal[::-1][::-1]) == decode(signal)  # a non-contiguous view is copied


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="whole 16-bit samples"):
        decode(b"\x00\x01\x02")
    with pytest.raises(TypeError, match="int16"):
        decode(np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError, match="one channel"):
        decode(np.zeros((2, 100), dtype=np.int16))
    with pytest.raises(ValueError, match="sample rate"):
        DtmfDetector(rate=11025)
    assert decode(b"") == [] and decode(np.zeros(0, dtype=np.int16)) == []


needs_corpora = pytest.mark.skipif(not corpus("speech") or not corpus("music"),
                                   reason="talk-off recordings not installed (make test installs them)")


@needs_corpora
@pytest.mark.parametrize("kind", ["speech", "music"])
def test_no_talk_off_on_real_recordings(kind: str) -> None:
    false = [(label, digits(decode(sig))) for label, sig in talkoff_signals(kind)]
    hours = sum(len(sig) for _, sig in talkoff_signals(kind, speeds=(1.0,))) / 8000 / 3600
    assert hours > 0.1
    assert [f for f in false if f[1]] == []


@needs_corpora
def test_keys_pressed_over_speech_are_heard_and_nothing_else() -> None:
    quiet: Group = speech_with_keys(seed=7, speech_dbm0=-25.0)
    assert digits(decode(quiet.signal)) == quiet.expected
    # Louder talk may mask a key (a retry prompt follows), but must never invent or swap one.
    loud: Group = speech_with_keys(seed=8, speech_dbm0=-20.0)
    heard = digits(decode(loud.signal))
    rest = iter(loud.expected)
    assert all(d in rest for d in heard) and len(heard) >= 0.9 * len(loud.expected)

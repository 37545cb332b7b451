"""The voice-key decoder on real recordings (FSDD dev speakers) and synthetic speech, with
exact expected results, through G.711 mu-law as a call delivers them."""
from __future__ import annotations

import functools
import glob
from pathlib import Path

import numpy as np
import pytest

from edgepbx.dsp.g711 import line
from edgepbx.dsp.voicekey import KEYS, VoiceKeyDecoder, WORDS, recognize
from edgepbx.ivr.prompts import synthesise
from tests.dtmf_q24 import dbm0_amplitude, tones_of
from tests.dtmf_talkoff import at_speed, read_pcm8k

FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd-dev"
needs_fsdd = pytest.mark.skipif(not FSDD.is_dir(), reason="../shared/data/fsdd-dev missing")


@functools.lru_cache(maxsize=None)
def spoken(text: str, lang: str) -> np.ndarray:
    """`text` said by the box's own prompt voice (espeak-ng), 8 kHz."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.wav"
        synthesise(text, lang, path)
        return read_pcm8k(path).copy()


def gap(seconds: float) -> np.ndarray:
    return np.random.default_rng(int(seconds * 1000)).normal(size=int(seconds * 8000)) * 4.0


def call_audio(*parts: np.ndarray) -> np.ndarray:
    return line(np.concatenate([gap(0.4)] + [p for part in parts for p in (part.astype(np.float64), gap(0.5))]))


def in_frames(decoder: VoiceKeyDecoder, pcm: np.ndarray, size: int = 160) -> list:
    events = []
    for i in range(0, len(pcm), size):
        events += decoder.feed(pcm[i:i + size])
    return events + decoder.flush()


def fsdd(digit: str, speaker: str, index: int) -> np.ndarray:
    return read_pcm8k(FSDD / f"{digit}_{speaker}_{index}.wav")


@needs_fsdd
def test_a_digit_string_said_digit_by_digit():
    pcm = call_audio(*(fsdd(d, "jackson", 7) for d in "380412"))
    events = in_frames(VoiceKeyDecoder("en", digit_string=True), pcm)
    assert [e.key for e in events] == ["380412"]
    assert 0.25 < events[0].start < 0.5 and events[0].end < len(pcm) / 8000


@needs_fsdd
def test_each_word_is_reported_once_with_its_time():
    pcm = call_audio(fsdd("5", "theo", 3), fsdd("9", "nicolas", 3))
    events = in_frames(VoiceKeyDecoder("en"), pcm)
    assert [e.key for e in events] == ["5", "9"]
    assert events[0].end < events[1].start
    assert all(0.5 < e.confidence <= 1.0 for e in events)


@needs_fsdd
def test_any_frame_split_gives_the_same_words():
    pcm = call_audio(*(fsdd(d, "theo", 11) for d in "27"))
    decoder = VoiceKeyDecoder("en")
    whole = decoder.feed(pcm) + decoder.flush()
    for size in (1, 80, 160, 333):
        assert in_frames(VoiceKeyDecoder("en"), pcm, size) == whole
    assert [e.key for e in whole] == ["2", "7"]


@needs_fsdd
def test_reset_starts_a_new_stream():
    decoder = VoiceKeyDecoder("en")
    pcm = call_audio(fsdd("4", "jackson", 2))
    first = decoder.feed(pcm) + decoder.flush()
    decoder.reset()
    assert decoder.feed(pcm) + decoder.flush() == first


def test_english_key_words_in_the_box_voice():
    heard = {key: recognize(call_audio(spoken(WORDS["en"][key][0], "en")), lang="en") for key in KEYS}
    assert heard == {key: key for key in KEYS}


def test_mandarin_key_words_in_the_box_voice():
    heard = {key: recognize(call_audio(spoken(WORDS["zh"][key][0], "zh")), lang="zh") for key in KEYS}
    assert heard == {key: key for key in KEYS}


def test_words_outside_the_vocabulary_are_not_keys():
    for text in ("hello", "thank you", "account balance", "tomorrow morning", "washing machine"):
        assert recognize(call_audio(spoken(text, "en")), lang="en") is None, text
    for text in ("你好", "谢谢", "账户余额", "明天早上"):
        assert recognize(call_audio(spoken(text, "zh")), lang="zh") is None, text


def test_a_menu_hears_only_its_own_keys():
    pcm = call_audio(spoken("three", "en"), spoken("one", "en"))
    assert [e.key for e in in_frames(VoiceKeyDecoder("en", vocabulary=["1", "2"]), pcm)] == ["1"]


def _dtmf(digit: str, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    lo, hi = tones_of(digit)
    return dbm0_amplitude(-10) * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t))


def test_no_keys_from_tones_noise_clicks_or_silence():
    rng = np.random.default_rng(4)
    t = np.arange(8000) / 8000
    parts = [_dtmf(d, 0.12) for d in "1234567890*#"] + [_dtmf("5", 0.6)]
    parts += [rng.normal(size=3000) * 2000 * np.hanning(3000) for _ in range(5)]     # coughs, breaths
    parts += [np.r_[np.zeros(100), [20000, -20000], np.zeros(100)]]                   # a click
    parts += [3000 * np.sin(2 * np.pi * 440 * t), 3000 * np.sin(2 * np.pi * 50 * t)]  # tone, hum
    parts += [np.zeros(16000)]
    for lang in ("en", "zh"):
        assert in_frames(VoiceKeyDecoder(lang), call_audio(*parts)) == []


def test_operators_recordings_teach_a_word():
    # A branch records its own word for the operator key; the network alone does not know it.
    word = at_speed(spoken("concierge", "en"), 1.08)     # said a little quicker than when recorded
    examples = {"operator": [spoken("concierge", "en")]}
    assert recognize(call_audio(word), lang="en") is None
    decoder = VoiceKeyDecoder("en", examples=examples)
    events = in_frames(decoder, call_audio(word))
    assert [e.key for e in events] == ["operator"]


def test_sixteen_kilohertz_audio():
    pcm = spoken("seven", "en")
    up = np.interp(np.arange(2 * len(pcm)) / 2, np.arange(len(pcm)), pcm.astype(np.float64))
    assert recognize(line(np.concatenate([gap(0.4).repeat(2), up, gap(0.5).repeat(2)])), rate=16000, lang="en") == "7"


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="voice keys speak"):
        VoiceKeyDecoder("fr")
    with pytest.raises(ValueError, match="unknown voice keys \\['eleven'\\]"):
        VoiceKeyDecoder("en", vocabulary=["1", "eleven"])
    with pytest.raises(ValueError, match="sample rate"):
        VoiceKeyDecoder("en", rate=11025)
    with pytest.raises(TypeError, match="int16.*multiply by 32767"):
        VoiceKeyDecoder("en").feed(np.zeros(160, np.float32))


def test_warm_up_loads_every_language_before_any_call() -> None:
    from edgepbx.dsp.voicekey.decoder import warm_up
    from edgepbx.dsp.voicekey.model import load
    from edgepbx.dsp.voicekey.vocabulary import LANGUAGES
    load.cache_clear()
    warm_up()
    assert load.cache_info().currsize == len(LANGUAGES)     # no network is read from disk inside a call

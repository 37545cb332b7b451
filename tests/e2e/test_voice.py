"""Voice keys on real SIP calls: a pjsua2 caller speaks key words into the call."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.audio_match import locate, read_wav
from tests.e2e.support import Box, Central, heard_in_order, place_call, prompt_pcm, write_wav

pytestmark = pytest.mark.e2e


def say(tmp: Path, text: str, lang: str) -> Path:
    """`text` in the box's prompt voice, as a caller's WAV with a little silence around it."""
    from edgepbx.ivr.prompts import synthesise
    raw = tmp / f"raw-{abs(hash(text))}.wav"
    synthesise(text, lang, raw)
    pcm, _ = read_wav(raw)
    out = tmp / f"say-{abs(hash(text))}.wav"
    write_wav(out, np.concatenate([np.zeros(1600), pcm, np.zeros(1600)]).astype(np.int16))
    return out


def test_spoken_keys_barge_in_and_lost_card_goes_straight_to_its_line(tmp_path: Path) -> None:
    central = Central(tmp_path)
    box = Box(tmp_path, flow="finance", central=central.uri, language="en")
    noise = tmp_path / "cough.wav"
    rng = np.random.default_rng(1)
    write_wav(noise, (rng.normal(size=2400) * 3000 * np.hanning(2400)).astype(np.int16))
    try:
        result = place_call(box.uri, "", tmp_path / "heard.wav", hold=10, cwd=tmp_path, say=[
            (say(tmp_path, "two", "en"), 1.5),        # over the language prompt: English
            (noise, 4.5),                             # a cough over the main menu: not a key
            (say(tmp_path, "lost card", "en"), 9.0),  # over the main menu (or its voice hint)
        ])
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    assert result["answered"]
    offsets = heard_in_order(tmp_path / "heard.wav", [("fin_language", "zh"), ("fin_main", "en"), ("fin_lost_card", "en")])
    assert offsets[1] < 4.0, "the language prompt was not cut short by the spoken key"
    assert offsets[2] - offsets[1] > 6.0, "the cough stopped the main menu"
    audio, rate = read_wav(tmp_path / "heard.wav")
    assert locate(audio, prompt_pcm("fin_language", "en"), rate)[1] < 0.5, "the English half played after 'two'"
    assert "said 2 (voice" in box.output and "said lost_card (voice" in box.output
    [call] = central.calls()
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["x-edgepbx-path"] == "language,main,lost_card"
    assert headers["x-edgepbx-queue"] == "lost_card"
    [row] = sqlite3.connect(box.db).execute("SELECT outcome, language FROM calls").fetchall()
    assert row == ("forwarded", "en")

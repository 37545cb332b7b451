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


def test_a_word_not_understood_then_the_key_is_kept_only_where_learning_is_on(tmp_path: Path) -> None:
    """[ivr] learn_voices: in the main menu the caller says a word that is no key, then presses
    2 (to the ID check); there the caller says another word and types the ID. Only the menu
    word is kept, as key 2, with its call; a box without learning keeps nothing."""
    hello, other = say(tmp_path, "hello there", "en"), say(tmp_path, "banana", "en")
    for learn in (True, False):
        run = tmp_path / f"learn-{learn}"
        run.mkdir()
        box = Box(run, flow="finance", language="en", ivr_extra=f"learn_voices = {'true' if learn else 'false'}")
        try:
            place_call(box.uri, "2,1,2,3,4,5,6", run / "heard.wav", wait=8.0, gap=1.0, hold=4, cwd=run, say=[
                (say(tmp_path, "two", "en"), 1.5),       # English, over the language prompt
                (hello, 5.0),                             # the main menu: not a key
                (other, 10.0),                            # the ID prompt (a collect node): never kept
            ])
        finally:
            assert box.stop() == 0, box.output
        with sqlite3.connect(box.db) as db:
            kept = db.execute("SELECT v.key, v.language, v.call_uid = c.call_uid, length(v.audio) "
                              "FROM voice_samples v JOIN calls c ON 1").fetchall()
        if learn:
            assert [(k, lang, same) for k, lang, same, _ in kept] == [("2", "en", 1)], box.output[-3000:]
            assert 0.2 * 16000 < kept[0][3] < 2.5 * 16000
            assert "kept the word not understood as 2" in box.output
        else:
            assert kept == []

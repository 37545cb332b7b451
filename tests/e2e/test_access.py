"""Elderly and visually-impaired callers on real SIP calls, measured in what the caller heard."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgepbx.dsp.level import active_speech_level
from tests.audio_match import locate, read_wav
from tests.e2e.support import PROMPTS, Box, Central, heard_in_order, place_call
from tests.e2e.test_voice import say

pytestmark = pytest.mark.e2e


def variant_pcm(prompt: str, lang: str, variant: str) -> np.ndarray:
    return read_wav(PROMPTS / lang / variant / f"{prompt}.wav")[0]


def speech_extent(audio: np.ndarray, start: int, rate: int, silence_s: float = 0.9) -> float:
    """Seconds from `start` to the last loud sample before `silence_s` of quiet."""
    hop = rate // 100
    loud_after = start
    quiet = 0
    for i in range(start, len(audio) - hop, hop):
        if np.abs(audio[i:i + hop]).max() > 300:
            loud_after, quiet = i + hop, 0
        else:
            quiet += 1
            if quiet * hop >= silence_s * rate:
                break
    return (loud_after - start) / rate


def test_a_struggling_caller_gets_slower_louder_prompts_and_the_human_first(tmp_path: Path) -> None:
    box = Box(tmp_path, language="en")          # ecommerce; a keypad caller who fails twice
    try:
        place_call(box.uri, "2,+13,7,+1,8", tmp_path / "heard.wav", hold=24, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
    assert "now in elderly mode (2 failed inputs in a row)" in box.output
    audio, rate = read_wav(tmp_path / "heard.wav")
    normal = read_wav(PROMPTS / "en" / "ecom_main.wav")[0]
    elderly = variant_pcm("ecom_main", "en", "elderly")
    at_normal, score_n = locate(audio[:15 * rate], normal, rate)   # the first, heard whole
    at_elderly, score_e = locate(audio, elderly, rate)
    assert score_n > 0.7 and score_e > 0.7 and at_elderly > at_normal + 10
    human, score_h = locate(audio, variant_pcm("elderly_human_first", "en", "elderly"), rate)
    assert score_h > 0.7 and human < at_elderly, "the human option was not offered first"
    # what the caller heard: a third longer (tempo 0.75), about 6 dB louder
    start_n, start_e = int(at_normal * rate), int(at_elderly * rate)
    len_n, len_e = speech_extent(audio, start_n, rate), speech_extent(audio, start_e, rate)
    assert len_e / len_n == pytest.approx(1 / 0.75, rel=0.05), (len_n, len_e)
    level_n = active_speech_level(audio[start_n:start_n + int(len_n * rate)].astype(np.int16))
    level_e = active_speech_level(audio[start_e:start_e + int(len_e * rate)].astype(np.int16))
    assert level_e - level_n == pytest.approx(6.0, abs=1.0), (level_n, level_e)
    [row] = sqlite3.connect(box.db).execute("SELECT mode FROM calls").fetchall()
    assert row == ("elderly",)


def test_a_slow_speaker_is_switched_to_elderly_mode(tmp_path: Path) -> None:
    slow = tmp_path / "slow.wav"
    sp = subprocess
    raw = tmp_path / "slow-raw.wav"
    sp.run(["espeak-ng", "-v", "en-us", "-s", "80", "-w", str(raw),
            "Hello. I would like to ask about my order, it has not arrived yet."], check=True)
    sp.run(["sox", str(raw), "-r", "8000", "-b", "16", "-c", "1", str(slow)], check=True)
    box = Box(tmp_path, language="en")
    try:
        place_call(box.uri, "2", tmp_path / "heard.wav", say=[(slow, 3.0)], hold=14, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
    assert "slow speech" in box.output and "now in elderly mode (slow speech" in box.output
    [row] = sqlite3.connect(box.db).execute("SELECT mode FROM calls").fetchall()
    assert row == ("elderly",)


def test_a_blind_caller_hears_pauses_after_each_option_and_finishes_by_voice(tmp_path: Path) -> None:
    box = Box(tmp_path, flow="finance", language="en")
    token = box.create_token("ops", "write")
    r = httpx.post(f"{box.api}/api/v1/directory", headers={"Authorization": f"Bearer {token}"},
                   json={"upsert": [{"number": "1002", "name": "Mr Lee", "language": "en", "flags": ["visually_impaired"]}]})
    assert r.status_code == 200, r.text
    try:
        result = place_call(box.uri, "", tmp_path / "heard.wav", from_user="1002", hold=12, cwd=tmp_path, say=[
            (say(tmp_path, "two", "en"), 2.0),        # language: English (over the prompt)
            (say(tmp_path, "three", "en"), 34.0),     # main menu, after every option: loans
            (say(tmp_path, "two", "en"), 52.0),       # anything else? 2: goodbye
        ])
    finally:
        assert box.stop() == 0, box.output
    assert result["answered"]
    audio, rate = read_wav(tmp_path / "heard.wav")
    main = variant_pcm("fin_main", "en", "visually_impaired")
    at, score = locate(audio, main, rate)
    assert score > 0.7
    # after each of the three options: at least 2 s with nothing but line noise
    hop = rate // 100
    seg = audio[int(at * rate):int(at * rate) + len(main)]
    quiet = [np.abs(seg[i:i + hop]).max() < 300 for i in range(0, len(seg) - hop, hop)]
    runs, run = [], 0
    for q in quiet + [False]:
        if q:
            run += 1
        else:
            if run:
                runs.append(run / 100)
            run = 0
    assert sum(r >= 2.0 for r in runs) >= 2, runs     # between options; the last one ends the prompt
    heard_in_order(tmp_path / "heard.wav", [("fin_loans", "en"), ("goodbye", "en")])
    [row] = sqlite3.connect(box.db).execute("SELECT mode, ivr_path, outcome FROM calls").fetchall()
    assert row[0] == "visually_impaired" and row[2] == "completed"
    assert json.loads(row[1]) == ["language", "main", "loans", "anything_else", "goodbye"]
    assert box.output.count("(voice, confidence") == 3


def test_central_hangs_up_first_and_the_caller_scores_the_call(tmp_path: Path) -> None:
    central = Central(tmp_path, "--hangup-after", "3")
    box = Box(tmp_path, central=central.uri, language="en")
    try:
        # English, operator; central talks 3 s and hangs up; the caller presses 4
        place_call(box.uri, "2,0,+9,4", tmp_path / "heard.wav", hold=6, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    heard_in_order(tmp_path / "heard.wav", [("transferring", "en"), ("csat_question", "en"), ("csat_thanks", "en")])
    [row] = sqlite3.connect(box.db).execute("SELECT outcome, csat, mode, hangup_cause FROM calls").fetchall()
    assert row == ("forwarded", 4, "normal", "box hung up")

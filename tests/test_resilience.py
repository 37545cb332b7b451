"""What the box repairs instead of refusing to start: prompts, calls cut off mid-way."""
from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue, write_wav
from edgepbx.resilience import TONE_STAMP, readable_wav, repair_prompts, tone
from edgepbx.store import CallRecord, Store


def test_missing_prompts_are_synthesised_or_toned_and_alarmed(tmp_path: Path) -> None:
    catalogue = PromptCatalogue(tmp_path)
    flow = load_flow("outage")
    spoken: list[tuple[str, str]] = []

    def speak(text: str, language: str, out: Path) -> None:
        if language == "zh":
            raise RuntimeError("no espeak-ng here")
        spoken.append((language, text))
        write_wav(out, tone(0.2, 300.0))
    alarms: dict[str, str] = {}
    repaired = repair_prompts(catalogue, [flow], alarms, speak)
    expected = {f"{lang}/{pid}" for pid in flow.prompt_ids() for lang in flow.languages}
    assert set(repaired) == expected and "prompts" in alarms
    assert all(readable_wav(catalogue.path(pid, lang)) for pid in flow.prompt_ids() for lang in flow.languages)
    zh = next(iter(flow.prompt_ids()))
    assert catalogue.path(zh, "zh").with_suffix(".txt").read_text() == TONE_STAMP
    assert {lang for lang, _ in spoken} == {"en"}
    assert repair_prompts(catalogue, [flow], {}, speak) == []          # nothing left to repair


def test_readable_wav_refuses_what_the_call_stack_cannot_play(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    write_wav(good, tone())
    assert readable_wav(good)
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    assert not readable_wav(tmp_path / "junk.wav")
    assert not readable_wav(tmp_path / "missing.wav")
    wide = tmp_path / "44k.wav"
    with wave.open(str(wide), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(44100), w.writeframes(b"\0\0" * 100)
    assert not readable_wav(wide)


def test_a_call_in_progress_is_recorded_interrupted_at_the_next_open(tmp_path: Path) -> None:
    async def go() -> None:
        store = await Store.open(tmp_path / "box.db")
        record = CallRecord("c-1", "1001", "ivr", 100.0, 101.0, 130.0, "en", ("language", "main"),
                            {"order_number": "380412"}, "abandoned", None, "unknown")
        await store.call_in_progress(record)
        done = CallRecord("c-2", "1002", "ivr", 100.0, 101.0, 140.0, "en", ("language",), {}, "abandoned", None,
                          "caller hung up")
        await store.call_in_progress(done)
        await store.add_call(done)                   # ended normally: no longer in progress
        await store.close()                          # (as good as a crash: nothing else is written)
        store = await Store.open(tmp_path / "box.db")
        [closed] = await store.close_interrupted()
        assert closed.call_uid == "c-1" and closed.outcome == "interrupted" and closed.ended_at == 130.0
        calls = await store.calls()
        assert [(c["call_uid"], c["outcome"]) for c in calls] == [("c-2", "abandoned"), ("c-1", "interrupted")]
        assert calls[1]["ivr_path"] == ["language", "main"] and calls[1]["digits"] == {"order_number": "380412"}
        assert await store.close_interrupted() == []
        await store.close()
    asyncio.run(go())

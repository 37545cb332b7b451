"""Learning a site's voices ([ivr] learn_voices): keeps the words calls hand it, adapts the
per-box templates off the call path, and hands the accepted set to new calls.

The store holds the samples (deleted with their call's record); the adapted templates live in
memory and are rebuilt at start from the store. Adaptation runs in a worker thread at most
once per ADAPT_EVERY_S and only when samples were added, so a busy box spends little on it.
"""
from __future__ import annotations

import asyncio
import logging
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgepbx.dsp.voicekey.adapt import Adaptation, adapt
from edgepbx.store import Store

log = logging.getLogger("edgepbx.voices")
ADAPT_EVERY_S = 60.0
MAX_SAMPLE_S = 2.5
PROMPT_CHECK_S = 60.0          # seconds of the box's own prompts used as "no key" checks


@dataclass
class LanguageState:
    samples: int = 0
    templates: dict | None = None
    last: Adaptation | None = None
    adapted_at: float | None = None


class VoiceLearner:
    def __init__(self, store: Store, enabled: bool, prompt_files: Callable[[str], list[Path]]) -> None:
        """`prompt_files(lang)`: the box's prompt recordings of a language (the no-key checks)."""
        self.store = store
        self.enabled = enabled
        self.prompt_files = prompt_files
        self.state: dict[str, LanguageState] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    def templates(self, language: str) -> dict[str, list[np.ndarray]]:
        state = self.state.get(language)
        return state.templates or {} if state else {}

    async def keep(self, call_uid: str, language: str, key: str, audio: bytes) -> bool:
        """Keep one word (int16 8 kHz bytes) as an example of `key`; False when not learning."""
        if not self.enabled or not audio or len(audio) > MAX_SAMPLE_S * 8000 * 2:
            return False
        await self.store.add_voice_sample(call_uid, language, key, audio)
        self.state.setdefault(language, LanguageState()).samples += 1
        self._dirty.add(language)
        self._wake.set()
        return True

    async def adapt_now(self, language: str) -> Adaptation:
        """Adapt `language` from every sample in the store (in a worker thread)."""
        rows = await self.store.voice_samples(language)
        samples = [(r["key"], np.frombuffer(r["audio"], "<i2").copy()) for r in rows]
        prompts = await asyncio.to_thread(self._prompt_audio, language)
        state = self.state.setdefault(language, LanguageState())
        state.samples = len(samples)
        result = await asyncio.to_thread(adapt, language, samples, prompts, state.templates)
        state.last, state.adapted_at = result, time.time()
        if result.accepted:
            state.templates = result.templates
        log.info("voices %s: %d samples, %s (held back: before %s; after %s)", language, len(samples),
                 "adapted" if result.accepted else f"kept the current set: {result.reason}", result.before, result.after)
        return result

    async def run(self) -> None:
        if not self.enabled:
            return
        for language, n in (await self.store.voice_sample_counts()).items():
            if n:
                self._dirty.add(language)
        while True:
            for language in sorted(self._dirty):
                self._dirty.discard(language)
                try:
                    await self.adapt_now(language)
                except Exception:  # noqa: BLE001 - learning is optional; calls go on without it
                    log.exception("adapting voices (%s) failed", language)
            self._wake.clear()
            await asyncio.sleep(ADAPT_EVERY_S)
            await self._wake.wait()

    def status(self) -> dict:
        out: dict = {"enabled": self.enabled}
        for language, state in sorted(self.state.items()):
            last = state.last
            out[language] = {"samples": state.samples, "keys_learnt": sorted(state.templates or {}),
                             "last_adaptation": None if last is None else {
                                 "accepted": last.accepted, "reason": last.reason,
                                 "before": str(last.before), "after": str(last.after), "at": state.adapted_at}}
        return out

    def _prompt_audio(self, language: str) -> list[np.ndarray]:
        out, total = [], 0
        for path in self.prompt_files(language):
            try:
                with wave.open(str(path)) as w:
                    if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (8000, 2, 1):
                        continue
                    pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()
            except (OSError, wave.Error, EOFError):
                continue
            out.append(pcm)
            total += len(pcm)
            if total >= PROMPT_CHECK_S * 8000:
                break
        return out

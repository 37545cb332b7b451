"""Operators' recordings of key words (ROOT/LANG/KEY/NAME.wav, 8 kHz mono 16-bit), uploaded
through the sync API. A call's voice-key decoder compares unsure words with them, so a
branch can teach the box how its callers say "挂失". Read again when the folder changes,
so the next call uses a new recording."""
from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepbx.dsp.voicekey.vocabulary import KEYS, LANGUAGES
from edgepbx.ivr.recordings import BadRecording, store_wav

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
MAX_SECONDS = 3.0          # one key word, said slowly
MAX_PER_KEY = 20


@dataclass(frozen=True)
class Example:
    language: str
    key: str
    name: str
    duration_s: float


class VoiceExamples:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, tuple[tuple, dict[str, list[np.ndarray]]]] = {}

    def path(self, language: str, key: str, name: str) -> Path:
        if language not in LANGUAGES:
            raise BadRecording(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
        if key not in KEYS:
            raise BadRecording(f"unknown voice key {key!r} (known: {', '.join(KEYS)})")
        if not NAME.match(name):
            raise BadRecording("names are 1-48 lower-case letters, digits, '_' or '-'")
        return self.root / language / key / f"{name}.wav"

    def listing(self) -> list[Example]:
        out = []
        for path in sorted(self.root.glob("*/*/*.wav")):
            language, key = path.parent.parent.name, path.parent.name
            if language in LANGUAGES and key in KEYS and NAME.match(path.stem):
                with wave.open(str(path)) as w:
                    out.append(Example(language, key, path.stem, round(w.getnframes() / w.getframerate(), 3)))
        return out

    async def add(self, language: str, key: str, name: str, upload: bytes) -> Example:
        target = self.path(language, key, name)
        if not target.exists() and len(list(target.parent.glob("*.wav"))) >= MAX_PER_KEY:
            raise BadRecording(f"{language}/{key} already has {MAX_PER_KEY} recordings; delete one first")
        seconds = await store_wav(upload, target, MAX_SECONDS)
        return Example(language, key, name, round(seconds, 3))

    def remove(self, language: str, key: str, name: str) -> bool:
        path = self.path(language, key, name)
        if not path.exists():
            return False
        path.unlink()
        return True

    def load(self, language: str) -> dict[str, list[np.ndarray]]:
        """key -> recordings (int16) of `language`; cached until a file changes."""
        files = sorted((self.root / language).glob("*/*.wav"))
        stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
        cached = self._cache.get(language)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        out: dict[str, list[np.ndarray]] = {}
        for path in files:
            with wave.open(str(path)) as w:
                out.setdefault(path.parent.name, []).append(np.frombuffer(w.readframes(w.getnframes()), "<i2").copy())
        self._cache[language] = (stamp, out)
        return out

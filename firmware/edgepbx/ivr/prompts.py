"""The prompt catalogue: where each (prompt id, language) lives on disk, and default rendering.

Files are PROMPTS/LANG/ID.wav, 8 kHz 16-bit mono (the call stack's clock rate, so nothing is
resampled on the call path). Default prompts are synthesised from the flow's text with
espeak-ng; a `.txt` beside each synthesised file holds the text it came from, so a changed
text is rendered again while an operator's recording (no `.txt`) is never overwritten.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from edgepbx.dsp.level import NORMAL_DBOV, normalise

from edgepbx.ivr.flow import Flow

VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us"}  # `cmn` reads Han characters as English
RATE = 8000
RENDER_VERSION = "render-5"  # bump when synthesis changes, so default prompts are rendered again


class PromptsMissing(RuntimeError):
    pass


class PromptCatalogue:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, prompt_id: str, language: str) -> Path:
        return self.root / language / f"{prompt_id}.wav"

    def missing(self, flow: Flow) -> list[str]:
        return [f"{lang}/{pid}" for pid in sorted(flow.prompt_ids()) for lang in flow.languages
                if not self.path(pid, lang).is_file()]

    def check(self, flow: Flow) -> None:
        missing = self.missing(flow)
        if missing:
            raise PromptsMissing(f"flow {flow.name!r} names prompts with no audio under {self.root}: "
                                 f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} "
                                 "(run `edgepbx prompts render`)")

    def render(self, flow: Flow, level_dbov: float = NORMAL_DBOV) -> int:
        """Synthesise missing or outdated default prompts; return how many were written."""
        for tool in ("espeak-ng", "sox"):
            if shutil.which(tool) is None:
                raise PromptsMissing(f"{tool} is not installed (Debian package {tool})")
        written = 0
        for pid in sorted(flow.prompt_ids()):
            for lang in flow.languages:
                text = flow.prompts[pid][lang]
                wav, note = self.path(pid, lang), self.path(pid, lang).with_suffix(".txt")
                stamp = f"{RENDER_VERSION}\n{text}"
                if wav.is_file() and (not note.is_file() or note.read_text(encoding="utf-8") == stamp):
                    continue  # up to date, or an operator's recording
                wav.parent.mkdir(parents=True, exist_ok=True)
                synthesise(text, lang, wav, level_dbov)
                note.write_text(stamp, encoding="utf-8")
                written += 1
        return written


AUDIBLE_DBFS = -40.0     # a caller's first audible frame is one above -45 dBFS; 5 dB to spare
LEAD_S = 0.01


def from_audible(pcm: np.ndarray) -> np.ndarray:
    """`pcm` from 10 ms before its first audible 10 ms: espeak's quiet onset (up to ~100 ms
    of breath under -45 dBFS after levelling) is time the caller waits in silence."""
    block = RATE // 100
    n = len(pcm) // block
    if n == 0:
        return pcm
    rms = np.sqrt((pcm[: n * block].astype(np.float64).reshape(n, block) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 32768 * 10 ** (AUDIBLE_DBFS / 20))
    if loud.size == 0:
        return pcm
    return pcm[max(0, loud[0] * block - int(LEAD_S * RATE)):]


def write_wav(out: Path, pcm: np.ndarray) -> None:
    """8 kHz mono 16-bit WAV, written atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".part.wav")
    with wave.open(str(part), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    part.replace(out)


def synthesise(text: str, language: str, out: Path, level_dbov: float = NORMAL_DBOV) -> None:
    """espeak-ng → 8 kHz mono 16-bit WAV at `level_dbov` (ITU-T P.56), written atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", VOICES[language], "-s", "150", "-w", str(raw), text],
                       check=True, capture_output=True)
        part = out.with_suffix(".part.wav")
        # Trim espeak's leading silence (it delays the caller's first audio), keep a short tail.
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(part),
                        "silence", "1", "0.01", "0.5%", "pad", "0.02", "0.25"], check=True, capture_output=True)
        with wave.open(str(part)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        write_wav(out, from_audible(normalise(pcm, RATE, level_dbov)))

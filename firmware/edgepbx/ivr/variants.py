"""The elderly and visually-impaired versions of every prompt, made by the box itself from
the one recording an operator uploads (or the synthesised default).

- elderly: slowed to `[access] elderly_tempo` at the same pitch (WSOLA), and louder
  (`elderly_level_dbov`, ITU-T P.56 active level, peaks limited);
- visually_impaired: every pause between sentences (each option of a menu) lengthened to
  `[access] pause_s`.

Files are PROMPTS/LANG/VARIANT/ID.wav with a .txt stamp of what they were made from; they
are remade only when the source or the settings change, never on the call path.
"""
from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np

from edgepbx.config import AccessSection
from edgepbx.dsp.level import normalise
from edgepbx.dsp.stretch import time_stretch
from edgepbx.ivr.prompts import RATE, PromptCatalogue, write_wav

VARIANTS = ("elderly", "visually_impaired")
# A silence this long inside a prompt ends an option: English menus end options with a full
# stop ("..., press 1." about 0.4 s in speech, commas about 0.25 s); Mandarin ones with a
# comma ("...请按1，" about 0.2 s) and say little else between commas.
GAP_S = {"en": 0.33, "zh": 0.18}
SILENT_DB = 35.0        # ... silence: 10 ms frames this far under the prompt's loudest


def variant_path(catalogue: PromptCatalogue, prompt_id: str, language: str, variant: str) -> Path:
    return catalogue.root / language / variant / f"{prompt_id}.wav"


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


def lengthen_pauses(pcm: np.ndarray, rate: int, pause_s: float, gap_s: float) -> np.ndarray:
    """Every inner silence of at least `gap_s` becomes `pause_s` long (longer ones are kept)."""
    hop = rate // 100
    frames = len(pcm) // hop
    if frames == 0:
        return pcm
    power = (pcm[: frames * hop].astype(np.float64).reshape(frames, hop) ** 2).mean(axis=1) + 1.0
    db = 10 * np.log10(power)
    silent = db < db.max() - SILENT_DB
    loud = np.flatnonzero(~silent)
    if len(loud) == 0:
        return pcm
    pieces, last = [], 0
    i = loud[0]
    while i <= loud[-1]:
        if silent[i]:
            j = i
            while j <= loud[-1] and silent[j]:
                j += 1
            if (j - i) * hop >= gap_s * rate:
                middle = (i + j) // 2 * hop
                pieces.append(pcm[last:middle])
                extra = int((pause_s + 0.1) * rate) - (j - i) * hop   # a little over, never under
                if extra > 0:
                    pieces.append(np.zeros(extra, np.int16))
                last = middle
            i = j
        else:
            i += 1
    pieces.append(pcm[last:])
    return np.concatenate(pieces)


def make(pcm: np.ndarray, variant: str, access: AccessSection, language: str) -> np.ndarray:
    if variant == "elderly":
        return normalise(time_stretch(pcm, RATE, access.elderly_tempo), RATE, access.elderly_level_dbov)
    if variant == "visually_impaired":
        return normalise(lengthen_pauses(pcm, RATE, access.pause_s, GAP_S[language]), RATE, access.level_dbov)
    raise ValueError(f"unknown prompt variant {variant!r}")


def refresh(catalogue: PromptCatalogue, access: AccessSection, prompt_ids: set[str] | None = None) -> int:
    """Make the variants that are missing or older than their source; return how many."""
    made = 0
    for source in sorted(catalogue.root.glob("*/*.wav")):
        language, prompt_id = source.parent.name, source.stem
        if language not in GAP_S:
            continue
        if prompt_ids is not None and prompt_id not in prompt_ids:
            continue
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        for variant in VARIANTS:
            out = variant_path(catalogue, prompt_id, language, variant)
            stamp = f"{digest} v3 {access.elderly_tempo} {access.elderly_level_dbov} {access.level_dbov} {access.pause_s}"
            note = out.with_suffix(".txt")
            if out.is_file() and note.is_file() and note.read_text() == stamp:
                continue
            write_wav(out, make(read_pcm(source), variant, access, language))
            note.write_text(stamp)
            made += 1
    return made


def prepare_upload(catalogue: PromptCatalogue, access: AccessSection, language: str, prompt_id: str) -> None:
    """An operator's new recording: set to the prompt level, then its variants made."""
    source = catalogue.path(prompt_id, language)
    write_wav(source, normalise(read_pcm(source), RATE, access.level_dbov))
    refresh(catalogue, access, {prompt_id})

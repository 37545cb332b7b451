"""Adapting voice keys to one site's callers, from words the box kept ([ivr] learn_voices).

Each kept sample is a word the networks did not understand and the key the caller pressed for
it at once. Adaptation turns the samples into per-box templates (matched by DTW when the
networks are unsure, as operators' recordings are) and guards itself: every fourth sample is
held back and never becomes a template, and the box's own prompts stand for speech that is no
key. A new template set is used only if, on those checks, it gets no key wrong that the
current set got right, no more keys wrong in all, and no more false keys on the prompts: the
box can learn, but it cannot learn to be worse. No I/O: the caller gives samples and prompt
audio, and runs this off the call path (a thread).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgepbx.dsp._voicekey import dtw_distance
from edgepbx.dsp.g711 import line
from edgepbx.dsp.voicekey.decoder import EXAMPLE_DISTANCE, EXAMPLE_LEAD, VoiceKeyDecoder, _words, template
from edgepbx.dsp.voicekey.model import WordModel

HOLD_BACK_EVERY = 4          # samples 3, 7, 11, ... (in the order kept) are checks, never templates
MAX_TEMPLATES_PER_KEY = 8    # the newest; DTW cost grows with each one
MIN_SAMPLES = 4


@dataclass(frozen=True)
class Score:
    right: int = 0       # held-back samples named as the key pressed
    wrong: int = 0       # ... named as another key
    unsure: int = 0      # ... not named ("say it again")
    false_keys: int = 0  # keys heard in the box's prompts

    def __str__(self) -> str:
        return f"{self.right} right, {self.wrong} wrong, {self.unsure} unsure, {self.false_keys} false keys on prompts"


@dataclass
class Adaptation:
    templates: dict[str, list[np.ndarray]] = field(default_factory=dict)   # key -> recordings
    before: Score = Score()
    after: Score = Score()
    accepted: bool = False
    reason: str = ""


def split(samples: list[tuple[str, np.ndarray]]) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """(learn, hold back): every HOLD_BACK_EVERY-th sample is a check."""
    learn = [s for i, s in enumerate(samples) if i % HOLD_BACK_EVERY != HOLD_BACK_EVERY - 1]
    held = [s for i, s in enumerate(samples) if i % HOLD_BACK_EVERY == HOLD_BACK_EVERY - 1]
    return learn, held


def templates_from(samples: list[tuple[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """The newest samples of each key, less the confusable ones: a sample whose nearest other
    sample (DTW) belongs to another key and is within a match's distance could name either
    key, so both go (decided on the learning samples alone, never on the held-back ones)."""
    heard = [(key, audio, _template(audio)) for key, audio in samples]
    confusable: set[int] = set()
    for i, (key, _, t) in enumerate(heard):
        if t is None:
            confusable.add(i)
            continue
        near = [(dtw_distance(t, u), j) for j, (_, _, u) in enumerate(heard) if j != i and u is not None]
        if near:
            distance, j = min(near)
            if heard[j][0] != key and distance <= EXAMPLE_DISTANCE * EXAMPLE_LEAD:
                confusable |= {i, j}
    out: dict[str, list[np.ndarray]] = {}
    for i in reversed(range(len(heard))):          # the newest first
        key, audio, _ = heard[i]
        if i not in confusable and len(out.setdefault(key, [])) < MAX_TEMPLATES_PER_KEY:
            out[key].append(audio)
    return {k: v for k, v in out.items() if v}


def _template(audio: np.ndarray) -> np.ndarray | None:
    pause = np.zeros(2400)
    words = _words(line(np.concatenate([pause, audio.astype(np.float64), pause])), 8000)
    return template(max(words, key=len)) if words else None


def score(lang: str, templates: dict[str, list[np.ndarray]], held: list[tuple[str, np.ndarray]],
          prompts: list[np.ndarray], vocabulary: tuple[str, ...] | None, model: WordModel | None = None) -> Score:
    right = wrong = unsure = false_keys = 0
    pause = np.zeros(2400, np.int16)
    for key, audio in held:
        decoder = VoiceKeyDecoder(lang, 8000, vocabulary, examples=templates, model=model)
        events = decoder.feed(np.concatenate([pause, audio, pause])) + decoder.flush()
        if not events:
            unsure += 1
        elif max(events, key=lambda e: e.confidence).key == key:
            right += 1
        else:
            wrong += 1
    for audio in prompts:
        decoder = VoiceKeyDecoder(lang, 8000, vocabulary, examples=templates, model=model)
        false_keys += len(decoder.feed(audio) + decoder.flush())
    return Score(right, wrong, unsure, false_keys)


def adapt(lang: str, samples: list[tuple[str, np.ndarray]], prompts: list[np.ndarray],
          current: dict[str, list[np.ndarray]] | None = None, vocabulary: tuple[str, ...] | None = None,
          model: WordModel | None = None) -> Adaptation:
    """A template set from `samples` (key, int16 audio; oldest first), accepted only if the
    held-back checks are no worse than with `current` (the set in use, or none)."""
    current = current or {}
    if len(samples) < MIN_SAMPLES:
        return Adaptation(current, reason=f"{len(samples)} samples; {MIN_SAMPLES} needed")
    learn, held = split(samples)
    candidate = templates_from(learn)
    before = score(lang, current, held, prompts, vocabulary, model)
    after = score(lang, candidate, held, prompts, vocabulary, model)
    if after.wrong > before.wrong:
        return Adaptation(current, before, after, False, "more held-back words named wrong")
    if after.false_keys > before.false_keys:
        return Adaptation(current, before, after, False, "more false keys on the prompts")
    if after.right < before.right:
        return Adaptation(current, before, after, False, "fewer held-back words understood")
    return Adaptation(candidate, before, after, True, "no held-back check worse")

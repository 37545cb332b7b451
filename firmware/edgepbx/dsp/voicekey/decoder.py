"""Streaming voice-key decoder: finds each spoken word in a call's audio and names its key.

Audio -> MFCC (cext/features.pyx) -> endpointer -> word input -> network (cext/voicekey.pyx).
A word is reported once, when it ends, and only if the network's best class is a key in the
vocabulary and beats the runner-up by MIN_MARGIN: an unsure word is better answered with
"please say it again" than with a wrong key. Words that overlap a DTMF tone are not words.
Operators' own recordings of a key (examples) are matched by fingerprint, so a word the
network is unsure of can still be recognised when it sounds like one of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepbx.dsp.dtmf import DtmfDetector
from edgepbx.dsp.features import FRAME_S, Mfcc
from edgepbx.dsp.pcm import as_int16, check_rate
from edgepbx.dsp.voicekey.endpoint import Endpointer, HANG_FRAMES, PREROLL, Segment
from edgepbx.dsp.voicekey.frontend import word_input
from edgepbx.dsp.voicekey.model import OTHER, WordModel, load
from edgepbx.dsp.voicekey.vocabulary import DIGITS, LANGUAGES, check_vocabulary

MIN_MARGIN = 0.5            # best minus second-best probability, over vocabulary and "other"
EXAMPLE_SIMILARITY = 0.92   # cosine similarity to an operator's recording that counts as a match
EXAMPLE_LEAD = 0.04         # ... and by how much it must beat the nearest other key's recording
STRING_END_S = 1.5          # digit-string mode: silence that ends the string
WINDOW_S = 0.025


@dataclass(frozen=True, slots=True)
class VoiceKeyEvent:
    key: str            # "0".."9", "back", "operator", "repeat", "lost_card", "yes", "no"; digit strings in digit-string mode
    confidence: float   # 0..1
    start: float        # seconds from stream start
    end: float


class VoiceKeyDecoder:
    """One call direction's decoder. Not thread-safe: one feeder per decoder."""

    def __init__(self, lang: str = "zh", rate: int = 8000, vocabulary: list[str] | tuple[str, ...] | None = None,
                 digit_string: bool = False, examples: dict[str, list[np.ndarray]] | None = None,
                 model: WordModel | None = None) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"voice keys speak {LANGUAGES}, not {lang!r}")
        self.lang = lang
        self.rate = check_rate(rate)
        self.digit_string = digit_string
        self.vocabulary = check_vocabulary(vocabulary if vocabulary is not None else (DIGITS if digit_string else None))
        self.model: WordModel = model or load(lang)
        self._allowed = np.array([c in self.vocabulary or c == OTHER for c in self.model.classes])
        self._examples = self._fingerprints(examples or {})
        self._mfcc = Mfcc(rate)
        self._dtmf = DtmfDetector(rate)
        self._endpointer = Endpointer()
        self.reset()

    def reset(self) -> None:
        """Start a new stream: the next sample is time zero."""
        self._mfcc.reset()
        self._dtmf.reset()
        self._endpointer.reset()
        self._frames: list[np.ndarray] = []
        self._first = 0               # stream index of self._frames[0]
        self._tones: list[float] = []
        self._digits: list[VoiceKeyEvent] = []
        self._silent_frames = 0

    def feed(self, pcm: np.ndarray | bytes) -> list[VoiceKeyEvent]:
        """Feed the next samples (int16, or little-endian 16-bit bytes); get the words they ended."""
        pcm = as_int16(pcm)
        self._tones += [e.start for e in self._dtmf.feed(pcm)]
        frames = self._mfcc.feed(pcm)
        events: list[VoiceKeyEvent] = []
        for row in frames:
            self._frames.append(row)
            segment = self._endpointer.push(float(row[0]))
            if segment is not None:
                event = self._classify(segment)
                if event is not None:
                    events.append(event)
            self._trim()
            if self.digit_string:
                events += self._string_end()
        return events

    def flush(self) -> list[VoiceKeyEvent]:
        """The caller stopped (hung up, or the menu timed out): what is still pending."""
        events = self.feed(np.zeros(int(self.rate * FRAME_S * (HANG_FRAMES + 2)), np.int16))
        if self.digit_string and self._digits:
            events.append(self._string())
        return events

    # ---- internals -------------------------------------------------------------------------

    def _trim(self) -> None:
        keep = self._endpointer.max_frames + PREROLL + HANG_FRAMES + 20
        if len(self._frames) > 2 * keep:
            drop = len(self._frames) - keep
            del self._frames[:drop]
            self._first += drop

    def _classify(self, segment: Segment) -> VoiceKeyEvent | None:
        start_s, end_s = segment.start * FRAME_S, segment.end * FRAME_S + WINDOW_S
        self._tones = [t for t in self._tones if t > start_s - 1.0]
        if any(start_s - 0.1 <= t <= end_s for t in self._tones):
            return None
        lo, hi = max(segment.start - self._first, 0), min(segment.end - self._first, len(self._frames))
        if hi - lo < 2:
            return None
        word = word_input(np.stack(self._frames[lo:hi]))
        key, confidence = self._decide(word)
        if key is None:
            return None
        event = VoiceKeyEvent(key, confidence, round(start_s, 3), round(end_s, 3))
        if self.digit_string and key in DIGITS:
            self._digits.append(event)
            self._silent_frames = 0
            return None
        return event      # in digit-string mode, a word such as "operator" still acts at once

    def _decide(self, word: np.ndarray) -> tuple[str | None, float]:
        p = self.model.probabilities(word) * self._allowed
        p = p / p.sum()
        order = np.argsort(p)[::-1]
        best, margin = self.model.classes[order[0]], float(p[order[0]] - p[order[1]])
        if best != OTHER and margin >= MIN_MARGIN:
            return best, float(p[order[0]])
        if self._examples:
            return self._by_example(word)
        return None, 0.0

    def _fingerprints(self, examples: dict[str, list[np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        out = []
        for key, recordings in examples.items():
            if key not in self.vocabulary:
                continue
            for pcm in recordings:
                words = _words(as_int16(pcm), self.rate)
                if words:
                    longest = max(words, key=len)
                    out.append((key, self.model.fingerprint(word_input(longest))))
        return out

    def _by_example(self, word: np.ndarray) -> tuple[str | None, float]:
        print_ = self.model.fingerprint(word)
        best: dict[str, float] = {}
        for key, ref in self._examples:
            best[key] = max(best.get(key, -1.0), float(ref @ print_))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        key, sim = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else -1.0
        if sim >= EXAMPLE_SIMILARITY and sim - runner_up >= EXAMPLE_LEAD:
            return key, sim
        return None, 0.0

    def _string_end(self) -> list[VoiceKeyEvent]:
        if not self._digits or self._endpointer.start >= 0:
            self._silent_frames = 0
            return []
        self._silent_frames += 1
        if self._silent_frames * FRAME_S < STRING_END_S - HANG_FRAMES * FRAME_S:
            return []
        return [self._string()]

    def _string(self) -> VoiceKeyEvent:
        digits, self._digits = self._digits, []
        self._silent_frames = 0
        return VoiceKeyEvent("".join(d.key for d in digits), min(d.confidence for d in digits),
                             digits[0].start, digits[-1].end)


def _words(pcm: np.ndarray, rate: int) -> list[np.ndarray]:
    """The MFCC frames of every word the endpointer finds in a whole recording."""
    frames = Mfcc(rate).feed(np.concatenate([pcm, np.zeros(int(rate * 0.3), np.int16)]))
    ep = Endpointer()
    out = []
    for i, row in enumerate(frames):
        seg = ep.push(float(row[0]))
        if seg is not None and min(seg.end, len(frames)) - seg.start >= 2:
            out.append(frames[seg.start:min(seg.end, len(frames))])
    return out


def recognize(pcm: np.ndarray | bytes, rate: int = 8000, lang: str = "en", model: WordModel | None = None) -> str | None:
    """The key said in one utterance, or None when no key word was heard with confidence."""
    decoder = VoiceKeyDecoder(lang, rate, model=model)
    events = decoder.feed(as_int16(pcm)) + decoder.flush()
    return max(events, key=lambda e: e.confidence).key if events else None

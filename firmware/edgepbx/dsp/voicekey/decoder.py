"""Streaming voice-key decoder: finds each spoken word in a call's audio and names its key.

Audio -> MFCC (cext/features.pyx) -> endpointer -> word input -> networks (cext/voicekey.pyx,
an ensemble of three whose probabilities are averaged). A word is reported once, when it ends,
and only if the best class is a key in the vocabulary and beats the runner-up by MIN_MARGIN:
an unsure word is better answered with "please say it again" than with a wrong key. The word
is also heard 10 % lower and 10 % higher (resampled: a shorter and a longer vocal tract) and
the three answers averaged, which steadies the networks on voices unlike those they learnt
from. Words that overlap a DTMF tone are not words. Operators' own recordings of a key
(examples) are matched by dynamic time warping (cext/voicekey.pyx), so a word the networks
are unsure of can still be recognised when it sounds like one of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgepbx.dsp._voicekey import dtw_distance
from edgepbx.dsp.dtmf import DtmfDetector
from edgepbx.dsp.features import FRAME_S, Mfcc
from edgepbx.dsp.g711 import line
from edgepbx.dsp.pcm import as_int16, check_rate
from edgepbx.dsp.voicekey.endpoint import Endpointer, HANG_FRAMES, PREROLL, Segment
from edgepbx.dsp.voicekey.frontend import word_input
from edgepbx.dsp.voicekey.model import OTHER, WordModel, load
from edgepbx.dsp.voicekey.vocabulary import DIGITS, LANGUAGES, check_vocabulary

MIN_MARGIN = 0.4            # best minus second-best probability, over vocabulary and "other"
WARPS = (0.9, 1.1)          # the word heard again, resampled by these factors
AGREE = True                # ... and every hearing must name the same key
EXAMPLE_DISTANCE = 3.5      # DTW distance to an operator's recording that counts as a match
EXAMPLE_LEAD = 1.25         # ... and how much nearer it must be than any other key's recording
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
                 model: WordModel | None = None,
                 on_unsure: Callable[[np.ndarray, float], None] | None = None) -> None:
        """`on_unsure(audio, end_s)`: called with the audio of each word heard but not
        understood (a caller may then press the key: the box can learn the voice from it)."""
        if lang not in LANGUAGES:
            raise ValueError(f"voice keys speak {LANGUAGES}, not {lang!r}")
        self.lang = lang
        self.rate = check_rate(rate)
        self.digit_string = digit_string
        self.vocabulary = check_vocabulary(vocabulary if vocabulary is not None else (DIGITS if digit_string else None))
        self.model: WordModel = model or load(lang)
        self.on_unsure = on_unsure
        self._allowed = np.array([c in self.vocabulary or c == OTHER for c in self.model.classes])
        self._examples = self._templates(examples or {})
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
        self._chunks: list[np.ndarray] = []   # recent audio as fed, joined only when a word ends
        self._chunked = 0                      # samples in self._chunks
        self._audio_first = 0                  # stream sample index of self._chunks[0][0]
        self._tones: list[float] = []
        self._digits: list[VoiceKeyEvent] = []
        self._silent_frames = 0

    def feed(self, pcm: np.ndarray | bytes) -> list[VoiceKeyEvent]:
        """Feed the next samples (int16, or little-endian 16-bit bytes); get the words they ended."""
        pcm = as_int16(pcm)
        self._tones += [e.start for e in self._dtmf.feed(pcm)]
        self._keep_audio(pcm)
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

    @property
    def _keep_frames(self) -> int:
        """Frames of history a word can need: the longest word, its lead-in and hang-over."""
        return self._endpointer.max_frames + PREROLL + HANG_FRAMES + 20

    def _trim(self) -> None:
        keep = self._keep_frames
        if len(self._frames) > 2 * keep:
            drop = len(self._frames) - keep
            del self._frames[:drop]
            self._first += drop

    def _keep_audio(self, pcm: np.ndarray) -> None:
        """Keep the last few seconds of audio for hearing a word again (resampled)."""
        self._chunks.append(pcm.copy())
        self._chunked += len(pcm)
        keep = self._keep_frames * (self.rate // 100)
        while self._chunked - len(self._chunks[0]) >= keep:
            dropped = self._chunks.pop(0)
            self._chunked -= len(dropped)
            self._audio_first += len(dropped)

    def _classify(self, segment: Segment) -> VoiceKeyEvent | None:
        start_s, end_s = segment.start * FRAME_S, segment.end * FRAME_S + WINDOW_S
        self._tones = [t for t in self._tones if t > start_s - 1.0]
        if any(start_s - 0.1 <= t <= end_s for t in self._tones):
            return None
        lo, hi = max(segment.start - self._first, 0), min(segment.end - self._first, len(self._frames))
        if hi - lo < 2:
            return None
        frames = np.stack(self._frames[lo:hi])
        hop = self.rate // 100
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        a = max((self._first + lo) * hop - self._audio_first, 0)
        b = min((self._first + hi) * hop + int(WINDOW_S * self.rate) - self._audio_first, len(audio))
        word = word_input(frames, audio[a:b] if self.model.tone else None)
        key, confidence = self._decide(word, audio[a:b], frames)
        if key is None:
            if self.on_unsure is not None:
                self.on_unsure(audio[a:b].copy(), round(end_s, 3))
            return None
        event = VoiceKeyEvent(key, confidence, round(start_s, 3), round(end_s, 3))
        if self.digit_string and key in DIGITS:
            self._digits.append(event)
            self._silent_frames = 0
            return None
        return event      # in digit-string mode, a word such as "operator" still acts at once

    def _decide(self, word: np.ndarray, audio: np.ndarray, frames: np.ndarray) -> tuple[str | None, float]:
        heard = [self.model.probabilities(word)]
        for warp in WARPS:
            if len(audio) < self.rate // 10:
                break
            y = np.interp(np.arange(0, len(audio) - 1, warp), np.arange(len(audio)), audio.astype(np.float64))
            warped_audio = np.round(y).astype(np.int16)
            warped = Mfcc(self.rate).feed(warped_audio)
            if len(warped) >= 2:
                heard.append(self.model.probabilities(word_input(warped, warped_audio if self.model.tone else None)))
        p = np.mean(heard, axis=0) * self._allowed
        p = p / p.sum()
        order = np.argsort(p)[::-1]
        best, margin = self.model.classes[order[0]], float(p[order[0]] - p[order[1]])
        agree = all(int(np.argmax(h * self._allowed)) == order[0] for h in heard) if AGREE else True
        if best != OTHER and margin >= MIN_MARGIN and agree:
            return best, float(p[order[0]])
        if self._examples:
            return self._by_example(frames)
        return None, 0.0

    def _templates(self, examples: dict[str, list[np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        out = []
        for key, recordings in examples.items():
            if key not in self.vocabulary:
                continue
            for pcm in recordings:          # heard as a caller's line delivers it: G.711, after a pause
                pause = np.zeros(int(0.3 * self.rate))
                words = _words(line(np.concatenate([pause, as_int16(pcm).astype(np.float64), pause])), self.rate)
                if words:
                    out.append((key, template(max(words, key=len))))
        return out

    def _by_example(self, frames: np.ndarray) -> tuple[str | None, float]:
        heard = template(frames)
        best: dict[str, float] = {}
        for key, ref in self._examples:
            best[key] = min(best.get(key, np.inf), dtw_distance(heard, ref))
        ranked = sorted(best.items(), key=lambda kv: kv[1])
        key, distance = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else np.inf
        if distance <= EXAMPLE_DISTANCE and runner_up >= EXAMPLE_LEAD * distance:
            return key, float(np.clip(1.0 - distance / (2 * EXAMPLE_DISTANCE), 0.0, 1.0))
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


def template(frames: np.ndarray) -> np.ndarray:
    """A word's frames as DTW compares them: energy relative to the peak (floored at -30 dB,
    a third of the weight), cepstra with their mean removed."""
    energy = np.maximum(frames[:, 0] - frames[:, 0].max(), -7.0)[:, None] / 3.0
    ceps = frames[:, 1:] - frames[:, 1:].mean(axis=0)
    return np.ascontiguousarray(np.concatenate([energy, ceps], axis=1), dtype=np.float32)


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
    pause = np.zeros(int(0.3 * rate), np.int16)   # a clip cut tight to the word still has its onset
    events = decoder.feed(np.concatenate([pause, as_int16(pcm)])) + decoder.flush()
    return max(events, key=lambda e: e.confidence).key if events else None


def warm_up() -> None:
    """Build and run a decoder of every language once (networks loaded), before any call.

    Otherwise the first decoders do their first-time work inside calls, in the SIP thread
    holding the GIL, while pjmedia's clock thread waits for the GIL to run every call's tap:
    the E1 bench saw one 50-70 ms gap in every call already up (issue 26), and none since."""
    silence = np.zeros(8000, dtype=np.int16)
    for lang in LANGUAGES:
        VoiceKeyDecoder(lang, 8000).feed(silence)


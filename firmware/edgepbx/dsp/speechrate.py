"""How fast a caller speaks: syllable nuclei per second of speech (cext/speechrate.pyx).

Fed the caller's audio as it arrives; the IVR reads `syllables_per_second` once enough
speech has been heard (`speech_seconds`) to decide whether the caller is a slow speaker.
"""
from __future__ import annotations

import numpy as np

from edgepbx.dsp._speechrate import SpeechRateCore
from edgepbx.dsp.pcm import as_int16, check_rate

SLOW_BELOW = 3.0        # syllables per second of speech: a slow speaker
MIN_SPEECH_S = 3.0      # speech heard before the rate means anything (a few key words are not enough)
MIN_SYLLABLES = 8       # ... and syllables in it


class SpeechRate:
    def __init__(self, rate: int = 8000) -> None:
        self.rate = check_rate(rate)
        self._core = SpeechRateCore(rate)

    def feed(self, pcm: np.ndarray | bytes) -> None:
        self._core.feed(as_int16(pcm))

    def reset(self) -> None:
        self._core.reset()

    @property
    def syllables(self) -> int:
        return int(self._core.nuclei)

    @property
    def speech_seconds(self) -> float:
        return self._core.speech_frames * 0.01

    @property
    def syllables_per_second(self) -> float:
        """Articulation rate; 0.0 until some speech was heard."""
        seconds = self.speech_seconds
        return self.syllables / seconds if seconds > 0 else 0.0

    @property
    def slow(self) -> bool | None:
        """True for a slow speaker, None until MIN_SPEECH_S of speech (MIN_SYLLABLES) was heard."""
        if self.speech_seconds < MIN_SPEECH_S or self.syllables < MIN_SYLLABLES:
            return None
        return self.syllables_per_second < SLOW_BELOW

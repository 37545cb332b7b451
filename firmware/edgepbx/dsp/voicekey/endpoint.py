"""Finds spoken words in a stream of 10 ms frame energies (no I/O; fed by the decoder).

A word starts when the energy stays 10 dB over the tracked noise floor (and over -45 dBm0)
for 30 ms, and ends after 200 ms below the lower of floor + 6 dB and 30 dB under the word's
peak. Pauses shorter than that stay inside the word, so "lost card" is one segment; digit
strings said with the usual short pauses split into digits. Segments shorter than 80 ms of
voice (clicks) or longer than MAX_S (talk, not a key word) are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

DB = 0.2302585    # one dB in the natural-log energy units of MFCC c0 (power)
# c0 of a -45 dBm0 sine: power of (22,720 * 10^(-45/20))^2 / 2, 0 dBm0 being 22,720 peak.
ABSOLUTE_START = 9.0
FLOOR_MIN = ABSOLUTE_START - 10 * DB
START_DB, END_DB, PEAK_DROP_DB = 10.0, 6.0, 30.0
START_FRAMES, HANG_FRAMES, PREROLL, TAIL = 3, 20, 8, 6
MIN_VOICED = 8
MAX_S = 2.0


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of one spoken word, counted from stream start."""
    start: int
    end: int


class Endpointer:
    def __init__(self, max_frames: int = int(MAX_S * 100)) -> None:
        self.max_frames = max_frames
        self.reset()

    def reset(self) -> None:
        self.frame = 0
        self.floor: float | None = None
        self.run = 0              # consecutive loud frames while waiting for a word
        self.start = -1           # first loud frame of the word being heard, -1 when none
        self.peak = 0.0
        self.quiet = 0            # consecutive quiet frames inside a word
        self.voiced = 0
        self.last_voiced = -1
        self.too_long = False

    def push(self, energy: float) -> Segment | None:
        """One frame's c0; returns the word that this frame completed, if any."""
        index = self.frame
        self.frame += 1
        if self.floor is None:
            self.floor = max(energy, FLOOR_MIN)
        loud = energy > max(self.floor + START_DB * DB, ABSOLUTE_START)
        if self.start < 0:
            self._track_floor(energy, loud)
            self.run = self.run + 1 if loud else 0
            if self.run >= START_FRAMES:
                self.start = index - START_FRAMES + 1
                self.peak = energy
                self.quiet = 0
                self.voiced = START_FRAMES
                self.last_voiced = index
                self.too_long = False
            return None
        self.peak = max(self.peak, energy)
        if energy > max(self.floor + END_DB * DB, self.peak - PEAK_DROP_DB * DB):
            self.quiet = 0
            self.last_voiced = index
            self.voiced += 1 if loud else 0
        else:
            self.quiet += 1
        if index - self.start >= self.max_frames:
            self.too_long = True
            self._track_floor(energy, False, rate=0.01)   # a new, louder line noise is learnt
        if self.quiet < HANG_FRAMES:
            return None
        segment = Segment(max(0, self.start - PREROLL), self.last_voiced + 1 + TAIL)
        keep = not self.too_long and self.voiced >= MIN_VOICED
        self.start, self.run = -1, 0
        return segment if keep else None

    def _track_floor(self, energy: float, loud: bool, rate: float = 0.002) -> None:
        """Falls quickly to quieter frames, rises slowly, and not on frames that may be speech."""
        assert self.floor is not None
        if energy < self.floor:
            self.floor = max(FLOOR_MIN, 0.7 * self.floor + 0.3 * energy)
        elif not loud:
            self.floor += rate * 5 * (energy - self.floor)
        else:
            self.floor += rate * (energy - self.floor)

"""Counts of caller audio frames, shared by the SIP stack's taps and the metrics scrape."""
from __future__ import annotations


class AudioStats:
    """Frames the taps received, and how many came late (over LATE_S after the one before:
    the clock thread fell behind, or the network held them). Written by pjmedia's clock
    thread, read by the metrics scrape: plain integers, no lock needed for a count."""
    LATE_S = 0.045

    def __init__(self) -> None:
        self.frames = 0
        self.late = 0


AUDIO = AudioStats()

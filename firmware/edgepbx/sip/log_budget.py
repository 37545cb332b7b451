"""How many lines a stream of SIP noise may write to the log.

A SIP scanner sweeping a box on a public address (sipvicious and the like) sends thousands of
REGISTERs, OPTIONS and INVITEs a minute. Each one the box refuses is worth a log line to a
technician, but not thousands: they would flood the log and wear the SD card.
"""
from __future__ import annotations


class LogBudget:
    """At most `limit` lines per `window_s`."""

    def __init__(self, limit: int = 20, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self.window_start = float("-inf")
        self.used = 0
        self.dropped = 0

    def take(self, now: float) -> int | None:
        """None: leave this line out. Otherwise how many were left out before it (to say so)."""
        if now - self.window_start >= self.window_s:
            self.window_start, self.used = now, 0
        if self.used >= self.limit:
            self.dropped += 1
            return None
        self.used += 1
        dropped, self.dropped = self.dropped, 0
        return dropped

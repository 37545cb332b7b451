"""One keypress, two ways in: RFC 4733 events and in-band tones. A digit seen both ways
(a gateway that sends both) counts once."""
from __future__ import annotations

SAME_PRESS_WINDOW_S = 0.25


class DigitMerger:
    def __init__(self, window: float = SAME_PRESS_WINDOW_S) -> None:
        self._window = window
        self._last: tuple[str, str, float] | None = None  # digit, source, time

    def accept(self, digit: str, source: str, at: float) -> bool:
        """True if this report is a new press; False if it repeats one from the other source."""
        last = self._last
        if last is not None and last[0] == digit and last[1] != source and at - last[2] < self._window:
            return False
        self._last = (digit, source, at)
        return True

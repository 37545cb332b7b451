"""When the box may call people back: a daily window of local time such as "09:00-20:00".

Central may come back at 2 a.m.; the callers who asked for a call back should hear from us
in the morning, not then. A window may run past midnight ("18:00-02:00"). Pure functions.
"""
from __future__ import annotations

import time

Window = tuple[int, int]   # minutes after midnight: start, end (end excluded)


def parse_window(text: str) -> Window:
    """"09:00-20:00" → (540, 1200); ValueError saying what is wrong."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"expected a daily window such as \"09:00-20:00\", got {text!r}")
    window = (_minutes(start.strip(), text), _minutes(end.strip(), text))
    if window[0] == window[1]:
        raise ValueError(f"the window {text!r} is empty: start and end are the same time")
    return window


def _minutes(clock: str, text: str) -> int:
    hours, sep, minutes = clock.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and 0 <= int(hours) <= 24 and 0 <= int(minutes) < 60 and int(hours) * 60 + int(minutes) <= 1440):
        raise ValueError(f"{clock!r} in {text!r} is not a time of day HH:MM")
    return int(hours) * 60 + int(minutes)


def within(window: Window, at: time.struct_time) -> bool:
    """Whether local time `at` falls in the window."""
    minute = at.tm_hour * 60 + at.tm_min
    start, end = window
    return start <= minute < end if start < end else minute >= start or minute < end

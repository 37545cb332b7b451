"""Opening hours for an `hours` flow node: "mon-fri 08:30-17:30; sat 09:00-12:00".

A branch answers differently when it is closed (opening hours, emergency numbers, a message
or a call back instead of a queue nobody staffs). Entries are separated by ";": days (mon,
tue, ..., sun, a range such as mon-fri, several joined by "," as in mon,wed,fri, or daily)
and a window of local time. A window may run past midnight ("fri 18:00-02:00" is open
until 2 a.m. on Saturday). Closed dates ("2026-10-01", or "01-01" every year) override the
week. Pure functions: the caller passes the local time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from edgepbx.central.hours import Window, parse_window, within

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")     # time.struct_time.tm_wday order


@dataclass(frozen=True)
class Opening:
    days: frozenset[int]
    window: Window


def parse_schedule(text: str) -> tuple[Opening, ...]:
    """The openings; ValueError naming the part that is wrong."""
    out = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        days_text, _, window_text = entry.partition(" ")
        if not window_text.strip():
            raise ValueError(f"{entry!r}: expected DAYS HH:MM-HH:MM, e.g. \"mon-fri 09:00-18:00\"")
        out.append(Opening(_days(days_text.lower(), entry), parse_window(window_text.strip())))
    if not out:
        raise ValueError("no opening hours: e.g. \"mon-fri 09:00-18:00; sat 09:00-12:00\"")
    return tuple(out)


def _days(text: str, entry: str) -> frozenset[int]:
    if text == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{entry!r}: {part!r} is not a day or a range of days ({', '.join(DAYS)}, daily)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])   # fri-mon wraps
    return frozenset(days)


def parse_date(text: str) -> str:
    """"2026-10-01" (that day) or "01-01" (every year); ValueError otherwise."""
    try:
        time.strptime(text if text.count("-") == 2 else f"2000-{text}", "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD or MM-DD") from None
    return text


def is_open(openings: tuple[Opening, ...], closed_dates: tuple[str, ...], at: time.struct_time) -> bool:
    if time.strftime("%Y-%m-%d", at) in closed_dates or time.strftime("%m-%d", at) in closed_dates:
        return False
    yesterday = (at.tm_wday - 1) % 7
    minute = at.tm_hour * 60 + at.tm_min
    for opening in openings:
        start, end = opening.window
        if start < end:
            if at.tm_wday in opening.days and within(opening.window, at):
                return True
        elif (at.tm_wday in opening.days and minute >= start) or (yesterday in opening.days and minute < end):
            return True
    return False

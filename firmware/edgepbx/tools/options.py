"""Command-line option types shared by the SIP tools (the caller and the stand-in central)."""
from __future__ import annotations

import argparse


def hold_span(text: str) -> tuple[float, float]:
    """"5-12" → (5.0, 12.0): hold at 5 s after answer, resume at 12 s (argparse type)."""
    start, _, end = text.partition("-")
    try:
        span = float(start), float(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START-END in seconds, e.g. 5-12") from None
    if not 0 <= span[0] < span[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: the call must be resumed after it is held")
    return span


def at_seconds(text: str) -> tuple[str, float]:
    """"1@4" → ("1", 4.0), "sip:x@host@2" → ("sip:x@host", 2.0): something, then when (argparse type)."""
    what, _, when = text.rpartition("@")
    try:
        seconds = float(when)
    except ValueError:
        seconds = -1.0
    if not what or seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected VALUE@SECONDS, e.g. 1@4")
    return what, seconds

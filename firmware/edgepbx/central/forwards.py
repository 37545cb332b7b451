"""Whether forwards to central connect, seen from the calls themselves.

The link can be up (central answers every OPTIONS) while every forward fails: a queue that
does not exist (404), credentials refused (407), a codec or header central will not take.
Each caller then quietly gets the local menu, and nothing else tells a technician or central
ops why. Failures in a row raise an alarm (console `show alarms`, `/api/v1/status`); one
answered forward clears it. Free of I/O: the call router reports each result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from edgepbx.metrics import Counts

ALARM_AFTER = 3     # one failure is a busy agent; three in a row is worth a look


@dataclass
class ForwardHealth:
    failed_in_a_row: int = 0
    last_failure: str | None = None
    counts: Counts = field(default_factory=Counts)   # every call task's tallies, for GET /metrics

    def answered(self) -> None:
        self.failed_in_a_row = 0
        self.counts.forwards["answered"] += 1

    def failed(self, cause: str) -> None:
        self.failed_in_a_row += 1
        self.last_failure = cause
        self.counts.forwards["failed"] += 1

    def alarm(self) -> str | None:
        if self.failed_in_a_row < ALARM_AFTER:
            return None
        return (f"the last {self.failed_in_a_row} forwards to central failed (last: {self.last_failure}): "
                "callers get the local menu")

"""Central link state with hysteresis, and the routing decision, as a state machine free of I/O.

Fed probe results (answered or not) with the time; returns a Transition when the link
changes. Declared down after DOWN_AFTER probes in a row go unanswered (probes each second
with a one-second timeout: down within 4 s of central going silent, inside the 5 s asked).
Declared up again only after UP_AFTER answers in a row (5 s of steady answers): one lost
answer restarts the count, so a flapping link stays down instead of flipping every second.

Routing combines the link with the operator's mode: `local` always answers locally,
`central` always tries central (each call still falls back on its own), `auto` follows
the link.
"""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("auto", "local", "central")
DOWN_AFTER = 3
UP_AFTER = 5


@dataclass(frozen=True)
class Transition:
    what: str      # "link" or "routing"
    old: str
    new: str
    cause: str


class CentralLink:
    def __init__(self, configured: bool, mode: str = "auto", down_after: int = DOWN_AFTER,
                 up_after: int = UP_AFTER) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.configured = configured
        self.mode = mode
        self.down_after, self.up_after = down_after, up_after
        self.state = "up" if configured else "none"   # optimistic at start: each call falls back alone
        self._misses = 0
        self._answers = 0
        self.changed_at = 0.0
        self._wait_s = 0.0
        self._wait_until = 0.0

    def set_expected_wait(self, seconds: float, now: float, valid_for_s: float = 600.0) -> None:
        """Central's estimate of the wait for an agent (sync API or a header on its answer)."""
        self._wait_s, self._wait_until = max(0.0, seconds), now + valid_for_s

    def expected_wait(self, now: float) -> float:
        """The last estimate while it is fresh; 0 once it expired (no news is no queue)."""
        return self._wait_s if now < self._wait_until else 0.0

    @property
    def routing(self) -> str:
        """Where new calls go: "central" or "local"."""
        if not self.configured or self.mode == "local":
            return "local"
        if self.mode == "central":
            return "central"
        return "central" if self.state == "up" else "local"

    def probed(self, answered: bool, now: float, detail: str = "") -> list[Transition]:
        if not self.configured:
            return []
        before = self.routing
        if answered:
            self._misses = 0
            self._answers += 1
            if self.state == "down" and self._answers >= self.up_after:
                return self._set("up", now, f"central answered {self._answers} probes in a row", before)
        else:
            self._answers = 0
            self._misses += 1
            if self.state == "up" and self._misses >= self.down_after:
                return self._set("down", now, f"{self._misses} probes unanswered ({detail or 'timeout'})", before)
        return []

    def set_mode(self, mode: str, now: float, who: str) -> list[Transition]:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode == self.mode:
            return []
        before = self.routing
        out = [Transition("mode", self.mode, mode, f"set by {who}")]
        self.mode = mode
        if self.routing != before:
            out.append(Transition("routing", before, self.routing, f"mode {mode}"))
        self.changed_at = now
        return out

    def _set(self, state: str, now: float, cause: str, routing_before: str) -> list[Transition]:
        out = [Transition("link", self.state, state, cause)]
        self.state = state
        self.changed_at = now
        if self.routing != routing_before:
            out.append(Transition("routing", routing_before, self.routing, cause))
        return out

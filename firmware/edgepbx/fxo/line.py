"""The analog line's state machine: ringing, caller ID, answering, disconnect. No I/O.

The driver feeds it events stamped with a monotonic time and carries out the actions it
returns (hook relay, starting and ending the call). Ring detect is the raw opto input: during
ringing it pulses at the ringing frequency (16-50 Hz), so activity closer than `RING_JOIN_S`
is one burst. A burst shorter than `RING_MIN_S` (a glitch, a lightning spike) is ignored; a
burst is a ring when its length fits an "on" of the country's ring cadence. Ringing has stopped
(the caller gave up) when no ring follows within the cadence's longest "off" and a margin.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from edgepbx.dsp.callerid import CallerId

RING_JOIN_S = 0.12          # pulses of one ring burst are closer than this (>= 16 Hz ringing)
RING_MIN_S = 0.15           # shorter bursts are noise
CLEAR_GUARD_S = 1.0         # after going on-hook, ring detect is ignored this long (hook transients)
ANSWER_SETTLE_S = 0.2       # the relay has closed and the loop current is up: the call starts

# Ring cadences ("on", "off", ...) in seconds, from the national specifications (ITU-T E.180 suppl. 2).
RING_CADENCES: dict[str, tuple[tuple[float, ...], ...]] = {
    "cn": ((1.0, 4.0),),
    "eu": ((1.0, 4.0), (1.5, 3.5)),
    "us": ((2.0, 4.0),),
    "uk": ((0.4, 0.2, 0.4, 2.0),),
}


class State(enum.Enum):
    IDLE = "idle"
    RINGING = "ringing"
    ANSWERING = "answering"       # off-hook, waiting for the loop to settle
    IN_CALL = "in call"
    CLEARING = "clearing"         # on-hook again, ignoring the line for a moment


# ---- events ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RingDetect:
    active: bool
    at: float


@dataclass(frozen=True)
class CallerIdHeard:
    caller_id: CallerId
    at: float


@dataclass(frozen=True)
class FarEndCleared:
    """Loop current dropped, the polarity reversed, or the exchange's busy/congestion tone."""
    how: str
    at: float


@dataclass(frozen=True)
class BoxHangsUp:
    at: float


@dataclass(frozen=True)
class Tick:
    at: float


LineEvent = RingDetect | CallerIdHeard | FarEndCleared | BoxHangsUp | Tick


# ---- actions ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hook:
    off: bool                       # True: off-hook (answer), False: on-hook (hang up)


@dataclass(frozen=True)
class StartCall:
    caller_id: CallerId | None
    rings: int


@dataclass(frozen=True)
class EndCall:
    how: str                        # what cleared it: "busy", "loop_current", "reversal", ...


@dataclass(frozen=True)
class MissedCall:
    caller_id: CallerId | None
    rings: int


@dataclass(frozen=True)
class ListenCallerId:
    on: bool                        # the receiver runs only while the line is on-hook


LineAction = Hook | StartCall | EndCall | MissedCall | ListenCallerId


@dataclass(frozen=True)
class AnswerPolicy:
    after_rings: int = 2
    on_caller_id: bool = True       # answer as soon as the caller ID is in, if before that


@dataclass
class LineMachine:
    country: str = "cn"
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    state: State = State.IDLE
    rings: int = 0
    caller_id: CallerId | None = None
    _burst_start: float | None = None
    _last_pulse: float = 0.0
    _last_ring_end: float = 0.0
    _since: float = 0.0

    def __post_init__(self) -> None:
        try:
            self.cadences = RING_CADENCES[self.country]
        except KeyError:
            raise ValueError(f"no ring cadence for {self.country!r}; known: {', '.join(sorted(RING_CADENCES))}") from None
        ons = [c[k] for c in self.cadences for k in range(0, len(c), 2)]
        offs = [c[k] for c in self.cadences for k in range(1, len(c), 2)]
        self._ring_min = max(RING_MIN_S, min(ons) * 0.6 - 0.1)
        self._ring_max = max(ons) * 1.3 + 0.2
        self._ringing_over_s = max(offs) * 1.3 + max(ons) + 0.5

    def handle(self, event: LineEvent) -> list[LineAction]:
        if isinstance(event, RingDetect):
            return self._ring(event)
        if isinstance(event, CallerIdHeard):
            if self.state in (State.IDLE, State.RINGING):
                self.caller_id = event.caller_id
                if self.state is State.IDLE:      # caller ID before the first ring (some exchanges)
                    self.state, self._last_ring_end = State.RINGING, event.at
                return self._maybe_answer(event.at)
            return []
        if isinstance(event, FarEndCleared):
            if self.state is State.ANSWERING:      # gone before the call started
                missed = MissedCall(self.caller_id, self.rings)
                return self._clear(event.at) + [missed]
            if self.state is State.IN_CALL:
                return self._clear(event.at) + [EndCall(event.how)]
            return []
        if isinstance(event, BoxHangsUp):
            if self.state in (State.ANSWERING, State.IN_CALL):
                return self._clear(event.at)
            return []
        return self._tick(event.at)

    # ---- ringing ------------------------------------------------------------------------------
    def _ring(self, event: RingDetect) -> list[LineAction]:
        if self.state not in (State.IDLE, State.RINGING) or not event.active:
            return self._tick(event.at)
        actions = self._tick(event.at)
        if self._burst_start is None:
            self._burst_start = event.at
        self._last_pulse = event.at
        return actions

    def _tick(self, now: float) -> list[LineAction]:
        actions: list[LineAction] = []
        if self.state is State.ANSWERING and now - self._since >= ANSWER_SETTLE_S:
            self.state = State.IN_CALL
            actions.append(StartCall(self.caller_id, self.rings))
        elif self.state is State.CLEARING and now - self._since >= CLEAR_GUARD_S:
            self._reset()
            actions.append(ListenCallerId(True))
        if self._burst_start is not None and now - self._last_pulse > RING_JOIN_S:
            actions += self._burst_ended(self._last_pulse - self._burst_start + 1 / 50)
        if self.state is State.RINGING and self._burst_start is None and now - self._last_ring_end > self._ringing_over_s:
            actions.append(MissedCall(self.caller_id, self.rings))
            self._reset()
        return actions

    def _burst_ended(self, length: float) -> list[LineAction]:
        end = self._last_pulse
        self._burst_start = None
        if not self._ring_min <= length <= self._ring_max:
            return []                        # a glitch, a spike, or not a ring signal
        self.rings += 1
        self.state = State.RINGING
        self._last_ring_end = end
        return self._maybe_answer(end)

    def _maybe_answer(self, now: float) -> list[LineAction]:
        if self.state is not State.RINGING or self._burst_start is not None:
            return []
        by_rings = self.rings >= self.policy.after_rings
        by_caller_id = self.policy.on_caller_id and self.caller_id is not None and self.rings >= 1
        if not (by_rings or by_caller_id):
            return []
        self.state, self._since = State.ANSWERING, now
        return [ListenCallerId(False), Hook(off=True)]

    # ---- clearing -----------------------------------------------------------------------------
    def _clear(self, now: float) -> list[LineAction]:
        self.state, self._since = State.CLEARING, now
        return [Hook(off=False)]

    def _reset(self) -> None:
        self.state = State.IDLE
        self.rings = 0
        self.caller_id = None
        self._burst_start = None

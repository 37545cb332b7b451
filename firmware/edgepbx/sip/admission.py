"""Who may start a call or send an out-of-dialog request: the box's SIP admission control.

A box on an office LAN or behind an ISP router hears from SIP scanners within hours, and a
burst of INVITEs that are never ACKed used to fill every call leg for a minute. Like Cisco
SRST's trusted list and Kamailio's pike, every request that would create a dialog or is out
of any dialog is judged here before the SIP stack spends a transaction, a call leg, an RTP
port or a store row on it:

- a source outside `[sip] trusted` (and not one of central's hosts) is refused: 403, or
  nothing at all with `untrusted = "drop"`;
- a trusted source gets INVITEs at `invite_rate` (a token bucket: rate and burst) and at most
  `calls_per_source` call legs at once; the excess gets 503 with Retry-After;
- a source whose calls are answered and never confirmed (no ACK), or that keeps hitting its
  rate, is blocked for `block_s`; while any of its recent calls went unconfirmed it may hold
  only one unconfirmed call at a time, so it is admitted again only while it behaves;
- central's own hosts are never throttled.

Free of I/O: the pjsip edge (edgepbx.sip.gate) hands in the source, the method and the time,
and carries out the verdict. Unit tests drive it with a hand clock.
"""
from __future__ import annotations

import ipaddress
import math
import re
import threading
from collections import deque
from dataclasses import dataclass, field

UNTRUSTED_POLICIES = ("reject", "drop")
Network = ipaddress.IPv4Network
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*s\s*(?:,?\s*burst\s+(\d+))?\s*$")


def parse_rate(text: str) -> tuple[float, int]:
    """`"10/s burst 30"` → (10.0, 30); the burst defaults to twice the rate (at least 1)."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f'expected "RATE/s burst N" (e.g. "10/s burst 30"), got {text!r}')
    rate = float(match.group(1))
    burst = int(match.group(2)) if match.group(2) else max(1, math.ceil(rate * 2))
    if not 0.1 <= rate <= 1000 or not 1 <= burst <= 1000:
        raise ValueError(f"rate 0.1..1000 per second and burst 1..1000, got {text!r}")
    return rate, burst


def parse_trusted(entry: str) -> Network | str:
    """An address or CIDR range as a network; anything else that looks like a host name as
    the name (looked up later, off the event loop). Raises ValueError."""
    text = entry.strip()
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        pass
    if re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*",
                    text) and not text.replace(".", "").isdigit():
        return text
    raise ValueError(f"not an IPv4 address, CIDR range or host name: {entry!r}")


@dataclass(frozen=True)
class Policy:
    """What the config says, with host names already looked up (`addresses`)."""
    networks: tuple[Network, ...] = (Network("127.0.0.0/8"),)
    addresses: frozenset[str] = frozenset()      # trusted host names, as looked up
    central: frozenset[str] = frozenset()        # central's hosts: trusted, never throttled
    untrusted: str = "reject"
    invite_rate: float = 10.0
    invite_burst: int = 30
    calls_per_source: int = 30
    block_s: float = 60.0
    strikes_to_block: int = 3                    # unconfirmed calls or rate refusals within strike_window_s
    strike_window_s: float = 30.0

    def trusts(self, source: str) -> bool:
        """Trusted sources: the lists, central's hosts, and the box itself at 127.0.0.1 (a
        technician's `test call` on the console)."""
        if source in self.central or source in self.addresses or source == "127.0.0.1":
            return True
        try:
            address = ipaddress.IPv4Address(source)
        except ValueError:
            return False                         # an IPv6 source: the box listens on IPv4 only
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class Verdict:
    admit: bool
    code: int = 0                # 0 with admit False: drop silently
    reason: str = ""             # the counter's name: untrusted, rate, blocked, calls, unconfirmed
    retry_after: int | None = None


ADMIT = Verdict(True)


@dataclass
class _Source:
    tokens: float
    refilled: float
    legs: int = 0                # call legs held now
    unconfirmed: int = 0         # of those, answered or ringing but not yet confirmed
    strikes: deque[tuple[float, str]] = field(default_factory=deque)   # (when, "rate" | "unconfirmed")
    blocked_until: float = float("-inf")
    last_seen: float = 0.0
    last_logged: float = float("-inf")


class Admission:
    """One per box. Its methods take no lock: the edges (the gate and the stack on the SIP
    thread, status readers on the loop) hold `lock` around them."""

    MAX_SOURCES = 4096           # state kept for at most this many sources (a spoofed-source
                                 # flood must not grow memory); the idlest are forgotten first

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.lock = threading.Lock()      # for the edges: the SIP thread decides, the loop reads
        self._sources: dict[str, _Source] = {}
        self.refused: dict[tuple[str, str], int] = {}     # (reason, source) -> count
        self.admitted = 0

    # ---- requests -----------------------------------------------------------------------
    def decide(self, source: str, method: str, in_dialog: bool, now: float) -> Verdict:
        """The verdict on one request. ACKs and requests inside a dialog (a To tag) always
        pass: the stack matches them to a dialog or transaction, or answers 481 itself."""
        if method == "ACK" or in_dialog or method == "CANCEL":
            return ADMIT
        policy = self.policy
        if not policy.trusts(source):
            return self._refuse(source, "untrusted", 403 if policy.untrusted == "reject" else 0, None)
        if source in policy.central:
            self.admitted += 1
            return ADMIT
        state = self._source(source, now)
        if now < state.blocked_until:
            return self._refuse(source, "blocked", self._busy_code(), math.ceil(state.blocked_until - now))
        if method != "INVITE":
            self.admitted += 1
            return ADMIT
        if state.legs >= policy.calls_per_source:
            return self._refuse(source, "calls", self._busy_code(), 5)
        if state.unconfirmed >= 1 and self._unconfirmed_lately(state, now):
            return self._refuse(source, "unconfirmed", self._busy_code(), 5)
        state.tokens = min(policy.invite_burst, state.tokens + (now - state.refilled) * policy.invite_rate)
        state.refilled = now
        if state.tokens < 1.0:
            self._strike(state, now, "rate")
            wait = max(1, math.ceil((1.0 - state.tokens) / policy.invite_rate))
            if now < state.blocked_until:
                wait = math.ceil(state.blocked_until - now)
            return self._refuse(source, "rate", self._busy_code(), wait)
        state.tokens -= 1.0
        self.admitted += 1
        return ADMIT

    def _busy_code(self) -> int:
        return 503 if self.policy.untrusted == "reject" else 0

    def _refuse(self, source: str, reason: str, code: int, retry_after: int | None) -> Verdict:
        key = (reason, source)
        if key not in self.refused and len(self.refused) >= self.MAX_SOURCES:
            key = (reason, "other")
        self.refused[key] = self.refused.get(key, 0) + 1
        return Verdict(False, code, reason, retry_after if code else None)

    def should_log(self, source: str, now: float) -> bool:
        """At most one log line per source per minute."""
        state = self._sources.get(source)
        if state is None:
            if not self._room():
                return False
            state = self._source(source, now)
        if now - state.last_logged < 60.0:
            return False
        state.last_logged = now
        return True

    # ---- calls --------------------------------------------------------------------------
    def call_started(self, source: str, now: float) -> None:
        """A call leg from `source` exists (ringing, not yet confirmed)."""
        state = self._source(source, now)
        state.legs += 1
        state.unconfirmed += 1

    def call_confirmed(self, source: str) -> None:
        state = self._sources.get(source)
        if state is not None and state.unconfirmed:
            state.unconfirmed -= 1

    def call_ended(self, source: str, confirmed: bool) -> None:
        state = self._sources.get(source)
        if state is None:
            return
        state.legs = max(0, state.legs - 1)
        if not confirmed and state.unconfirmed:
            state.unconfirmed -= 1

    def call_unconfirmed(self, source: str, now: float) -> None:
        """The box gave up on a call from `source` that never confirmed (its 200 OK never
        ACKed): a strike, and the source gets one unconfirmed call at a time for a while."""
        state = self._source(source, now)
        self._strike(state, now, "unconfirmed")
        self.refused[("unconfirmed", source)] = self.refused.get(("unconfirmed", source), 0) + 1

    def _strike(self, state: _Source, now: float, kind: str) -> None:
        strikes = state.strikes
        strikes.append((now, kind))
        while strikes and strikes[0][0] < now - self.policy.strike_window_s:
            strikes.popleft()
        if len(strikes) >= self.policy.strikes_to_block:
            state.blocked_until = now + self.policy.block_s
            strikes.clear()

    def _unconfirmed_lately(self, state: _Source, now: float) -> bool:
        window = self.policy.strike_window_s
        return any(kind == "unconfirmed" and when >= now - window for when, kind in state.strikes)

    # ---- state --------------------------------------------------------------------------
    def _room(self) -> bool:
        return len(self._sources) < self.MAX_SOURCES

    def _source(self, source: str, now: float) -> _Source:
        state = self._sources.get(source)
        if state is None:
            if not self._room():
                self._forget_idlest()
            state = self._sources[source] = _Source(tokens=float(self.policy.invite_burst), refilled=now)
        state.last_seen = now
        return state

    def _forget_idlest(self) -> None:
        idle = sorted((s.last_seen, name) for name, s in self._sources.items() if s.legs == 0)
        for _, name in idle[: max(1, len(idle) // 4)]:
            del self._sources[name]

    def blocked(self, now: float) -> dict[str, float]:
        """Sources blocked now, with the seconds left."""
        return {name: round(s.blocked_until - now, 1) for name, s in self._sources.items() if s.blocked_until > now}

    def summary(self, now: float) -> dict:
        """Refusals by reason and by source (the busiest 20), and blocked sources."""
        by_reason: dict[str, int] = {}
        by_source: dict[str, int] = {}
        for (reason, source), count in self.refused.items():
            by_reason[reason] = by_reason.get(reason, 0) + count
            by_source[source] = by_source.get(source, 0) + count
        top = dict(sorted(by_source.items(), key=lambda kv: -kv[1])[:20])
        return {"admitted": self.admitted, "refused": by_reason, "refused_by_source": top,
                "blocked": self.blocked(now), "untrusted": self.policy.untrusted}

"""Runs the central link: probes, the operator's mode, transitions recorded and shown.

Each transition is logged, stored as an event with its cause, shown on the LEDs, and, when
new calls start going local, every call talking to central is told to come back.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from edgepbx.central.link import CentralLink, Transition
from edgepbx.central.prober import OptionsProber, tls_context
from edgepbx.sip.uri import is_tls
from edgepbx.config import Config
from edgepbx.panel.leds import StatusLeds
from edgepbx.store import Store

log = logging.getLogger("edgepbx.central")


class CentralService:
    def __init__(self, config: Config, store: Store, on_lost: Callable[[], None],
                 leds: StatusLeds | None = None, on_back: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.store = store
        self.on_lost = on_lost
        self.on_back = on_back
        self.leds = leds
        self.link = CentralLink(bool(config.central.uri))
        self.prober: OptionsProber | None = None
        self.tls_problem: str | None = None    # why TLS to central fails, while it does
        self.certificate_warning = False
        self._local_total = 0.0                # outage seconds, for GET /metrics
        self._local_since: float | None = None
        self._pending: set[asyncio.Task] = set()

    async def start(self) -> None:
        mode = await self.store.setting("mode", "auto") or "auto"
        self.link.set_mode(mode, time.monotonic(), "stored setting")
        self._show()
        if self.config.central.uri:
            sip = self.config.sip
            context = (tls_context(str(sip.tls_ca) if sip.tls_ca else None, str(sip.tls_cert) if sip.tls_cert else None,
                                   str(sip.tls_key) if sip.tls_key else None)
                       if is_tls(self.config.central.uri) else None)
            self.prober = OptionsProber(self.config.central.uri, self.config.sip.listen.host, self._probed,
                                        interval_s=self.config.central.probe_interval_s, tls=context)
            await self.prober.start()

    async def stop(self) -> None:
        if self.prober:
            await self.prober.stop()
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        if self.leds:
            self.leds.close()

    @property
    def state(self) -> str:
        return self.link.state

    @property
    def mode(self) -> str:
        return self.link.mode

    async def set_mode(self, mode: str, who: str) -> None:
        await self.store.set_setting("mode", mode)
        self._apply(self.link.set_mode(mode, time.monotonic(), who))

    def _probed(self, answered: bool, now: float, detail: str) -> None:
        if detail.startswith("TLS"):
            if self.tls_problem != detail:
                log.warning("central %s: %s", self.config.central.uri, detail)
            self.tls_problem = detail
        elif answered:
            self.tls_problem = None
        self._apply(self.link.probed(answered, now, detail))

    def probe_rtt_s(self) -> float | None:
        return self.prober.last_rtt_s if self.prober else None

    def outage_seconds(self, now: float) -> float:
        """Seconds new calls were answered locally since start (central down, or mode local)."""
        return self._local_total + (now - self._local_since if self._local_since is not None else 0.0)

    def central_certificate(self) -> dict | None:
        """Central's TLS certificate as the last probe saw it (ssl's getpeercert() form)."""
        channel = self.prober.channel if self.prober else None
        return channel.peer_cert if channel is not None else None

    def _apply(self, transitions: list[Transition]) -> None:
        for t in transitions:
            if t.what == "routing":
                now = time.monotonic()
                if t.new == "local" and self._local_since is None:
                    self._local_since = now
                elif t.new == "central" and self._local_since is not None:
                    self._local_total += now - self._local_since
                    self._local_since = None
            log.warning("central %s: %s -> %s (%s)", t.what, t.old, t.new, t.cause)
            task = asyncio.get_running_loop().create_task(self.store.add_event(t.what, t.old, t.new, t.cause))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            if (t.what == "routing" and t.new == "local") or (t.what == "link" and t.new == "down"):
                self.on_lost()
            if t.what == "routing" and t.new == "central":
                self.on_back()
        if transitions:
            self._show()

    def set_certificate_warning(self, warning: bool) -> None:
        """A TLS certificate expires soon (edgepbx.sip.certs): the central LED says so."""
        if warning != self.certificate_warning:
            self.certificate_warning = warning
            self._show()

    def _show(self) -> None:
        if self.leds:
            self.leds.show(self.link.state, self.link.routing, self.certificate_warning)

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
from edgepbx.central.prober import OptionsProber
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
        self._pending: set[asyncio.Task] = set()

    async def start(self) -> None:
        mode = await self.store.setting("mode", "auto") or "auto"
        self.link.set_mode(mode, time.monotonic(), "stored setting")
        self._show()
        if self.config.central.uri:
            self.prober = OptionsProber(self.config.central.uri, self.config.sip.listen.host, self._probed,
                                        interval_s=self.config.central.probe_interval_s)
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
        self._apply(self.link.probed(answered, now, detail))

    def _apply(self, transitions: list[Transition]) -> None:
        for t in transitions:
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

    def _show(self) -> None:
        if self.leds:
            self.leds.show(self.link.state, self.link.routing)

"""The rest of the front panel: heartbeat and line LEDs, the button, the transfer relay.

- led_power: toggled once a second by the asyncio loop itself, so a frozen box shows a
  frozen LED (steady on or off), not a happy blink from a helper thread.
- led_line: on while any call is up.
- button (active low, pull-up): a short press shows the status (every LED flashes three
  times, then the normal pattern) and logs a status line for the console; held 10 s, the
  config goes back to factory defaults (records kept) and the box restarts.
- transfer_relay: fail-safe. De-energised (the box off, crashed or unhealthy) it connects
  the analog line straight to the backup phone; the box energises it only while healthy
  and drops it on a fatal error or shutdown, so a dead box never kills the phone line.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from gpiozero import LED, Button, OutputDevice
from gpiozero.pins import Factory

log = logging.getLogger("edgepbx.panel")
HOLD_S = 10.0


class FrontPanel:
    def __init__(self, pins: dict[str, int], factory: Factory | None, *, status: Callable[[], str],
                 calls: Callable[[], int], healthy: Callable[[], bool], factory_reset: Callable[[], None]) -> None:
        self.status, self.calls, self.healthy, self.factory_reset = status, calls, healthy, factory_reset
        self.power = LED(pins["led_power"], pin_factory=factory) if "led_power" in pins else None
        self.line = LED(pins["led_line"], pin_factory=factory) if "led_line" in pins else None
        self.relay = (OutputDevice(pins["transfer_relay"], active_high=True, initial_value=False, pin_factory=factory)
                      if "transfer_relay" in pins else None)
        self.button = (Button(pins["button"], pull_up=True, hold_time=HOLD_S, pin_factory=factory)
                       if "button" in pins else None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held = False
        self.flashing = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.button is not None:
            self.button.when_held = lambda: self._from_thread(self._on_held)
            self.button.when_released = lambda: self._from_thread(self._on_released)

    def _from_thread(self, fn: Callable[[], None]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    def _on_held(self) -> None:
        self._held = True
        log.warning("front button held %.0f s: factory reset (records are kept)", HOLD_S)
        self.factory_reset()

    def _on_released(self) -> None:
        if self._held:
            self._held = False
            return
        log.info("front button: %s", self.status())
        if self._loop is not None:
            self._loop.create_task(self._flash())

    async def _flash(self) -> None:
        leds = [d for d in (self.power, self.line) if d is not None]
        self.flashing = True
        try:
            for _ in range(3):
                for led in leds:
                    led.on()
                await asyncio.sleep(0.2)
                for led in leds:
                    led.off()
                await asyncio.sleep(0.2)
        finally:
            self.flashing = False

    def tick(self) -> None:
        """Once a second, from the loop: heartbeat, line LED, relay from health."""
        if self.power is not None and not self.flashing:
            self.power.toggle()
        if self.line is not None and not self.flashing:
            self.line.value = self.calls() > 0
        if self.relay is not None:
            self.relay.value = self.healthy()

    async def run(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(1.0)

    def fail(self) -> None:
        """Fatal error or shutdown: hand the line to the backup phone."""
        if self.relay is not None:
            self.relay.off()

    def close(self) -> None:
        self.fail()
        for device in (self.power, self.line, self.relay, self.button):
            if device is not None:
                device.close()

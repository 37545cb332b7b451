"""Status LEDs for the central link and survivable mode.

led_central: steady on = central answers; blinking (0.5 s) = central down; off = no central;
  on with a short dark blink every 2 s = central answers, but a TLS certificate expires within
  30 days (or already has): see `show alarms`.
led_survivable: steady on = new calls are answered locally (central down, or mode local).
led_modem: steady on = the SMS modem is ready; blinking (0.25 s) = a modem fault (unplugged, no
  SIM, not answering: see `show sms`); off = no modem configured.
"""
from __future__ import annotations

from gpiozero import LED
from gpiozero.pins import Factory


class StatusLeds:
    def __init__(self, pins: dict[str, int], factory: Factory | None = None) -> None:
        self.central = LED(pins["led_central"], pin_factory=factory) if "led_central" in pins else None
        self.survivable = LED(pins["led_survivable"], pin_factory=factory) if "led_survivable" in pins else None
        self.modem = LED(pins["led_modem"], pin_factory=factory) if "led_modem" in pins else None
        self._modem_shown = ""

    def show_modem(self, state: str) -> None:
        if self.modem is None or state == self._modem_shown:
            return
        self._modem_shown = state
        if state == "ready":
            self.modem.on()
        elif state in ("off", "opening"):
            self.modem.off()
        else:
            self.modem.blink(on_time=0.25, off_time=0.25)

    def show(self, link: str, routing: str, certificate_warning: bool = False) -> None:
        if self.central is not None:
            if link == "up" and certificate_warning:
                self.central.blink(on_time=1.8, off_time=0.2)
            elif link == "up":
                self.central.on()
            elif link == "down":
                self.central.blink(on_time=0.5, off_time=0.5)
            else:
                self.central.off()
        if self.survivable is not None:
            self.survivable.value = routing == "local"

    def close(self) -> None:
        for led in (self.central, self.survivable, self.modem):
            if led is not None:
                led.close()

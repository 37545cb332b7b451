"""The box (`edgepbx run`) with gpiozero's MockFactory pins that a test drives through stdin.

Commands, one per line: `ring PIN SECONDS` (the ring-detect opto pulsing at 25 Hz, active
low), `low PIN` / `high PIN` (drive an input), `watch PIN` (print `pin PIN = V` on every change of
an output, e.g. the hook relay). Everything else is the real box.
"""
from __future__ import annotations

import sys
import threading
import time

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

Device.pin_factory = MockFactory()


def ring(pin: int, seconds: float) -> None:
    p = Device.pin_factory.pin(pin)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        p.drive_low()
        time.sleep(0.02)
        p.drive_high()
        time.sleep(0.02)


def watch(pin: int) -> None:
    p = Device.pin_factory.pin(pin)
    last = None
    while True:
        value = int(p.state)
        if value != last:
            print(f"pin {pin} = {value}", flush=True)
            last = value
        time.sleep(0.01)


def commands() -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "ring":
            threading.Thread(target=ring, args=(int(words[1]), float(words[2])), daemon=True).start()
        elif words[0] in ("low", "high"):
            pin = Device.pin_factory.pin(int(words[1]))
            pin.drive_low() if words[0] == "low" else pin.drive_high()
        elif words[0] == "watch":
            threading.Thread(target=watch, args=(int(words[1]),), daemon=True).start()


if __name__ == "__main__":
    threading.Thread(target=commands, daemon=True).start()
    from edgepbx.cli import main
    sys.exit(main(sys.argv[1:]))

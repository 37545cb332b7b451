"""The front panel on gpiozero's MockFactory: heartbeat, line LED, button, fail-safe relay."""
from __future__ import annotations

import asyncio

from gpiozero.pins.mock import MockFactory

from edgepbx.panel.front import FrontPanel

PINS = {"led_power": 17, "led_line": 27, "button": 24, "transfer_relay": 25}


def panel(state: dict) -> tuple[FrontPanel, MockFactory]:
    factory = MockFactory()

    def reset() -> None:
        state["reset"] = state.get("reset", 0) + 1

    front = FrontPanel(PINS, factory, status=lambda: "2 call(s), central up", calls=lambda: state["calls"],
                       healthy=lambda: state["healthy"], factory_reset=reset)
    return front, factory


def test_relay_is_fail_safe_and_follows_health():
    state = {"calls": 0, "healthy": True}
    front, factory = panel(state)
    assert front.relay.value == 0                    # de-energised at power-up: line to the backup phone
    front.tick()
    assert front.relay.value == 1 and factory.pin(25).state == 1
    state["healthy"] = False                         # the call stack hangs
    front.tick()
    assert front.relay.value == 0
    state["healthy"] = True
    front.tick()
    front.close()                                    # shutdown drops it
    assert factory.pin(25).state == 0


def test_heartbeat_and_line_leds():
    state = {"calls": 0, "healthy": True}
    front, factory = panel(state)
    seen = []
    for calls in (0, 1, 1, 0):
        state["calls"] = calls
        front.tick()
        seen.append((factory.pin(17).state, factory.pin(27).state))
    assert [p for p, _ in seen] == [1, 0, 1, 0]       # toggled by the loop, once per tick
    assert [line for _, line in seen] == [0, 1, 1, 0]
    front.close()


def test_button_short_press_shows_status_and_long_hold_resets():
    state = {"calls": 0, "healthy": True}

    async def run() -> None:
        front, factory = panel(state)
        front.start()
        button = factory.pin(24)
        button.drive_low()                            # pressed (active low)
        await asyncio.sleep(0.1)
        button.drive_high()
        await asyncio.sleep(0.3)
        assert front.flashing and "reset" not in state
        await asyncio.sleep(1.2)
        front.button.hold_time = 0.3                  # a 10 s hold, shortened for the test
        button.drive_low()
        await asyncio.sleep(0.8)
        button.drive_high()
        await asyncio.sleep(0.2)
        assert state.get("reset") == 1
        front.close()
    asyncio.run(run())


def test_central_led_warns_of_a_certificate_about_to_expire():
    from edgepbx.panel.leds import StatusLeds
    factory = MockFactory()
    leds = StatusLeds({"led_central": 22, "led_survivable": 23}, factory)
    leds.show("up", "central")
    assert leds.central.value == 1 and leds.central._blink_thread is None
    leds.show("up", "central", certificate_warning=True)
    assert leds.central._blink_thread is not None          # mostly on, a short dark blink
    leds.show("down", "local", certificate_warning=True)    # down says more than the certificate
    assert leds.survivable.value == 1
    leds.close()

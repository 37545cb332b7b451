"""The pin map: logical pin names to GPIO numbers, one TOML file per board (see hardware/)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from edgepbx.config import ConfigError

KNOWN = ("led_power", "led_line", "led_central", "led_survivable", "led_modem", "button", "transfer_relay",
         "fxo_ring_detect", "fxo_hook_relay", "fxo_line_reversal", "fxo_loop_current")


def load_pins(path: Path) -> dict[str, int]:
    """Read and check a pin map; a wrong name or number is a ConfigError naming it."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read pin map: {exc}") from None
    pins = raw.get("pins")
    if not isinstance(pins, dict):
        raise ConfigError(f"{path}: no [pins] table")
    out: dict[str, int] = {}
    for name, number in pins.items():
        if name not in KNOWN:
            raise ConfigError(f"{path}: [pins] {name}: unknown pin name (known: {', '.join(KNOWN)})")
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 53:
            raise ConfigError(f"{path}: [pins] {name}: expected a BCM GPIO number 0..53, got {number!r}")
        out[name] = number
    taken: dict[int, str] = {}
    for name, number in out.items():
        if number in taken:
            raise ConfigError(f"{path}: [pins] {name}: GPIO {number} is already {taken[number]}")
        taken[number] = name
    return out

"""A full analog call: ring cadence, caller ID between rings, off-hook, IVR digits in-band,
forward to central over SIP, the far end hangs up (busy tone), on-hook; the record has the
caller ID. GPIO through gpiozero's MockFactory; line audio through FIFOs, the same interface
(`pipe:IN,OUT`) the driver uses for the ALSA device's arecord/aplay pipes."""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from tests.callerid_signals import Fsk, cadenced, mdmf
from tests.dtmf_q24 import dbm0_amplitude, line, tones_of
from tests.e2e.support import ROOT, Box, Central
from tests.e2e.test_outage import wait_until

RING, HOOK = 5, 6           # hardware/pins-rpi4.toml
FRAME = 160


class LineSim:
    """The exchange's side of the line, in real time: what it sends is queued, silence (with a
    little noise) otherwise; everything the box sends back is kept."""

    def __init__(self, tmp: Path) -> None:
        self.into, self.out = tmp / "line-in", tmp / "line-out"
        os.mkfifo(self.into)
        os.mkfifo(self.out)
        self.queue: list[np.ndarray] = []
        self.heard = bytearray()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rng = np.random.default_rng(10)
        threading.Thread(target=self._send, daemon=True).start()
        threading.Thread(target=self._listen, daemon=True).start()

    def say(self, x: np.ndarray) -> None:
        with self.lock:
            self.queue.append(line(x))

    def _send(self) -> None:
        with open(self.into, "wb", buffering=0) as f:
            pending = np.zeros(0, dtype=np.int16)
            t = time.monotonic()
            while not self.stop.is_set():
                if len(pending) < FRAME:
                    with self.lock:
                        if self.queue:
                            pending = np.concatenate([pending, self.queue.pop(0)])
                frame = pending[:FRAME]
                pending = pending[FRAME:]
                if len(frame) < FRAME:
                    noise = line(self.rng.normal(0, dbm0_amplitude(-65), FRAME))
                    frame = np.concatenate([frame, noise[len(frame):]])
                try:
                    f.write(frame.astype("<i2").tobytes())
                except BrokenPipeError:
                    return
                t += 0.02
                time.sleep(max(0.0, t - time.monotonic()))

    def _listen(self) -> None:
        with open(self.out, "rb", buffering=0) as f:
            while not self.stop.is_set():
                data = f.read(4096)
                if not data:
                    return
                self.heard += data

    def heard_tone(self, hz: float, since_byte: int = 0) -> bool:
        x = np.frombuffer(bytes(self.heard[since_byte:len(self.heard) // 2 * 2]), dtype="<i2").astype(float)
        for i in range(0, len(x) - 1600, 800):
            block = x[i:i + 1600]
            n = np.arange(len(block))
            power = np.abs(np.sum(block * np.exp(-2j * np.pi * hz * n / 8000))) ** 2 * 2 / len(block)
            if np.sum(block ** 2) > 0 and power > 0.8 * np.sum(block ** 2):
                return True
        return False


def dtmf(digit: str, level: float = -10.0) -> np.ndarray:
    t = np.arange(int(0.1 * 8000)) / 8000
    low, high = tones_of(digit)
    return np.concatenate([dbm0_amplitude(level) * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)),
                           np.zeros(800)])


def test_full_analog_call_forwarded_to_central(tmp_path: Path) -> None:
    central = Central(tmp_path, "--answer-after", "1")
    sim = LineSim(tmp_path)
    box = Box(tmp_path, central=central.uri, language="en", mock_pins=True, extra=f"""
[panel]
pins = "{ROOT / 'hardware' / 'pins-rpi4.toml'}"
pin_factory = "mock"
[fxo]
enabled = true
audio = "pipe:{sim.into},{sim.out}"
country = "cn"
answer_after_rings = 3
answer_on_caller_id = true
disconnect = "tone"
line = "branch-pots"
""")
    try:
        box.wait_for("analog line ready")
        box.tell(f"watch {HOOK}")
        box.wait_for(f"pin {HOOK} = 0")
        box.tell(f"ring {RING} 1.0")                             # first ring (China: 1 s on, 4 s off)
        time.sleep(1.5)
        sim.say(Fsk("v23", level_dbm0=-18).signal(mdmf("13812345678", "ZHANG SAN", when="11261430")))
        box.wait_for(f"pin {HOOK} = 1", timeout=5)              # answered on the caller ID, before ring 2
        box.wait_for("answered after 1 ring(s): 13812345678 'ZHANG SAN' at 11-26 14:30 (v23)", timeout=2)
        time.sleep(2.0)
        sim.say(dtmf("2"))                                       # English
        time.sleep(1.5)
        sim.say(dtmf("0"))                                       # an agent, please
        wait_until(lambda: len(central.calls()) == 1, 20, "central got the forwarded analog call")
        box.wait_for("forwarded: central answered", timeout=15)
        heard_before = len(sim.heard)
        time.sleep(2.0)
        assert sim.heard_tone(Central.TONE_HZ, heard_before), "central's audio never reached the analog line"
        started = time.monotonic()
        sim.say(cadenced((450.0,), (0.35, 0.35), 6.0))                                       # the caller hung up: the exchange says busy
        box.wait_for(f"pin {HOOK} = 0", timeout=5)
        on_hook_after = time.monotonic() - started
        box.wait_for("ended:", timeout=10)
    finally:
        sim.stop.set()
        assert box.stop() == 0, box.output
        central.stop()
    assert on_hook_after <= 2.0 + 0.3, f"on-hook {on_hook_after:.2f} s after the busy tone began"
    [agent] = central.calls()
    headers = {k.lower(): v for k, v in agent["headers"].items()}
    assert "13812345678" in " ".join(headers.values())
    row = sqlite3.connect(box.db).execute(
        "SELECT caller, called, outcome, hangup_cause, digits FROM calls").fetchone()
    assert row[0] == "13812345678" and row[1] == "branch-pots" and row[2] == "forwarded", row
    assert "busy" in row[3], row
    assert "far end cleared (busy)" in box.output

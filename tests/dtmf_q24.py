"""The ITU-T Q.24 / Bellcore receiver test groups, built by a seeded generator.

Each group is one signal (every case of the group in turn, 150 ms of line between cases)
and the exact digit string a receiver that meets the requirement reports for it. The tests
and `make bench` run the same groups, on this decoder and on spandsp's.

Levels are per tone in dBm0, a full-scale 16-bit sine being +3.14 dBm0; twist is the high
group's level minus the low group's. Every signal goes through a G.711 mu-law round trip.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = "123A456B789C*0#D"   # row-major: KEYPAD[4 * row + col]
GAP_S = 0.150


def tones_of(digit: str) -> tuple[float, float]:
    i = KEYPAD.index(digit)
    return ROW_HZ[i // 4], COL_HZ[i % 4]


def dbm0_amplitude(dbm0: float) -> float:
    return 32767.0 * 10 ** ((dbm0 - 3.14) / 20)


from edgepbx.dsp.g711 import line, mulaw_decode, mulaw_encode  # noqa: E402,F401  (re-exported for tests)


# ---- signal building -----------------------------------------------------------------

@dataclass
class Tone:
    digit: str
    on_s: float = 0.050
    level: float = -10.0             # dBm0 of the low-group tone
    twist_db: float = 0.0            # high minus low
    row_err: float = 0.0             # fractional frequency error of the low-group tone
    col_err: float = 0.0
    dropout: tuple[float, float] | None = None  # (at, length) seconds inside the tone: silence


class Builder:
    """Lays tones and pauses end to end; remembers where each tone began."""

    def __init__(self, rate: int, rng: np.random.Generator) -> None:
        self.rate, self.rng = rate, rng
        self.parts: list[np.ndarray] = []
        self.n = 0
        self.onsets: list[float] = []

    def pause(self, seconds: float, jitter: bool = True) -> None:
        n = int(round(seconds * self.rate)) + (int(self.rng.integers(0, 64)) if jitter else 0)
        self._add(np.zeros(n))

    def tone(self, t: Tone) -> None:
        n = int(round(t.on_s * self.rate))
        k = np.arange(n) / self.rate
        low, high = tones_of(t.digit)
        a_low = dbm0_amplitude(t.level)
        a_high = dbm0_amplitude(t.level + t.twist_db)
        x = (a_low * np.sin(2 * np.pi * low * (1 + t.row_err) * k + self.rng.uniform(0, 2 * np.pi))
             + a_high * np.sin(2 * np.pi * high * (1 + t.col_err) * k + self.rng.uniform(0, 2 * np.pi)))
        if t.dropout:
            at, length = t.dropout
            x[int(at * self.rate):int((at + length) * self.rate)] = 0.0
        self.onsets.append(self.n / self.rate)
        self._add(x)

    def _add(self, x: np.ndarray) -> None:
        self.parts.append(x)
        self.n += len(x)

    def signal(self, snr_db: float | None = None, noise_ref_dbm0: float = -10.0) -> np.ndarray:
        x = np.concatenate(self.parts) if self.parts else np.zeros(0)
        if snr_db is not None:
            x = x + white_noise(len(x), self.rate, dbm0_amplitude(noise_ref_dbm0) ** 2 / 2 / 10 ** (snr_db / 10), self.rng)
        return line(x)


def white_noise(n: int, rate: int, power_0_4k: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise whose power between 0 and 4 kHz is `power_0_4k`."""
    return rng.normal(0.0, np.sqrt(power_0_4k * rate / 8000), n)


# ---- the groups ----------------------------------------------------------------------

@dataclass
class Group:
    name: str
    requirement: str
    rate: int
    signal: np.ndarray
    expected: str
    onsets: list[float]


def make_group(name: str, requirement: str, rate: int, seed: int, tones: list[Tone],
           gap_s: float = GAP_S, snr_db: float | None = None, expect: bool = True) -> Group:
    b = Builder(rate, np.random.default_rng(seed))
    b.pause(gap_s)
    for t in tones:
        b.tone(t)
        b.pause(gap_s)
    expected = "".join(t.digit for t in tones) if expect else ""
    return Group(name, requirement, rate, b.signal(snr_db), expected, b.onsets)


def q24_groups(rate: int = 8000, seed: int = 24) -> list[Group]:
    """Every Q.24 group at one sample rate; `seed` varies phases and alignments."""
    rng = np.random.default_rng(seed)

    def s() -> int:
        return int(rng.integers(1 << 31))

    def each(**kw: object) -> list[Tone]:
        return [Tone(d, **kw) for d in KEYPAD]  # type: ignore[arg-type]

    groups = [
        make_group("all 16 digits", "-10 dBm0, 50 ms on / 50 ms off", rate, s(), each(), gap_s=0.050),
    ]
    accept_err = [Tone(d, row_err=er, col_err=ec) for d in KEYPAD
                  for er, ec in ((0.015, 0), (-0.015, 0), (0, 0.015), (0, -0.015),
                                 (0.015, 0.015), (-0.015, -0.015), (0.015, -0.015), (-0.015, 0.015))]
    groups.append(make_group("frequency +-1.5%", "accept either or both tones off by 1.5 %", rate, s(), accept_err))
    reject_err = [Tone(d, row_err=er, col_err=ec) for d in KEYPAD
                  for er, ec in ((0.035, 0), (-0.035, 0), (0, 0.035), (0, -0.035), (0.035, 0.035), (-0.035, -0.035))]
    groups.append(make_group("frequency +-3.5%", "reject either tone off by 3.5 %", rate, s(), reject_err, expect=False))
    groups.append(make_group("twist -8 dB", "accept high group 8 dB below low", rate, s(),
                         each(level=-6.0, twist_db=-8.0)))
    groups.append(make_group("twist +4 dB", "accept high group 4 dB above low", rate, s(),
                         each(level=-12.0, twist_db=4.0)))
    levels = [Tone(d, level=lv) for lv in (0.0, -5.0, -15.0, -20.0, -25.0) for d in KEYPAD]
    groups.append(make_group("level 0..-25 dBm0", "accept each tone from 0 to -25 dBm0", rate, s(), levels))
    groups.append(make_group("level -55 dBm0", "report nothing below -55 dBm0", rate, s(),
                         each(level=-55.0) + each(level=-60.0), expect=False))
    groups.append(make_group("duration 40 ms", "accept 40 ms tones", rate, s(), each(on_s=0.040) + each(on_s=0.040)))
    groups.append(make_group("duration 23 ms", "reject tones of 23 ms or shorter", rate, s(),
                         each(on_s=0.023) + each(on_s=0.020) + each(on_s=0.012), expect=False))
    pairs = [Tone(d, on_s=0.040) for d in "11223344556677889900**##AABBCCDD1234567890"]
    groups.append(make_group("pause 40 ms", "accept 40 ms between digits, same digit twice too", rate, s(),
                         pairs, gap_s=0.040))
    drops = [Tone(d, on_s=0.080, dropout=(float(at), 0.010)) for d in KEYPAD for at in (0.020, 0.035, 0.050)]
    groups.append(make_group("interruption 10 ms", "a 10 ms drop-out inside a tone is one digit", rate, s(), drops))
    groups.append(make_group("noise 15 dB", "accept at SNR 15 dB (one tone vs white noise 0-4 kHz)", rate, s(),
                         each() + each(), snr_db=15.0))
    noise_only = Builder(rate, np.random.default_rng(s()))
    noise_only.pause(20.0, jitter=False)
    loud = noise_only.signal(snr_db=-10.0)          # noise at 0 dBm0
    groups.append(Group("noise alone", "white noise gives nothing", rate, loud, "", []))
    return groups


# ---- running a receiver over a group -------------------------------------------------

Receiver = Callable[[np.ndarray, int], str]


def detection_delays(feed_factory: Callable[[int], Callable[[np.ndarray], list[str]]],
                     rate: int = 8000, frame_ms: float = 1.0, seed: int = 40, count: int = 64) -> list[float]:
    """Seconds from each tone's onset to the end of the frame in which the receiver reported it."""
    rng = np.random.default_rng(seed)
    b = Builder(rate, rng)
    b.pause(0.2)
    digits = "".join(KEYPAD[int(rng.integers(16))] for _ in range(count))
    for d in digits:
        b.tone(Tone(d, on_s=0.060))
        b.pause(0.100)
    pcm = b.signal()
    feed = feed_factory(rate)
    frame = max(1, int(rate * frame_ms / 1000))
    delays, i = [], 0
    for pos in range(0, len(pcm), frame):
        for _ in feed(pcm[pos:pos + frame]):
            if i < len(b.onsets):
                delays.append((min(pos + frame, len(pcm))) / rate - b.onsets[i])
                i += 1
    return delays

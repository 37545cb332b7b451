"""Call-progress tones (busy, congestion, dial, ringback) by frequency and cadence, per country.

Every 20 ms block is "tone" when the plan's frequencies hold at least 70 % of its energy, the
tone is above -42 dBm0 and each frequency, measured from the phase step between blocks, is
within 2 % (+ 3 Hz) of nominal. "Off" is a block at least 10 dB below the tone. Speech and music
rarely hold a pure tone, and never with the exchange's frequency, silence and timing together:
a cadenced tone is reported once an "on" has lasted as planned (less 20 %, or 60 ms) after an "off"
within 20 % (or 60 ms) of the plan and an "on" no longer than planned (the tone may start during
it): within two cadence cycles. A continuous tone (dial) is reported after 1 s.
Plans are the exchange's published ones (ITU-T E.180 supplement 2); `TonePlan` adds others.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepbx.dsp._progress import tone_blocks
from edgepbx.dsp.pcm import as_int16, check_rate

BLOCK_S = 0.020
MIN_FRACTION = 0.70
MIN_LEVEL_DBM0 = -42.0
OFF_DROP_DB = 10.0
CONTINUOUS_S = 1.0
EDGE_S = 0.045                  # a tone's start or end smears over up to two blocks
FULL_SCALE_SINE_DBM0 = 3.14


@dataclass(frozen=True)
class Tone:
    kind: str                       # "busy", "congestion", "dial", "ringback"
    freqs: tuple[float, ...]
    cadence: tuple[float, ...]      # on, off (, on, off...) seconds; () = continuous


@dataclass(frozen=True)
class ToneEvent:
    kind: str
    at: float                       # seconds from stream start when decided


PLANS: dict[str, tuple[Tone, ...]] = {
    "cn": (Tone("busy", (450.0,), (0.35, 0.35)), Tone("congestion", (450.0,), (0.7, 0.7)),
           Tone("dial", (450.0,), ()), Tone("ringback", (450.0,), (1.0, 4.0))),
    "us": (Tone("busy", (480.0, 620.0), (0.5, 0.5)), Tone("congestion", (480.0, 620.0), (0.25, 0.25)),
           Tone("dial", (350.0, 440.0), ()), Tone("ringback", (440.0, 480.0), (2.0, 4.0))),
    "eu": (Tone("busy", (425.0,), (0.5, 0.5)), Tone("congestion", (425.0,), (0.25, 0.25)),
           Tone("dial", (425.0,), ()), Tone("ringback", (425.0,), (1.0, 4.0))),
    "uk": (Tone("busy", (400.0,), (0.375, 0.375)), Tone("congestion", (400.0,), (0.4, 0.35, 0.225, 0.525)),
           Tone("dial", (350.0, 450.0), ()), Tone("ringback", (400.0, 450.0), (0.4, 0.2, 0.4, 2.0))),
}


def plan(country: str) -> tuple[Tone, ...]:
    try:
        return PLANS[country]
    except KeyError:
        raise ValueError(f"no tone plan for {country!r}; known: {', '.join(sorted(PLANS))}") from None


def _slack(nominal: float) -> float:
    return max(0.2 * nominal, 0.06)


def _close(measured: float, nominal: float) -> bool:
    return abs(measured - nominal) <= _slack(nominal)


class _Track:
    """One frequency set: the on/off segments seen so far and which tones they match."""

    def __init__(self, freqs: tuple[float, ...], tones: list[Tone], bins: list[int], rate: int, block: int) -> None:
        self.tones = tones
        self.bins = bins                                     # where its frequencies are in the analysis
        self.nominal_step = 2 * np.pi * np.array(freqs) * block / rate   # phase step of an exact tone
        self.max_offset_hz = 0.02 * np.array(freqs) + 3.0
        self.segments: list[tuple[bool | None, float]] = []   # (state, seconds), the last one growing
        self.on_energy = 0.0
        self.reported: set[str] = set()

    def step(self, on: bool | None, energy: float, at: float) -> list[ToneEvent]:
        """`on`: True tone, False quiet after the tone, None anything else (breaks a cadence)."""
        if on:
            growing = self.segments and self.segments[-1][0] is True
            self.on_energy = max(self.on_energy, energy) if growing else energy
        elif on is None and self.segments and self.segments[-1][0] is None and self.segments[-1][1] >= EDGE_S:
            self.on_energy = 0.0    # "quiet" is judged against a tone heard just before
        if self.segments and self.segments[-1][0] == on:
            self.segments[-1] = (on, self.segments[-1][1] + BLOCK_S)
        else:
            self.segments.append((on, BLOCK_S))
            self.segments = self.segments[-16:]
            if on is not True:
                self.reported.discard("dial")
        if on is None and self.segments[-1][1] > EDGE_S:
            self.reported.clear()      # a new tone later is a new event
        segs = self._cleaned()
        fits = {tone.kind: fit for tone in self.tones if tone.kind not in self.reported
                for fit in [_fit(tone, segs)] if fit is not None}
        sure = [kind for kind, fit in fits.items() if fit == 0]
        still_growing = [kind for kind, fit in fits.items() if fit > 0 and kind != "dial"]
        if not sure or still_growing and self.segments[-1][0] is True:
            return []       # another plan may still fit as this "on" grows: wait for it
        self.reported.add(sure[0])
        return [ToneEvent(sure[0], at)]

    def _cleaned(self) -> list[tuple[bool | None, float]]:
        """Segments with the block or two where a tone starts or stops (part tone, part quiet)
        counted in the segment before them."""
        out: list[tuple[bool | None, float]] = []
        for state, seconds in self.segments:
            if out and (state == out[-1][0] or (state is None and seconds <= EDGE_S and out[-1][0] is not None)):
                out[-1] = (out[-1][0], out[-1][1] + seconds)
            else:
                out.append((state, seconds))
        return out


def _fit(tone: Tone, segs: list[tuple[bool | None, float]]) -> int | None:
    """0: the tone is here; 1: it may be (its "on" is still short of plan); None: it is not.
    A cadence is judged on an "on", an "off", then an "on" that has lasted as planned."""
    if not segs or segs[-1][0] is not True and not tone.cadence:
        return None
    if not tone.cadence:
        return 0 if segs[-1][1] >= CONTINUOUS_S else 1
    growing = segs[-1][0] is True
    tail = segs[-3:] if growing else segs[-4:-1]
    if len(tail) < 3 or [state for state, _ in tail] != [True, False, True]:
        return None
    first, gap, last = (d for _, d in tail)
    n = len(tone.cadence)
    fit = None
    for phase in range(0, n, 2):
        on, off, then = tone.cadence[phase], tone.cadence[(phase + 1) % n], tone.cadence[(phase + 2) % n]
        if first > on * 1.2 + 0.06 or not _close(gap, off):   # the first "on" may be cut short
            continue
        if _close(last, then):
            return 0
        if growing and last < then:
            fit = 1
    return fit


class ToneDetector:
    """Streaming detector for one line direction: `feed` returns the tones recognised so far.
    `kinds` limits what is reported (e.g. only busy and congestion for disconnect)."""

    def __init__(self, country: str = "cn", rate: int = 8000, tones: tuple[Tone, ...] | None = None,
                 kinds: tuple[str, ...] | None = None) -> None:
        self.rate = check_rate(rate)
        chosen = [t for t in (tones or plan(country)) if kinds is None or t.kind in kinds]
        if not chosen:
            raise ValueError("no tones to detect")
        groups: dict[tuple[float, ...], list[Tone]] = {}
        for tone in chosen:
            groups.setdefault(tone.freqs, []).append(tone)
        self._freqs = np.array(sorted({f for t in chosen for f in t.freqs}))
        self._block = int(BLOCK_S * rate)
        self._tracks = [_Track(freqs, tones_, [int(np.searchsorted(self._freqs, f)) for f in freqs], rate, self._block)
                        for freqs, tones_ in groups.items()]
        self._min_energy = self._block * (32767.0 * 10 ** ((MIN_LEVEL_DBM0 - FULL_SCALE_SINE_DBM0) / 20)) ** 2 / 2
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
        self._previous: np.ndarray | None = None
        self._blocks = 0
        for track in self._tracks:
            track.segments.clear()
            track.reported.clear()

    def feed(self, pcm: np.ndarray | bytes) -> list[ToneEvent]:
        x = np.concatenate([self._pending, as_int16(pcm)])
        whole = len(x) // self._block * self._block
        self._pending = x[whole:]
        if not whole:
            return []
        re, im, energy = tone_blocks(np.ascontiguousarray(x[:whole]), self._freqs, self._block, float(self.rate))
        spectrum = re + 1j * im
        events = []
        for b in range(len(energy)):
            self._blocks += 1
            at = self._blocks * BLOCK_S
            for track in self._tracks:
                events += track.step(self._state(track, spectrum[b], energy[b]), energy[b], at)
            self._previous = spectrum[b]
        return events

    def _state(self, track: _Track, x: np.ndarray, energy: float) -> bool | None:
        """True: the track's tone; False: quiet against the tone just heard; None: other sound."""
        tones = x[track.bins]
        power = 2 * np.abs(tones) ** 2 / self._block
        total = power.sum()
        if (self._previous is not None and energy > 0 and total >= MIN_FRACTION * energy
                and total >= self._min_energy and power.min() >= 0.15 * total):
            step = np.angle(tones * np.conj(self._previous[track.bins]))
            offset_hz = np.angle(np.exp(1j * (step - track.nominal_step))) * self.rate / (2 * np.pi * self._block)
            if np.all(np.abs(offset_hz) <= track.max_offset_hz):
                return True
        if track.on_energy > 0 and energy < track.on_energy / 10 ** (OFF_DROP_DB / 10):
            return False
        return None

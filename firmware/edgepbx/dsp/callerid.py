"""Caller ID on an analog line: FSK (ETSI EN 300 659 over V.23, Telcordia GR-30 over Bell 202)
and DTMF (ETSI EN 300 659-1 annex B).

FSK messages are read in both the single-data-message (SDMF, type 0x04) and the multiple-data-
message format (MDMF, type 0x80, with parameters: date and time, number, reason the number is
absent, name, reason the name is absent). A message counts only when its length, its checksum
(the bytes sum to 0 mod 256) and every byte's stop bit hold, and every field is well formed: a damaged message is "no caller
ID", never a guess. Both modulations are tried on every signal; the exchange's choice need not be
configured.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgepbx.dsp._fsk import frame_blocks, tone_magnitudes
from edgepbx.dsp.dtmf import DtmfDetector
from edgepbx.dsp.pcm import as_int16, check_rate

BAUD = 1200.0
# EN 300 659-1 lets the mark and space tones arrive up to 6 dB apart (twist): a weak tone moves the
# mark/space decision and the start-bit edges. The decision is tried level, then with the space
# energy weighted +3 dB and -3 dB; the checksum and stop bits say which reading holds.
TWIST_GAINS = (1.0, 2.0, 0.5)
MODEMS = {"v23": (1300.0, 2100.0), "bell202": (1200.0, 2200.0)}   # (mark, space) Hz
ABSENCE = {"O": "unavailable", "P": "private", "C": "payphone"}
NUMBER_CHARS = set("0123456789*#+ -()")
# DTMF caller ID: "A"/"D" + number + "C" (or "#"); "B00C" unavailable, "B10C" private.
DTMF_ABSENCE = {"00": "unavailable", "10": "private"}


@dataclass(frozen=True)
class CallerId:
    number: str | None                  # None when withheld: see `reason`
    name: str | None = None
    time: str | None = None             # "MM-DD HH:MM" as the exchange sent it (no year)
    reason: str | None = None           # why the number is absent: "private", "unavailable", ...
    name_reason: str | None = None      # why the name is absent
    standard: str = "v23"               # "v23", "bell202" or "dtmf"


def _bandpass(rate: int) -> np.ndarray:
    """FIR band-pass 900-2500 Hz (both modems' tones with margin): out-of-band noise stays out
    of the bit-long correlators, whose side lobes are wide."""
    taps = 2 * int(0.002 * rate) + 1   # 2 ms each side
    n = np.arange(taps) - taps // 2
    lo, hi = 900.0 / rate, 2500.0 / rate
    h = 2 * hi * np.sinc(2 * hi * n) - 2 * lo * np.sinc(2 * lo * n)
    return h * np.hamming(taps)


def _text(raw: bytes) -> str | None:
    if any(b < 0x20 or b > 0x7E for b in raw):
        return None
    return raw.decode("ascii")


def _time(raw: bytes) -> str | None:
    digits = _text(raw)
    if digits is None or len(digits) != 8 or not digits.isdigit():
        return None
    month, day, hour, minute = (int(digits[i:i + 2]) for i in (0, 2, 4, 6))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59):
        return None
    return f"{digits[0:2]}-{digits[2:4]} {digits[4:6]}:{digits[6:8]}"


class _Malformed(Exception):
    pass


def parse_message(block: bytes, standard: str = "v23") -> CallerId | None:
    """The caller ID in one framed message (type, length, payload, checksum), or None."""
    if len(block) < 3:
        return None
    kind, length = block[0], block[1]
    if len(block) < length + 3 or sum(block[:length + 3]) % 256:
        return None
    payload = block[2:2 + length]
    try:
        if kind == 0x04:
            return _sdmf(payload, standard)
        if kind == 0x80:
            return _mdmf(payload, standard)
    except _Malformed:
        return None
    return None      # message waiting, advice of charge...: not a caller ID


def _sdmf(payload: bytes, standard: str) -> CallerId:
    if len(payload) < 9:
        raise _Malformed
    when, rest = _time(payload[:8]), _text(payload[8:])
    if when is None or rest is None:
        raise _Malformed
    if rest in ABSENCE:
        return CallerId(None, time=when, reason=ABSENCE[rest], standard=standard)
    if not set(rest) <= NUMBER_CHARS:
        raise _Malformed
    return CallerId(rest, time=when, standard=standard)


def _mdmf(payload: bytes, standard: str) -> CallerId:
    fields: dict[int, bytes] = {}
    i = 0
    while i < len(payload):
        if i + 2 > len(payload):
            raise _Malformed
        kind, length = payload[i], payload[i + 1]
        value = payload[i + 2:i + 2 + length]
        if len(value) != length:
            raise _Malformed
        fields[kind] = value
        i += 2 + length
    number = name = when = reason = name_reason = None
    if 0x01 in fields and (when := _time(fields[0x01])) is None:
        raise _Malformed
    if 0x02 in fields:
        number = _text(fields[0x02])
        if number is None or not number or not set(number) <= NUMBER_CHARS:
            raise _Malformed
    if 0x04 in fields:
        reason = ABSENCE.get(_text(fields[0x04]) or "")
        if reason is None:
            raise _Malformed
    if 0x07 in fields:
        name = _text(fields[0x07])
        if name is None:
            raise _Malformed
        name = name.strip() or None
    if 0x08 in fields:
        name_reason = ABSENCE.get(_text(fields[0x08]) or "")
        if name_reason is None:
            raise _Malformed
    if number is None and reason is None:
        raise _Malformed     # a call set-up message with neither a number nor why not
    return CallerId(number, name, when, reason, name_reason, standard)


def _fsk_messages(pcm: np.ndarray, rate: int) -> list[tuple[CallerId, int]]:
    """Every valid FSK message in the signal, with the sample where it ends. Either demodulator
    reads the other modem's tones too (the bit-long correlators are wide), so the standard
    reported is the one whose mark tone is closer to the marks before the message."""
    x = np.convolve(pcm.astype(np.float64), _bandpass(rate), mode="same")
    spb = rate / BAUD
    window = int(spb + 0.5)
    for demod, (mark, space) in MODEMS.items():
        m, s = tone_magnitudes(x, float(rate), mark, space, BAUD)
        for gain in TWIST_GAINS:
            found: list[tuple[CallerId, int]] = []
            for block, stops, start, end in frame_blocks(m * m - gain * s * s, spb, (window - 1) / 2.0):
                for skip in range(min(3, len(block))):     # a false start bit in the marks
                    cid = parse_message(block[skip:], demod)
                    if cid is not None and all(stops[skip:skip + block[skip + 1] + 3]):
                        marks = x[max(0, int(start - 24 * spb)):max(0, int(start))]
                        standard = _closer_modem(marks, rate) if len(marks) else demod
                        found.append((replace(cid, standard=standard), int(end)))
                        break
            if found:
                return found
    return []


def _closer_modem(marks: np.ndarray, rate: int) -> str:
    """The modem whose mark tone the steady marks before the message are closer to."""
    n = np.arange(len(marks))

    def energy(f: float) -> float:
        return float(np.abs(np.sum(marks * np.exp(-2j * np.pi * f * n / rate))) ** 2)
    return max(MODEMS, key=lambda m: energy(MODEMS[m][0]))


class _DtmfCallerId:
    """Collects DTMF caller-ID digits: a start letter, the digits, an end letter."""

    def __init__(self, rate: int) -> None:
        self.detector = DtmfDetector(rate)
        self.digits = ""

    def feed(self, pcm: np.ndarray) -> list[CallerId]:
        out = []
        for event in self.detector.feed(pcm):
            d = event.digit
            if d in "ABD":
                self.digits = d
            elif self.digits and d in "C#":
                cid = _dtmf_message(self.digits)
                self.digits = ""
                if cid is not None:
                    out.append(cid)
            elif self.digits:
                self.digits += d
                if len(self.digits) > 24:
                    self.digits = ""
        return out


def _dtmf_message(digits: str) -> CallerId | None:
    start, body = digits[0], digits[1:]
    if not body or not body.isdigit():
        return None
    if start == "B":
        reason = DTMF_ABSENCE.get(body)
        return CallerId(None, reason=reason, standard="dtmf") if reason else None
    return CallerId(body, standard="dtmf")


class CallerIdReceiver:
    """Streaming receiver for an on-hook line: feed audio in any frame size; each caller ID is
    reported once, when its message is complete. The last `window_s` seconds are searched every
    `every_s` seconds (a message lasts under 0.6 s plus seizure and marks)."""

    def __init__(self, rate: int = 8000, window_s: float = 3.0, every_s: float = 0.2) -> None:
        self.rate = check_rate(rate)
        self._window = int(window_s * rate)
        self._every = int(every_s * rate)
        self.reset()

    def reset(self) -> None:
        self._buffer = np.zeros(0, dtype=np.int16)
        self._fresh: list[np.ndarray] = []      # frames since the last search, joined only then
        self._since = 0
        self._dtmf = _DtmfCallerId(self.rate)

    def feed(self, pcm: np.ndarray | bytes) -> list[CallerId]:
        x = as_int16(pcm)
        out = self._dtmf.feed(x)
        self._fresh.append(x)
        self._since += len(x)
        if self._since >= self._every:
            self._since = 0
            self._buffer = np.concatenate([self._buffer, *self._fresh])[-self._window:]
            self._fresh = []
            found = _fsk_messages(self._buffer, self.rate)
            if found:
                out += [cid for cid, _ in found]
                self._buffer = self._buffer[max(end for _, end in found):]
        return out


def decode(pcm: np.ndarray | bytes, rate: int = 8000) -> CallerId | None:
    """The caller ID in a whole signal (the first message when there are several), or None."""
    x = as_int16(pcm)
    found = _fsk_messages(x, check_rate(rate))
    if found:
        return found[0][0]
    dtmf = _DtmfCallerId(rate).feed(x)
    return dtmf[0] if dtmf else None

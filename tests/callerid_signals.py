"""What an exchange sends down an analog line, for tests and the bench: caller ID (an encoder
written from ETSI EN 300 659-1/-3 and Telcordia GR-30, independent of the receiver) and
cadenced call-progress tones.

FSK: channel seizure (alternating bits), mark signal, then each byte framed as start bit (0),
8 data bits LSB first, stop bit (1); phase-continuous tones. Levels in dBm0 (a full-scale
16-bit sine is +3.14 dBm0); twist = space level minus mark level (dB).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.dtmf_q24 import dbm0_amplitude, tones_of, white_noise

MODEMS = {"v23": (1300.0, 2100.0), "bell202": (1200.0, 2200.0)}


def with_checksum(body: bytes) -> bytes:
    return body + bytes([(-sum(body)) % 256])


def sdmf(number_or_reason: str, when: str = "11261430") -> bytes:
    payload = (when + number_or_reason).encode("ascii")
    return with_checksum(bytes([0x04, len(payload)]) + payload)


def mdmf(number: str | None = None, name: str | None = None, when: str | None = "11261430",
         reason: str | None = None, name_reason: str | None = None) -> bytes:
    params = b""
    for kind, value in ((0x01, when), (0x02, number), (0x04, reason), (0x07, name), (0x08, name_reason)):
        if value is not None:
            raw = value.encode("ascii")
            params += bytes([kind, len(raw)]) + raw
    return with_checksum(bytes([0x80, len(params)]) + params)


@dataclass
class Fsk:
    standard: str = "v23"
    level_dbm0: float = -13.0        # of the mark tone
    twist_db: float = 0.0            # space level relative to mark
    freq_error: float = 0.0          # relative, e.g. 0.01 = +1 % on both tones
    seizure_bits: int = 300
    mark_bits: int = 80
    baud_error: float = 0.0
    rate: int = 8000

    def bits(self, message: bytes) -> list[int]:
        out = [i % 2 for i in range(self.seizure_bits)] + [1] * self.mark_bits
        for byte in message:
            out += [0] + [(byte >> k) & 1 for k in range(8)] + [1]
        return out + [1] * 4

    def signal(self, message: bytes) -> np.ndarray:
        mark, space = (f * (1 + self.freq_error) for f in MODEMS[self.standard])
        a_mark = dbm0_amplitude(self.level_dbm0)
        a_space = a_mark * 10 ** (self.twist_db / 20)
        bits = self.bits(message)
        spb = self.rate / (1200.0 * (1 + self.baud_error))
        n = int(len(bits) * spb)
        index = np.minimum((np.arange(n) / spb).astype(int), len(bits) - 1)
        b = np.asarray(bits)[index]
        freq = np.where(b == 1, mark, space)
        phase = 2 * np.pi * np.cumsum(freq) / self.rate
        return np.where(b == 1, a_mark, a_space) * np.sin(phase)


def dtmf_callerid(text: str, level_dbm0: float = -10.0, on_s: float = 0.06, off_s: float = 0.06,
                  rate: int = 8000) -> np.ndarray:
    """DTMF caller ID, e.g. "A5550123C" (ETSI EN 300 659-1 annex B)."""
    parts = []
    a = dbm0_amplitude(level_dbm0)
    t = np.arange(int(on_s * rate)) / rate
    for digit in text:
        low, high = tones_of(digit)
        parts += [a * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)), np.zeros(int(off_s * rate))]
    return np.concatenate(parts)


def on_line(x: np.ndarray, snr_db: float | None, rng: np.random.Generator, lead_s: float = 0.3,
            rate: int = 8000, noise_ref_dbm0: float | None = None) -> np.ndarray:
    """The signal with silence around it, white noise `snr_db` below the signal's own power
    (or below `noise_ref_dbm0` when given), through G.711 mu-law."""
    from tests.dtmf_q24 import line
    pad = np.zeros(int(lead_s * rate))
    y = np.concatenate([pad, x, pad])
    if snr_db is not None:
        power = (dbm0_amplitude(noise_ref_dbm0) ** 2 / 2) if noise_ref_dbm0 is not None else float(np.mean(x ** 2))
        y = y + white_noise(len(y), rate, power / 10 ** (snr_db / 10), rng)
    return line(y)


def cadenced(freqs: tuple[float, ...], cadence: tuple[float, ...], seconds: float, level: float = -20.0,
             start: float = 0.0, error: float = 0.0) -> np.ndarray:
    """A call-progress tone (each frequency at `level` dBm0, off by `error` relative) gated by its
    cadence (on, off, ...), starting `start` seconds into the cycle."""
    t = np.arange(int(seconds * 8000)) / 8000 + start
    phase = t % sum(cadence)
    gate = np.zeros(len(t), dtype=bool)
    at = 0.0
    for k in range(0, len(cadence), 2):
        gate |= (phase >= at) & (phase < at + cadence[k])
        at += cadence[k] + cadence[k + 1]
    return dbm0_amplitude(level) * gate * sum(np.sin(2 * np.pi * f * (1 + error) * t) for f in freqs)

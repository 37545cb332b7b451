"""Find prompt files inside a recording of what a caller heard (normalised cross-correlation)."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, f"{path}: not 16-bit mono"
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64), w.getframerate()


def _loud_start(prompt: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(prompt) > 500)
    return int(loud[0]) if len(loud) else 0


def _match(recording: np.ndarray, template: np.ndarray) -> tuple[int, float]:
    """(sample offset, normalised correlation) of the best match of `template` in `recording`."""
    n = len(template)
    if len(recording) < n or n == 0:
        return 0, 0.0
    template = template - template.mean()
    size = 1 << int(np.ceil(np.log2(len(recording) + n)))
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(template, size)), size)[: len(recording) - n + 1]
    energy = np.convolve(recording ** 2, np.ones(n), "valid")
    mean = np.convolve(recording, np.ones(n), "valid") / n
    local = np.sqrt(np.maximum(energy - n * mean ** 2, 1e-9))
    score = corr / (local * max(np.linalg.norm(template), 1e-9))
    best = int(np.argmax(score))
    return best, float(score[best])


def locate(recording: np.ndarray, prompt: np.ndarray, rate: int, seconds: float = 1.0) -> tuple[float, float]:
    """(offset in seconds of the prompt's first audible sample in the recording, score 0..1).

    One-second windows from the start of the prompt and half a second and a second into it are
    each matched, and the best counts: the caller's jitter buffer may stretch or squeeze the
    first frames of a new audio stream, which garbles the start but not what follows. (Windows
    shorter than a second would match other prompts that share words, such as "press one".)
    """
    start = _loud_start(prompt)
    n = int(rate * seconds)
    best = (0.0, 0.0)
    for skip, length in ((0, n), (n // 2, n), (n, n)):
        window = prompt[start + skip:start + skip + length]
        if skip and len(window) < length:
            continue
        at, score = _match(recording, window)
        if score > best[1]:
            best = (max(at - skip, 0) / rate, score)
    return best


def tone_power_after(recording: np.ndarray, rate: int, start_s: float, freq: float) -> float:
    """Fraction of the signal's power near `freq` after `start_s` (to hear central's test tone)."""
    tail = recording[int(start_s * rate):]
    if len(tail) < rate // 2:
        return 0.0
    spectrum = np.abs(np.fft.rfft(tail)) ** 2
    freqs = np.fft.rfftfreq(len(tail), 1 / rate)
    band = (freqs > freq - 20) & (freqs < freq + 20)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))

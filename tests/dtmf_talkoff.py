"""Talk-off material: real recorded speech and music, as Debian packages them.

`make test` and `make bench` install asterisk-core-sounds-en-wav (a woman's voice, 568
prompts) and asterisk-moh-opsound-wav (five pieces of hold music). A receiver must report
no digit on any of it, at its own speed, sped up and slowed down (which moves every pitch
harmonic across the DTMF frequencies), and must still hear keys pressed over the speech.
"""
from __future__ import annotations

import glob
import wave
from pathlib import Path

import numpy as np

from tests.dtmf_q24 import KEYPAD, Builder, Group, Tone, dbm0_amplitude, line

SPEECH_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MUSIC_DIR = Path("/usr/share/asterisk/moh")
SPEEDS = (1.0, 0.8, 1.25)


def read_pcm8k(path: str | Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (8000, 2, 1):
            raise ValueError(f"{path}: expected 8 kHz 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def corpus(kind: str) -> list[Path]:
    """The recordings of one kind ("speech" or "music"); empty when the package is missing."""
    root = SPEECH_DIR if kind == "speech" else MUSIC_DIR
    return sorted(Path(p) for p in glob.glob(f"{root}/**/*.wav", recursive=True))


def at_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Played `factor` times faster (pitch moves with it), by linear interpolation."""
    n = int(len(x) / factor)
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x.astype(np.float64))


def talkoff_signals(kind: str, speeds: tuple[float, ...] = SPEEDS) -> list[tuple[str, np.ndarray]]:
    """(label, line signal) for every recording of `kind` at every speed, through G.711."""
    out = []
    for path in corpus(kind):
        x = read_pcm8k(path)
        for s in speeds:
            out.append((f"{path.name}@{s}", line(at_speed(x, s))))
    return out


def active_level_dbm0(x: np.ndarray) -> float:
    """Mean power of the samples above -50 dBm0 (a crude stand-in for ITU-T P.56)."""
    x = x.astype(np.float64)
    loud = x[np.abs(x) > dbm0_amplitude(-50.0)]
    return 10 * np.log10(np.mean(loud ** 2) / (32767.0 ** 2 / 2)) + 3.14


def speech_with_keys(seed: int = 7, keys: int = 64, speech_dbm0: float = -20.0) -> Group:
    """The caller talks at `speech_dbm0` (active level; -20 is typical of a telephone line)
    and presses keys (60 ms, -10 dBm0 per tone) over the talking at random moments."""
    rng = np.random.default_rng(seed)
    files = corpus("speech")
    talk = np.concatenate([read_pcm8k(files[int(i)]) for i in rng.choice(len(files), 40, replace=False)])
    talk = talk.astype(np.float64) * 10 ** ((speech_dbm0 - active_level_dbm0(talk)) / 20)
    digits = "".join(KEYPAD[int(rng.integers(16))] for _ in range(keys))
    b = Builder(8000, rng)
    b.pause(0.2)
    for d in digits:
        b.tone(Tone(d, on_s=0.060))
        b.pause(float(rng.uniform(0.3, 1.2)))
    keypad = np.concatenate(b.parts)
    n = max(len(keypad), len(talk))
    mix = np.zeros(n)
    mix[:len(talk)] += talk
    mix[:len(keypad)] += keypad
    return Group("speech + keys", "keys pressed over speech are heard, nothing else", 8000,
                 line(mix), digits, b.onsets)

"""Channels per core of the DSP kernels (20 ms frames, one thread): a sanity figure for a
build on another architecture or under emulation, not a benchmark against a reference."""
from __future__ import annotations

import platform
import time

import numpy as np

from edgepbx.dsp.dtmf import DtmfDetector
from edgepbx.dsp.features import Mfcc
from edgepbx.dsp.speechrate import SpeechRate
from edgepbx.dsp.voicekey import VoiceKeyDecoder

SECONDS = 10


def channels(make, seconds: int = SECONDS) -> float:
    rng = np.random.default_rng(1)
    t = np.arange(seconds * 8000) / 8000
    audio = (3000 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + rng.normal(0, 300, len(t))).astype(np.int16)
    kernel = make()
    t0 = time.process_time()
    for i in range(0, len(audio), 160):
        kernel.feed(audio[i:i + 160])
    return seconds / max(time.process_time() - t0, 1e-9)


def main() -> None:
    print(f"DSP on {platform.machine()}, channels per core (real time / CPU time):")
    for name, make in (("in-band DTMF", lambda: DtmfDetector(8000)), ("MFCC features", lambda: Mfcc(8000)),
                       ("speech rate", lambda: SpeechRate(8000)), ("voice keys (zh)", lambda: VoiceKeyDecoder("zh")),
                       ("voice keys (en)", lambda: VoiceKeyDecoder("en"))):
        print(f"  {name:16} {channels(make):8.0f}")


if __name__ == "__main__":
    main()

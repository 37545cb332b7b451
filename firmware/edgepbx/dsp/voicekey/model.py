"""The shipped voice-key networks of a language (models/<lang>.npz, built by
`make voicekey-model`), run by the Cython kernel in cext/voicekey.pyx.

A model file holds one network or several trained alike from different seeds (an ensemble,
keys prefixed "m<i>_"). Their probabilities are averaged: networks that learnt the same words
from different starting points disagree mostly where each is unsure, so the average is surer
where it is right and less sure where it is wrong, which is what the decoder's margin needs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgepbx.dsp._voicekey import Network
from edgepbx.dsp.voicekey.frontend import GRID, TONE_CHANNELS

MODELS = Path(__file__).with_name("models")
OTHER = "_other"


@dataclass
class Member:
    """One network with the input normalisation it was trained with."""
    network: Network
    mean: np.ndarray
    std: np.ndarray

    def probabilities(self, word: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray((word - self.mean[:, None]) / self.std[:, None], dtype=np.float32)
        return self.network.forward(x)


@dataclass
class WordModel:
    lang: str
    classes: tuple[str, ...]
    members: list[Member]

    @property
    def tone(self) -> bool:
        """The model hears pitch (tonal languages): its input has the tone channels."""
        return len(self.members[0].mean) == 13 + TONE_CHANNELS

    def probabilities(self, word: np.ndarray) -> np.ndarray:
        """Softmax over `classes` for one word input (13 or 15 x GRID), averaged over the members."""
        return np.mean([m.probabilities(word) for m in self.members], axis=0)


@lru_cache(maxsize=None)
def load(lang: str) -> WordModel:
    """The shipped model of `lang`, loaded once per process."""
    path = MODELS / f"{lang}.npz"
    if not path.exists():
        raise ValueError(f"no voice-key model for language {lang!r} ({path} missing)")
    return load_file(path, lang)


def load_file(path: Path, lang: str) -> WordModel:
    z = np.load(path)
    prefixes = sorted({k.split("_", 1)[0] + "_" for k in z.files if re.match(r"m\d+_", k)}) or [""]
    members = [_member(z, prefix) for prefix in prefixes]
    return WordModel(lang, tuple(str(c) for c in z["classes"]), members)


def _member(z, prefix: str) -> Member:
    names = [k[len(prefix):] for k in z.files if k.startswith(prefix)]
    weights = {k: z[prefix + k] for k in names if k[0] in "wb" and k[1:].isdigit()}
    mean = z[prefix + "input_mean"].astype(np.float32)
    network = Network([str(p) for p in z[prefix + "plan"]], weights, len(mean), GRID)
    return Member(network, mean, z[prefix + "input_std"].astype(np.float32))

"""The shipped voice-key network of a language (models/<lang>.npz, built by
`make voicekey-model`), run by the Cython kernel in cext/voicekey.pyx."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgepbx.dsp._voicekey import Network
from edgepbx.dsp.voicekey.frontend import GRID

MODELS = Path(__file__).with_name("models")
OTHER = "_other"


@dataclass
class WordModel:
    lang: str
    classes: tuple[str, ...]
    network: Network
    mean: np.ndarray
    std: np.ndarray
    templates: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def _normalised(self, word: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((word - self.mean[:, None]) / self.std[:, None], dtype=np.float32)

    def probabilities(self, word: np.ndarray) -> np.ndarray:
        """Softmax over `classes` for one word input (13 x GRID)."""
        return self.network.forward(self._normalised(word))


@lru_cache(maxsize=None)
def load(lang: str) -> WordModel:
    """The shipped model of `lang`, loaded once per process."""
    path = MODELS / f"{lang}.npz"
    if not path.exists():
        raise ValueError(f"no voice-key model for language {lang!r} ({path} missing)")
    return load_file(path, lang)


def load_file(path: Path, lang: str) -> WordModel:
    z = np.load(path)
    weights = {k: z[k] for k in z.files if k[0] in "wb" and k[1:].isdigit()}
    mean = z["input_mean"].astype(np.float32)
    network = Network([str(p) for p in z["plan"]], weights, len(mean), GRID)
    return WordModel(lang, tuple(str(c) for c in z["classes"]), network, mean, z["input_std"].astype(np.float32))

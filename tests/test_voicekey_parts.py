"""The voice-key decoder's parts on synthetic inputs: the network kernel against a numpy
reference, the endpointer on bursts of known length, and the input front end."""
from __future__ import annotations

import numpy as np
import pytest

from edgepbx.dsp._voicekey import Network
from edgepbx.dsp.features import Mfcc
from edgepbx.dsp.g711 import line
from edgepbx.dsp.voicekey.endpoint import Endpointer
from edgepbx.dsp.voicekey.frontend import GRID, word_input


def _reference(plan, weights, x):
    for step in plan:
        kind, _, name = step.partition(":")
        if kind == "conv":
            w, b = weights["w" + name], weights["b" + name]
            pad = w.shape[2] // 2
            xp = np.pad(x, ((0, 0), (pad, pad)))
            x = np.stack([b[o] + sum(np.convolve(xp[i], w[o, i][::-1], "valid") for i in range(w.shape[1]))
                          for o in range(w.shape[0])])
        elif kind == "dense":
            x = weights["w" + name] @ x.reshape(-1) + weights["b" + name]
        elif kind == "relu":
            x = np.maximum(x, 0)
        else:
            x = x[:, : x.shape[1] // 2 * 2].reshape(x.shape[0], -1, 2).max(axis=2)
    return x


def test_network_matches_numpy_reference():
    rng = np.random.default_rng(3)
    plan = ["conv:0", "relu", "conv:2", "relu", "pool2", "dense:5", "relu", "dense:7"]
    weights = {"w0": rng.normal(size=(8, 13, 5)), "b0": rng.normal(size=8),
               "w2": rng.normal(size=(6, 8, 3)), "b2": rng.normal(size=6),
               "w5": rng.normal(size=(10, 6 * GRID // 2)), "b5": rng.normal(size=10),
               "w7": rng.normal(size=(4, 10)), "b7": rng.normal(size=4)}
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    net = Network(plan, weights, 13, GRID)
    x = rng.normal(size=(13, GRID)).astype(np.float32)
    logits = _reference(plan, {k: v.astype(np.float64) for k, v in weights.items()}, x.astype(np.float64))
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(net.embed(x), _reference(plan[:-1], weights, x), rtol=1e-4, atol=1e-4)


def test_network_refuses_mismatched_weights_and_inputs():
    with pytest.raises(ValueError, match="do not follow 13 channels"):
        Network(["conv:0"], {"w0": np.zeros((4, 12, 3), np.float32), "b0": np.zeros(4, np.float32)}, 13, GRID)
    net = Network(["dense:0"], {"w0": np.zeros((2, 13 * GRID), np.float32), "b0": np.zeros(2, np.float32)}, 13, GRID)
    with pytest.raises(ValueError, match="input must be 13 x 32"):
        net.forward(np.zeros((13, 31), np.float32))


def _energies(signal: np.ndarray) -> list[float]:
    return [float(e) for e in Mfcc(8000).feed(line(signal))[:, 0]]


def _bursts(spec: list[tuple[float, float]], total_s: float, level: float = 3000.0) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = rng.normal(size=int(total_s * 8000)) * 5.0           # line hiss, about -60 dBm0
    for start, length in spec:
        a, b = int(start * 8000), int((start + length) * 8000)
        x[a:b] += rng.normal(size=b - a) * level
    return x


def _segments(signal: np.ndarray) -> list[tuple[float, float]]:
    ep = Endpointer()
    out = []
    for e in _energies(signal) + [0.0] * 40:
        seg = ep.push(e)
        if seg is not None:
            out.append((seg.start / 100, seg.end / 100))
    return out


def test_endpointer_finds_each_word_and_keeps_short_pauses_inside():
    # words at 0.5 s (0.4 s long) and 1.5 s (0.3 + 0.1 pause + 0.3: one word, like "lost card")
    segments = _segments(_bursts([(0.5, 0.4), (1.5, 0.3), (1.9, 0.3)], 3.5))
    assert len(segments) == 2
    (s1, e1), (s2, e2) = segments
    assert 0.38 <= s1 <= 0.5 and 0.9 <= e1 <= 1.0
    assert 1.38 <= s2 <= 1.5 and 2.2 <= e2 <= 2.3


def test_endpointer_drops_clicks_and_long_talk():
    assert _segments(_bursts([(0.5, 0.04), (1.0, 0.05)], 2.0)) == []
    assert _segments(_bursts([(0.5, 3.0)], 4.5)) == []
    # ... and hears the next word after long talk
    assert len(_segments(_bursts([(0.5, 3.0), (4.0, 0.4)], 5.0))) == 1


def test_endpointer_follows_a_louder_line():
    x = _bursts([(6.5, 0.4)], 7.5)
    x[int(1.0 * 8000):] += np.random.default_rng(9).normal(size=len(x) - 8000) * 60   # hiss 20 dB louder
    segments = _segments(x)
    assert len(segments) == 1 and 6.38 <= segments[0][0] <= 6.5


def test_word_input_ignores_the_level():
    rng = np.random.default_rng(2)
    x = np.convolve(rng.normal(size=4000), [1, 0.5, 0.2], "same") * np.hanning(4000) * 3000
    a = word_input(Mfcc(8000).feed(np.round(x).astype(np.int16)))
    b = word_input(Mfcc(8000).feed(np.round(x * 0.25).astype(np.int16)))
    assert a.shape == (13, GRID)
    np.testing.assert_allclose(a, b, atol=0.1)


def _model_arrays(rng, prefix: str, classes: int) -> dict[str, np.ndarray]:
    return {prefix + "w0": rng.normal(size=(4, 13, 3)).astype(np.float32), prefix + "b0": rng.normal(size=4).astype(np.float32),
            prefix + "w3": rng.normal(size=(classes, 4 * GRID // 2)).astype(np.float32),
            prefix + "b3": rng.normal(size=classes).astype(np.float32),
            prefix + "plan": np.array(["conv:0", "relu", "pool2", "dense:3"]),
            prefix + "input_mean": rng.normal(size=13).astype(np.float32),
            prefix + "input_std": rng.uniform(0.5, 2, size=13).astype(np.float32)}


def test_an_ensemble_file_averages_its_members(tmp_path):
    from edgepbx.dsp.voicekey.model import load_file
    rng = np.random.default_rng(5)
    classes = np.array(["1", "2", "_other"])
    a, b = _model_arrays(rng, "m0_", 3), _model_arrays(rng, "m1_", 3)
    np.savez(tmp_path / "pair.npz", classes=classes, **a, **b)
    np.savez(tmp_path / "first.npz", classes=classes, **{k[3:]: v for k, v in a.items()})
    np.savez(tmp_path / "second.npz", classes=classes, **{k[3:]: v for k, v in b.items()})
    word = rng.normal(size=(13, GRID)).astype(np.float32)
    pair = load_file(tmp_path / "pair.npz", "en")
    first, second = (load_file(tmp_path / f"{n}.npz", "en") for n in ("first", "second"))
    assert len(pair.members) == 2 and len(first.members) == 1 and pair.classes == ("1", "2", "_other")
    p1, p2 = first.probabilities(word), second.probabilities(word)
    assert not np.allclose(p1, p2)
    np.testing.assert_allclose(pair.probabilities(word), (p1 + p2) / 2, rtol=1e-6)

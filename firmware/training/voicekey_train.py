"""Trains the voice-key network for one language and writes its weights into the package.

    python firmware/training/voicekey_train.py --lang en [--loso]

--loso first reports leave-one-speaker-out accuracy on the real recordings (each FSDD speaker
held out of training in turn), the figure that predicts callers the box has never heard. The
shipped model is then trained on everything. Seeds are fixed: the same corpus gives the same
weights. Needs torch (the `train` extra); the box itself only needs numpy.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import voicekey_data as data  # noqa: E402

PACKAGE_MODELS = Path(__file__).resolve().parents[1] / "edgepbx/dsp/voicekey/models"
# The leave-one-speaker-out networks, kept so `make bench` can measure each on the speaker it
# never heard, beside PocketSphinx, without torch.
HELD_OUT_MODELS = Path(__file__).resolve().parent / "heldout"


def _examples(job: tuple[int, str, str, str, int, str]) -> list[tuple[int, str, np.ndarray]]:
    seed, label, path, group, copies, lang = job
    rng = np.random.default_rng(seed)
    x = data.read_wav(path)
    out = []
    if len(x) < 800 or not np.abs(x).max():      # empty or silent recordings teach nothing
        return out
    for k in range(copies):
        heard = data.telephone(x, rng, strong=k > 0, speaker=data.is_real(group) and data.TONAL[lang], wide=data.TONAL[lang])
        words = data.words_in(heard, tone=data.TONAL[lang])
        if group.startswith("foreign:"):   # every word of a prompt is a non-key
            out += [(data.CLASSES.index(label), group, w) for _, w in words]
        elif words:   # the longest is the word; anything else is a click the endpointer split off
            out.append((data.CLASSES.index(label), group, max(words, key=lambda w: w[0])[1]))
    return out


def build(lang: str, corpus: Path, copies_synthetic: int, copies_real: int, workers: int = 2):
    jobs = []
    for i, (label, path, group) in enumerate(data.sources(lang, corpus)):
        real = data.is_real(group)
        if real:     # a real voice's key words are what is scarce; its other words, plentiful
            copies = copies_real if label != data.OTHER else max(2, copies_real // 10)
        else:
            copies = 2 if group.startswith("foreign:") else copies_synthetic
        jobs.append((i, label, path, group, copies, lang))
    rows = []
    with ProcessPoolExecutor(workers) as pool:
        for part in pool.map(_examples, jobs, chunksize=32):
            rows.extend(part)
    rng = np.random.default_rng(99)
    for burst in data.noise_examples(rng, len(rows) // 12):
        for _, w in data.words_in(data.line(np.concatenate([np.zeros(2400), burst, np.zeros(4000)])), tone=data.TONAL[lang]):
            rows.append((data.CLASSES.index(data.OTHER), "noise", w))
    X = np.stack([r[2] for r in rows]).astype(np.float32)
    y = np.array([r[0] for r in rows])
    groups = np.array([r[1] for r in rows])
    return X, y, groups


def network(n_in: int, n_out: int):
    import torch.nn as nn
    return nn.Sequential(
        nn.Conv1d(n_in, 64, 5, padding=2), nn.ReLU(),
        nn.Conv1d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(64, 96, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(96 * 8, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, n_out),
    )


def train(X: np.ndarray, y: np.ndarray, epochs: int, seed: int = 1):
    import torch
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    mean = X.mean(axis=(0, 2), keepdims=True)
    std = X.std(axis=(0, 2), keepdims=True) + 1e-3
    net = network(X.shape[1], len(data.CLASSES))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * ((len(X) + 127) // 128))
    Xt = torch.tensor((X - mean) / std)
    yt = torch.tensor(y)
    counts = np.bincount(y, minlength=len(data.CLASSES)).astype(np.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / (len(counts) * np.maximum(counts, 1))),
                                        label_smoothing=float(os.environ.get('VK_SMOOTH', '0.05')))
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(Xt), generator=g)
        for i in range(0, len(order), 128):
            idx = order[i:i + 128]
            xb = Xt[idx]
            # time shift and masking: a word cut a little early or late, a dropped syllable
            xb = torch.roll(xb, int(torch.randint(-2, 3, (1,), generator=g)), dims=2)
            opt.zero_grad()
            loss_fn(net(xb), yt[idx]).backward()
            opt.step()
            sched.step()
    net.eval()
    return net, mean, std


def predict(net, mean, std, X: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return torch.softmax(net(torch.tensor((X - mean) / std)), dim=1).numpy()


def train_members(X: np.ndarray, y: np.ndarray, epochs: int, members: int) -> list:
    """`members` networks trained alike from seeds 1..members (the shipped ensemble)."""
    return [train(X, y, epochs, seed=seed) for seed in range(1, members + 1)]


def predict_members(trained: list, X: np.ndarray) -> np.ndarray:
    return np.mean([predict(net, mean, std, X) for net, mean, std in trained], axis=0)


def held_out_sets(lang: str, groups: np.ndarray, only: list[str] | None) -> dict[str, np.ndarray]:
    """name -> mask of the examples one held-out model never sees: each real Mandarin voice
    ("tan", "seedlingo"); each FSDD speaker ("theo", ...); each fold of Speech Commands speakers."""
    sets: dict[str, np.ndarray] = {}
    for g in sorted(set(groups)):
        if g.startswith(("zh:", "fsdd:")):
            sets[g.split(":")[1]] = groups == g
    if lang == "en":
        for fold in range(data.SC_FOLDS):
            sets[f"sc-fold{fold}"] = np.char.startswith(groups.astype(str), f"sc:{fold}:")
    return {k: v for k, v in sets.items() if not only or k in only}


def loso(lang: str, X, y, groups, epochs: int, members: int, only: list[str] | None = None) -> None:
    """Trains one model without each held-out set, saves it for the bench, prints a quick figure
    (network alone, no decoder margin rules: the bench gives the real ones)."""
    for name, test in held_out_sets(lang, groups, only).items():
        trained = train_members(X[~test], y[~test], epochs, members)
        export(trained, HELD_OUT_MODELS / f"{lang}-without-{name}.npz")
        p = predict_members(trained, X[test])
        top = p.argmax(1)
        ranked = np.sort(p, axis=1)
        margin = ranked[:, -1] - ranked[:, -2]
        other = data.CLASSES.index(data.OTHER)
        keys = y[test] != other
        for threshold in (0.0, 0.4):
            accepted = (margin >= threshold) & (top != other)
            right = (accepted & (top == y[test]))[keys].mean() if keys.any() else float("nan")
            wrong = (accepted & (top != y[test])).mean()
            print(f"  without {name}: margin {threshold:.1f}: keys right {right:.1%}, "
                  f"any example a wrong key {wrong:.1%}", flush=True)


def export(trained: list, path: Path) -> None:
    """Each member's weights as float32 arrays in layer order with its input normalisation,
    keys prefixed "m<i>_" (edgepbx.dsp.voicekey.model reads them)."""
    import torch.nn as nn
    arrays: dict[str, np.ndarray] = {"classes": np.array(data.CLASSES)}
    for m, (net, mean, std) in enumerate(trained):
        prefix = f"m{m}_"
        arrays[prefix + "input_mean"], arrays[prefix + "input_std"] = mean[0, :, 0], std[0, :, 0]
        plan = []
        for i, layer in enumerate(net):
            if isinstance(layer, (nn.Conv1d, nn.Linear)):
                arrays[f"{prefix}w{i}"] = layer.weight.detach().numpy().astype(np.float32)
                arrays[f"{prefix}b{i}"] = layer.bias.detach().numpy().astype(np.float32)
                plan.append(("conv" if isinstance(layer, nn.Conv1d) else "dense") + f":{i}")
            elif isinstance(layer, nn.ReLU):
                plan.append("relu")
            elif isinstance(layer, nn.MaxPool1d):
                plan.append("pool2")
        arrays[prefix + "plan"] = np.array(plan)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lang", choices=("en", "zh"), required=True)
    parser.add_argument("--corpus", type=Path, default=Path("build/voicekey/corpus"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--copies", type=int, default=4, help="augmented copies of each synthetic utterance")
    parser.add_argument("--copies-real", type=int, default=12)
    parser.add_argument("--members", type=int, default=3, help="networks in the shipped ensemble (seeds 1..N)")
    parser.add_argument("--loso", action="store_true")
    parser.add_argument("--hold-out", action="append", help="held-out set(s) for --loso, e.g. tan, theo, sc-fold0 (default: each)")
    parser.add_argument("--loso-members", type=int, default=1, help="networks per held-out model")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path("build/voicekey"))
    args = parser.parse_args()
    count = len(data.sources(args.lang, args.corpus))   # a changed corpus is a new cache
    cache = args.cache / f"examples-v2-{args.lang}-{count}-{args.copies}-{args.copies_real}.npz"
    t0 = time.time()
    if cache.exists():
        z = np.load(cache)
        X, y, groups = z["X"], z["y"], z["groups"]
    else:
        X, y, groups = build(args.lang, args.corpus, args.copies, args.copies_real)
        np.savez(cache, X=X, y=y, groups=groups)
    print(f"{args.lang}: {len(X)} examples ({time.time() - t0:.0f} s)", flush=True)
    if args.loso:
        loso(args.lang, X, y, groups, args.epochs, args.loso_members, args.hold_out)
    if not args.no_export:
        export(train_members(X, y, args.epochs, args.members), PACKAGE_MODELS / f"{args.lang}.npz")
        print(f"wrote {PACKAGE_MODELS / (args.lang + '.npz')}")


if __name__ == "__main__":
    main()

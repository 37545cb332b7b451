"""`make bench` (dtmf): the in-band DTMF receiver beside spandsp's `dtmf_rx`, in one run.

Prints the Q.24 pass table for both receivers (every group, three seeds each), talk-off on
real speech and music at three speeds, keys pressed over speech, detection delay, and
throughput in real-time 8 kHz channels per core: the whole signal in one call, and 20 ms
frames as a call's media thread delivers them.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np

from edgepbx.dsp.dtmf import DtmfDetector, decode
from tests.bench.spandsp import SpandspDtmf, load
from tests.dtmf_q24 import detection_delays, q24_groups
from tests.dtmf_talkoff import corpus, speech_with_keys, talkoff_signals

SEEDS = (24, 25, 26)
STREAM_TARGET = 4000  # real-time channels per core through 20 ms frames


def ours(pcm: np.ndarray, rate: int = 8000) -> str:
    return "".join(d for d, _ in decode(pcm, rate))


def verdict(got: str, expected: str) -> str:
    if got == expected:
        return "pass"
    if not expected:
        return f"FAIL: {len(got)} false"
    return f"FAIL: {len(got)}/{len(expected)}" + ("" if len(got) != len(expected) else " wrong")


def pass_table(spandsp: Callable[[np.ndarray], str] | None) -> bool:
    print(f"\nQ.24 groups (seeds {', '.join(map(str, SEEDS))}; every signal through G.711 mu-law)")
    print(f"  {'group':22} {'digits':>6}  {'edgepbx 8k':18} {'edgepbx 16k':18} {'spandsp 8k':18}")
    all_ok = True
    by_name: dict[str, list[tuple[str, str, str]]] = {}
    for seed in SEEDS:
        g8 = q24_groups(8000, seed)
        g16 = q24_groups(16000, seed)
        for a, b in zip(g8, g16):
            by_name.setdefault(a.name, []).append((
                verdict(ours(a.signal), a.expected),
                verdict(ours(b.signal, 16000), b.expected),
                verdict(spandsp(a.signal), a.expected) if spandsp else "n/a"))
    for name, rows in by_name.items():
        count = len(next(g for g in q24_groups(8000, SEEDS[0]) if g.name == name).expected)
        cells = []
        for col in range(3):
            bad = [r[col] for r in rows if r[col] != "pass"]
            cells.append("pass" if not bad else bad[0] + (f" (+{len(bad) - 1})" if len(bad) > 1 else ""))
        all_ok &= cells[0] == "pass" and cells[1] == "pass"
        print(f"  {name:22} {count:>6}  {cells[0]:18} {cells[1]:18} {cells[2]:18}")
    return all_ok


def talkoff(spandsp: Callable[[np.ndarray], str] | None) -> bool:
    if not corpus("speech") or not corpus("music"):
        print("\ntalk-off: recordings not installed (asterisk-core-sounds-en-wav, asterisk-moh-opsound-wav)")
        return False
    print("\nTalk-off: false digits on real recordings at speed 1.0, 0.8 and 1.25")
    ok = True
    for kind in ("speech", "music"):
        signals = talkoff_signals(kind)
        minutes = sum(len(s) for _, s in signals) / 8000 / 60
        a = sum(len(ours(s)) for _, s in signals)
        b = sum(len(spandsp(s)) for _, s in signals) if spandsp else "n/a"
        ok &= a == 0
        print(f"  {kind:7} {minutes:6.1f} min   edgepbx {a:<4} spandsp {b}")
    print("Keys pressed over speech (64 keys, -10 dBm0 per tone, 4 seeds): keys heard / false or swapped")
    for level in (-25.0, -20.0, -15.0):
        cells = []
        for rx in (ours, spandsp):
            heard = false = 0
            for seed in (7, 8, 9, 10):
                g = speech_with_keys(seed=seed, speech_dbm0=level)
                got = rx(g.signal) if rx else ""
                rest = iter(g.expected)
                matched = sum(1 for d in got if d in rest)
                heard += matched
                false += len(got) - matched
            cells.append(f"{heard}/{4 * 64} heard, {false} false" if rx else "n/a")
            if rx is ours:
                ok &= false == 0
        print(f"  speech at {level:5.1f} dBm0   edgepbx {cells[0]:24} spandsp {cells[1]}")
    return ok


def delays(lib: object | None) -> bool:
    print("\nDetection delay, tone onset to the end of the frame that reported it (64 tones)")
    ok = True
    for frame_ms in (1.0, 10.0, 20.0):
        def ours_feeder(rate: int):
            det = DtmfDetector(rate)
            return lambda pcm: [e.digit for e in det.feed(pcm)]

        def spandsp_feeder(rate: int):
            rx = SpandspDtmf(lib)
            return rx.feed

        a = detection_delays(ours_feeder, frame_ms=frame_ms)
        line = f"  {frame_ms:4.0f} ms frames: edgepbx median {statistics.median(a) * 1000:5.1f} ms, max {max(a) * 1000:5.1f}"
        if frame_ms == 1.0:
            ok &= statistics.median(a) < 0.040
        if lib is not None:
            b = detection_delays(spandsp_feeder, frame_ms=frame_ms)
            line += f"   spandsp median {statistics.median(b) * 1000:5.1f} ms, max {max(b) * 1000:5.1f} ({len(b)} found)"
        print(line)
    return ok


def best_cpu(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def throughput(lib: object | None) -> bool:
    audio = [s for _, s in talkoff_signals("speech", speeds=(1.0,))] if corpus("speech") else []
    audio += [g.signal for g in q24_groups(8000)]
    x = np.concatenate(audio)
    seconds = len(x) / 8000
    frames = [x[i:i + 160] for i in range(0, len(x) - 159, 160)]
    print(f"\nThroughput on {seconds / 60:.1f} min of 8 kHz audio (speech and Q.24 groups), one core, best of 3")

    def stream_ours() -> None:
        det = DtmfDetector(8000)
        for f in frames:
            det.feed(f)

    def stream_spandsp() -> None:
        rx = SpandspDtmf(lib)
        for f in frames:
            rx.feed(f)

    whole_a = seconds / best_cpu(lambda: decode(x))
    stream_a = seconds / best_cpu(stream_ours)
    line_w = f"  whole signal      edgepbx {whole_a:9.0f} channels"
    line_s = f"  20 ms frames      edgepbx {stream_a:9.0f} channels (target {STREAM_TARGET})"
    ok = stream_a >= STREAM_TARGET
    if lib is not None:
        whole_b = seconds / best_cpu(lambda: SpandspDtmf(lib).feed(x))
        stream_b = seconds / best_cpu(stream_spandsp)
        line_w += f"   spandsp (C, one call) {whole_b:9.0f}   ratio {whole_a / whole_b:.2f}"
        line_s += f"   spandsp (ctypes per frame) {stream_b:7.0f}"
        ok &= whole_a >= whole_b
    print(line_w)
    print(line_s)
    return ok


def main() -> int:
    lib = load()
    if lib is None:
        print("spandsp (libspandsp2) not installed: reference columns are empty")

    def spandsp_rx(pcm: np.ndarray) -> str:
        return "".join(SpandspDtmf(lib).feed(pcm))

    reference = spandsp_rx if lib is not None else None
    results = [pass_table(reference), talkoff(reference), delays(lib), throughput(lib)]
    ok = all(results) and lib is not None
    print(f"\n  result: {'PASS' if ok else 'FAIL'} (all groups pass at 8 and 16 kHz, zero talk-off, "
          f"median delay < 40 ms, whole-signal throughput >= spandsp, 20 ms frames >= {STREAM_TARGET} channels)")
    return 0 if ok else 1

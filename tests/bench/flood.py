"""`make bench BENCH=flood`: the box under an INVITE flood, as a SIP scanner or a broken trunk sends it.

An untrusted source (127.0.0.2) sends INVITEs with SDP that it never ACKs, at 50, 200 and 500
per second for 30 s each; then a trusted source (127.0.0.3) floods at 200 per second. All the
while a trusted caller (127.0.0.1, a pjsua2 process per call) places a call every 2 s, and
one long call forwarded to a stand-in central hears central's steady tone. Printed per phase:
legitimate calls answered, their set-up time beside the same calls without a flood, the box's
CPU, and the long call's audio gaps (20 ms frames well below the tone's level).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tests.audio_match import read_wav
from tests.bench.calls import cpu_seconds
from tests.e2e.rawsip import invite
from tests.e2e.support import Box, Central

PHASE_S = 30.0
BASELINE_S = 20.0
CALL_EVERY_S = 2.0
SCALE = float(os.environ.get("FLOOD_SCALE", "1"))     # 0: the same run without a flood (the harness's own noise)
PHASES = (("no flood", None, 0), ("untrusted 50/s", "127.0.0.2", 50), ("untrusted 200/s", "127.0.0.2", 200),
          ("untrusted 500/s", "127.0.0.2", 500), ("trusted 200/s", "127.0.0.3", 200))


def send_flood(source: str, port: int, rate: float, seconds: float) -> None:
    """INVITEs from `source` at `rate` per second, never ACKed; answers are read and dropped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.setblocking(False)
    here = sock.getsockname()
    target, start, sent = f"127.0.0.1:{port}", time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due:
            sock.sendto(invite(target, here[0], here[1]), ("127.0.0.1", port))
            sent += 1
        try:
            while True:
                sock.recv(65535)
        except BlockingIOError:
            pass
        time.sleep(0.002)
    print(sent)


def _call(box: Box) -> dict:
    done = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--bind", "127.0.0.1", "--dtmf", "2",
                           "--wait", "0.3", "--hold", "0.3", "--timeout", "15"], capture_output=True, text=True, timeout=60)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"answered": False, "setup_ms": None}


def _legit_calls(box: Box, seconds: float) -> list[dict]:
    """A call every CALL_EVERY_S for `seconds`, each in its own thread (a call lasts longer)."""
    results: list[dict] = []
    threads = []
    start = time.monotonic()
    while time.monotonic() - start < seconds - 1.0:
        thread = threading.Thread(target=lambda: results.append(_call(box)))
        thread.start()
        threads.append(thread)
        time.sleep(CALL_EVERY_S)
    for thread in threads:
        thread.join()
    return results


def _gaps(record: Path, spans: list[tuple[float, float]]) -> list[list[float]]:
    """Where (seconds into the recording), in each span, a 20 ms frame is far below the tone's level."""
    audio, rate = read_wav(record)
    frame = rate // 50
    rms = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    steady = np.median(rms[int(spans[0][0] * 50):]) if len(rms) else 0.0
    return [[round(i / 50, 2) for i in range(int(a * 50), min(int(b * 50), len(rms))) if rms[i] < 0.25 * steady]
            for a, b in spans]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--send", nargs=4, metavar=("SOURCE", "PORT", "RATE", "SECONDS"))
    args, _ = parser.parse_known_args()
    if args.send:
        send_flood(args.send[0], int(args.send[1]), float(args.send[2]), float(args.send[3]))
        return 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        total = BASELINE_S + PHASE_S * (len(PHASES) - 1) + 20
        central = Central(tmp, tone_s=total + 60)       # no loop (and its silent frame) in the call
        box = Box(tmp, central=central.uri, language="en", sip_extra='trusted = ["127.0.0.1", "127.0.0.3"]\n')
        pid = box.proc.pid
        record = tmp / "long.wav"
        long_call = subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--bind", "127.0.0.1",
                                      "--dtmf", "2,0", "--wait", "1.0", "--hold", str(total), "--record", str(record),
                                      "--timeout", str(total + 30)], stdout=subprocess.PIPE, text=True)
        time.sleep(8.0)                      # answered, forwarded, central's tone flowing
        long_start = time.monotonic() - 8.0
        rows, spans = [], []
        for name, source, rate in PHASES:
            seconds = BASELINE_S if source is None else PHASE_S
            flood = None
            if source is not None:
                flood = subprocess.Popen([sys.executable, "-m", "tests.bench.flood", "--send", source, str(box.port),
                                          str(rate * SCALE), str(seconds)], stdout=subprocess.PIPE, text=True)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            calls = _legit_calls(box, seconds)
            sent = int(flood.communicate(timeout=60)[0].strip() or 0) if flood else 0
            cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            spans.append((t0 - long_start, time.monotonic() - long_start))
            setup = [c["setup_ms"] for c in calls if c.get("setup_ms") is not None]
            rows.append((name, sent, sum(1 for c in calls if c.get("answered")), len(calls),
                         statistics.median(setup) if setup else float("nan"),
                         max(setup) if setup else float("nan"), cpu))
            time.sleep(3.0)                  # the flood's unconfirmed calls time out
        long_out, _ = long_call.communicate(timeout=total + 60)
        long_result = json.loads(long_out.strip().splitlines()[-1])
        box.stop()
        central.stop()
        gaps = _gaps(record, spans) if record.exists() else [[-1.0]] * len(spans)
        refused = [line for line in box.output.splitlines() if "answered 403" in line or "answered 503" in line]
    base = rows[0][4]
    print(f"edgepbx flood bench: {os.cpu_count()} cores; legitimate caller 127.0.0.1 every {CALL_EVERY_S:g} s; "
          f"long call forwarded to central throughout (answered: {long_result.get('answered')})")
    print(f"{'phase':<18} {'INVITEs':>8} {'legit answered':>15} {'set-up median':>14} {'vs no flood':>11} "
          f"{'set-up max':>11} {'box CPU':>8} {'audio gaps':>11}")
    ok = long_result.get("answered", False)
    for (name, sent, answered, placed, median, worst, cpu), gap in zip(rows, gaps):
        ratio = median / base if base == base and base else float("nan")
        print(f"{name:<18} {sent:>8} {answered:>7}/{placed:<7} {median:>11.1f} ms {ratio:>10.2f}x "
              f"{worst:>8.1f} ms {100 * cpu:>7.1f}% {len(gap):>6} x 20ms")
        ok = ok and answered == placed and not gap
    for (name, *_), gap in zip(rows, gaps):
        if gap:
            print(f"  gaps during {name}: at {', '.join(f'{t:.2f}' for t in gap[:12])} s into the long call")
    print(f"refusal log lines: {len(refused)} (at most one a minute per source)")
    print(f"{'PASS' if ok else 'FAIL'}: every legitimate call answered and no audio gap on the long call, under every flood")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

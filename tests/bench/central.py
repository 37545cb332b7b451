"""`make bench` (central): how fast the box notices central going silent, and how fast a caller
hears the outage announcement while central is down (target: under 1 s)."""
from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.e2e.support import Box, Central

ROUNDS = 3
CALLS = 5


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        central = Central(tmp)
        box = Box(tmp, central=central.uri, language="en")
        try:
            api = httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token('b', 'read')}"})

            def routing() -> str:
                return api.get("/api/v1/status").json()["routing"]

            detect = []
            for _ in range(ROUNDS):
                while routing() != "central":
                    time.sleep(0.05)
                central.proc.send_signal(signal.SIGSTOP)
                t0 = time.monotonic()
                while routing() != "local":
                    time.sleep(0.02)
                detect.append(time.monotonic() - t0)
                central.proc.send_signal(signal.SIGCONT)
            central.proc.send_signal(signal.SIGSTOP)
            while routing() != "local":
                time.sleep(0.05)
            first = []
            for _ in range(CALLS):
                done = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--wait", "1", "--hold", "1"],
                                      cwd=tmp, capture_output=True, text=True, timeout=60)
                first.append(json.loads(done.stdout.strip().splitlines()[-1])["first_audio_ms"])
            central.proc.send_signal(signal.SIGCONT)
        finally:
            box.stop()
            central.stop()
    print(f"central silent -> survivable mode ({ROUNDS} rounds, OPTIONS every 1 s, 3 misses): "
          f"median {statistics.median(detect):.2f} s, max {max(detect):.2f} s (target 5 s)")
    print(f"INVITE -> first outage-prompt audio while central is down ({CALLS} calls): "
          f"median {statistics.median(first):.0f} ms, max {max(first):.0f} ms (target 1000 ms)")
    ok = max(detect) < 5.0 and max(first) < 1000
    print(f"  result: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1

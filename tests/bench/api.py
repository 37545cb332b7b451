"""`make bench` (api): records pulled per second from a store of 100,000, and the timing jitter
of prompt audio on a live call with the API idle and with the API under load."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.support import Box

RECORDS = 100_000
CALL_S = 20.0


def seed(box: Box, count: int) -> None:
    with sqlite3.connect(box.db) as con:
        con.executemany(
            "INSERT INTO calls (call_uid, caller, called, started_at, answered_at, ended_at, language, ivr_path,"
            " digits, outcome, forward_target, hangup_cause) VALUES (?, ?, 'ivr', 1.0, 1.2, 9.0, 'zh',"
            " '[\"language\",\"main\",\"order_number\"]', '{\"order_number\":\"20261125\",\"pin\":\"***\"}',"
            " 'completed', NULL, 'caller hung up')",
            ((f"bench-{i}", f"1380000{i:05d}") for i in range(count)))


def pull_rate(box: Box, token: str) -> tuple[float, int]:
    with httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
        after, got, t0 = 0, 0, time.perf_counter()
        while True:
            page = api.get("/api/v1/calls", params={"after": after, "limit": 1000}).json()
            if not page["items"]:
                break
            got += len(page["items"])
            after = page["next"]
            api.post("/api/v1/calls/ack", json={"through": after})
        return got / (time.perf_counter() - t0), got


def call_jitter(box: Box, tmp: Path) -> dict:
    # Stay in the IVR (menu prompts and their repeats) for CALL_S seconds.
    done = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2", "--wait", "1",
                           "--hold", str(CALL_S)], cwd=tmp, capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def hammer(box: Box, token: str, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        i = 0
        while not stop.is_set():
            i += 1
            if i % 3 == 0:
                api.post("/api/v1/directory", json={"upsert": [{"number": f"1390000{i % 1000:04d}", "name": "load"}]})
            elif i % 3 == 1:
                api.get("/api/v1/calls", params={"after": i * 7 % 90000, "limit": 500})
            else:
                api.get("/api/v1/status")
            counts[0] += 1


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        box = Box(tmp)
        try:
            token = box.create_token("bench", "write")
            seed(box, RECORDS)
            rate, got = pull_rate(box, token)
            print(f"records pulled: {got} in pages of 1000 with acks: {rate:,.0f} records/s")
            quiet = call_jitter(box, tmp)
            stop, counts, threads = threading.Event(), [0], []
            for _ in range(4):
                threads.append(threading.Thread(target=hammer, args=(box, token, stop, counts), daemon=True))
                threads[-1].start()
            t0 = time.perf_counter()
            loaded = call_jitter(box, tmp)
            stop.set()
            for t in threads:
                t.join()
            load_rate = counts[0] / (time.perf_counter() - t0)
        finally:
            box.stop()
    print(f"prompt audio on a live call, RFC 3550 interarrival jitter at the caller ({CALL_S:.0f} s each):")
    for name, result in (("API idle", quiet), (f"API under load ({load_rate:,.0f} requests/s, 4 clients)", loaded)):
        j = result.get("rx_jitter_ms") or {}
        print(f"  {name:42} mean {j.get('mean', float('nan')):6.2f} ms   max {j.get('max', float('nan')):6.2f} ms"
              f"   ({j.get('samples', 0)} packets)")
    ok = got == RECORDS and bool(quiet.get("answered")) and bool(loaded.get("answered"))
    qj, lj = (quiet.get("rx_jitter_ms") or {}), (loaded.get("rx_jitter_ms") or {})
    ok = ok and lj.get("max", 1e9) < 20.0  # a 20 ms frame late would be heard; the jitter buffer hides less
    print(f"  result: {'PASS' if ok else 'FAIL'} (all records pulled; worst jitter under load below one 20 ms frame)")
    return 0 if ok else 1

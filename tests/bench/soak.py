"""`make bench` (soak): one box taking call after call for minutes, as a branch does all day.

Six callers at a time (separate pjsua2 processes), in a fixed mix: a caller who walks the
menu by RFC 4733 keys, one who presses in-band tones, one forwarded to a stand-in central,
and one who hangs up in the greeting. Every call ends some media (a prompt cut off, a tap,
a bridge), the path where a freed port once crashed a process. Reports what a box that runs
for months must keep flat: its memory, open files and threads, from a warmed-up start to
the end, and checks that every call was answered and recorded and the box stops cleanly.
`SOAK_MINUTES` sets the length (default 10).
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgepbx.config import TEMPLATES
from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue
from tests.e2e.support import PROMPTS, Box, Central

AT_ONCE = 6
WARM_UP_CALLS = 24
MIX = (  # (what the caller does, caller tool options)
    ("keys", ["--dtmf", "2,9,+3,9", "--gap", "1.0", "--hold", "2"]),
    ("in-band keys", ["--dtmf", "2,1", "--inband", "--gap", "1.0", "--hold", "2"]),
    ("forwarded", ["--dtmf", "2,0", "--hold", "5"]),
    ("hangs up in the greeting", ["--dtmf", "", "--wait", "1.0", "--hold", "0"]),
)
RSS_GROWTH_LIMIT_KB = 8 * 1024      # over the whole soak, after the warm-up
FD_GROWTH_LIMIT = 4
THREAD_GROWTH_LIMIT = 4             # asyncio's worker threads come as needed


def process_state(pid: int) -> dict[str, int]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss_kb": int(status["VmRSS"].split()[0]), "threads": int(status["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    catalogue = PromptCatalogue(PROMPTS)
    for name in TEMPLATES:
        catalogue.render(load_flow(name))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        central = Central(tmp, "--hangup-after", "2")
        box = Box(tmp, central=central.uri)
        pid = box.proc.pid
        running: list[tuple[str, subprocess.Popen]] = []
        placed = answered = failed_callers = 0
        by_kind: dict[str, int] = {}
        start = warm = None
        deadline = time.monotonic() + minutes * 60
        try:
            while time.monotonic() < deadline or running:
                for kind, proc in [r for r in running if r[1].poll() is not None]:
                    running.remove((kind, proc))
                    out = proc.stdout.read() if proc.stdout else ""
                    lines = out.strip().splitlines()
                    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
                    if proc.returncode != 0 and not result:
                        failed_callers += 1
                    answered += bool(result.get("answered"))
                    if warm is None and answered >= WARM_UP_CALLS:
                        time.sleep(1.0)
                        warm, start = process_state(pid), time.monotonic()
                if box.proc.poll() is not None:
                    break
                while time.monotonic() < deadline and len(running) < AT_ONCE:
                    kind, options = MIX[placed % len(MIX)]
                    args = [sys.executable, "-m", "edgepbx.tools.call", box.uri, "--from-user", f"{3000 + placed}",
                            "--timeout", "60", *options]
                    running.append((kind, subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                                           text=True, cwd=tmp)))
                    by_kind[kind] = by_kind.get(kind, 0) + 1
                    placed += 1
                time.sleep(0.2)
            alive = box.proc.poll() is None
            time.sleep(3.0)                  # the last calls' records and media are released
            end = process_state(pid) if alive else None
        finally:
            code = box.stop(timeout=20)
            central.stop()
        rows = sqlite3.connect(box.db).execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        crashed = [line for line in box.lines if "Traceback" in line or "Fatal Python error" in line]

    soaked = (time.monotonic() - start) / 60 if start is not None else 0.0
    print(f"edgepbx soak bench: {minutes:g} min, {AT_ONCE} callers at a time, {os.cpu_count()} cores")
    print(f"  calls placed              {placed} ({', '.join(f'{n} {k}' for k, n in by_kind.items())})")
    print(f"  answered                  {answered}/{placed}; caller tools that failed: {failed_callers}")
    print(f"  call records              {rows}")
    print(f"  box stopped with          {code}{'' if not crashed else ', ' + crashed[0]}")
    ok = answered == placed and rows == placed and code == 0 and not crashed and end is not None and warm is not None
    if warm is not None and end is not None:
        growth = end["rss_kb"] - warm["rss_kb"]
        after = answered - WARM_UP_CALLS
        print(f"  memory (RSS)              {warm['rss_kb'] / 1024:.1f} MB after {WARM_UP_CALLS} calls, "
              f"{end['rss_kb'] / 1024:.1f} MB at the end: {growth / 1024:+.1f} MB over {after} calls "
              f"in {soaked:.1f} min (limit {RSS_GROWTH_LIMIT_KB / 1024:.0f} MB)")
        print(f"  open files                {warm['fds']} -> {end['fds']} (limit +{FD_GROWTH_LIMIT})")
        print(f"  threads                   {warm['threads']} -> {end['threads']} (limit +{THREAD_GROWTH_LIMIT})")
        ok = ok and growth <= RSS_GROWTH_LIMIT_KB and end["fds"] - warm["fds"] <= FD_GROWTH_LIMIT \
            and end["threads"] - warm["threads"] <= THREAD_GROWTH_LIMIT
    print("  result                    " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench` (calls): capacity of one box, measured with real processes over loopback.

16 simultaneous callers (separate pjsua2 processes): 8 stay in the IVR (prompts playing,
keys pressed), 8 are forwarded to a stand-in central (two legs each, audio bridged).
Reports the box's CPU per active call (beyond its idle floor), call set-up time and
INVITE-to-first-audio delay, and checks every forwarded caller hears central's audio.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgepbx.config import TEMPLATES
from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue
from tests.audio_match import read_wav, tone_power_after
from tests.e2e.support import PROMPTS, Box, Central

IVR_CALLS = 8
FORWARDED_CALLS = 8
HOLD_S = 25.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> int:
    catalogue = PromptCatalogue(PROMPTS)
    for name in TEMPLATES:
        catalogue.render(load_flow(name))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        central = Central(tmp)
        box = Box(tmp, central=central.uri)
        pid = box.proc.pid
        time.sleep(1.0)
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(5.0)
        idle = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)

        callers = []
        for i in range(IVR_CALLS + FORWARDED_CALLS):
            forwarded = i % 2 == 0
            dtmf = "2,0" if forwarded else "2,9,+4,9,+4,9,+4,9"
            record = tmp / f"caller{i}.wav"
            args = [sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", dtmf, "--wait", "1.5",
                    "--gap", "1.0", "--hold", str(HOLD_S), "--record", str(record), "--from-user", f"{2000 + i}"]
            callers.append((forwarded, record, subprocess.Popen(args, stdout=subprocess.PIPE, text=True)))
            time.sleep(0.1)
        time.sleep(8.0)  # everyone answered, forwards bridged
        c1, t1 = cpu_seconds(pid), time.monotonic()
        time.sleep(12.0)
        busy = (cpu_seconds(pid) - c1) / (time.monotonic() - t1)
        results = []
        for forwarded, record, proc in callers:
            out, _ = proc.communicate(timeout=HOLD_S + 60)
            results.append((forwarded, record, json.loads(out.strip().splitlines()[-1])))
        box.stop()
        central.stop()

        answered = sum(1 for _, _, r in results if r["answered"])
        setup = [r["setup_ms"] for _, _, r in results if r["setup_ms"] is not None]
        first = [r["first_audio_ms"] for _, _, r in results if r["first_audio_ms"] is not None]
        heard_central = 0
        for forwarded, record, _ in results:
            if forwarded:
                audio, rate = read_wav(record)
                heard_central += tone_power_after(audio, rate, 8.0, Central.TONE_HZ) > 0.5
        legs = IVR_CALLS + 2 * FORWARDED_CALLS
        print(f"edgepbx capacity bench: {IVR_CALLS} IVR calls + {FORWARDED_CALLS} forwarded calls "
              f"({legs} call legs), {os.cpu_count()} cores")
        print(f"  answered                  {answered}/{len(results)}")
        print(f"  central received          {len(central.calls())}/{FORWARDED_CALLS}; "
              f"forwarded callers hearing central: {heard_central}/{FORWARDED_CALLS}")
        print(f"  box CPU idle              {idle:.3f} CPU-s/s")
        print(f"  box CPU with 16 calls     {busy:.3f} CPU-s/s")
        print(f"  CPU per active call       {(busy - idle) / len(results):.4f} CPU-s/s "
              f"({(busy - idle) / legs:.4f} per call leg)")
        print(f"  INVITE -> 200 OK          median {statistics.median(setup):.1f} ms, max {max(setup):.1f} ms")
        print(f"  INVITE -> first audio     median {statistics.median(first):.1f} ms, max {max(first):.1f} ms")
        ok = answered == len(results) and heard_central == FORWARDED_CALLS
        print("  result                    " + ("PASS" if ok else "FAIL"))
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench` (calls): a full E1 on one box (issue 26), beside a bare pjsua2 answerer.

The box runs on its own loopback address (127.0.0.2) with the finance flow (voice keys at every
menu, so every tap runs: in-band DTMF, speech rate, voice keys); central is a stand-in playing a
tone. The callers are one separate pjsua2 process (edgepbx.tools.load). Phases:

- **first audio** at 0, 15 and 29 other calls in progress: probe calls one after another, INVITE
  sent to the first audible 20 ms frame the caller hears (RMS above -44 dBFS, after its jitter
  buffer); median and 99th percentile;
- **E1**: 30 calls at once (15 of them forwarded to central: 45 call legs on the box) for
  `E1_SECONDS` (default 300). Every RTP packet the box sends, to callers and to central, is timed
  by the kernel on arrival (tests/bench/rtp_wire.py): frames, lost frames, frames later than
  40 ms behind their schedule, worst gap. CPU and memory per call beyond the idle box;
- the E1 again with the box pinned to one core (`taskset`), the callers and central on the other:
  a Raspberry-Pi-sized budget, and how much of that core is left.

The bare answerer (edgepbx.tools.answer, looping a prompt) runs the same probes and a shorter E1
(its calls are not forwarded: it has no central).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepbx.config import TEMPLATES
from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue
from tests.bench import rtp_wire
from tests.e2e.support import PROMPTS, Box, Central, Proc, free_sip_port

HOST = "127.0.0.2"          # the box (or the bare answerer): its packets are the ones timed
CALLS = 30
FORWARDED = 15
PROBES = 30                 # first-audio probes per load
E1_SECONDS = float(os.environ.get("E1_SECONDS", "300"))
BARE_SECONDS = min(E1_SECONDS, 60.0)
TARGET_MEDIAN_MS, TARGET_P99_MS = 60.0, 100.0
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ivr_keys(seconds: float) -> str:
    """English, then "repeat" every 5 s: a caller who stays in the menu (never timing out into
    the operator fallback) for the whole call."""
    return ",".join(["2"] + ["+4,9"] * max(1, int(seconds // 5)))


def load(uri: str, calls: int, *, forward: int = 0, duration: float, one_by_one: bool = False,
         stagger: float = 0.0, pin: str | None = None, from_user: int = 3000) -> subprocess.Popen:
    args = [sys.executable, "-m", "edgepbx.tools.load", uri, "--calls", str(calls), "--forward", str(forward),
            "--dtmf", ivr_keys(duration) if not one_by_one else "", "--duration", str(duration),
            "--stagger", str(stagger), "--from-user", str(from_user), "--tone-hz", str(Central.TONE_HZ)]
    if one_by_one:
        args.append("--one-by-one")
    if pin is not None:
        args = ["taskset", "-c", pin, *args]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def results(proc: subprocess.Popen, timeout: float) -> list[dict]:
    out, _ = proc.communicate(timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def pin_process(pid: int, core: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", core, str(pid)], check=True, capture_output=True)


@dataclass
class FirstAudio:
    load: int
    times: list[float]
    answered: int
    placed: int

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.times, 99)) if self.times else float("nan")


@dataclass
class E1Run:
    seconds: float
    calls: list[dict]
    cpu: float                      # CPU-s/s of the target while the calls are up
    idle_cpu: float
    rss_per_call_mb: float
    streams: list[rtp_wire.StreamFigures] = field(default_factory=list)
    capture: str = ""               # why no capture, if none
    dropped: int = 0
    legs: int = 0

    @property
    def answered(self) -> int:
        return sum(1 for c in self.calls if c["answered"])

    def caller_streams(self) -> list[rtp_wire.StreamFigures]:
        ports = {c["rtp_port"] for c in self.calls}
        return [s for s in self.streams if s.dst_port in ports]

    def central_streams(self) -> list[rtp_wire.StreamFigures]:
        ports = {c["rtp_port"] for c in self.calls}
        return [s for s in self.streams if s.dst_port not in ports]


def probe(uri: str, load_calls: int, *, forward: int, pin: str | None, from_user: int) -> FirstAudio:
    """First-audio probes, one after another, while `load_calls` other calls are up."""
    background = None
    if load_calls:
        background = load(uri, load_calls, forward=forward, duration=PROBES * 1.5 + 25, stagger=0.05, pin=pin,
                          from_user=from_user + 100)
        time.sleep(8.0)             # all answered, forwards bridged
    probes = load(uri, PROBES, duration=1.0, one_by_one=True, pin=pin, from_user=from_user)
    found = results(probes, timeout=PROBES * 10 + 60)
    if background is not None:
        background.terminate()      # its calls hang up as it ends
        background.communicate(timeout=60)
    times = [r["first_audio_ms"] for r in found if r["first_audio_ms"] is not None]
    return FirstAudio(load_calls, times, sum(1 for r in found if r["answered"]), PROBES)


def e1(uri: str, pid: int, seconds: float, *, forward: int, pin: str | None, idle: float, idle_rss: float) -> E1Run:
    why = rtp_wire.available()
    wire = rtp_wire.RtpWire(HOST).start() if not why else None
    calls = load(uri, CALLS, forward=forward, duration=seconds, stagger=0.02, pin=pin, from_user=5000)
    time.sleep(10.0)                # every call answered and forwarded
    c0, t0 = cpu_seconds(pid), time.monotonic()
    rss = []
    while time.monotonic() - t0 < seconds - 15:
        time.sleep(min(5.0, max(0.1, seconds - 15 - (time.monotonic() - t0))))
        rss.append(rss_mb(pid))
    busy = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    found = results(calls, timeout=seconds + 120)
    run = E1Run(seconds, found, busy, idle, (max(rss) - idle_rss) / CALLS if rss else 0.0, capture=why)
    if wire is not None:
        time.sleep(0.5)
        wire.stop()
        run.streams = [s for s in wire.streams() if s.seconds > 2.0]
        run.dropped = wire.dropped
    run.legs = CALLS + forward
    return run


def idle_figures(pid: int) -> tuple[float, float]:
    time.sleep(1.0)
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(5.0)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0), rss_mb(pid)


def run_target(name: str, tmp: Path, seconds: float, *, pinned_too: bool) -> tuple[list[FirstAudio], list[E1Run]]:
    central = None
    if name == "box":
        central = Central(tmp, tone_s=seconds + 60)
        target: Proc = Box(tmp, flow="finance", central=central.uri, host=HOST)
        uri, forward = target.uri, FORWARDED
    else:
        port = free_sip_port()
        target = Proc(["-m", "edgepbx.tools.answer", "--listen", f"{HOST}:{port}",
                       "--play", str(PROMPTS / "en" / "fin_language.wav"), "--calls-log", str(tmp / "bare.jsonl")], cwd=tmp)
        target.wait_for("listening")
        uri, forward = f"sip:ivr@{HOST}:{port}", 0
    pid = target.proc.pid
    try:
        idle, idle_rss = idle_figures(pid)
        firsts = [probe(uri, n, forward=min(forward, n // 2 + 1) if n else 0, pin=None, from_user=1000 + 200 * i)
                  for i, n in enumerate((0, CALLS // 2, CALLS - 1))]
        runs = [e1(uri, pid, seconds, forward=forward, pin=None, idle=idle, idle_rss=idle_rss)]
        if pinned_too:
            pin_process(pid, "0")
            if central is not None:
                pin_process(central.proc.pid, "1")
            mask = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {1})     # this process and the capture thread it starts, off the box's core
            try:
                idle1, rss1 = idle_figures(pid)
                runs.append(e1(uri, pid, seconds, forward=forward, pin="1", idle=idle1, idle_rss=rss1))
            finally:
                os.sched_setaffinity(0, mask)
        return firsts, runs
    finally:
        target.stop()
        if central is not None:
            central.stop()


def report(name: str, firsts: list[FirstAudio], runs: list[E1Run], problems: list[str], *, strict: bool) -> None:
    print(f"  {name}")
    for f in firsts:
        print(f"    first audio, {f.load:2d} other calls   median {f.median:6.1f} ms   p99 {f.p99:6.1f} ms   "
              f"max {max(f.times, default=float('nan')):6.1f} ms   ({len(f.times)}/{f.placed} heard)")
        if strict:
            if f.answered < f.placed or len(f.times) < f.placed:
                problems.append(f"{name}: {f.placed - len(f.times)} probes at load {f.load} heard nothing "
                                f"({f.placed - f.answered} unanswered)")
            if f.median > TARGET_MEDIAN_MS or f.p99 > TARGET_P99_MS:
                problems.append(f"{name}: first audio at load {f.load}: median {f.median:.1f}, p99 {f.p99:.1f} ms")
    for i, run in enumerate(runs):
        where = "pinned to 1 core" if i else f"{CORES} cores"
        print(f"    E1 {len(run.calls)} calls, {run.legs} legs, {run.seconds:.0f} s, {where}: "
              f"answered {run.answered}/{len(run.calls)}")
        per_call = (run.cpu - run.idle_cpu) / max(1, len(run.calls))
        print(f"      CPU: idle {run.idle_cpu:.3f}, with the calls {run.cpu:.3f} CPU-s/s "
              f"({per_call * 1000:.1f} ms/s per call); memory {run.rss_per_call_mb:.2f} MB per call")
        if i:
            print(f"      left on the core: {max(0.0, 1 - run.cpu) * 100:.0f} %")
        forwarded = [c for c in run.calls if c["index"] < run.legs - len(run.calls)]
        heard = sum(1 for c in forwarded if c["tone_at_end"] > 0.5)
        if forwarded:
            print(f"      forwarded callers hearing central at the end: {heard}/{len(forwarded)}")
        jb = sum(c.get("jb_empty", 0) for c in run.calls)
        rtcp_lost = sum(c.get("rx_lost", 0) for c in run.calls)
        print(f"      callers' jitter buffers: {jb} underruns; RTCP: {rtcp_lost} packets lost")
        if run.capture:
            print(f"      wire: {run.capture}")
        else:
            for label, streams in (("to callers", run.caller_streams()), ("to central", run.central_streams())):
                if not streams:
                    continue
                frames = sum(s.frames for s in streams)
                print(f"      wire {label:10s} {len(streams):2d} streams, {frames} frames, lost "
                      f"{sum(s.lost for s in streams)}, late (>40 ms) {sum(s.late for s in streams)}, "
                      f"worst gap {max(s.worst_gap_ms for s in streams):.1f} ms")
            late = sorted(at for s in run.streams for at in s.late_at)
            if late:
                first = min(s.started for s in run.streams)
                print(f"      late frames at (s after the first call's audio): "
                      f"{', '.join(f'{at - first:.2f}' for at in late[:12])}{' ...' if len(late) > 12 else ''}")
            if run.dropped:
                print(f"      (capture dropped {run.dropped} packets: figures incomplete)")
        if strict:
            if run.answered < CALLS:
                problems.append(f"{name}: {CALLS - run.answered} E1 calls unanswered ({where})")
            if forwarded and heard < len(forwarded):
                problems.append(f"{name}: {len(forwarded) - heard} forwarded callers did not hear central ({where})")
            bad = [s for s in run.streams if s.lost or s.late]
            if bad:
                problems.append(f"{name}: {len(bad)} legs with lost or late frames ({where})")
            if not run.capture and len(run.streams) < run.legs:
                problems.append(f"{name}: {len(run.streams)} of {run.legs} legs seen on the wire ({where})")


def main() -> int:
    catalogue = PromptCatalogue(PROMPTS)
    for name in TEMPLATES:
        catalogue.render(load_flow(name))
    problems: list[str] = []
    print(f"edgepbx E1 bench: {CALLS} calls ({FORWARDED} forwarded), {E1_SECONDS:.0f} s, {CORES} cores")
    if os.environ.get("E1_REFERENCE", "1") != "0":      # E1_REFERENCE=0: the box alone (while working on it)
        with tempfile.TemporaryDirectory() as bare_dir:
            bare = run_target("bare", Path(bare_dir), BARE_SECONDS, pinned_too=False)
        report("bare pjsua2 answerer (reference)", *bare, problems, strict=False)
    with tempfile.TemporaryDirectory() as box_dir:
        box = run_target("box", Path(box_dir), E1_SECONDS, pinned_too=CORES > 1)
    report("edgepbx", *box, problems, strict=True)
    for problem in problems:
        print(f"  problem: {problem}")
    print("  result                    " + ("FAIL" if problems else "PASS"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

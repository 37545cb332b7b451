"""`make bench BENCH=tls`: what SIP over TLS and SRTP cost, beside plain UDP and RTP, in one run.

The same load twice, on two boxes: 8 callers (pjsua2 processes), each forwarded to a stand-in
central (two call legs per caller, audio both ways), held 15 s. Once over UDP with plain RTP,
once over TLS with SRTP on both legs (caller → box, box → central). Printed: the box's CPU per
call beyond its idle floor, and the callers' set-up time (INVITE to 200 OK). Goal: TLS+SRTP
costs under 1.5× the plain CPU per call.
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

from tests.bench.calls import cpu_seconds
from tests.e2e.support import Box, Central, free_sip_port
from tests.tls_certs import Ca

CALLS = 8
HOLD_S = 15.0


def _measure(tmp: Path, secure: bool) -> tuple[float, list[float]]:
    """(box CPU-seconds per second per call, set-up times in ms)."""
    if secure:
        ca = Ca(tmp / "ca")
        central_cert, box_cert = ca.issue("central"), ca.issue("box")
        central_tls = free_sip_port()
        central = Central(tmp, "--tls-listen", str(central_tls), "--tls-cert", str(central_cert.cert),
                          "--tls-key", str(central_cert.key), "--srtp", "mandatory")
        box_tls = free_sip_port()
        box = Box(tmp, language="en", central=f"sips:queue@127.0.0.1:{central_tls}",
                  sip_extra=f'tls_listen = "127.0.0.1:{box_tls}"\ntls_cert = "{box_cert.cert}"\n'
                            f'tls_key = "{box_cert.key}"\ntls_ca = "{ca.files.cert}"\nsrtp = "mandatory"\n')
        uri, extra = f"sips:ivr@127.0.0.1:{box_tls}", ["--srtp", "mandatory", "--tls-ca", str(ca.files.cert)]
    else:
        central = Central(tmp)
        box = Box(tmp, language="en", central=central.uri)
        uri, extra = box.uri, []
    pid = box.proc.pid
    time.sleep(2.0)
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(4.0)
    idle = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    callers = [subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", uri, "--dtmf", "2,0", "--wait", "1",
                                 "--gap", "1", "--hold", str(HOLD_S), "--timeout", "60", *extra],
                                stdout=subprocess.PIPE, text=True) for _ in range(CALLS)]
    time.sleep(6.0)                       # all answered and forwarded
    c1, t1 = cpu_seconds(pid), time.monotonic()
    time.sleep(8.0)
    busy = (cpu_seconds(pid) - c1) / (time.monotonic() - t1)
    results = [json.loads(p.communicate(timeout=90)[0].strip().splitlines()[-1]) for p in callers]
    box.stop()
    central.stop()
    forwarded = sum(1 for line in box.output.splitlines() if "forwarded: central answered" in line)
    if forwarded != CALLS or not all(r["answered"] for r in results):
        raise RuntimeError(f"{'TLS+SRTP' if secure else 'plain'}: {forwarded}/{CALLS} forwarded, results {results}")
    return (busy - idle) / CALLS, [r["setup_ms"] for r in results if r["setup_ms"] is not None]


def main() -> int:
    with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as tls_dir:
        plain_cpu, plain_setup = _measure(Path(plain_dir), secure=False)
        tls_cpu, tls_setup = _measure(Path(tls_dir), secure=True)
    ratio = tls_cpu / plain_cpu if plain_cpu > 0 else float("inf")
    print(f"edgepbx TLS+SRTP bench: {CALLS} callers forwarded to central (2 legs each), {os.cpu_count()} cores")
    print(f"{'':<16} {'CPU per call':>13} {'set-up median':>14} {'set-up max':>11}")
    for name, cpu, setup in (("UDP, RTP", plain_cpu, plain_setup), ("TLS, SRTP", tls_cpu, tls_setup)):
        print(f"{name:<16} {100 * cpu:>11.2f} % {statistics.median(setup):>11.1f} ms {max(setup):>8.1f} ms")
    print(f"TLS+SRTP / plain CPU per call: {ratio:.2f}x (goal under 1.5x)")
    ok = ratio < 1.5
    print(f"{'PASS' if ok else 'FAIL'}: TLS and SRTP cost under 1.5x plain UDP and RTP per call")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench BENCH=fuzz`: a longer pass of malformed SIP than the tests send.

20,000 mutated INVITEs over UDP (truncated, bytes flipped, lines shuffled, noise, repeated
headers, absurd SDP), and 200 TCP connections carrying the same, from 127.0.0.4 made central's
host, which admission control never throttles, so that all of it reaches pjsip's parser. Afterwards the box must still answer a normal call, its log
must hold no traceback, and its memory must not have grown by more than 20 MB.
"""
from __future__ import annotations

import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.e2e.rawsip import UdpPeer, invite, mutants, status_codes
from tests.e2e.support import Box

DATAGRAMS = 20_000
TCP_CONNECTIONS = 200
FUZZER = "127.0.0.4"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    rng = random.Random(3261)
    with tempfile.TemporaryDirectory() as tmp_name:
        box = Box(Path(tmp_name), language="en", central=f"sip:queue@{FUZZER}:9", sip_extra="confirm_timeout_s = 2.0\n")
        time.sleep(1.0)
        rss0 = rss_mb(box.proc.pid)
        peer = UdpPeer(FUZZER, box.port)
        codes: Counter[int] = Counter()
        start = time.monotonic()
        # each 8 mutants (one of each kind) from a new INVITE: new Call-IDs and branches reach
        # new transactions, calls and SDP negotiations, not retransmission matching
        fuzz = (data for _ in range(DATAGRAMS // 8)
                for data in mutants(rng, invite(peer.target, peer.source, peer.port), 8))
        for i, data in enumerate(fuzz):
            peer.send(data[:65000])
            if i % 100 == 99:
                codes.update(status_codes(peer.answers(0.01)))
                time.sleep(0.02)               # about 3,000 a second: the fuzz, not a flood
        codes.update(status_codes(peer.answers(3.0)))
        tcp_errors = 0
        for data in mutants(rng, invite(peer.target, peer.source, 5999, transport="TCP"), TCP_CONNECTIONS):
            try:
                with socket.create_connection(("127.0.0.1", box.port), timeout=2, source_address=(FUZZER, 0)) as conn:
                    conn.sendall(data)
            except OSError:
                tcp_errors += 1
        elapsed = time.monotonic() - start
        time.sleep(4.0)                        # unconfirmed calls from the fuzz hung up
        done = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2", "--wait", "0.5",
                               "--hold", "0.5", "--timeout", "20"], capture_output=True, text=True, timeout=60)
        answered = '"answered": true' in done.stdout
        if not answered:
            print("the call after the fuzz:", done.stdout.strip()[-300:], done.stderr.strip()[-300:])
            print("\n".join(box.output.splitlines()[-15:]))
        rss1 = rss_mb(box.proc.pid)
        alive = box.proc.poll() is None
        box.stop()
        tracebacks = box.output.count("Traceback")
        peer.close()
    print(f"edgepbx SIP fuzz bench: {DATAGRAMS} mutated datagrams and {TCP_CONNECTIONS} TCP connections in "
          f"{elapsed:.1f} s ({TCP_CONNECTIONS - tcp_errors} accepted)")
    print("answers by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())))
    print(f"after: box alive {alive}, a normal call answered {answered}, tracebacks in the log {tracebacks}, "
          f"memory {rss0:.0f} -> {rss1:.0f} MB")
    ok = alive and answered and tracebacks == 0 and rss1 - rss0 < 20
    print(f"{'PASS' if ok else 'FAIL'}: the box survives the fuzz, answers a call, logs no traceback, keeps its memory")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

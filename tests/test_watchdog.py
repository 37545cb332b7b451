"""systemd notification over a real AF_UNIX datagram socket: pings only while healthy."""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from edgepbx.watchdog import Notifier, healthy


def _listen(tmp: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp / "notify"))
    sock.settimeout(0.05)
    return sock


def _messages(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except (TimeoutError, socket.timeout):
            return out


def test_ready_stopping_and_pings_reach_the_socket(tmp_path: Path) -> None:
    sock = _listen(tmp_path)
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"})
    assert notifier.interval == 0.05
    notifier.send("READY=1")
    beat = [time.monotonic()]

    async def run() -> None:
        task = asyncio.create_task(notifier.watch(lambda: beat[0]))
        for _ in range(6):                 # the call stack keeps polling
            beat[0] = time.monotonic()
            await asyncio.sleep(0.05)
        beat[0] = time.monotonic() - 10    # ... then hangs
        await asyncio.sleep(0.3)
        task.cancel()
    asyncio.run(run())
    got = _messages(sock)
    assert got[0] == "READY=1"
    pings = got[1:]
    assert set(pings) == {"WATCHDOG=1"} and 4 <= len(pings) <= 9   # none after the hang
    notifier.send("STOPPING=1")
    assert _messages(sock) == ["STOPPING=1"]


def test_no_socket_no_watchdog_and_foreign_watchdog_pid() -> None:
    assert Notifier({}).interval is None
    Notifier({}).send("READY=1")       # not under systemd: nothing, no error
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).interval is None
    assert healthy(100.0, 96.0) and not healthy(100.0, 94.0)

"""systemd notification (Type=notify) and the watchdog, without libsystemd.

READY=1 once the box answers calls, STOPPING=1 when it stops, and WATCHDOG=1 every half
WATCHDOG_USEC, but only while the box is healthy: the asyncio loop runs this task (a stuck
loop sends nothing) and the pjsua2 thread's heartbeat is fresh (a hung call stack sends
nothing). Missed pings make systemd restart the box.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Callable

log = logging.getLogger("edgepbx.watchdog")
STACK_STALE_S = 5.0       # the pjsua2 thread polls every few ms; 5 s without a beat is a hang


def healthy(now: float, stack_heartbeat: float) -> bool:
    return now - stack_heartbeat < STACK_STALE_S


class Notifier:
    """Sends sd_notify messages to $NOTIFY_SOCKET (nothing when not run by systemd)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET", "")
        if self.address.startswith("@"):
            self.address = "\0" + self.address[1:]      # abstract namespace
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None

    def send(self, message: str) -> None:
        if not self.address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message.encode(), self.address)
            except OSError as exc:
                log.warning("systemd notify failed: %s", exc)

    async def watch(self, stack_heartbeat: Callable[[], float]) -> None:
        """Ping while healthy; log once when a ping is withheld."""
        if self.interval is None:
            return
        withheld = False
        while True:
            if healthy(time.monotonic(), stack_heartbeat()):
                self.send("WATCHDOG=1")
                withheld = False
            elif not withheld:
                log.error("watchdog: the call stack has not polled for %.0f s; not pinging systemd",
                          time.monotonic() - stack_heartbeat())
                withheld = True
            await asyncio.sleep(self.interval)

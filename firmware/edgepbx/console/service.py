"""The serial console's I/O edge: pyserial in a reader thread, the session in the loop.

A read error (the USB adapter pulled out, the pseudo-terminal closed) closes the port and
opens it again every RETRY_S until it is back; bytes that make no sense are dropped by the
line editor. Commands run as tasks, so Ctrl-C stops `log follow` and the console never
holds up calls. Every command is audited in the store (never a password; secret config values
masked).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

import serial

from edgepbx.console.commands import TREE, Commands
from edgepbx.console.session import ConsoleSession, Output

log = logging.getLogger("edgepbx.console")
RETRY_S = 2.0
TICK_S = 1.0


def resolve_port(port: str) -> str:
    if port == "auto":
        return "/dev/ttyAMA0" if os.path.exists("/dev/ttyAMA0") else ""
    return port


async def _settle(done: object) -> None:
    """The callbacks the box hands in may be plain functions or coroutines."""
    if asyncio.iscoroutine(done):
        await done


class ConsoleService:
    def __init__(self, port: str, baud: int, session: ConsoleSession, commands: Commands,
                 audit: Callable[[str, str], "asyncio.Future | object"],
                 before_login: Callable[[], "asyncio.Future | object"] | None = None,
                 set_password: Callable[[str], "asyncio.Future | object"] | None = None) -> None:
        """`before_login`: awaited before input is checked as a password (reads the hash anew,
        so `edgepbx passwd` takes effect at once). `set_password`: stores the first password
        a technician chooses at the console (as a hash)."""
        self.before_login = before_login
        self.set_password = set_password
        self.port_name = port
        self.baud = baud
        self.session = session
        self.commands = commands
        self.audit = audit
        self._port: serial.SerialBase | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._thread: threading.Thread | None = None
        self._running: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self._write_lock = threading.Lock()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._reader, name="console", daemon=True)
        self._thread.start()
        self._tasks = [self._loop.create_task(self._serve(), name="console"),
                       self._loop.create_task(self._ticker(), name="console-idle")]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks + ([self._running] if self._running else []):
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._close()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)

    # ---- the port (reader thread) ------------------------------------------------------------
    def _open(self) -> bool:
        try:
            port = serial.serial_for_url(self.port_name, baudrate=self.baud, bytesize=8, parity="N",
                                         stopbits=1, timeout=0.2, do_not_open=True)
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            log.debug("console: %s not available: %s", self.port_name, exc)
            return False
        self._port = port
        return True

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001
                pass

    def _reader(self) -> None:
        announced = False
        while not self._stop.is_set():
            if self._port is None:
                if not self._open():
                    if not announced:
                        log.warning("console: waiting for %s", self.port_name)
                        announced = True
                    self._stop.wait(RETRY_S)
                    continue
                log.info("console on %s at %d 8N1", self.port_name, self.baud)
                announced = False
                self._post(None)          # (re)connected: greet
            try:
                data = self._port.read(256)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if self._stop.is_set():
                    break
                log.warning("console: %s lost (%s); reopening", self.port_name, exc)
                self._close()
                continue
            if data:
                self._post(bytes(data))

    def _post(self, data: bytes | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, data)

    def _write_now(self, text: str) -> None:
        port = self._port
        if port is None or not text:
            return
        with self._write_lock:
            try:
                port.write(text.encode("utf-8", errors="replace"))
            except (serial.SerialException, OSError, AttributeError):
                pass          # the reader notices the lost port and reopens it

    async def write(self, text: str) -> None:
        await asyncio.to_thread(self._write_now, text)

    # ---- the session (loop) ------------------------------------------------------------------
    async def _emit(self, out: Output) -> None:
        if out.set_password is not None and self.set_password is not None:
            try:
                await _settle(self.set_password(out.set_password))
            except Exception:  # noqa: BLE001 - the console must stay up; say so instead
                log.exception("console: the new password could not be stored")
                out.text = "% the password could not be stored: try again after 'logout'\r\n" + out.text
        for what, result in out.audit:       # recorded before the technician sees the answer
            await self._audit(what, result)
        await self.write(out.text)
        if out.interrupt and self._running is not None:
            self._running.cancel()
        for line in out.run:
            if self._running is not None and not self._running.done():
                await self.write("% busy: Ctrl-C stops the running command\r\n")
                continue
            self._running = asyncio.get_running_loop().create_task(self._run(line))

    async def _run(self, line: str) -> None:
        result, text = "ok", ""
        try:
            text = await self.commands.run(line, self.write)
            if text.startswith("%"):
                result = "refused: " + text[1:].strip()[:120]
        except asyncio.CancelledError:
            result, text = "stopped", ""
        except Exception as exc:  # noqa: BLE001 - a failing command must not take the console down
            log.exception("console command %r failed", Commands.audit_text(line))
            result, text = "error", f"% failed: {exc}"
        await self._audit(Commands.audit_text(line), result)
        await self._emit(self.session.command_done(text))

    async def _audit(self, what: str, result: str) -> None:
        try:
            await _settle(self.audit(what, result))
        except Exception:  # noqa: BLE001
            log.exception("console: audit record lost")

    async def _serve(self) -> None:
        while True:
            data = await self._inbox.get()
            now = time.monotonic()
            if self.session.state in ("login", "choose", "confirm") and self.before_login is not None:
                await _settle(self.before_login())
            out = self.session.start(now) if data is None else self.session.feed(data, now)
            await self._emit(out)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            out = self.session.tick(time.monotonic())
            if out.text:
                if self._running is not None:
                    self._running.cancel()
                await self._emit(out)

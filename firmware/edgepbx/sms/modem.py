"""An AT-command modem on a serial port (3GPP TS 27.007 and TS 27.005, PDU mode).

The serial port is read by one thread that hands complete lines (and the bare "> " prompt of
AT+CMGS, which ends in no newline) to the asyncio loop; commands are written from the loop,
one at a time. Every command has a time limit: a modem that stops answering costs a
`ModemTimeout`, never a stuck task. Unsolicited results (+CMTI: a text arrived) go to
`on_unsolicited` whenever they come.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable

import serial

log = logging.getLogger(__name__)

CTRL_Z = "\x1a"
ESC = "\x1b"
UNSOLICITED = ("+CMTI:", "+CDSI:", "+CMT:", "RING", "+CLIP:", "^", "+CREG:", "+CGREG:", "+CEREG:")


class ModemError(Exception):
    """The modem answered ERROR, +CMS ERROR or +CME ERROR; `code` is the number (or None)."""

    def __init__(self, command: str, result: str) -> None:
        self.result = result
        tail = result.partition(":")[2].strip()
        self.code = int(tail) if tail.isdigit() else None
        super().__init__(f"{command}: {result}")


class ModemTimeout(Exception):
    """The modem did not finish answering in time (unplugged, hung, or a wrong port)."""


def final_result(line: str) -> str | None:
    """"OK", or the error line, when `line` ends a command's response (TS 27.007 5.7)."""
    if line == "OK":
        return "OK"
    if line in ("ERROR", "NO CARRIER") or line.startswith(("+CMS ERROR:", "+CME ERROR:")):
        return line
    return None


class AtModem:
    """One open modem port. `open()` fails with serial.SerialException (or OSError) when the
    device is missing; after that, any command may raise ModemError or ModemTimeout."""

    def __init__(self, device: str, baud: int, on_unsolicited: Callable[[str], None],
                 timeout_s: float = 10.0) -> None:
        self.device, self.baud = device, baud
        self.on_unsolicited = on_unsolicited
        self.timeout_s = timeout_s
        self._port: serial.Serial | None = None
        self._lines: asyncio.Queue[str] | None = None
        self._in_command = False
        self._lock = asyncio.Lock()
        self._closing = threading.Event()
        self._reader: threading.Thread | None = None
        self.lost = asyncio.Event()       # the port went away under us (unplugged)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._lines = asyncio.Queue()
        self._port = await asyncio.to_thread(serial.Serial, self.device, self.baud, timeout=0.2,
                                             write_timeout=2.0, exclusive=True)
        self._closing.clear()
        self.lost.clear()
        self._reader = threading.Thread(target=self._read, args=(loop, self._port), name="sms-modem", daemon=True)
        self._reader.start()

    async def close(self) -> None:
        self._closing.set()
        port, self._port = self._port, None
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 2.0)
        if port is not None:
            try:
                port.close()
            except (OSError, serial.SerialException):
                pass

    def _read(self, loop: asyncio.AbstractEventLoop, port: serial.Serial) -> None:
        buffer = b""
        while not self._closing.is_set():
            try:
                chunk = port.read(256)
            except (OSError, serial.SerialException, TypeError):
                loop.call_soon_threadsafe(self.lost.set)
                return
            if not chunk:
                if buffer.strip() == b">":                 # the AT+CMGS prompt has no line end
                    loop.call_soon_threadsafe(self._line, ">")
                    buffer = b""
                continue
            buffer += chunk
            *lines, buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            if buffer.strip() == b">":
                lines.append(b">")
                buffer = b""
            if len(buffer) > 4096:                         # a line that never ends: noise, not a modem
                buffer = b""
            for raw in lines:
                text = raw.decode("ascii", errors="replace").strip()
                if text:
                    loop.call_soon_threadsafe(self._line, text)

    def _line(self, text: str) -> None:
        if self._in_command and self._lines is not None:
            if text.startswith(("+CMTI:", "+CDSI:", "RING")):
                self.on_unsolicited(text)
            else:
                self._lines.put_nowait(text)
        else:
            self.on_unsolicited(text)

    def _write(self, text: str) -> None:
        if self._port is None:
            raise ModemTimeout("the modem's port is closed")
        try:
            self._port.write(text.encode("ascii"))
        except (OSError, serial.SerialException) as exc:
            self.lost.set()
            raise ModemTimeout(f"cannot write to the modem: {exc}") from None

    async def _next_line(self, deadline: float) -> str:
        assert self._lines is not None
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0 or self.lost.is_set():
            raise ModemTimeout("no answer from the modem")
        try:
            return await asyncio.wait_for(self._lines.get(), remaining)
        except asyncio.TimeoutError:
            raise ModemTimeout("no answer from the modem") from None

    async def command(self, command: str, timeout_s: float | None = None) -> list[str]:
        """Send one command; its response lines (the final OK not included)."""
        async with self._lock:
            return await self._exchange(command, None, timeout_s or self.timeout_s)

    async def send_pdu(self, length: int, pdu_hex: str, timeout_s: float = 60.0) -> int:
        """AT+CMGS in PDU mode: the message reference the network gave (TS 27.005 3.5.1)."""
        async with self._lock:
            lines = await self._exchange(f"AT+CMGS={length}", pdu_hex, timeout_s)
        for line in lines:
            if line.startswith("+CMGS:"):
                value = line.partition(":")[2].split(",")[0].strip()
                return int(value) if value.isdigit() else -1
        return -1

    async def _exchange(self, command: str, pdu_hex: str | None, timeout_s: float) -> list[str]:
        assert self._lines is not None
        loop = asyncio.get_running_loop()
        while not self._lines.empty():          # left over from a command that timed out
            self._lines.get_nowait()
        self._in_command = True
        try:
            self._write(command + "\r")
            deadline = loop.time() + min(timeout_s, self.timeout_s) if pdu_hex else loop.time() + timeout_s
            lines: list[str] = []
            if pdu_hex is not None:
                while True:
                    line = await self._next_line(deadline)
                    if line == ">":
                        break
                    result = final_result(line)
                    if result is not None:
                        raise ModemError(command, result)
                self._write(pdu_hex + CTRL_Z)
                deadline = loop.time() + timeout_s
            while True:
                line = await self._next_line(deadline)
                if line == command:              # echo left on (ATE0 not yet taken)
                    continue
                result = final_result(line)
                if result == "OK":
                    return lines
                if result is not None:
                    raise ModemError(command, result)
                lines.append(line)
        except ModemTimeout:
            if pdu_hex is not None and self._port is not None:
                try:
                    self._port.write(ESC.encode())   # abandon a half-sent text (TS 27.005 3.5.1)
                except (OSError, serial.SerialException):
                    pass
            raise
        finally:
            self._in_command = False

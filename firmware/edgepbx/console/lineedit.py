"""Line editing for the serial console, without I/O: bytes in, echo and finished lines out.

Works on a dumb terminal (printable characters, Backspace/DEL, Enter) and is nicer on a
smart one: arrow keys walk the history, Tab completes, '?' asks for help at any point, Ctrl-U
clears the line, Ctrl-C abandons it. Anything else (line noise, a wrong baud rate's garbage,
other escape sequences) is dropped, never echoed, and never grows the line past MAX_LINE.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 256
HISTORY = 50


@dataclass(frozen=True)
class Line:
    text: str


@dataclass(frozen=True)
class Complete:
    text: str          # the line so far: the caller offers completions


@dataclass(frozen=True)
class Help:
    text: str          # the line so far: the caller lists what may come next


@dataclass(frozen=True)
class Interrupt:
    pass


Event = Line | Complete | Help | Interrupt


class LineEditor:
    def __init__(self) -> None:
        self.buffer = ""
        self.secret = False          # password entry: nothing echoed, no history
        self.history: list[str] = []
        self._browse = 0             # how far back in history the arrows are
        self._escape = ""            # an escape sequence being read
        self._after_cr = False       # CR LF is one Enter

    def set_text(self, text: str) -> str:
        """Replace the line (completion); returns what to send to redraw it."""
        erase = "\b \b" * len(self.buffer)
        self.buffer = text[:MAX_LINE]
        return erase + self.buffer

    def feed(self, data: bytes) -> tuple[str, list[Event]]:
        """Bytes from the port -> (text to echo, events)."""
        echo: list[str] = []
        events: list[Event] = []
        for byte in data:
            if self._escape:
                self._escape += chr(byte)
                if len(self._escape) == 2 and self._escape not in ("\x1b[", "\x1bO"):
                    self._escape = ""          # neither CSI nor SS3: ignore the pair
                elif len(self._escape) == 3 and self._escape.startswith("\x1bO"):
                    echo.append(self._arrow(self._escape[-1]))   # SS3 arrows (application mode)
                    self._escape = ""
                elif len(self._escape) >= 3 and 0x40 <= byte <= 0x7E:
                    echo.append(self._arrow(self._escape[-1]))
                    self._escape = ""
                elif len(self._escape) > 8:
                    self._escape = ""
                continue
            if byte == 0x1B:
                self._escape = "\x1b"
            elif byte in (0x0D, 0x0A):
                if byte == 0x0A and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = byte == 0x0D
                line = self.buffer
                self.buffer = ""
                self._browse = 0
                echo.append("\r\n")
                if line.strip() and not self.secret and (not self.history or self.history[-1] != line):
                    self.history = (self.history + [line])[-HISTORY:]
                events.append(Line(line))
                continue
            elif byte in (0x08, 0x7F):
                if self.buffer:
                    self.buffer = self.buffer[:-1]
                    if not self.secret:
                        echo.append("\b \b")
            elif byte == 0x03:
                self.buffer = ""
                echo.append("^C\r\n")
                events.append(Interrupt())
            elif byte == 0x15:
                if not self.secret:
                    echo.append("\b \b" * len(self.buffer))
                self.buffer = ""
            elif byte == 0x09 and not self.secret:
                events.append(Complete(self.buffer))
            elif byte == ord("?") and not self.secret:
                echo.append("?\r\n")
                events.append(Help(self.buffer))
            elif 0x20 <= byte < 0x7F:
                if len(self.buffer) < MAX_LINE:
                    self.buffer += chr(byte)
                    if not self.secret:
                        echo.append(chr(byte))
            # other control bytes and 8-bit garbage: dropped
            self._after_cr = False
        return "".join(echo), events

    def _arrow(self, final: str) -> str:
        if self.secret or final not in "AB" or not self.history:
            return ""
        self._browse = min(self._browse + 1, len(self.history)) if final == "A" else max(self._browse - 1, 0)
        return self.set_text(self.history[-self._browse] if self._browse else "")

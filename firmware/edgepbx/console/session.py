"""The technician's console session, without I/O: login, lockout, idle logout, help and
completion over the command tree, and the command lines to run.

The service (console/service.py) feeds it bytes and the time, writes what it returns to the
port, and runs the commands it hands out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from edgepbx.console.lineedit import Complete, Help, Interrupt, Line, LineEditor
from edgepbx.console.password import MIN_LENGTH

Tree = Mapping[str, "str | Tree"]      # word -> help text (a leaf) or the words that may follow
MAX_FAILURES = 5
LOCKOUT_S = 300.0
IDLE_S = 600.0
PROMPT = "edgepbx> "


@dataclass
class Output:
    text: str = ""
    run: list[str] = field(default_factory=list)      # command lines to execute, in order
    interrupt: bool = False                           # Ctrl-C: stop the running command
    audit: list[tuple[str, str]] = field(default_factory=list)   # (what, result) to record
    set_password: str | None = None                   # the technician chose the first password


class ConsoleSession:
    def __init__(self, tree: Tree, verify: Callable[[str], bool], banner: str = "edgepbx console",
                 idle_s: float = IDLE_S, has_password: Callable[[], bool] = lambda: True) -> None:
        """`has_password` False: a box nobody has set a password on. The first technician on
        the console chooses it (typed twice), instead of facing a login nothing can pass."""
        self.tree = tree
        self.verify = verify
        self.has_password = has_password
        self.banner = banner
        self.idle_s = idle_s
        self.editor = LineEditor()
        self.state = "login"
        self.failures = 0
        self.locked_until = 0.0
        self.last_input = 0.0
        self._chosen = ""

    # ---- the port's side -------------------------------------------------------------------
    def start(self, now: float) -> Output:
        self.last_input = now
        self.editor.secret = True
        if not self.has_password():
            self.state = "choose"
            return Output(f"\r\n{self.banner}\r\nno technician password is set yet: choose one now "
                          f"(at least {MIN_LENGTH} characters)\r\nNew password: ")
        self.state = "login"
        return Output(f"\r\n{self.banner}\r\nPassword: ")

    def feed(self, data: bytes, now: float) -> Output:
        if self.state == "locked":
            if now < self.locked_until:
                return Output()
            self.state = "login"
            self.failures = 0
            return self.start(now)
        if self.state in ("choose", "confirm") and self.has_password():
            return self.start(now)        # `edgepbx passwd` set one meanwhile: log in with it
        self.last_input = now
        echo, events = self.editor.feed(data)
        out = Output(echo)
        for event in events:
            if isinstance(event, Interrupt):
                out.interrupt = True
                if self.state == "ready":
                    out.text += PROMPT
            elif isinstance(event, Line):
                self._line(event.text.strip(), now, out)
            elif isinstance(event, Complete) and self.state == "ready":
                self._complete(event.text, out)
            elif isinstance(event, Help) and self.state == "ready":
                out.text += self.help(event.text) + PROMPT + self.editor.buffer
        return out

    def tick(self, now: float) -> Output:
        """Idle logout (a cable pulled out mid-session logs itself out)."""
        if self.state == "ready" and now - self.last_input >= self.idle_s:
            out = Output(f"\r\nidle for {self.idle_s:.0f} s: logged out\r\n", audit=[("logout", "idle")])
            start = self.start(now)
            out.text += start.text
            return out
        return Output()

    def command_done(self, text: str) -> Output:
        """A command finished: its output, then the prompt again."""
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        if text and not text.endswith("\r\n"):
            text += "\r\n"
        if self.state != "ready":
            return Output(text)
        return Output(text + PROMPT)

    def logout(self, now: float) -> Output:
        return Output("logged out\r\n") if self.state != "ready" else self._logout(now)

    # ---- internals -------------------------------------------------------------------------
    def _logout(self, now: float) -> Output:
        start = self.start(now)
        return Output("logged out\r\n" + start.text)

    def _line(self, text: str, now: float, out: Output) -> None:
        if self.state in ("choose", "confirm"):
            self._choose(text, out)
            return
        if self.state == "login":
            if self.verify(text):
                self.state = "ready"
                self.failures = 0
                self.editor.secret = False
                out.text += "logged in; '?' lists commands\r\n" + PROMPT
                out.audit.append(("login", "ok"))
                return
            self.failures += 1
            out.audit.append(("login", "wrong password"))
            if self.failures >= MAX_FAILURES:
                self.state = "locked"
                self.locked_until = now + LOCKOUT_S
                out.text += f"too many wrong passwords: locked for {LOCKOUT_S:.0f} s\r\n"
                out.audit.append(("lockout", f"{LOCKOUT_S:.0f} s"))
                return
            out.text += "wrong password\r\nPassword: "
            return
        if not text:
            out.text += PROMPT
            return
        if text in ("logout", "exit", "quit"):
            out.audit.append(("logout", "ok"))
            out.text += self._logout(now).text
            return
        out.run.append(text)

    def _choose(self, text: str, out: Output) -> None:
        """The first password: typed twice, at least MIN_LENGTH characters."""
        if self.state == "choose":
            if len(text) < MIN_LENGTH:
                out.text += f"too short: at least {MIN_LENGTH} characters\r\nNew password: "
                return
            self._chosen, self.state = text, "confirm"
            out.text += "Again: "
            return
        chosen, self._chosen = self._chosen, ""
        if text != chosen:
            self.state = "choose"
            out.text += "the two differ: start again\r\nNew password: "
            return
        self.state = "ready"
        self.editor.secret = False
        out.set_password = chosen
        out.audit.append(("password", "set at the console"))
        out.text += "password set; logged in; '?' lists commands\r\n" + PROMPT

    def _words(self, text: str) -> tuple[Tree | str | None, str]:
        """The subtree after the complete words of `text`, and the word being typed."""
        words = text.split(" ")
        node: Tree | str | None = self.tree
        for word in words[:-1]:
            if not word:
                continue
            if isinstance(node, Mapping) and word in node:
                node = node[word]
            elif isinstance(node, Mapping) and "*" in node:
                node = node["*"]
            else:
                return None, words[-1]
        return node, words[-1]

    def help(self, text: str) -> str:
        node, partial = self._words(text)
        if not isinstance(node, Mapping):
            return f"  {node}\r\n" if isinstance(node, str) else "  (no such command)\r\n"
        lines = []
        for word, sub in node.items():
            if word.startswith(partial):
                summary = sub if isinstance(sub, str) else "; ".join(k for k in sub if k != "*")
                lines.append(f"  {word:<12} {summary}")
        return ("\r\n".join(lines) or "  (no such command)") + "\r\n"

    def _complete(self, text: str, out: Output) -> None:
        node, partial = self._words(text)
        if not isinstance(node, Mapping):
            return
        options = [w for w in node if w.startswith(partial) and w != "*"]
        if len(options) == 1:
            head = text[: len(text) - len(partial)]
            out.text += self.editor.set_text(head + options[0] + " ")
        elif options:
            out.text += "\r\n  " + "  ".join(options) + "\r\n" + PROMPT + self.editor.buffer

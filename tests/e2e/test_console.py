"""The serial console over a real pseudo-terminal pair, as a technician uses it."""
from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from tests.e2e.support import Box, Proc

pytestmark = pytest.mark.e2e
PASSWORD = "night-shift-42"


class Terminal:
    """The laptop's end of the serial cable."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.name = os.ttyname(self.slave)
        self.seen = ""

    def send(self, data: bytes | str) -> None:
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def expect(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {text!r}; the console said:\n{self.seen[-3000:]}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                self.seen += os.read(self.master, 4096).decode(errors="replace")
        at = self.seen.index(text) + len(text)
        before, self.seen = self.seen[:at], self.seen[at:]
        return before

    def command(self, line: str, timeout: float = 15.0) -> str:
        self.send(line + "\r")
        return self.expect("edgepbx> ", timeout)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def set_password(config: Path, password: str) -> None:
    done = subprocess.run([sys.executable, "-m", "edgepbx", "passwd", "--stdin", "--config", str(config)],
                          input=password + "\n", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def console_box(tmp: Path, term: Terminal, idle_s: int = 600) -> Box:
    return Box(tmp, extra=f'[console]\nport = "{term.name}"\nidle_s = {idle_s}\n')


def test_a_technician_session(tmp_path: Path) -> None:
    term = Terminal()
    box = console_box(tmp_path, term)
    set_password(box.config, PASSWORD)
    try:
        term.send("\r")
        term.expect("Password: ")
        term.send("wrong\r")
        term.expect("wrong password")
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
        status = term.command("show status")
        assert "0 call(s) in progress" in status and "sip 127.0.0.1" in status
        assert "edgepbx " in term.command("show version")
        assert "no calls" in term.command("show calls")
        sip = term.command("show sip")
        assert "trusted: 127.0.0.0/8" in sip and "untrusted: reject" in sip and "admitted" in sip, sip
        refused = term.command('config set sip.untrusted "ignore"')
        assert "[sip] untrusted: must be one of reject, drop" in refused, refused
        alarms = term.command("show alarms")            # no central configured here: nothing to warn of,
        assert "no alarms" in alarms or "disk nearly full" in alarms   # unless the CI disk is nearly full
        term.send("show ?")
        help_text = term.expect("edgepbx> show ")
        assert "network" in help_text and "alarms" in help_text
        term.send("\x15co\t")
        term.expect("config ")
        term.send("\x15")
        term.send(bytes([0xFF, 0xFE, 0x00, 0x1B, 0x5B, 0x31, 0x7E, 0x81]))   # line noise, an odd escape
        assert "% unknown command 'bogus'" in term.command("bogus")
        out = term.command("mode local")
        assert "mode local" in out and "routing local" in term.command("show central")
        term.command("mode auto")
        refused = term.command("config set central.probe_interval_s 99")
        assert "probe_interval_s: must be 0.2..30 seconds" in refused
        term.command("config set central.probe_interval_s 2")
        assert "central.probe_interval_s: (default) -> 2" in term.command("config diff")
        assert "ready:" in term.command("show log")
        heard = term.command(f"test call {box.uri}", timeout=40)           # the box calls itself
        assert "answered in" in heard and "s of audio" in heard, heard
        assert "% not called: not a SIP URI" in term.command("test call sip:@@", timeout=40)
        assert "factory-reset YES-RESET" in term.command("factory-reset")   # asks before doing anything
        term.send("log follow\r")
        term.expect("Ctrl-C stops")
        term.send("\x03")
        term.expect("edgepbx> ")
        term.send("logout\r")
        term.expect("Password: ")
    finally:
        assert box.stop() == 0, box.output
        term.close()
    audit = sqlite3.connect(box.db).execute("SELECT what, result FROM audit ORDER BY id").fetchall()
    whats = [a[0] for a in audit]
    assert ("login", "wrong password") in audit and ("login", "ok") in audit
    assert "show status" in whats and "mode local" in whats and "logout" in whats
    assert any(w == "config set central.probe_interval_s 99" and r.startswith("refused") for w, r in audit)
    for f in box.db.parent.glob("box.db*"):
        assert PASSWORD.encode() not in f.read_bytes()
    assert PASSWORD not in box.output


def test_the_first_technician_on_a_box_without_a_password_chooses_it(tmp_path: Path) -> None:
    term = Terminal()
    box = console_box(tmp_path, term)
    try:
        term.send("\r")
        term.expect("New password: ")
        term.send(PASSWORD + "\r")
        term.expect("Again: ")
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
        assert "edgepbx " in term.command("show version")
        term.send("logout\r")
        term.expect("Password: ")                   # stored: from now on, a normal login
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
    finally:
        assert box.stop() == 0, box.output
        term.close()
    db = sqlite3.connect(box.db)
    [(stored,)] = db.execute("SELECT value FROM settings WHERE key = 'console_password'").fetchall()
    assert stored.startswith("scrypt$")
    assert ("password", "set at the console") in db.execute("SELECT what, result FROM audit").fetchall()
    for f in box.db.parent.glob("box.db*"):
        assert PASSWORD.encode() not in f.read_bytes()


def test_commit_confirmed_rolls_back_unless_confirmed(tmp_path: Path) -> None:
    term = Terminal()
    box = console_box(tmp_path, term)
    set_password(box.config, PASSWORD)
    original = box.config.read_text()
    try:
        term.send("\r")
        term.expect("Password: ")
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
        term.command("config set central.probe_interval_s 2")
        term.send("config commit confirmed 0.05\r")      # 3 s
        term.expect("restarting")
        assert box.proc.wait(timeout=20) == 3          # systemd would start it again
        assert "probe_interval_s = 2" in box.config.read_text()
        again = Proc(["-m", "edgepbx", "run", "--config", str(box.config)], cwd=tmp_path)
        again.wait_for("ready:")
        assert "rolled back in" in again.output
        assert again.proc.wait(timeout=30) == 3, again.output   # not confirmed: rolled back, restarted
        assert "unconfirmed config commit rolled back" in again.output
        assert box.config.read_text() == original
    finally:
        term.close()


def test_idle_logout_and_a_vanishing_port(tmp_path: Path) -> None:
    term = Terminal()
    box = console_box(tmp_path, term, idle_s=5)
    set_password(box.config, PASSWORD)
    try:
        term.send("\r")
        term.expect("Password: ")
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
        term.expect("logged out", timeout=12)
        term.expect("Password: ")
        term.close()                                  # the cable (or USB adapter) goes away
        time.sleep(3)
        assert box.proc.poll() is None, "the box died with its console"
    finally:
        assert box.stop() == 0, box.output
    assert "console:" in box.output and "lost" in box.output


def test_show_calls_names_each_call_step_and_state_a_held_one_too(tmp_path: Path) -> None:
    """At 2 a.m. the technician asks what the box is doing: a caller who put the box on hold
    shows as held, at the step they will hear again."""
    from tests.e2e.support import place_call
    import threading
    term = Terminal()
    box = console_box(tmp_path, term)
    set_password(box.config, PASSWORD)
    caller = threading.Thread(target=place_call, args=(box.uri, "2", tmp_path / "heard.wav"),
                              kwargs={"on_hold": ["4-9"], "hold": 2, "cwd": tmp_path, "from_user": "2002"})
    try:
        term.send("\r")
        term.expect("Password: ")
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
        caller.start()
        box.wait_for("on hold", timeout=30)
        calls = term.command("show calls")
        assert "from 2002" in calls and "at main" in calls and " held " in calls, calls
        box.wait_for("back from hold", timeout=30)
        calls = term.command("show calls")
        assert "from 2002" in calls and " held " not in calls, calls
        caller.join(timeout=60)
        assert "no calls" in term.command("show calls")
        sip = term.command("show sip")
        assert "trusted: 127.0.0.0/8" in sip and "untrusted: reject" in sip and "admitted" in sip, sip
        refused = term.command('config set sip.untrusted "ignore"')
        assert "[sip] untrusted: must be one of reject, drop" in refused, refused
    finally:
        caller.join(timeout=60)
        assert box.stop() == 0, box.output
        term.close()

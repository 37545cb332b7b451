"""The console's line editor and session without I/O: bytes in, text and commands out."""
from __future__ import annotations

from edgepbx.console.commands import TREE, Commands
from edgepbx.console.lineedit import Complete, Help, Interrupt, Line, LineEditor
from edgepbx.console.session import LOCKOUT_S, MAX_FAILURES, PROMPT, ConsoleSession


def session() -> ConsoleSession:
    s = ConsoleSession(TREE, lambda p: p == "s3cret-pass", "test box", idle_s=60)
    s.start(0.0)
    return s


def test_line_editing_on_a_dumb_and_a_smart_terminal():
    ed = LineEditor()
    echo, events = ed.feed(b"shw\x7f\x7fhow status\r\n")
    assert events == [Line("show status")] and echo.startswith("shw\b \b\b \bhow")
    assert ed.feed(b"\x1b[A")[0].endswith("show status") and ed.buffer == "show status"   # history
    ed.feed(b"\x15")
    assert ed.buffer == ""
    assert ed.feed(b"sh\t")[1] == [Complete("sh")]
    assert ed.feed(b"?")[1] == [Help("sh")]
    assert ed.feed(b"\x03")[1] == [Interrupt()]
    echo, events = ed.feed(bytes([0xFF, 0x00, 0x80, 0x1B, 0x4F, 0x50, 0x07]) + b"ok\r")   # noise and odd escapes
    assert events == [Line("ok")] and echo == "ok\r\n"
    ed.feed(b"x" * 1000 + b"\r")
    assert ed.history[-1] == "x" * 256


def test_login_is_not_echoed_and_commands_come_out():
    s = session()
    out = s.feed(b"s3cret-pass\r", 1.0)
    assert "s3cret" not in out.text and out.text.endswith(PROMPT) and out.audit == [("login", "ok")]
    out = s.feed(b"show status\r", 2.0)
    assert out.run == ["show status"]
    assert s.command_done("a\nb").text == "a\r\nb\r\n" + PROMPT


def test_a_box_without_a_password_lets_the_first_technician_choose_one():
    stored: list[str] = []
    s = ConsoleSession(TREE, lambda p: bool(stored) and p == stored[0], "test box", idle_s=60,
                       has_password=lambda: bool(stored))
    assert "choose one" in s.start(0.0).text
    for _ in range(MAX_FAILURES + 2):               # Enter pressed again and again: never a lockout
        out = s.feed(b"\r", 1.0)
        assert "too short" in out.text and s.state == "choose"
    assert s.feed(b"new-pass-1\r", 2.0).text.endswith("Again: ")
    out = s.feed(b"new-pass-2\r", 3.0)
    assert "differ" in out.text and out.set_password is None and s.state == "choose"
    s.feed(b"new-pass-1\r", 4.0)
    out = s.feed(b"new-pass-1\r", 5.0)
    assert out.set_password == "new-pass-1" and out.text.endswith(PROMPT)
    assert out.audit == [("password", "set at the console")] and "new-pass" not in out.text
    stored.append(out.set_password)
    s.feed(b"logout\r", 6.0)
    assert s.state == "login"                       # from now on, a normal login
    assert s.feed(b"new-pass-1\r", 7.0).audit == [("login", "ok")]


def test_a_password_set_elsewhere_meanwhile_ends_the_choosing():
    stored: list[str] = []
    s = ConsoleSession(TREE, lambda p: p == "cli-pass-1", "test box", has_password=lambda: bool(stored))
    s.start(0.0)
    stored.append("hash")                           # `edgepbx passwd` ran on the box
    assert "Password: " in s.feed(b"x\r", 1.0).text and s.state == "login"


def test_wrong_passwords_lock_the_console():
    s = session()
    for i in range(MAX_FAILURES - 1):
        assert "wrong password" in s.feed(b"guess\r", float(i)).text
    out = s.feed(b"guess\r", 10.0)
    assert "locked" in out.text and ("lockout", f"{LOCKOUT_S:.0f} s") in out.audit
    assert s.feed(b"s3cret-pass\r", 20.0).text == ""            # ignored while locked
    assert "Password:" in s.feed(b"\r", 10.0 + LOCKOUT_S + 1).text


def test_help_completion_and_idle_logout():
    s = session()
    s.feed(b"s3cret-pass\r", 0.0)
    assert "status" in s.feed(b"show ?", 1.0).text
    assert s.feed(b"\x15con\t", 2.0).text.endswith("config ")
    assert s.tick(30.0).text == ""
    out = s.tick(62.0)
    assert "logged out" in out.text and "Password:" in out.text and s.state == "login"


def test_audit_masks_secret_values():
    assert Commands.audit_text("config set api.token_secret hunter2") == "config set api.token_secret ***"
    assert Commands.audit_text("config set central.uri sip:a@b") == "config set central.uri sip:a@b"


def test_the_console_never_shows_a_password_once_set(tmp_path):
    """`config set`, `config diff` and `show config` hide secret values (the SIP digest
    password): a laptop screen or a pasted support ticket must not carry them."""
    from edgepbx.config_edit import ConfigEditor, masked
    path = tmp_path / "box.toml"
    path.write_text('[sip]\nauth_user = "branch-17"\nauth_password = "Old-secret-1"\n', encoding="utf-8")
    editor = ConfigEditor(path)
    reply = editor.set("sip.auth_password", '"New-secret-2"')
    assert reply.startswith('sip.auth_password = "********"') and "New-secret-2" not in reply
    assert editor.diff() == ['sip.auth_password: "********" -> "********"']
    assert masked(path.read_text()) == '[sip]\nauth_user = "branch-17"\nauth_password = "********"'
    assert masked('auth_password = ""  # none') == 'auth_password = ""  # none'    # unset is shown as unset

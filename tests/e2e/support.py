"""Real processes for end-to-end tests: the box, a pjsua2 caller, a pjsua2 stand-in for central."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "var" / "prompts"


def free_sip_port() -> int:
    """A port free for UDP and for TCP: SIP listens on both at one number."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STARTED: list["Proc"] = []  # every child a test started; conftest kills any left running


class Proc:
    """A child process whose output is collected line by line."""

    def __init__(self, args: list[str], cwd: Path, interactive: bool = False, new_session: bool = False) -> None:
        """`new_session`: the child leads its own process group (kill_group() ends it and its children)."""
        STARTED.append(self)
        self.group = new_session
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stdin=subprocess.PIPE if interactive else None, start_new_session=new_session,
                                     stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def tell(self, line: str) -> None:
        """A line to an interactive child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"never saw {text!r}; output:\n{self.output}")

    def kill_group(self) -> None:
        """kill -9 of the child and everything it started: a power cut, as far as they can tell."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._reader.join(timeout=5)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(timeout=5)
        return code


class Box(Proc):
    def __init__(self, tmp: Path, flow: str = "ecommerce", central: str = "", language: str = "zh",
                 prompts: Path = PROMPTS, extra: str = "", answer_timeout_s: float = 5.0,
                 central_extra: str = "", mock_pins: bool = False, sip_extra: str = "", ivr_extra: str = "",
                 launcher_root: Path | None = None, host: str = "127.0.0.1") -> None:
        """`mock_pins`: the box under tests/e2e/fxo_harness.py, its GPIO driven by `tell()`.
        `host`: another loopback address makes the box another host (its packets told apart)."""
        self.port = free_sip_port()
        self.api_port = free_tcp_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.db = tmp / "box.db"
        self.uri = f"sip:ivr@{host}:{self.port}"
        self.config = config = tmp / "box.toml"
        config.write_text(f"""
[box]
name = "test-branch"
[sip]
listen = "{host}:{self.port}"
rtp_port = {random.randrange(20000, 30000, 2)}
{sip_extra}
[store]
path = "{self.db}"
[central]
uri = "{central}"
answer_timeout_s = {answer_timeout_s}
{central_extra}
[ivr]
flow = "{flow}"
language = "{language}"
prompts = "{prompts}"
{ivr_extra}
[api]
listen = "127.0.0.1:{self.api_port}"
{extra}
""", encoding="utf-8")
        if mock_pins:
            super().__init__([str(ROOT / "tests" / "e2e" / "fxo_harness.py"), "run", "--config", str(config)],
                             cwd=tmp, interactive=True)
        elif launcher_root is not None:      # as systemd runs it: the update launcher, the box as its child
            super().__init__(["-m", "edgepbx.update.launcher", "--root", str(launcher_root), "--", "run", "--config",
                              str(config)], cwd=tmp, new_session=True)
        else:
            super().__init__(["-m", "edgepbx", "run", "--config", str(config)], cwd=tmp)
        self.wait_for("ready:")

    def create_token(self, name: str, scope: str) -> str:
        """`edgepbx token create` against this box's store (the box keeps running)."""
        done = subprocess.run([sys.executable, "-m", "edgepbx", "token", "create", name, "--scope", scope,
                               "--config", str(self.config)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


class Central(Proc):
    """tools.answer playing a steady tone, so the caller can tell central's audio apart."""

    TONE_HZ = 500.0

    def __init__(self, tmp: Path, *extra: str, port: int | None = None, tone_s: float = 2.0) -> None:
        """`tone_s`: the tone's file is played in a loop, and each turn adds a 20 ms frame of
        silence; a bench that looks for gaps makes it longer than its call."""
        self.port = port or free_sip_port()
        self.uri = f"sip:queue@127.0.0.1:{self.port}"
        self.calls_log = tmp / "central-calls.jsonl"
        tone = tmp / "central-tone.wav"
        t = np.arange(int(8000 * tone_s)) / 8000
        write_wav(tone, (6000 * np.sin(2 * np.pi * self.TONE_HZ * t)).astype(np.int16))
        super().__init__(["-m", "edgepbx.tools.answer", "--listen", f"127.0.0.1:{self.port}",
                          "--play", str(tone), "--calls-log", str(self.calls_log), *extra], cwd=tmp)
        self.wait_for("listening")

    def calls(self) -> list[dict]:
        if not self.calls_log.exists():
            return []
        return [json.loads(line) for line in self.calls_log.read_text(encoding="utf-8").splitlines()]


def write_wav(path: Path, pcm: np.ndarray, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def place_call(uri: str, dtmf: str, record: Path, *, inband: bool = False, sip_info: str | None = None,
               wait: float = 2.0, gap: float = 1.5, hold: float = 4.0, cwd: Path, say: list[tuple[Path, float]] = (),
               from_user: str = "1001", on_hold: list[str] = ()) -> dict:
    """One call by the caller tool: keys (`dtmf`; `sip_info` names a SIP INFO body style),
    WAVs spoken at given seconds (`say`), holds ("START-END" seconds after answer)."""
    args = [sys.executable, "-m", "edgepbx.tools.call", uri, "--dtmf", dtmf, "--record", str(record),
            "--wait", str(wait), "--gap", str(gap), "--hold", str(hold), "--from-user", from_user]
    if inband:
        args.append("--inband")
    if sip_info:
        args += ["--sip-info", sip_info]
    for path, at in say:
        args += ["--say", f"{path}@{at}"]
    for span in on_hold:
        args += ["--on-hold", span]
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"caller failed ({done.returncode}): {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


MATCH = 0.7  # normalised correlation of a prompt's first second with what was heard


def heard_in_order(recording: Path, prompts: list[tuple[str, str]]) -> list[float]:
    """Offsets (s) at which each prompt was heard; fails unless all were heard, in this order."""
    from tests.audio_match import locate, read_wav
    audio, rate = read_wav(recording)
    offsets = []
    for prompt, lang in prompts:
        offset, score = locate(audio, prompt_pcm(prompt, lang), rate)
        assert score > MATCH, f"{lang}/{prompt} not heard (best score {score:.2f})"
        offsets.append(offset)
    assert offsets == sorted(offsets), f"prompts heard out of order: {list(zip(prompts, offsets))}"
    return offsets


def prompt_pcm(prompt: str, language: str) -> np.ndarray:
    from tests.audio_match import read_wav
    return read_wav(PROMPTS / language / f"{prompt}.wav")[0]

"""The launcher: what systemd starts. It runs the release `current` names, and while a new
release is on trial it watches it: the release must mark itself healthy (update.json
'committed') before the trial's deadline; if it exits, hangs, or fails to start MAX_STARTS
times, the launcher switches back to the previous release, restores the store snapshot and
starts that. It belongs to the base install, never to a release, so a broken release cannot
break it; it uses only the standard library and edgepbx.update.

    python -m edgepbx.update.launcher --root /opt/edgepbx -- run --config /etc/edgepbx/edgepbx.toml
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgepbx.update.slots import PAYLOAD, Slots

RESTART_EXIT = 3        # the box asks to be started again (a switch, a config commit, reboot)
MAX_STARTS = 2          # starts of a release on trial before it is given up
POLL_S = 0.2
STOP_GRACE_S = 10.0


class Launcher:
    def __init__(self, root: Path, box_args: list[str], python: str = sys.executable) -> None:
        self.slots = Slots(root)
        self.box_args = box_args
        self.python = python
        self.child: subprocess.Popen | None = None
        self.stopping = False

    def command(self, release: str) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if release:
            payload = self.slots.payload(release)
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (payload / "site", payload))
            env["EDGEPBX_RELEASE"] = release
        env["EDGEPBX_ROOT"] = str(self.slots.root)
        return [self.python, "-m", "edgepbx", *self.box_args], env

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        while True:
            state = self.slots.read_state()
            release = self.slots.link("current")
            trial = state.state == "trying"
            if trial and state.release != release:
                self._give_up("the switch did not complete (power cut?)")
                continue
            if trial and state.attempts >= MAX_STARTS:
                self._give_up(f"did not come up healthy in {state.attempts} starts")
                continue
            if trial:
                state.attempts += 1
                self.slots.write_state(state)
            argv, env = self.command(release)
            self._log(f"starting release {release or '(base install)'}{' on trial' if trial else ''}")
            self.child = subprocess.Popen(argv, env=env, start_new_session=False)
            if trial:
                verdict = self._watch_trial(state.switched_at + state.deadline_s)
                if verdict != "committed":
                    self._stop_child()
                    if self.stopping:
                        return 0
                    self._give_up(verdict)
                    continue
            code = self.child.wait()
            if self.stopping:
                return code
            if code == RESTART_EXIT:
                continue
            return code

    def _watch_trial(self, deadline: float) -> str:
        assert self.child is not None
        while True:
            state = self.slots.read_state()
            if state.state == "committed":
                return "committed"
            code = self.child.poll()
            if code is not None:
                return f"exited with code {code} before it was healthy"
            if self.stopping:
                return "stopped"
            if time.time() > deadline:
                return f"not healthy within {state.deadline_s:.0f} s (hung, or a check failed: {state.reason or 'see its log'})"
            time.sleep(POLL_S)

    def _give_up(self, reason: str) -> None:
        state = self.slots.roll_back(reason)
        self._log(f"rolled back to {state.release or '(base install)'}: {reason}")

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def _on_stop(self, signum, _frame) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    @staticmethod
    def _log(text: str) -> None:
        print(f"edgepbx-launcher: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="where releases/, current and update.json live")
    parser.add_argument("box_args", nargs=argparse.REMAINDER, help="after --: the box's command line")
    args = parser.parse_args(argv)
    box_args = args.box_args[1:] if args.box_args[:1] == ["--"] else args.box_args
    return Launcher(args.root, box_args or ["run"]).run()


if __name__ == "__main__":
    raise SystemExit(main())

"""The service unit: valid for systemd, and hardened to an exposure of at most 2.5 ("OK")."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "edgepbx.service"
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")


@needs_systemd
def test_exposure_is_ok():
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                         capture_output=True, text=True, timeout=60).stdout
    level = float(re.search(r"Overall exposure level for edgepbx.service: ([0-9.]+)", out).group(1))
    assert level <= 2.5, out[-2000:]


@needs_systemd
def test_unit_verifies(tmp_path: Path):
    # the installed paths do not exist here: point them at a real executable, change nothing else
    unit = tmp_path / "edgepbx.service"
    unit.write_text(UNIT.read_text().replace("/opt/edgepbx/.venv/bin/edgepbx-launcher", shutil.which("true"))
                    .replace("/opt/edgepbx/.venv/bin/edgepbx", shutil.which("true")))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "edgepbx.service" in line and "Documentation" not in line]
    assert done.returncode == 0 and problems == [], done.stdout + done.stderr


def test_notify_and_watchdog_are_set():
    text = UNIT.read_text()
    for line in ("Type=notify", "NotifyAccess=all", "WatchdogSec=30", "Restart=always", "StateDirectory=edgepbx",
                 "CapabilityBoundingSet=", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line

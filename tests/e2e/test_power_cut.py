"""kill -9 at random moments under call load: the box starts again, the store is sound, and
every record the box logged as written is still there."""
from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.support import Box

pytestmark = pytest.mark.e2e
ROUNDS = 3


def test_kill_9_under_load_loses_no_written_record(tmp_path: Path) -> None:
    rng = random.Random(2026)
    logged: set[int] = set()
    for round_ in range(ROUNDS):
        box = Box(tmp_path, language="en")
        callers = [subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2,9",
                                     "--wait", "0.5", "--gap", "0.5", "--hold", str(0.5 + 0.5 * i), "--timeout", "20"],
                                    cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for i in range(6)]
        time.sleep(rng.uniform(2.5, 5.0))           # calls ending and being written meanwhile
        box.proc.send_signal(signal.SIGKILL)
        box.proc.wait(10)
        time.sleep(0.3)
        logged |= {int(m) for m in re.findall(r"\(record (\d+)\)", box.output)}
        for c in callers:
            c.kill()
            c.wait()
    assert logged, "no call ended before the kills: the test proved nothing"
    box = Box(tmp_path, language="en")             # it starts again on the same store
    assert box.stop() == 0, box.output
    db = sqlite3.connect(tmp_path / "box.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {row[0] for row in db.execute("SELECT id FROM calls")}
    assert logged <= stored, f"records logged as written but lost: {sorted(logged - stored)}"

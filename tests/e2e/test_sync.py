"""Central's two jobs against a live box: pushing a flow while calls run, and pulling records
with a puller that is killed at random moments."""
from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import Box, Central

pytestmark = pytest.mark.e2e


def _calls(db: Path) -> list[tuple[str, list[str]]]:
    with sqlite3.connect(db) as con:
        return [(caller, json.loads(path)) for caller, path in con.execute("SELECT caller, ivr_path FROM calls ORDER BY id")]


def test_flow_push_races_live_calls_and_directory_reaches_the_next_call(tmp_path: Path) -> None:
    central = Central(tmp_path)
    box = Box(tmp_path, central=central.uri)
    api = httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token('ops', 'write')}"})
    try:
        assert api.post("/api/v1/directory", json={"upsert": [
            {"number": "13800000001", "name": "王奶奶", "language": "zh", "flags": ["elderly"], "notes": "hard of hearing"}]}
        ).status_code == 200
        # Caller A: English, then waits at the main menu and presses 1 after the push.
        a = subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2,+7,1",
                              "--wait", "2", "--gap", "1", "--hold", "3", "--from-user", "2001"],
                             cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        box.wait_for("call ", timeout=20)
        time.sleep(4.0)  # A is at the main menu now
        current = api.get("/api/v1/flow")
        document = current.json()["document"]
        document["nodes"]["main"]["options"]["1"] = "complaints"  # 1 now goes to an agent
        pushed = api.put("/api/v1/flow", json={"document": document, "label": "complaints-first"},
                         headers={"If-Match": current.headers["ETag"]})
        assert pushed.status_code == 200, pushed.text
        assert api.get("/api/v1/status").json()["active_calls"] == 1
        out, _ = a.communicate(timeout=60)
        assert json.loads(out.strip().splitlines()[-1])["answered"]
        # Caller B, known to the directory, starts after the push.
        b = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2,1",
                            "--wait", "2", "--gap", "1.5", "--hold", "9", "--from-user", "13800000001"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert b.returncode == 0, b.stderr
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    (caller_a, path_a), (caller_b, path_b) = _calls(box.db)
    assert caller_a == "2001" and path_a[:3] == ["language", "main", "order_number"], path_a  # the old flow
    assert caller_b == "13800000001" and path_b[:3] == ["language", "main", "complaints"], path_b  # the new
    [forwarded] = central.calls()
    headers = {k.lower(): v for k, v in forwarded["headers"].items()}
    assert headers["x-edgepbx-flags"] == "elderly" and headers["x-edgepbx-caller"] == "13800000001"
    assert headers["x-edgepbx-mode"] == "elderly" and headers["x-edgepbx-priority"] == "elderly"  # the flag set the mode
    assert "%E7%8E%8B" in headers["x-edgepbx-caller-name"]  # 王, percent-encoded UTF-8


def test_a_puller_killed_at_random_collects_every_record_exactly_once(tmp_path: Path) -> None:
    box = Box(tmp_path)
    token_file = tmp_path / "ops.token"
    token_file.write_text(box.create_token("puller", "write"), encoding="utf-8")
    into = tmp_path / "central.db"
    rng = random.Random(5)
    inserted = 0

    def add_calls(n: int) -> None:  # calls keep ending while central pulls
        nonlocal inserted
        with sqlite3.connect(box.db) as con:
            con.executemany(
                "INSERT INTO calls (call_uid, caller, called, started_at, answered_at, ended_at, language, ivr_path,"
                " digits, outcome, forward_target, hangup_cause) VALUES (?, ?, 'ivr', ?, ?, ?, 'zh', '[\"main\"]',"
                " '{}', 'completed', NULL, 'caller hung up')",
                [(f"t-{inserted + i}", f"1{inserted + i:010d}", 1.0, 1.5, 2.0) for i in range(n)])
        inserted += n

    try:
        add_calls(5000)
        kills = 0
        for round_ in range(40):
            puller = subprocess.Popen([sys.executable, "-m", "edgepbx.tools.pull", box.api, "--token-file",
                                       str(token_file), "--into", str(into), "--page", "5"],
                                      cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.3, 1.2))
            if puller.poll() is None:
                puller.send_signal(signal.SIGKILL)
                kills += 1
            puller.wait()
            add_calls(rng.randint(50, 300))  # calls keep ending, so each run has work to be killed in
            if kills >= 8:
                break
        final = subprocess.run([sys.executable, "-m", "edgepbx.tools.pull", box.api, "--token-file", str(token_file),
                                "--into", str(into)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    finally:
        assert box.stop() == 0, box.output
    assert kills >= 5, kills
    with sqlite3.connect(into) as con:
        pulled = [json.loads(body)["call_uid"] for (body,) in con.execute("SELECT body FROM records WHERE kind = 'calls'")]
    assert len(pulled) == inserted and len(set(pulled)) == inserted  # every record, none twice
    with sqlite3.connect(box.db) as con:
        assert con.execute("SELECT count(*) FROM calls WHERE collected_at IS NULL").fetchone()[0] == 0

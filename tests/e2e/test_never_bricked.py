"""A crash mid-call, and everything an operator (or a push from afar) can break: the box
starts anyway, answers calls, and says what it repaired."""
from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import PROMPTS, Box

pytestmark = pytest.mark.e2e


def _caller(box: Box, dtmf: str, hold: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", dtmf, "--wait", "0.5",
                             "--gap", "0.5", "--hold", str(hold), "--timeout", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_mid_calls(box: Box, callers: list[subprocess.Popen], reached: str) -> None:
    """kill -9 the box once each caller's call has logged `reached`, then the callers."""
    deadline = time.monotonic() + 40
    while box.output.count(reached) < len(callers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert box.output.count(reached) == len(callers), box.output
    time.sleep(0.5)
    box.proc.send_signal(signal.SIGKILL)
    box.proc.wait(10)
    for proc in callers:
        proc.kill()
        proc.wait()


def _answers(box: Box) -> bool:
    done = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "1", "--wait", "0.5",
                           "--hold", "0.5", "--timeout", "20"], capture_output=True, text=True, timeout=60)
    return '"answered": true' in done.stdout


def test_kill_9_mid_call_leaves_every_call_recorded_and_every_request_queued(tmp_path: Path) -> None:
    box = Box(tmp_path, language="en")
    # 8 calls that end (English, then hang up), then 8 that stay after keying an order number
    done = [_caller(box, "2", 0.5) for _ in range(8)]
    for proc in done:
        proc.wait(60)
    deadline = time.monotonic() + 15
    while box.output.count("(record ") < 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert box.output.count("(record ") >= 8, box.output
    staying = [_caller(box, "2,1,3,8,0,4,1,2,#", 60.0) for _ in range(8)]
    _kill_mid_calls(box, staying, "entered order_number")
    box = Box(tmp_path, language="en")                 # the same store
    assert box.output.count("recorded as interrupted") == 8, box.output
    assert box.stop() == 0
    db = sqlite3.connect(tmp_path / "box.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = db.execute("SELECT outcome, ivr_path, hangup_cause, digits, language FROM calls").fetchall()
    interrupted = [r for r in rows if r[0] == "interrupted"]
    assert len(rows) == 16 and len(interrupted) == 8, rows
    for outcome, path, cause, digits, language in interrupted:       # the context it had collected
        assert json.loads(path)[:3] == ["language", "main", "order_number"], path
        assert json.loads(digits).get("order_number") == "380412" and language == "en", digits
        assert "crash or power cut" in cause
    assert db.execute("SELECT count(*) FROM calls_open").fetchone() == (0,)


def test_a_deleted_system_prompt_is_refused_from_afar_and_repaired_at_start(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS, prompts)
    box = Box(tmp_path, language="en", prompts=prompts)
    api = httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token('ops', 'write')}"})
    r = api.delete("/api/v1/prompts/en/outage_notice")
    assert r.status_code == 409 and "outage" in r.json()["message"], r.text    # survivable mode keeps its voice
    assert box.stop() == 0
    (prompts / "en" / "outage_notice.wav").unlink()                # gone anyway (a technician, a bad card)
    (prompts / "en" / "ecom_language.wav").write_bytes(b"RIFF not a wav")
    box = Box(tmp_path, language="en", prompts=prompts)            # starts, says so, answers
    assert "prompt en/outage_notice was missing or unreadable: spoken by the synthesiser" in box.output
    assert "prompt en/ecom_language was missing or unreadable" in box.output
    status = httpx.get(f"{box.api}/api/v1/status", headers=api.headers).json()
    assert any("en/outage_notice" in alarm for alarm in status["alarms"]), status["alarms"]
    assert _answers(box)
    assert box.stop() == 0


def test_a_bad_flow_file_falls_back_to_the_last_good_one(tmp_path: Path) -> None:
    flow = tmp_path / "branch.toml"
    shutil.copy(Path(__file__).resolve().parents[2] / "firmware" / "edgepbx" / "ivr" / "templates" / "repair.toml", flow)
    box = Box(tmp_path, language="en", flow=str(flow))
    assert "flow repair v0" in box.output, box.output
    assert box.stop() == 0
    flow.write_text("[flow]\nname = 'broken'\nstart = 'nowhere'\n", encoding="utf-8")
    box = Box(tmp_path, language="en", flow=str(flow))
    assert "could not be loaded" in box.output and "running 'repair' instead" in box.output, box.output
    assert _answers(box)
    assert box.stop() == 0


def test_a_store_that_cannot_be_opened_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "box.db").write_bytes(b"SQLite format 3\0" + b"\xff" * 8192)   # a damaged card
    box = Box(tmp_path, language="en")
    assert "moved aside to box.db.broken-" in box.output, box.output
    assert list(tmp_path.glob("box.db.broken-*"))
    assert _answers(box)
    assert box.stop() == 0


def test_kill_9_during_an_outage_keeps_callbacks_and_messages_queued(tmp_path: Path) -> None:
    from tests.e2e.support import free_sip_port
    central = f"sip:queue@127.0.0.1:{free_sip_port()}"       # nothing answers: survivable mode
    box = Box(tmp_path, central=central, language="en")
    box.wait_for("central routing: central -> local", timeout=15)
    callback = _caller(box, "1,1", 4.0)
    message = subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2,+5,#", "--wait", "3",
                                "--gap", "1", "--hold", "4", "--timeout", "60"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    callback.wait(60)
    message.wait(60)
    box.wait_for("callback request stored", timeout=10)
    box.wait_for("stored (", timeout=10)                       # the message
    staying = [_caller(box, "3", 60.0) for _ in range(2)]     # hearing the outage info
    _kill_mid_calls(box, staying, "at info (play)")
    db = sqlite3.connect(tmp_path / "box.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM callbacks WHERE during_outage = 1").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM messages WHERE during_outage = 1").fetchone() == (1,)
    db.close()
    box = Box(tmp_path, central=central, language="en")
    assert box.output.count("recorded as interrupted") == 2, box.output
    assert box.stop() == 0
    db = sqlite3.connect(tmp_path / "box.db")
    assert db.execute("SELECT count(*) FROM callbacks WHERE collected_at IS NULL").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM messages").fetchone() == (1,)
    paths = [json.loads(p) for (p,) in db.execute("SELECT ivr_path FROM calls WHERE outcome = 'interrupted'")]
    assert len(paths) == 2 and all(p[:2] == ["outage_menu", "info"] for p in paths), paths

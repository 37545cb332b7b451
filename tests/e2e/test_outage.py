"""Survivable mode with real processes: a pjsua2 central that dies, stalls, answers slowly and
flaps; callers recorded and matched against the prompts; records collected after recovery."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Callable

import httpx
import pytest

from tests.audio_match import locate, read_wav, tone_power_after
from tests.e2e.support import Box, Central, free_sip_port, heard_in_order, place_call, prompt_pcm

pytestmark = pytest.mark.e2e


def api(box: Box) -> httpx.Client:
    return httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token(f'ops-{time.monotonic_ns()}', 'write')}"})


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took for `check` to hold."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_outage_callbacks_and_messages_survive_a_restart_and_reach_central(tmp_path: Path) -> None:
    port = free_sip_port()  # central is down: nothing answers here
    uri = f"sip:queue@127.0.0.1:{port}"
    box = Box(tmp_path, central=uri, language="en")
    ops = api(box)
    try:
        took = wait_until(lambda: ops.get("/api/v1/status").json()["central"] == "down", 8, "central declared down")
        assert took < 5.0
        assert ops.get("/api/v1/status").json()["routing"] == "local"
        # A caller asks for a callback on their own number; another leaves a message.
        result = place_call(box.uri, "1,1", tmp_path / "a.wav", wait=3, gap=2, hold=8, cwd=tmp_path)
        assert result["first_audio_ms"] < 1000
        heard_in_order(tmp_path / "a.wav", [("outage_notice", "en"), ("callback_confirm", "en"),
                                            ("callback_taken", "en")])
        place_call(box.uri, "2,+9,#", tmp_path / "b.wav", wait=3, gap=1, hold=6, cwd=tmp_path)
        heard_in_order(tmp_path / "b.wav", [("outage_notice", "en"), ("message_instructions", "en"),
                                            ("message_saved", "en")])
    finally:
        assert box.stop() == 0, box.output
    # The box restarts during the outage; then central comes back.
    box = Box(tmp_path, central=uri, language="en")
    central = None
    try:
        ops = api(box)
        wait_until(lambda: ops.get("/api/v1/status").json()["central"] == "down", 8, "down again after restart")
        central = Central(tmp_path, port=port)
        took = wait_until(lambda: ops.get("/api/v1/status").json()["central"] == "up", 12, "central back up")
        assert took >= 4.0  # five steady answers, not the first one
        callbacks = ops.get("/api/v1/callbacks").json()["items"]
        messages = ops.get("/api/v1/messages").json()["items"]
        assert [(c["number"], c["during_outage"]) for c in callbacks] == [("1001", 1)]
        assert callbacks[0]["ivr_path"][:2] == ["outage_menu", "callback_confirm"]
        assert len(messages) == 1 and messages[0]["during_outage"] == 1 and messages[0]["duration_s"] >= 1
        audio = ops.get(f"/api/v1/messages/{messages[0]['id']}/audio")
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
        (tmp_path / "m.wav").write_bytes(audio.content)
        with wave.open(str(tmp_path / "m.wav")) as w:
            assert w.getnframes() / w.getframerate() >= 1.0
        assert ops.post("/api/v1/callbacks/ack", json={"through": callbacks[-1]["id"]}).json() == {"acknowledged": 1}
        events = [(e["what"], e["new"]) for e in ops.get("/api/v1/events").json()["items"]]
        assert ("link", "down") in events and events[-2:] == [("link", "up"), ("routing", "central")]
    finally:
        assert box.stop() == 0, box.output
        if central is not None:
            central.stop()


def test_central_killed_mid_call_takes_the_caller_back(tmp_path: Path) -> None:
    central = Central(tmp_path)
    box = Box(tmp_path, central=central.uri, language="en")
    try:
        caller = subprocess.Popen([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "2,0", "--wait", "2",
                                   "--hold", "24", "--record", str(tmp_path / "heard.wav")], cwd=tmp_path,
                                  stdout=subprocess.PIPE, text=True)
        box.wait_for("forwarded: central answered", timeout=20)
        time.sleep(2.0)
        central.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        box.wait_for("central lost, taking the caller back", timeout=10)
        assert time.monotonic() - killed_at < 5.0
        out, _ = caller.communicate(timeout=60)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    audio, rate = read_wav(tmp_path / "heard.wav")
    [bridged_at] = heard_in_order(tmp_path / "heard.wav", [("transferring", "en")])
    back_at = heard_in_order(tmp_path / "heard.wav", [("outage_notice", "en")])[0]
    assert tone_power_after(audio[: int(back_at * rate)], rate, bridged_at + 3.0, Central.TONE_HZ) > 0.3
    [row] = sqlite3.connect(box.db).execute("SELECT ivr_path FROM calls").fetchall()
    assert '"operator", "outage_menu"' in row[0]


def test_slow_central_falls_back_per_call_while_the_link_stays_up(tmp_path: Path) -> None:
    central = Central(tmp_path, "--answer-after", "15")
    box = Box(tmp_path, central=central.uri, language="en", answer_timeout_s=3.0)
    try:
        ops = api(box)
        place_call(box.uri, "2,0", tmp_path / "heard.wav", wait=2, hold=12, cwd=tmp_path)  # English, operator
        status = ops.get("/api/v1/status").json()
        assert status["central"] == "up"
        assert (status["forwards_failed_in_a_row"], status["last_forward_failure"]) == (1, "not answered in 3 s")
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    heard_in_order(tmp_path / "heard.wav", [("transferring", "en"), ("outage_notice", "en")])
    assert "forward not answered in 3 s" in box.output


def test_flapping_central_keeps_the_box_local_until_it_is_steady(tmp_path: Path) -> None:
    central = Central(tmp_path)
    box = Box(tmp_path, central=central.uri, language="en")
    try:
        ops = api(box)
        status = lambda: ops.get("/api/v1/status").json()  # noqa: E731
        central.proc.send_signal(signal.SIGSTOP)  # silent, not gone
        wait_until(lambda: status()["central"] == "down", 8, "down when stalled")
        seen = set()
        for _ in range(4):  # answers for 2.5 s, silent for 2.5 s: never steady
            central.proc.send_signal(signal.SIGCONT)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.5:
                seen.add(status()["central"])
                time.sleep(0.2)
            central.proc.send_signal(signal.SIGSTOP)
            time.sleep(2.5)
        assert seen == {"down"}
        central.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: status()["central"] == "up", 12, "up when steady")
        # An operator forces local mode for maintenance: new calls stay here though central is up.
        assert ops.put("/api/v1/mode", json={"mode": "local"}).json() == {"mode": "local", "central": "up",
                                                                          "routing": "local"}
        place_call(box.uri, "3", tmp_path / "heard.wav", wait=3, hold=6, cwd=tmp_path)
        heard_in_order(tmp_path / "heard.wav", [("outage_notice", "en"), ("offline_info", "en")])
        events = ops.get("/api/v1/events").json()["items"]
        assert [e["new"] for e in events if e["what"] == "link"] == ["down", "up"]
        assert any(e["what"] == "mode" and "ops" in e["cause"] for e in events)
    finally:
        central.proc.send_signal(signal.SIGCONT)
        assert box.stop() == 0, box.output
        central.stop()


def test_peak_load_announces_the_wait_and_offers_a_callback(tmp_path: Path) -> None:
    central = Central(tmp_path)
    box = Box(tmp_path, central=central.uri, language="en")
    try:
        ops = api(box)
        assert ops.put("/api/v1/central/wait", json={"seconds": 400}).json()["seconds"] == 400
        assert ops.get("/api/v1/status").json()["expected_wait_s"] == 400
        # After 0: "transferring" (3.3 s), the wait (3.5 s), the wait menu (5.1 s). The answer key
        # comes 3 s into the wait menu, or after it on a loaded machine (the menu waits for it).
        place_call(box.uri, "2,0,+10,2", tmp_path / "cb.wav", wait=2, hold=6, cwd=tmp_path)  # takes the callback
        place_call(box.uri, "2,0,+10,1", tmp_path / "hold.wav", wait=2, hold=8, cwd=tmp_path)  # holds for an agent
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    heard_in_order(tmp_path / "cb.wav", [("wait_5min", "en"), ("wait_menu", "en"), ("callback_taken", "en")])
    [wait_at] = heard_in_order(tmp_path / "hold.wav", [("wait_5min", "en")])
    audio, rate = read_wav(tmp_path / "hold.wav")
    _, score = locate(audio[int((wait_at + 2) * rate):], prompt_pcm("transferring", "en"), rate)
    assert score > 0.7  # "connecting you" again, after the wait was said
    [(number, during_outage, path)] = sqlite3.connect(box.db).execute(
        "SELECT number, during_outage, ivr_path FROM callbacks").fetchall()
    assert (number, during_outage) == ("1001", 0) and '"wait_menu"' in path
    [forwarded] = central.calls()
    assert forwarded["headers"].get("X-EdgePBX-Call")


def test_the_box_calls_outage_callers_back_once_central_returns(tmp_path: Path) -> None:
    port = free_sip_port()
    (tmp_path / "phone").mkdir()
    phone = Central(tmp_path / "phone", "--dtmf", "1@3")  # the caller's phone: they press 1 to talk to an agent
    box = Box(tmp_path, central=f"sip:queue@127.0.0.1:{port}", language="en",
              central_extra=f'callback_uri = "sip:{{number}}@127.0.0.1:{phone.port}"\ncallback_retry_s = 5.0\ncallback_hours = "00:00-24:00"')
    central = None
    try:
        ops = api(box)
        wait_until(lambda: ops.get("/api/v1/status").json()["routing"] == "local", 8, "local")
        subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--dtmf", "1,1", "--wait", "3",
                        "--gap", "2", "--hold", "6", "--from-user", "5550001"], cwd=tmp_path, check=True,
                       capture_output=True, timeout=60)
        dialer = ops.put("/api/v1/dialer", json={"enabled": True}).json()
        assert dialer["enabled"] is True and dialer["international"] is False
        time.sleep(1.0)
        assert phone.calls() == []  # central is still down: nobody is called yet
        central = Central(tmp_path, port=port)
        wait_until(lambda: len(central.calls()) == 1, 40, "the callback reached central")
        wait_until(lambda: sqlite3.connect(box.db).execute("SELECT dial_result FROM callbacks").fetchone()[0]
                   == "connected", 10, "the callback marked connected")
    finally:
        assert box.stop() == 0, box.output
        phone.stop()
        if central is not None:
            central.stop()
    [rang] = phone.calls()
    assert rang["uri"].startswith("<sip:edgepbx@") or "edgepbx" in rang["uri"]
    assert "5550001" in rang["headers"].get("To", "")
    [agent] = central.calls()
    headers = {k.lower(): v for k, v in agent["headers"].items()}
    assert "callback_for=" in headers["x-edgepbx-data"] and "called_at=" in headers["x-edgepbx-data"]
    assert headers["x-edgepbx-path"].startswith("outage_menu,callback_confirm,callback_own")
    assert "calling back" in box.output and "callback 1 to 5550001: connected" in box.output


def test_a_voicemail_answering_the_call_back_never_reaches_an_agent(tmp_path: Path) -> None:
    """Whoever answers the box's call back must press 1 before central is called:
    an answering machine does not, so no agent is tied up, and the try counts as not confirmed
    (to be tried again, up to callback_attempts)."""
    import asyncio
    from edgepbx.store import Store

    async def an_outage_callback_request() -> None:     # as the outage menu stores it
        store = await Store.open(tmp_path / "box.db")
        try:
            await store.add_callback("earlier-call", "5550002", time.time() - 600, "en", ("outage_menu",), {},
                                     during_outage=True)
        finally:
            await store.close()

    asyncio.run(an_outage_callback_request())
    port = free_sip_port()
    (tmp_path / "voicemail").mkdir()
    voicemail = Central(tmp_path / "voicemail")       # answers, plays its greeting, presses nothing
    central = Central(tmp_path, port=port)
    box = Box(tmp_path, central=f"sip:queue@127.0.0.1:{port}", language="en",
              central_extra=f'callback_uri = "sip:{{number}}@127.0.0.1:{voicemail.port}"\ncallback_attempts = 1\n'
                            'callback_hours = "00:00-24:00"')
    try:
        ops = api(box)
        assert ops.put("/api/v1/dialer", json={"enabled": True}).json()["enabled"] is True
        wait_until(lambda: sqlite3.connect(box.db).execute("SELECT dial_result FROM callbacks").fetchone()[0]
                   == "not confirmed", 90, "the call back marked not confirmed")
    finally:
        assert box.stop() == 0, box.output
        voicemail.stop()
        central.stop()
    assert len(voicemail.calls()) == 1 and central.calls() == []
    assert "callback 1 to 5550002: not confirmed" in box.output


def test_central_can_give_its_wait_in_a_header_on_ringing(tmp_path: Path) -> None:
    central = Central(tmp_path, "--answer-after", "2", "--wait-header", "700")
    box = Box(tmp_path, central=central.uri, language="en")
    try:
        ops = api(box)
        place_call(box.uri, "2,0", tmp_path / "first.wav", wait=2, hold=6, cwd=tmp_path)  # forwarded, learns the wait
        assert ops.get("/api/v1/status").json()["expected_wait_s"] == 700
        # after 0: "transferring" (3.3 s), the wait (3.6 s), the wait menu (5.1 s): 2 lands 3 s into the
        # wait menu or after it, never inside its first second
        place_call(box.uri, "2,0,+10,2", tmp_path / "second.wav", wait=2, hold=6, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    heard_in_order(tmp_path / "second.wav", [("wait_10min", "en"), ("wait_menu", "en"), ("callback_taken", "en")])

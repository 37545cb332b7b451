"""The sync API on a running box process, over HTTP on loopback, with real tokens and SQLite."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import ssl
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from tests.e2e.support import PROMPTS, ROOT, Box

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("api")
    prompts = tmp / "prompts"
    shutil.copytree(PROMPTS, prompts)
    running = Box(tmp, prompts=prompts)
    running.prompts = prompts  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        assert running.stop() == 0, running.output


@pytest.fixture(scope="module")
def write(box: Box) -> httpx.Client:
    return httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token('ops', 'write')}"})


@pytest.fixture(scope="module")
def read(box: Box) -> httpx.Client:
    return httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token('puller', 'read')}"})


def wav_bytes(seconds: float, rate: int = 44100, channels: int = 2, width: int = 2) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    scale = {1: 127, 2: 32767, 4: 2**31 - 1}[width]
    pcm = np.repeat((x * scale).astype({1: np.int8, 2: np.int16, 4: np.int32}[width]), channels)
    if width == 1:
        pcm = (pcm.astype(np.int16) + 128).astype(np.uint8)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def test_health_needs_no_token_and_everything_else_does(box: Box) -> None:
    assert httpx.get(f"{box.api}/health").json() == {"status": "ok"}
    r = httpx.get(f"{box.api}/api/v1/status")
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    r = httpx.get(f"{box.api}/api/v1/calls", headers={"Authorization": "Bearer epbx_wrong"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["message"]


def test_status_reports_the_box(box: Box, read: httpx.Client) -> None:
    s = read.get("/api/v1/status").json()
    assert s["version"] and s["uptime_s"] > 0 and s["central"] == "none" and s["mode"] == "auto"
    assert s["active_calls"] == 0 and isinstance(s["flow_version"], int) and s["flow_name"] == "ecommerce"
    assert s["disk"]["free_bytes"] > 0 and set(s["records"]) == {"calls", "callbacks", "messages", "sms"}
    assert s["sms"] is None                                   # no [sms] device: no modem to report


def test_tokens_from_the_command_line_take_effect_at_once(box: Box) -> None:
    token = box.create_token("temp", "read")
    assert token.startswith("epbx_") and len(token) > 40
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{box.api}/api/v1/status", headers=headers).status_code == 200
    listing = subprocess.run([sys.executable, "-m", "edgepbx", "token", "list", "--config", str(box.config)],
                             capture_output=True, text=True, check=True).stdout
    assert "temp\tread" in listing and token not in listing
    assert token not in Path(box.db).read_bytes().decode("latin-1")  # only its hash is stored
    subprocess.run([sys.executable, "-m", "edgepbx", "token", "revoke", "temp", "--config", str(box.config)], check=True)
    assert httpx.get(f"{box.api}/api/v1/status", headers=headers).status_code == 401
    box.create_token("twice", "read")
    dup = subprocess.run([sys.executable, "-m", "edgepbx", "token", "create", "twice", "--scope", "read",
                          "--config", str(box.config)], capture_output=True, text=True)
    assert dup.returncode == 2 and "exists" in dup.stderr


def test_read_tokens_cannot_write(read: httpx.Client) -> None:
    r = read.post("/api/v1/directory", json={"upsert": []})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_a_flow_is_checked_without_being_activated(box: Box, read: httpx.Client) -> None:
    """Before pushing to a fleet, ops ask each box whether it would take the flow (its prompts
    differ): the same checks as a push, with a read token, and nothing changes."""
    got = read.get("/api/v1/flow").json()
    doc = json.loads(json.dumps(got["document"]))
    doc["flow"]["name"] = "ecommerce-checked"
    r = read.post("/api/v1/flow/validate", json={"document": doc})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] is True and body["name"] == "ecommerce-checked" and isinstance(body["warnings"], list)
    assert len(body["sha256"]) == 64 and body["sha256"] != got["sha256"]
    doc["prompts"]["brand_new"] = {"zh": "新的", "en": "new"}
    doc["nodes"]["main"]["prompt"] = "brand_new"
    doc["nodes"]["main"]["options"]["1"] = "nowhere"
    r = read.post("/api/v1/flow/validate", json={"document": doc})
    assert r.status_code == 422 and r.json()["error"] == "invalid_flow"
    assert {"node": "main", "field": "options.1", "reason": "no node named 'nowhere'"} in r.json()["details"]
    r = read.post("/api/v1/flow/validate", json={"document": {**doc, "nodes": {**doc["nodes"], "main": {
        **doc["nodes"]["main"], "options": got["document"]["nodes"]["main"]["options"]}}}})
    assert r.status_code == 422 and r.json()["details"][0]["node"] == "(prompts)", r.text
    after = read.get("/api/v1/flow").json()
    assert (after["version"], after["sha256"]) == (got["version"], got["sha256"])


def test_flow_push_is_validated_versioned_and_rolled_back(box: Box, write: httpx.Client) -> None:
    got = write.get("/api/v1/flow")
    version, doc = got.json()["version"], got.json()["document"]
    assert got.headers["ETag"] == f'"v{version}"'
    renamed = json.loads(json.dumps(doc))
    renamed["flow"]["name"] = "ecommerce-spring"

    r = write.put("/api/v1/flow", json={"document": renamed})
    assert r.status_code == 428
    broken = json.loads(json.dumps(doc))
    broken["nodes"]["main"]["options"]["1"] = "nowhere"
    del broken["flow"]["start"]
    r = write.put("/api/v1/flow", json={"document": broken}, headers={"If-Match": got.headers["ETag"]})
    assert r.status_code == 422 and r.json()["error"] == "invalid_flow"
    assert {"node": "main", "field": "options.1", "reason": "no node named 'nowhere'"} in r.json()["details"]
    assert {"node": "(flow)", "field": "start", "reason": "required"} in r.json()["details"]
    unvoiced = json.loads(json.dumps(doc))
    unvoiced["prompts"]["brand_new"] = {"zh": "新的", "en": "new"}
    unvoiced["nodes"]["main"]["prompt"] = "brand_new"
    r = write.put("/api/v1/flow", json={"document": unvoiced, "base_version": version})
    assert r.status_code == 422 and r.json()["details"][0]["node"] == "(prompts)"
    assert write.get("/api/v1/flow").json()["version"] == version  # nothing changed

    r = write.put("/api/v1/flow", json={"document": renamed, "label": "spring"}, headers={"If-Match": f'"v{version}"'})
    assert r.status_code == 200, r.text
    pushed = r.json()["version"]
    assert pushed > version and r.headers["ETag"] == f'"v{pushed}"'
    r = write.put("/api/v1/flow", json={"document": renamed}, headers={"If-Match": f'"v{version}"'})
    assert r.status_code == 412 and r.json()["details"] == [{"current_version": pushed}]
    assert write.get("/api/v1/status").json()["flow_name"] == "ecommerce-spring"

    again = json.loads(json.dumps(renamed))
    again["flow"]["name"] = "ecommerce-summer"
    summer = write.put("/api/v1/flow", json={"document": again, "base_version": pushed}).json()["version"]
    r = write.post("/api/v1/flow/rollback", json={"target": "spring"}, headers={"If-Match": f'"v{summer}"'})
    assert r.status_code == 200 and r.json()["name"] == "ecommerce-spring" and r.json()["version"] == summer + 1
    history = write.get("/api/v1/flow/versions").json()["items"]
    assert [h["version"] for h in history][:3] == [summer + 1, summer, pushed]
    assert history[0]["rollback_of"] == pushed and history[0]["active"]
    assert write.get(f"/api/v1/flow/versions/{summer}").json()["name"] == "ecommerce-summer"
    assert write.post("/api/v1/flow/rollback", json={"target": 999, "base_version": summer + 1}).status_code == 404


def test_prompt_upload_converts_and_checksums(box: Box, write: httpx.Client) -> None:
    body = wav_bytes(1.5, rate=44100, channels=2)
    r = write.put("/api/v1/prompts/en/promo_spring", content=body, headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["source_sha256"] == hashlib.sha256(body).hexdigest() and info["recorded"]
    stored = box.prompts / "en" / "promo_spring.wav"  # type: ignore[attr-defined]
    with wave.open(str(stored)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert abs(w.getnframes() / 8000 - 1.5) < 0.01
    assert info["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert write.get("/api/v1/prompts/en/promo_spring").content == stored.read_bytes()
    listed = {(p["language"], p["prompt_id"]): p for p in write.get("/api/v1/prompts").json()["items"]}
    assert listed[("en", "promo_spring")]["sha256"] == info["sha256"]
    assert listed[("en", "ecom_main")]["in_active_flow"] and not listed[("en", "ecom_main")]["recorded"]
    for width in (1, 4):  # 8-bit and 32-bit PCM convert as well
        assert write.put("/api/v1/prompts/zh/promo_spring", content=wav_bytes(0.5, 16000, 1, width)).status_code == 200

    def refused(path: str, content: bytes) -> httpx.Response:
        return write.put(path, content=content, headers={"Content-Type": "audio/wav"})

    assert refused("/api/v1/prompts/en/x_text", b"this is not audio at all").status_code == 415
    assert refused("/api/v1/prompts/en/x_short", wav_bytes(0.05, 8000, 1)).status_code == 422
    assert refused("/api/v1/prompts/en/x_long", wav_bytes(301, 8000, 1)).json()["error"] == "bad_recording"
    assert refused("/api/v1/prompts/en/x_huge", b"RIFF" + bytes(17 * 2**20)).status_code == 413
    assert refused("/api/v1/prompts/xx/promo", body).status_code == 422
    assert refused("/api/v1/prompts/en/..%2F..%2Fescape", body).status_code in (404, 422)
    assert refused("/api/v1/prompts/en/Bad-Name", body).status_code == 422
    assert not list(Path(box.prompts).rglob("x_*"))  # type: ignore[attr-defined]

    r = write.delete("/api/v1/prompts/en/ecom_main")
    assert r.status_code == 409 and r.json()["error"] == "in_use"
    assert write.delete("/api/v1/prompts/en/promo_spring").status_code == 204
    assert not stored.exists() and write.delete("/api/v1/prompts/en/promo_spring").status_code == 404


def test_directory_bulk_changes_are_atomic_and_versioned(write: httpx.Client) -> None:
    v0 = write.get("/api/v1/directory").json()["version"]
    change = {"upsert": [{"number": "13800000001", "name": "王奶奶", "language": "zh", "flags": ["elderly"],
                          "notes": "prefers Mandarin"},
                         {"number": "13800000002", "name": "Mr Lee", "flags": ["visually_impaired", "vip"]}],
              "base_version": v0}
    r = write.post("/api/v1/directory", json=change)
    assert r.status_code == 200 and r.json() == {"version": v0 + 1, "upserted": 2, "deleted": 0}
    assert write.post("/api/v1/directory", json=change).status_code == 412
    bad = {"upsert": [{"number": "13800000003"}, {"number": "not a number"}]}
    r = write.post("/api/v1/directory", json=bad)
    assert r.status_code == 422 and "upsert.1.number" in r.json()["message"]
    r = write.post("/api/v1/directory", json={"upsert": [{"number": "13800000003", "colour": "red"}]})
    assert r.status_code == 422
    assert write.get("/api/v1/directory/13800000003").status_code == 404  # nothing half-applied
    r = write.post("/api/v1/directory", json={"upsert": [{"number": "13800000003"}], "delete": ["13800000002"]})
    assert r.json()["version"] == v0 + 2
    page = write.get("/api/v1/directory", params={"limit": 1}).json()
    assert page["items"][0]["number"] == "13800000001" and page["next"] == "13800000001"
    rest = write.get("/api/v1/directory", params={"after": page["next"]}).json()["items"]
    assert [e["number"] for e in rest] == ["13800000003"]
    entry = write.get("/api/v1/directory/13800000001").json()
    assert entry["name"] == "王奶奶" and entry["flags"] == ["elderly"] and entry["version"] == v0 + 1


def _add_calls(db: Path, count: int, start: int = 0) -> None:
    with sqlite3.connect(db) as con:  # a second writer on the live store, as a call would be
        con.executemany(
            "INSERT INTO calls (call_uid, caller, called, started_at, answered_at, ended_at, language, ivr_path,"
            " digits, outcome, forward_target, hangup_cause) VALUES (?, '1001', 'ivr', ?, ?, ?, 'zh', '[]', '{}',"
            " 'completed', NULL, 'caller hung up')",
            [(f"seed-{start + i}", 1.0 + i, 1.1 + i, 2.0 + i) for i in range(count)])


def test_records_page_with_a_cursor_and_acknowledge(box: Box, write: httpx.Client) -> None:
    _add_calls(box.db, 25)
    seen: list[int] = []
    cursor = 0
    while True:
        page = write.get("/api/v1/calls", params={"after": cursor, "limit": 10}).json()
        if not page["items"]:
            assert page["next"] == cursor
            break
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen)) >= 25 and seen == sorted(seen)
    before = write.get("/api/v1/status").json()["records"]["calls"]
    r = write.post("/api/v1/calls/ack", json={"through": seen[9]})
    assert r.json() == {"acknowledged": 10}
    after = write.get("/api/v1/status").json()["records"]["calls"]
    assert after["uncollected"] == before["uncollected"] - 10
    assert write.post("/api/v1/calls/ack", json={"through": seen[9]}).json() == {"acknowledged": 0}
    assert write.get("/api/v1/callbacks").json() == {"items": [], "next": 0}
    assert write.get("/api/v1/messages/1/audio").status_code == 404


@pytest.mark.parametrize("method, path, kwargs", [
    ("put", "/api/v1/flow", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("put", "/api/v1/flow", {"json": {"document": "a string"}}),
    ("put", "/api/v1/flow", {"json": {"document": {}, "extra": 1}}),
    ("post", "/api/v1/calls/ack", {"json": {"through": "ten"}}),
    ("get", "/api/v1/calls", {"params": {"after": -1}}),
    ("get", "/api/v1/calls", {"params": {"limit": 100000}}),
    ("post", "/api/v1/directory", {"json": [1, 2, 3]}),
    ("post", "/api/v1/flow/rollback", {"json": {"target": 2**70, "base_version": 0}}),
])
def test_bad_input_gets_a_4xx_with_a_reason(write: httpx.Client, method: str, path: str, kwargs: dict) -> None:
    r = getattr(write, method)(path, **kwargs)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["message"]


def test_huge_json_body_is_refused_before_it_is_read(write: httpx.Client) -> None:
    r = write.put("/api/v1/flow", content=b"[" + b"1," * (3 * 2**20) + b"1]",
                  headers={"Content-Type": "application/json", "If-Match": '"v0"'})
    assert r.status_code == 413


def test_repeated_failures_from_one_address_are_slowed_down(box: Box, read: httpx.Client) -> None:
    bad = {"Authorization": "Bearer epbx_guess"}
    codes = [httpx.get(f"{box.api}/api/v1/status", headers=bad).status_code for _ in range(8)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    r = read.get("/api/v1/status")  # the same address, now even with a good token
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    # (the brake doubles per further failure; a success clears it)
    assert read.get("/api/v1/status").status_code == 200


def test_openapi_document_is_served_and_committed(box: Box) -> None:
    served = httpx.get(f"{box.api}/api/v1/openapi.json").json()
    committed = json.loads((ROOT / "firmware/edgepbx/api/openapi.json").read_text(encoding="utf-8"))
    assert served == committed, "run `make openapi` and commit firmware/edgepbx/api/openapi.json"
    assert {"/api/v1/status", "/api/v1/calls", "/api/v1/callbacks", "/api/v1/messages", "/health"} <= set(served["paths"])


def test_tls_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    box = Box(tmp_path, extra=f'tls_cert = "{cert}"\ntls_key = "{key}"')
    try:
        https = box.api.replace("http://", "https://")
        assert httpx.get(f"{https}/health", verify=ssl.create_default_context(cafile=str(cert))).json() == {"status": "ok"}
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{box.api}/health", timeout=3)  # plain HTTP is not spoken
    finally:
        assert box.stop() == 0, box.output


def test_voice_key_recordings_upload_list_delete(box: Box, write: httpx.Client, read: httpx.Client) -> None:
    body = wav_bytes(0.8, 16000, 1)
    headers = {"Content-Type": "audio/wav"}
    r = write.put("/api/v1/voicekeys/zh/lost_card/branch-1", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"language": "zh", "key": "lost_card", "name": "branch-1", "duration_s": 0.8}
    stored = Path(box.config).parent / "var/voicekeys/zh/lost_card/branch-1.wav"
    assert stored.is_file()
    assert read.get("/api/v1/voicekeys").json()["items"] == [r.json()]
    assert read.put("/api/v1/voicekeys/zh/lost_card/b2", content=body, headers=headers).status_code == 403
    assert write.put("/api/v1/voicekeys/zh/eleven/b2", content=body, headers=headers).status_code == 422
    assert write.put("/api/v1/voicekeys/zh/3/b2", content=wav_bytes(4.0, 8000, 1), headers=headers).status_code == 422
    assert write.put("/api/v1/voicekeys/zh/3/b2", content=b"not audio", headers=headers).status_code == 415
    assert write.delete("/api/v1/voicekeys/zh/lost_card/branch-1").status_code == 204
    assert not stored.exists() and write.delete("/api/v1/voicekeys/zh/lost_card/branch-1").status_code == 404


def test_uploaded_prompts_get_their_level_and_their_elderly_and_blind_versions(box: Box, write: httpx.Client) -> None:
    from edgepbx.dsp.level import active_speech_level
    from edgepbx.ivr.variants import read_pcm
    t = np.arange(int(1.2 * 44100)) / 44100
    tone = (20000 * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(tone.tobytes())
    r = write.put("/api/v1/prompts/en/promo_autumn", content=buf.getvalue(), headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    root = box.prompts / "en"  # type: ignore[attr-defined]
    assert abs(active_speech_level(read_pcm(root / "promo_autumn.wav")) + 26) < 0.2
    elderly = read_pcm(root / "elderly" / "promo_autumn.wav")
    assert abs(active_speech_level(elderly) + 20) < 0.2 and abs(len(elderly) / 8000 - 1.2 / 0.75) < 0.02
    assert (root / "visually_impaired" / "promo_autumn.wav").is_file()
    assert write.delete("/api/v1/prompts/en/promo_autumn").status_code == 204
    assert not list(root.rglob("promo_autumn.*"))

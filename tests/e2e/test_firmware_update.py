"""Firmware updates between real bundles built here (`edgepbx.update.bundle`, as `make bundle`
builds them): a good release switched with a call in progress, one that crashes on start, one
whose store migration fails, one that hangs without ever being healthy, refused bundles, and
kill -9 of the launcher and box at each step of an update. The box runs as systemd runs it:
the launcher, with the box as its child."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgepbx import __version__
from edgepbx.store.migrations import MIGRATIONS
from edgepbx.update.bundle import pack, stage_payload
from edgepbx.update.manifest import PAYLOAD, load_public_keys, machine_arch
from edgepbx.update.slots import Slots
from tests.e2e.support import Box, place_call

pytestmark = pytest.mark.e2e
BASE = __version__
HEALTH_S = 12


def _pem(key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class Bundles:
    """The payload staged once; each variant is hard links of it with a few files changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.key, self.public = _pem(Ed25519PrivateKey.generate())
        self.other_key, _ = _pem(Ed25519PrivateKey.generate())
        (root / "fleet.pub").write_bytes(self.public)
        self.base = root / "base"
        stage_payload(self.base / PAYLOAD)
        self._made: dict[tuple, Path] = {}

    def make(self, version: str, changes: dict[str, str] | None = None, key: bytes | None = None,
             arch: str | None = None, store_schema: int | None = None) -> Path:
        wanted = (version, tuple(sorted((changes or {}).items())), key, arch, store_schema)
        if wanted not in self._made:
            self._made[wanted] = self._make(version, changes, key, arch, store_schema)
        return self._made[wanted]

    def _make(self, version: str, changes: dict[str, str] | None, key: bytes | None, arch: str | None,
              store_schema: int | None) -> Path:
        work = self.root / f"work-{version}-{len(list(self.root.iterdir()))}"
        shutil.copytree(self.base / PAYLOAD, work / PAYLOAD, copy_function=os.link)
        init = work / PAYLOAD / "edgepbx/__init__.py"
        text = init.read_text().replace(f'__version__ = "{BASE}"', f'__version__ = "{version}"')
        init.unlink()
        init.write_text(text)
        for rel, append in (changes or {}).items():
            path = work / PAYLOAD / rel
            text = path.read_text() + append
            path.unlink()                      # a hard link: never write through it into the base
            path.write_text(text)
        return pack(work, self.root / "out", key or self.key, version, arch or machine_arch(),
                    store_schema if store_schema is not None else len(MIGRATIONS), compresslevel=1)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> Bundles:
    return Bundles(tmp_path_factory.mktemp("bundles"))


def installed(tmp: Path, bundles: Bundles) -> Path:
    """A box root with the base release (this tree's version) installed and current."""
    root = tmp / "opt"
    slots = Slots(root)
    base = bundles.make(BASE)
    manifest = slots.unpack(base, load_public_keys([bundles.root / "fleet.pub"]), "0", 0)
    slots.point("current", manifest.version)
    return root


def start(tmp: Path, root: Path, bundles: Bundles) -> Box:
    box = Box(tmp, launcher_root=root, extra=f"""
[firmware]
keys = ["{bundles.root / 'fleet.pub'}"]
health_timeout_s = {HEALTH_S}
""")
    return box


def api(box: Box, token: str, method: str, path: str, headers: dict | None = None, **kw) -> httpx.Response:
    return httpx.request(method, box.api + path, headers={"Authorization": f"Bearer {token}", **(headers or {})},
                         timeout=60, **kw)


def upload(box: Box, token: str, bundle: Path) -> httpx.Response:
    return api(box, token, "PUT", "/api/v1/firmware", content=bundle.read_bytes(),
               headers={"Content-Type": "application/octet-stream"})


def state(root: Path) -> dict:
    return json.loads((root / "update.json").read_text())


def wait_state(root: Path, wanted: set[str], timeout: float) -> tuple[dict, float]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            st = state(root)
        except (FileNotFoundError, ValueError):
            st = {}
        if st.get("state") in wanted:
            return st, time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"update.json never reached {wanted}: {st}")


def records(box: Box) -> int:
    with sqlite3.connect(box.db) as db:
        return db.execute("SELECT count(*) FROM calls").fetchone()[0]


def test_update_waits_for_the_call_then_comes_up_healthy(tmp_path: Path, bundles: Bundles) -> None:
    root = installed(tmp_path, bundles)
    box = start(tmp_path, root, bundles)
    try:
        box.wait_for(f"edgepbx {BASE} ready")
        token = box.create_token("central", "write")
        good = bundles.make("99.0.1")
        result: dict = {}
        caller = threading.Thread(target=lambda: result.update(
            place_call(box.uri, "1", tmp_path / "heard.wav", hold=9, cwd=tmp_path)))
        caller.start()
        time.sleep(2.5)                                  # the call is up
        t0 = time.monotonic()
        answer = upload(box, token, good)
        assert answer.status_code == 202, answer.text
        assert answer.json()["version"] == "99.0.1"
        time.sleep(2.0)
        status = api(box, token, "GET", "/api/v1/firmware").json()
        assert status["current"] == BASE and status["pending"] == "99.0.1", "switched with a call in progress"
        caller.join(60)
        assert result.get("answered"), "the call was cut or never answered"
        st, _ = wait_state(root, {"committed", "rolled_back"}, 60)
        healthy_s = time.monotonic() - t0
        assert st["state"] == "committed", st
        box.wait_for("edgepbx 99.0.1 ready")
        status = api(box, token, "GET", "/api/v1/firmware").json()
        assert status["release"] == status["current"] == "99.0.1" and status["previous"] == BASE
        assert records(box) == 1
        print(f"\ngood update: uploaded with a call in progress; switched after it; healthy {healthy_s:.1f} s after the upload")
    finally:
        assert box.stop() == 0, box.output


@pytest.mark.parametrize("kind", ["crash", "migration", "hang"])
def test_a_bad_release_is_rolled_back_with_the_store(tmp_path: Path, bundles: Bundles, kind: str) -> None:
    root = installed(tmp_path, bundles)
    box = start(tmp_path, root, bundles)
    try:
        box.wait_for(f"edgepbx {BASE} ready")
        token = box.create_token("central", "write")
        place_call(box.uri, "1", tmp_path / "heard.wav", hold=2, cwd=tmp_path)
        time.sleep(1.0)
        before = records(box)
        assert before == 1
        changes, schema = {
            "crash": ({"edgepbx/app.py": "\nraise RuntimeError('this release crashes on start')\n"}, None),
            "migration": ({"edgepbx/store/migrations.py": "\nMIGRATIONS.append('ALTER TABLE no_such_table ADD COLUMN x')\n"},
                          len(MIGRATIONS) + 1),
            "hang": ({"edgepbx/app.py": "\nimport time as _t\n_run = run_box\n"
                                         "async def run_box(config):\n    _t.sleep(3600)\n"}, None),
        }[kind]
        bad = bundles.make(f"99.1.{kind[0]}", changes, store_schema=schema)
        t0 = time.monotonic()
        assert upload(box, token, bad).status_code == 202
        st, _ = wait_state(root, {"rolled_back", "committed"}, HEALTH_S + 40)
        back_s = time.monotonic() - t0
        assert st["state"] == "rolled_back", st
        assert st["release"] == BASE and st["reason"].startswith(f"99.1.{kind[0]}:")
        assert Slots(root).link("current") == BASE
        box.wait_for(f"edgepbx {BASE} ready", timeout=30)
        deadline = time.monotonic() + 20
        while box.count(f"edgepbx {BASE} ready") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        alarms = api(box, token, "GET", "/api/v1/status").json()["alarms"]
        assert any("rolled back" in a for a in alarms), alarms
        with sqlite3.connect(box.db) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert records(box) == before
        result = place_call(box.uri, "1", tmp_path / "after.wav", hold=2, cwd=tmp_path)
        assert result["answered"]
        print(f"\n{kind}: rolled back {back_s:.1f} s after the upload ({st['reason']})")
    finally:
        assert box.stop() == 0, box.output


def test_refused_bundles_change_nothing(tmp_path: Path, bundles: Bundles) -> None:
    root = installed(tmp_path, bundles)
    box = start(tmp_path, root, bundles)
    try:
        box.wait_for(f"edgepbx {BASE} ready")
        token = box.create_token("central", "write")
        reader = box.create_token("reader", "read")
        tampered = bundles.make("99.2.0")
        blob = bytearray(tampered.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        (tmp_path / "tampered.bundle").write_bytes(bytes(blob))
        other_arch = "arm64" if machine_arch() != "arm64" else "amd64"
        cases = {
            "another fleet's key": (bundles.make("99.2.1", key=bundles.other_key), "signature"),
            "a damaged file": (tmp_path / "tampered.bundle", ""),
            "another architecture": (bundles.make("99.2.2", arch=other_arch), other_arch),
            "an older version": (bundles.make("0.0.9"), "not newer"),
            "not a bundle": (Path(__file__), "not a readable bundle"),
        }
        releases = sorted(p.name for p in (root / "releases").iterdir())
        for what, (path, reason) in cases.items():
            answer = upload(box, token, path)
            assert answer.status_code == 422, (what, answer.text)
            assert answer.json()["error"] == "bundle_refused" and reason in answer.json()["message"], (what, answer.text)
            assert sorted(p.name for p in (root / "releases").iterdir()) == releases, what
        assert upload(box, reader, bundles.make("99.2.3")).status_code == 403
        assert Slots(root).link("current") == BASE and not (root / "update.json").exists()
        # resumable: the second half first is refused with where to start; then it completes
        good = bundles.make("99.3.0").read_bytes()
        half = len(good) // 2
        h = {"Authorization": f"Bearer {token}", "Upload-Id": "feed01"}
        r = httpx.put(box.api + "/api/v1/firmware", content=good[half:], timeout=60,
                      headers={**h, "Content-Range": f"bytes {half}-{len(good) - 1}/{len(good)}"})
        assert r.status_code == 416 and r.json()["received"] == 0
        r = httpx.put(box.api + "/api/v1/firmware", content=good[:half], timeout=60,
                      headers={**h, "Content-Range": f"bytes 0-{half - 1}/{len(good)}"})
        assert r.status_code == 202 and r.json()["received"] == half
        r = httpx.put(box.api + "/api/v1/firmware", content=good[half:], timeout=60,
                      headers={**h, "Content-Range": f"bytes {half}-{len(good) - 1}/{len(good)}"})
        assert r.status_code == 202 and r.json()["version"] == "99.3.0", r.text
        st, _ = wait_state(root, {"committed", "rolled_back"}, 60)
        assert st["state"] == "committed"
    finally:
        assert box.stop() == 0, box.output


def test_kill_9_at_each_step_leaves_a_box_that_boots_one_release_or_the_other(tmp_path: Path, bundles: Bundles) -> None:
    """Power cuts: after staging, between the state write and the switch, during the trial,
    after the commit. Each time the launcher is started again on what the disk holds."""
    root = installed(tmp_path, bundles)
    box = start(tmp_path, root, bundles)
    box.wait_for(f"edgepbx {BASE} ready")
    token = box.create_token("central", "write")
    place_call(box.uri, "1", tmp_path / "heard.wav", hold=2, cwd=tmp_path)
    slots = Slots(root)
    keys = load_public_keys([bundles.root / "fleet.pub"])
    seen = []
    try:
        # 1. staged, not switched (a call holds the switch back), then the power goes
        good = bundles.make("99.4.0")
        slots.unpack(good, keys, BASE, len(MIGRATIONS))
        box.kill_group()
        box = start(tmp_path, root, bundles)
        box.wait_for(f"edgepbx {BASE} ready")
        seen.append(("staged", slots.link("current")))
        # 2. the state says 'trying' but `current` was never switched
        box.kill_group()
        snapshot = tmp_path / "box.db.before-99.4.0"
        with sqlite3.connect(box.db) as src, sqlite3.connect(snapshot) as dst:    # as the box takes it
            src.backup(dst)
        st = slots.read_state()
        st.state, st.release, st.previous, st.snapshot, st.store = "trying", "99.4.0", BASE, str(snapshot), str(box.db)
        st.switched_at, st.deadline_s = time.time(), HEALTH_S
        slots.write_state(st)
        box = start(tmp_path, root, bundles)
        box.wait_for(f"edgepbx {BASE} ready")
        assert slots.read_state().state == "rolled_back"
        seen.append(("state written, not switched", slots.link("current")))
        # 3. switched, and the power goes while the new release starts
        slots.begin_trial("99.4.0", snapshot, box.db, False, HEALTH_S)
        box.kill_group()
        box = start(tmp_path, root, bundles)
        box.wait_for("ready")
        st, _ = wait_state(root, {"committed", "rolled_back"}, HEALTH_S + 30)
        seen.append(("during the trial", slots.link("current")))
        # 4. after the commit
        box.kill_group()
        box = start(tmp_path, root, bundles)
        box.wait_for(f"edgepbx {slots.link('current')} ready")
        seen.append(("after the commit", slots.link("current")))
        assert records(box) == 1
        with sqlite3.connect(box.db) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert all(release in (BASE, "99.4.0") for _, release in seen), seen
        assert seen[0][1] == BASE and seen[1][1] == BASE and seen[3][1] == seen[2][1]
        print("\nkill -9 at each step: " + "; ".join(f"{step}: boots {release}" for step, release in seen))
    finally:
        box.stop()

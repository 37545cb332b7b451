"""`make install DESTDIR=...`: the files land where the unit expects them, twice over."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_install_into_a_destdir_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        done = subprocess.run(["make", "-s", "install", f"DESTDIR={tmp_path}"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    unit = (tmp_path / "etc/systemd/system/edgepbx.service").read_text()
    assert ("ExecStart=/opt/edgepbx/.venv/bin/edgepbx-launcher --root /var/lib/edgepbx/firmware -- "
            "run --config /etc/edgepbx/edgepbx.toml") in unit
    assert (tmp_path / "etc/udev/rules.d/99-edgepbx.rules").is_file()
    assert (tmp_path / "opt/edgepbx/firmware/edgepbx/app.py").is_file()
    assert not (tmp_path / "opt/edgepbx/.venv").exists() and not (tmp_path / "opt/edgepbx/.git").exists()
    config = tmp_path / "etc/edgepbx/edgepbx.toml"
    config.write_text(config.read_text() + "\n# a technician's change\n")
    subprocess.run(["make", "-s", "install", f"DESTDIR={tmp_path}"], cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert "a technician's change" in config.read_text()     # the config is never overwritten

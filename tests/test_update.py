"""Bundle checks without a running box: versions, signatures, what a tar may hold."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgepbx.update.bundle import pack
from edgepbx.update.manifest import BundleRefused, load_public_keys, machine_arch, version_key
from edgepbx.update.slots import Slots


def test_versions_order_as_numbers():
    assert version_key("1.10.0") > version_key("1.9.9") > version_key("1.9")
    assert version_key("2.0") > version_key("2.0rc1")


@pytest.fixture()
def fleet(tmp_path: Path):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pub = tmp_path / "fleet.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pem, load_public_keys([pub])


def bundle(tmp: Path, pem: bytes, files: dict[str, bytes], version: str = "2.0") -> Path:
    work = tmp / f"w{version}"
    for name, data in files.items():
        (work / "payload" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "payload" / name).write_bytes(data)
    return pack(work, tmp / "out", pem, version, machine_arch(), 1)


def test_a_good_bundle_is_unpacked_read_only_and_a_second_copy_is_refused(tmp_path: Path, fleet) -> None:
    pem, keys = fleet
    slots = Slots(tmp_path / "root")
    b = bundle(tmp_path, pem, {"edgepbx/__init__.py": b"x = 1\n"})
    assert slots.unpack(b, keys, "1.0", 1).version == "2.0"
    path = slots.payload("2.0") / "edgepbx/__init__.py"
    assert path.read_bytes() == b"x = 1\n" and not path.stat().st_mode & 0o222
    slots.point("current", "2.0")
    with pytest.raises(BundleRefused, match="in use"):
        slots.unpack(b, keys, "1.0", 1)
    with pytest.raises(BundleRefused, match="store is already at 5"):
        slots.unpack(bundle(tmp_path, pem, {"a": b"1"}, "3.0"), keys, "1.0", 5)


def test_a_file_added_after_signing_or_a_link_is_refused(tmp_path: Path, fleet) -> None:
    pem, keys = fleet
    slots = Slots(tmp_path / "root")
    good = bundle(tmp_path, pem, {"a.py": b"1"})
    extra = tmp_path / "extra.bundle"
    with tarfile.open(good) as src, tarfile.open(extra, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("payload/evil.py")
        info.size = 4
        dst.addfile(info, io.BytesIO(b"boom"))
    with pytest.raises(BundleRefused, match="not in the manifest"):
        slots.unpack(extra, keys, "1.0", 1)
    linked = tmp_path / "link.bundle"
    with tarfile.open(good) as src, tarfile.open(linked, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("payload/etc")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc"
        dst.addfile(info)
    with pytest.raises(BundleRefused, match="links"):
        slots.unpack(linked, keys, "1.0", 1)
    assert not any(p.name[0] != "." for p in (tmp_path / "root/releases").iterdir())

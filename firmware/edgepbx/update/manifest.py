"""A bundle's manifest and its Ed25519 signature, and the checks a box makes before it takes a
bundle: signed by a fleet key it holds, every file as the manifest says, this machine's
architecture, a newer version, and a store schema the release can open. No I/O but reading
the bundle's own files."""
from __future__ import annotations

import base64
import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

FORMAT = 1
MANIFEST, SIGNATURE, PAYLOAD = "manifest.json", "manifest.sig", "payload"
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class BundleRefused(Exception):
    """The bundle is not taken; the message says why (shown to central and the technician)."""


@dataclass(frozen=True)
class Manifest:
    version: str
    arch: str                 # Debian's name: amd64, arm64
    store_schema: int         # the store schema this release migrates to
    files: dict[str, str]     # path under payload/ -> SHA-256 hex
    python: str = "3.11"

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "version": self.version, "arch": self.arch, "python": self.python,
                           "store_schema": self.store_schema, "files": self.files},
                          sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise BundleRefused(f"manifest format {doc.get('format')!r}; this box reads format {FORMAT}")
            files = doc["files"]
            if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
                raise BundleRefused("manifest: files must map paths to SHA-256")
            return cls(str(doc["version"]), str(doc["arch"]), int(doc["store_schema"]), files, str(doc.get("python", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleRefused(f"manifest unreadable: {exc}") from None


def machine_arch() -> str:
    return ARCHES.get(platform.machine(), platform.machine())


def version_key(version: str) -> tuple:
    """'1.10.2' > '1.9.7'; a non-numeric part sorts below any number ('1.0rc1' < '1.0')."""
    out = []
    for part in version.replace("-", ".").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append((int(digits) if digits and digits == part else -1, part))
    return tuple(out)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sign(manifest: bytes, private_pem: bytes) -> bytes:
    key = load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key must be Ed25519")
    return base64.b64encode(key.sign(manifest)) + b"\n"


def load_public_keys(paths: list[Path]) -> list[Ed25519PublicKey]:
    keys = []
    for path in paths:
        key = load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path}: not an Ed25519 public key")
        keys.append(key)
    return keys


def verify_signature(manifest: bytes, signature: bytes, keys: list[Ed25519PublicKey]) -> None:
    if not keys:
        raise BundleRefused("this box holds no fleet key ([firmware] keys): it takes no bundle")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except ValueError:
        raise BundleRefused("signature unreadable") from None
    for key in keys:
        try:
            key.verify(raw, manifest)
            return
        except InvalidSignature:
            continue
    raise BundleRefused("signature does not match any fleet key (unsigned, tampered, or another fleet's)")


def check_unpacked(root: Path, keys: list[Ed25519PublicKey], running_version: str, store_schema: int,
                   allow_same: bool = False) -> Manifest:
    """The checks on an unpacked bundle at `root`; returns its manifest or raises BundleRefused."""
    try:
        raw, sig = (root / MANIFEST).read_bytes(), (root / SIGNATURE).read_bytes()
    except FileNotFoundError as exc:
        raise BundleRefused(f"not a bundle: {Path(exc.filename).name} missing") from None
    verify_signature(raw, sig, keys)
    manifest = Manifest.from_json(raw)
    if manifest.arch != machine_arch():
        raise BundleRefused(f"bundle is for {manifest.arch}; this box is {machine_arch()}")
    newer = version_key(manifest.version) > version_key(running_version)
    if not newer and not (allow_same and manifest.version == running_version):
        raise BundleRefused(f"bundle version {manifest.version} is not newer than the running {running_version}")
    if manifest.store_schema < store_schema:
        raise BundleRefused(f"bundle knows store schema {manifest.store_schema}; the store is already at {store_schema}")
    payload = root / PAYLOAD
    present = {str(p.relative_to(payload)) for p in payload.rglob("*") if p.is_file() or p.is_symlink()}
    listed = set(manifest.files)
    if present - listed:
        raise BundleRefused(f"files not in the manifest: {sorted(present - listed)[:3]}")
    for name, digest in manifest.files.items():
        path = payload / name
        if ".." in Path(name).parts or path.is_symlink() or not path.is_file():
            raise BundleRefused(f"{name}: missing or not a plain file")
        if sha256_file(path) != digest:
            raise BundleRefused(f"{name}: SHA-256 differs from the manifest (tampered or damaged)")
    return manifest

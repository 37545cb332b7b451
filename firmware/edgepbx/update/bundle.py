"""Builds a signed release bundle (`make bundle`): the firmware package with its compiled
modules, its Python dependencies, the built pjsua2 binding, the default prompts, a manifest
(version, architecture, store schema, SHA-256 of every file) and an Ed25519 signature over
the manifest, in one tar.

    python -m edgepbx.update.bundle --key fleet.pem --out dist/ [--arch arm64 --site DIR]
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from edgepbx import __version__
from edgepbx.store.migrations import MIGRATIONS
from edgepbx.update.manifest import MANIFEST, PAYLOAD, SIGNATURE, Manifest, machine_arch, sha256_file, sign

PACKAGE = Path(__file__).resolve().parents[1]
SKIP = re.compile(r"(__pycache__|\.pyc$|\.pyo$|/tests?/|\.dist-info/RECORD$)")


def runtime_distributions(root: str = "edgepbx", site: Path | None = None) -> list[md.Distribution]:
    """The distributions `root` needs at run time (its requirements without extras,
    recursively), found in `site` (another architecture's site-packages) or this Python's."""
    seen: dict[str, md.Distribution] = {}
    todo = [_name(r) for r in md.requires(root) or [] if "extra ==" not in r] if site else [root]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        found = [d for d in md.distributions(path=[str(site)]) if _key(d.metadata["Name"]) == key] if site else []
        try:
            dist = found[0] if site else md.distribution(name)
        except (md.PackageNotFoundError, IndexError):
            continue
        if site and not found:
            continue
        seen[key] = dist
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            if ";" in req and not _marker_ok(req.split(";", 1)[1]):
                continue
            todo.append(_name(req))
    return [d for k, d in seen.items() if k != root]


def _name(requirement: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _marker_ok(marker: str) -> bool:
    try:
        from packaging.markers import Marker
        return Marker(marker).evaluate()
    except Exception:  # noqa: BLE001 - without packaging, keep the requirement
        return True


def stage_payload(payload: Path, site_packages: Path | None = None, package: Path = PACKAGE) -> None:
    """Copies what a release runs into `payload`: edgepbx/ and site/ (dependencies, pjsua2).
    For another architecture: its site-packages and its build of the package."""
    site = Path(site_packages or sysconfig.get_paths()["purelib"])
    shutil.copytree(package, payload / "edgepbx", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    target = payload / "site"
    target.mkdir(parents=True)
    for dist in runtime_distributions(site=site_packages):
        for file in dist.files or []:
            rel = str(file)
            if rel.startswith("..") or SKIP.search("/" + rel):
                continue
            src = site / rel
            if src.is_file():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / rel)
    for src in list(site.glob("pjsua2.py")) + list(site.glob("_pjsua2*.so")):
        shutil.copy2(src, target / src.name)


def pack(payload_parent: Path, out_dir: Path, key_pem: bytes, version: str, arch: str,
         store_schema: int = len(MIGRATIONS), compresslevel: int = 6) -> Path:
    """Manifest, signature and tar of `payload_parent`/payload; returns the bundle's path."""
    payload = payload_parent / PAYLOAD
    files = {str(p.relative_to(payload)): sha256_file(p) for p in sorted(payload.rglob("*")) if p.is_file()}
    manifest = Manifest(version, arch, store_schema, files, f"{sys.version_info[0]}.{sys.version_info[1]}").to_json()
    (payload_parent / MANIFEST).write_bytes(manifest)
    (payload_parent / SIGNATURE).write_bytes(sign(manifest, key_pem))
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = out_dir / f"edgepbx-{version}-{arch}.bundle"
    tmp = bundle.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=compresslevel) as tar:
        for name in (MANIFEST, SIGNATURE, PAYLOAD):
            tar.add(payload_parent / name, arcname=name)
    tmp.replace(bundle)
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", type=Path, required=True, help="the fleet's Ed25519 private key (PEM)")
    parser.add_argument("--out", type=Path, default=Path("dist"))
    parser.add_argument("--version", default=__version__)
    parser.add_argument("--arch", default=machine_arch(), help="amd64 or arm64 (with --site of that architecture)")
    parser.add_argument("--site", type=Path, help="site-packages to take dependencies and pjsua2 from")
    parser.add_argument("--package", type=Path, default=PACKAGE, help="the edgepbx package (with its compiled modules) to ship")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stage_payload(Path(tmp) / PAYLOAD, args.site, args.package)
        bundle = pack(Path(tmp), args.out, args.key.read_bytes(), args.version, args.arch)
    print(bundle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

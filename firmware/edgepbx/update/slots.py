"""Releases side by side (A/B) under one root, and the update state that survives power cuts.

    ROOT/releases/<version>/   one unpacked bundle each (manifest, signature, payload/)
    ROOT/current, ROOT/previous symlinks to a release: `current` is what the launcher runs
    ROOT/update.json           where an update stands (written atomically: temp, fsync, rename)

Every change is one rename, so a power cut at any moment leaves `current` naming a complete
release: the old one or the new one. A release is unpacked into a temporary directory and
renamed into place only once it verifies.
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgepbx.update.manifest import PAYLOAD, BundleRefused, Manifest, check_unpacked

KEEP_RELEASES = 3          # current, previous and one more; older ones are deleted
MAX_BUNDLE_BYTES = 512 * 1024 * 1024


@dataclass
class UpdateState:
    state: str = "idle"           # idle, trying, committed, rolled_back
    release: str = ""             # the release being tried (or last committed)
    previous: str = ""            # what to go back to
    snapshot: str = ""            # the store copy taken just before the switch
    store: str = ""               # the store file the snapshot restores
    central_was_up: bool = False  # the new release must see central again before it commits
    deadline_s: float = 120.0     # to come up healthy, from the switch
    switched_at: float = 0.0
    attempts: int = 0             # starts of the release under trial
    reason: str = ""              # why the last trial failed (an alarm until acknowledged)
    acknowledged: bool = True
    history: list = field(default_factory=list)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Slots:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / "releases"
        self.state_path = root / "update.json"

    # ---- state -----------------------------------------------------------------------------
    def read_state(self) -> UpdateState:
        try:
            doc = json.loads(self.state_path.read_text())
            known = {k: v for k, v in doc.items() if k in UpdateState.__dataclass_fields__}
            return UpdateState(**known)
        except (FileNotFoundError, ValueError, TypeError):
            return UpdateState()

    def write_state(self, state: UpdateState) -> None:
        state.history = state.history[-20:]
        write_atomic(self.state_path, json.dumps(asdict(state), indent=1).encode())

    # ---- releases --------------------------------------------------------------------------
    def link(self, name: str) -> str:
        """The release a link (current, previous) names, or ''."""
        try:
            return Path(os.readlink(self.root / name)).name
        except OSError:
            return ""

    def release_dir(self, release: str) -> Path:
        return self.releases / release

    def payload(self, release: str) -> Path:
        return self.release_dir(release) / PAYLOAD

    def point(self, name: str, release: str) -> None:
        """Atomically make link `name` point at `release` (symlink to a temp name, rename)."""
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(Path("releases") / release, tmp)
        os.replace(tmp, self.root / name)
        fsync_dir(self.root)

    def unpack(self, bundle: Path, keys, running_version: str, store_schema: int,
               allow_same: bool = False) -> Manifest:
        """Verify `bundle` (a tar) and put it in releases/<version>; nothing changes if refused."""
        if bundle.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleRefused(f"bundle over {MAX_BUNDLE_BYTES >> 20} MB")
        self.releases.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.releases))
        try:
            try:
                with tarfile.open(bundle) as tar:
                    for member in tar.getmembers():
                        if not (member.isfile() or member.isdir()):
                            raise BundleRefused(f"{member.name}: links and devices are not allowed in a bundle")
                        if Path(member.name).is_absolute() or ".." in Path(member.name).parts:
                            raise BundleRefused(f"{member.name}: a path outside the bundle")
                    # Debian 12's Python 3.11.2 has no extraction filters (3.11.4+): the checks above
                    # stand in for them there; where they exist they check again
                    if hasattr(tarfile, "data_filter"):
                        tar.extractall(staging, filter="data")
                    else:
                        tar.extractall(staging)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise BundleRefused(f"not a readable bundle: {exc}") from None
            manifest = check_unpacked(staging, keys, running_version, store_schema, allow_same)
            target = self.release_dir(manifest.version)
            if manifest.version in (self.link("current"), self.link("previous")):
                raise BundleRefused(f"release {manifest.version} is installed and in use")
            if target.exists():
                shutil.rmtree(target)
            for path in staging.rglob("*"):          # what was verified is what runs: read-only
                if path.is_file():
                    path.chmod(0o444 if not os.access(path, os.X_OK) else 0o555)
            os.replace(staging, target)
            fsync_dir(self.releases)
            return manifest
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def prune(self) -> None:
        keep = {self.link("current"), self.link("previous")}
        others = sorted((p for p in self.releases.iterdir() if p.is_dir() and not p.name.startswith(".")
                         and p.name not in keep), key=lambda p: p.stat().st_mtime)
        for path in others[: max(0, len(others) - (KEEP_RELEASES - len(keep)))]:
            shutil.rmtree(path, ignore_errors=True)

    # ---- switching -------------------------------------------------------------------------
    def begin_trial(self, release: str, snapshot: Path, store: Path, central_was_up: bool, deadline_s: float) -> UpdateState:
        """Point `current` at `release` with the state saying how to come back. The state is
        written first: a power cut between the two leaves 'trying' with `current` still the
        old release, which the launcher reads as a trial that never started (and ends)."""
        old = self.link("current")
        state = self.read_state()
        state = UpdateState("trying", release, old, str(snapshot), str(store), central_was_up, deadline_s,
                            time.time(), 0, "", True, state.history + [{"at": time.time(), "event": f"switch {old} -> {release}"}])
        self.write_state(state)
        if old:
            self.point("previous", old)
        self.point("current", release)
        return state

    def commit(self, note: str) -> None:
        state = self.read_state()
        if state.state != "trying":
            return
        state.state = "committed"
        state.history.append({"at": time.time(), "event": f"{state.release} healthy: {note}"})
        self.write_state(state)

    def roll_back(self, reason: str) -> UpdateState:
        """Back to the previous release and the store as it was before the switch."""
        state = self.read_state()
        failed, back = state.release, state.previous
        if back and self.release_dir(back).is_dir():
            self.point("current", back)
        if state.snapshot and state.store and Path(state.snapshot).is_file():
            restore_store(Path(state.snapshot), Path(state.store))
        state.state, state.release, state.reason, state.acknowledged = "rolled_back", back, f"{failed}: {reason}", False
        state.history.append({"at": time.time(), "event": f"rolled back {failed} -> {back}: {reason}"})
        self.write_state(state)
        return state


def restore_store(snapshot: Path, store: Path) -> None:
    """The store file replaced by the snapshot, atomically; its WAL and shared memory go (they
    belong to the store being replaced)."""
    tmp = store.with_name(f".{store.name}.restore")
    shutil.copyfile(snapshot, tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    os.replace(tmp, store)
    fsync_dir(store.parent)

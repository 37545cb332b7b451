"""The running box's side of updates: takes a bundle (API upload, console path), verifies and
stages it, switches when no call is in progress (inside the maintenance window, if one is set)
after a store snapshot, and, in a release on trial, checks its own health and commits.

The switch itself is the launcher's to finish: this side writes update.json and `current`,
then asks the box to stop with RESTART_EXIT; the launcher starts the new release and watches it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from edgepbx import __version__
from edgepbx.central.hours import parse_window, within
from edgepbx.config import Config
from edgepbx.store import Store
from edgepbx.store.migrations import MIGRATIONS
from edgepbx.update.manifest import BundleRefused, Manifest, load_public_keys
from edgepbx.update.slots import Slots

log = logging.getLogger("edgepbx.firmware")
IDLE_POLL_S = 1.0
HEALTH_POLL_S = 0.5


class NotManaged(Exception):
    """The box runs without the launcher (no [firmware] root, no $EDGEPBX_ROOT)."""


def firmware_root(config: Config) -> Path | None:
    root = config.firmware.root or os.environ.get("EDGEPBX_ROOT", "")
    return Path(root) if root else None


def release_on_trial(config: Config) -> str:
    """This process's release when it is on trial (update.json 'trying' for it), else ''."""
    root, release = firmware_root(config), os.environ.get("EDGEPBX_RELEASE", "")
    if not root or not release:
        return ""
    state = Slots(root).read_state()
    return release if state.state == "trying" and state.release == release else ""


class FirmwareService:
    def __init__(self, config: Config, store: Store, active_calls: Callable[[], int],
                 restart: Callable[[str], None], central: Any = None, alarms: dict[str, str] | None = None) -> None:
        self.config = config
        self.store = store
        self.active_calls = active_calls
        self.restart = restart
        self.central = central
        self.alarms = alarms if alarms is not None else {}
        root = firmware_root(config)
        self.slots = Slots(root) if root else None
        self.release = os.environ.get("EDGEPBX_RELEASE", "")
        self.pending: str | None = None       # staged release waiting for an idle moment
        self._switching: asyncio.Task | None = None
        self.health_note = ""
        self.uploads = (root / "incoming") if root else None

    # ---- status ----------------------------------------------------------------------------
    def status(self) -> dict:
        out: dict = {"version": __version__, "release": self.release or None, "managed": self.slots is not None}
        if self.slots is None:
            return out
        state = self.slots.read_state()
        releases = sorted(p.name for p in self.slots.releases.glob("*") if p.is_dir() and not p.name.startswith(".")) \
            if self.slots.releases.is_dir() else []
        out.update(current=self.slots.link("current") or None, previous=self.slots.link("previous") or None,
                   releases=releases, pending=self.pending, state=state.state, reason=state.reason or None,
                   health=self.health_note or None, history=state.history[-5:],
                   window=self.config.firmware.window or None)
        return out

    def raise_alarms(self) -> None:
        """A rollback the box did by itself stays an alarm until a technician or central acknowledges it."""
        if self.slots is None:
            return
        state = self.slots.read_state()
        if state.state == "rolled_back" and not state.acknowledged:
            self.alarms["firmware"] = f"firmware update rolled back: {state.reason}"

    def acknowledge(self) -> None:
        if self.slots is None:
            return
        state = self.slots.read_state()
        state.acknowledged = True
        self.slots.write_state(state)
        self.alarms.pop("firmware", None)

    # ---- taking a bundle -------------------------------------------------------------------
    def _need_slots(self) -> Slots:
        if self.slots is None:
            raise NotManaged("this box runs without the update launcher ([firmware] root / $EDGEPBX_ROOT): "
                             "it cannot take a firmware bundle")
        return self.slots

    async def install(self, bundle: Path) -> Manifest:
        """Verify and stage `bundle`, then switch at the next idle moment. Raises BundleRefused."""
        slots = self._need_slots()
        try:
            keys = load_public_keys([Path(k) for k in self.config.firmware.keys])
        except (OSError, ValueError) as exc:
            raise BundleRefused(f"fleet key unreadable: {exc}") from None
        schema = await self.store.schema_version()
        manifest = await asyncio.to_thread(slots.unpack, bundle, keys, __version__, schema)
        log.info("firmware %s (%s) verified and staged; switching when no call is in progress%s", manifest.version,
                 manifest.arch, f" inside {self.config.firmware.window}" if self.config.firmware.window else "")
        self.switch_when_idle(manifest.version)
        return manifest

    def upload_path(self, upload_id: str) -> Path:
        self._need_slots()
        assert self.uploads is not None
        if not upload_id.replace("-", "").isalnum() or len(upload_id) > 64:
            raise BundleRefused("bad upload id")
        self.uploads.mkdir(parents=True, exist_ok=True)
        return self.uploads / f"{upload_id}.part"

    @staticmethod
    def new_upload_id() -> str:
        return uuid.uuid4().hex

    def switch_when_idle(self, release: str) -> None:
        self.pending = release
        if self._switching is None or self._switching.done():
            self._switching = asyncio.get_running_loop().create_task(self._switch_when_idle(), name="firmware-switch")

    def rollback_now(self) -> str:
        """The technician's `firmware rollback`: back to the previous release when idle."""
        slots = self._need_slots()
        previous = slots.link("previous")
        if not previous:
            raise BundleRefused("no previous release to go back to")
        self.pending = f"rollback:{previous}"
        if self._switching is None or self._switching.done():
            self._switching = asyncio.get_running_loop().create_task(self._switch_when_idle(), name="firmware-switch")
        return previous

    async def _switch_when_idle(self) -> None:
        window = parse_window(self.config.firmware.window) if self.config.firmware.window else None
        while self.active_calls() > 0 or (window is not None and not within(window, time.localtime())):
            await asyncio.sleep(IDLE_POLL_S)
        slots = self._need_slots()
        target = self.pending or ""
        if target.startswith("rollback:"):
            back = target.split(":", 1)[1]
            old = slots.link("current")
            slots.point("current", back)
            if old:
                slots.point("previous", old)
            state = slots.read_state()
            state.state, state.release, state.reason = "committed", back, ""
            state.history.append({"at": time.time(), "event": f"rolled back {old} -> {back} on request"})
            slots.write_state(state)
            self.restart(f"firmware rollback to {back}")
            return
        snapshot = self.store.path.with_name(f"{self.store.path.name}.before-{target}")
        await self.store.snapshot(snapshot)
        central_up = bool(self.central is not None and getattr(self.central, "state", "") == "up")
        slots.begin_trial(target, snapshot, self.store.path, central_up, self.config.firmware.health_timeout_s)
        log.info("firmware: switching to %s (store snapshot %s; central %s)", target, snapshot.name,
                 "up" if central_up else "not up")
        self.restart(f"firmware update to {target}")

    # ---- a release on trial ----------------------------------------------------------------
    async def confirm_health(self, stack_healthy: Callable[[], bool]) -> None:
        """In a release on trial: commit once every check passes (the launcher's deadline is the limit)."""
        if self.slots is None:
            return
        state = self.slots.read_state()
        if state.state != "trying" or state.release != self.release:
            return
        while True:
            problem = await self._health_problem(stack_healthy, state.central_was_up)
            if problem is None:
                break
            self.health_note = problem
            await asyncio.sleep(HEALTH_POLL_S)
        self.health_note = "healthy"
        self.slots.commit("ready, watchdog fed, SIP answers, store migrated" + (", central reachable" if state.central_was_up else ""))
        log.info("firmware %s is healthy: committed", self.release)
        self.slots.prune()

    async def _health_problem(self, stack_healthy: Callable[[], bool], central_was_up: bool) -> str | None:
        if "store" in self.alarms:
            return "the store was replaced at start"
        if await self.store.schema_version() != len(MIGRATIONS):
            return "store not migrated"
        if not stack_healthy():
            return "the SIP stack's heartbeat is stale"
        if not await asyncio.to_thread(sip_answers, self.config):
            return "SIP does not answer an OPTIONS"
        if central_was_up and getattr(self.central, "state", "") != "up":
            return "central not reachable again yet"
        return None


def sip_answers(config: Config, timeout_s: float = 2.0) -> bool:
    """An OPTIONS to the box's own SIP port over UDP gets a SIP response."""
    host = config.sip.listen.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        target = f"[{host}]" if family == socket.AF_INET6 else host
        message = (f"OPTIONS sip:health@{target}:{config.sip.listen.port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {target}:{port};branch=z9hG4bK{tag};rport\r\n"
                   f"Max-Forwards: 70\r\nTo: <sip:health@{target}>\r\nFrom: <sip:health@{target}>;tag={tag}\r\n"
                   f"Call-ID: health-{tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        try:
            sock.sendto(message.encode(), (host, config.sip.listen.port))
            data, _ = sock.recvfrom(4096)
        except OSError:
            return False
    return data.startswith(b"SIP/2.0 ")

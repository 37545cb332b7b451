"""What a technician can do on the console. Each command returns text; none blocks the box
(slow work runs in a thread or a subprocess), so calls are never disturbed."""
from __future__ import annotations

import asyncio
import json
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from edgepbx import __version__
from edgepbx.config import ConfigError, default_config_text, is_secret
from edgepbx.config_edit import ConfigEditor, masked
from edgepbx.console.logbuffer import LogBuffer

TREE: dict[str, Any] = {
    "show": {
        "status": "the box at a glance: calls, lines, central, store, alarms",
        "calls": "calls in progress",
        "lines": "the phone lines and their state",
        "central": "the link to the call center, routing mode, expected wait",
        "config": "the running config",
        "log": "the last 40 log lines",
        "version": "software versions",
        "network": "interfaces and addresses",
        "alarms": "what needs attention",
        "sip": "who may call the box; refused requests by reason and source; blocked sources",
        "sms": "the SMS modem (SIM, registration, signal) and the text queue",
    },
    "log": {"follow": "the log as it happens (Ctrl-C stops)"},
    "test": {"call": {"*": "URI: place a test call and report what was heard"},
             "sms": {"*": "NUMBER: queue a test text to a mobile (see 'show sms')"}},
    "mode": {"auto": "route by the central link", "local": "answer everything locally (survivable mode)",
             "central": "forward to central even if probes fail"},
    "config": {
        "set": {"*": "SECTION.KEY VALUE: change the candidate config (validated)"},
        "diff": "candidate against running",
        "commit": {"confirmed": {"*": "MINUTES: roll back unless 'config confirm' in time"}},
        "confirm": "keep a 'commit confirmed' change",
        "rollback": "back to the previous config (restarts)",
    },
    "firmware": {
        "status": "running version and release, releases installed, where an update stands",
        "install": {"*": "PATH: verify a signed bundle (USB stick, file) and switch to it when no call is in progress"},
        "rollback": "back to the previous release (when no call is in progress)",
        "acknowledge": "clear the alarm of an update the box rolled back by itself",
    },
    "reboot": "restart the edgepbx service (calls in progress are ended)",
    "factory-reset": "factory config (records are kept); asks for confirmation",
    "logout": "end the session",
}


class Commands:
    def __init__(self, box: Any, calls: Callable[[], list[dict]], log: LogBuffer, restart: Callable[[str], None],
                 config_path: Path | None) -> None:
        self.box = box
        self.calls = calls
        self.log = log
        self.restart = restart
        self.editor = ConfigEditor(config_path) if config_path is not None else None

    async def run(self, line: str, write: Callable[[str], Awaitable[None]]) -> str:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"% {exc}"
        if not words:
            return ""
        head, args = words[0], words[1:]
        handler = {"show": self._show, "log": self._log, "test": self._test, "mode": self._mode,
                   "config": self._config, "reboot": self._reboot, "factory-reset": self._factory,
                   "firmware": self._firmware,
                   "help": self._help}.get(head)
        if handler is None:
            return f"% unknown command {head!r}; '?' lists commands"
        try:
            return await handler(args, write)
        except ConfigError as exc:
            return "\n".join(f"% {line}" for line in str(exc).splitlines())

    @staticmethod
    def audit_text(line: str) -> str:
        """The command as the audit log keeps it: values of secret keys masked."""
        words = line.split()
        if len(words) >= 4 and words[:2] == ["config", "set"] and is_secret(words[2]):
            return " ".join(words[:3] + ["***"])
        return line

    async def _help(self, args: list[str], write) -> str:
        return "\n".join(f"  {k:<14} {v if isinstance(v, str) else ', '.join(v)}" for k, v in TREE.items())

    # ---- show -----------------------------------------------------------------------------
    async def _show(self, args: list[str], write) -> str:
        what = args[0] if args else ""
        box = self.box
        if what == "version":
            import pjsua2
            return (f"edgepbx {__version__}\npython {platform.python_version()} on {platform.machine()}\n"
                    f"pjsua2 {getattr(pjsua2, '__version__', 'pjproject 2.17')}")
        if what == "status":
            up = time.monotonic() - box.started_monotonic
            central = box.central
            lines = [f"edgepbx {__version__}, up {up / 3600:.1f} h, {box.active_calls()} call(s) in progress",
                     f"sip {box.config.sip.listen}: up",
                     f"central {box.config.central.uri or '(none)'}: {central.state if central else 'none'}, "
                     f"mode {central.mode if central else '-'}, routing {central.link.routing if central else 'local'}",
                     f"store {box.config.store.path}: {await self._uncollected()} record(s) not yet collected"]
            alarms = await self._alarms()
            lines.append("alarms: " + ("; ".join(alarms) if alarms else "none"))
            return "\n".join(lines)
        if what == "calls":
            calls = self.calls()
            if not calls:
                return "no calls"
            return "\n".join(f"{c['uid']}  from {c['caller']:<16} at {c['node']:<16} {c['state']:<11} {c['mode']:<17} "
                             f"{c['seconds']:5.0f} s" for c in calls)
        if what == "lines":
            return f"sip  {box.config.sip.listen}  up  ({box.active_calls()} of {box.config.sip.max_calls} legs)"
        if what == "central":
            central = box.central
            if central is None:
                return "no central link"
            link = central.link
            return (f"central {box.config.central.uri or '(none)'}\nstate {central.state}, mode {central.mode}, "
                    f"routing {link.routing}\nexpected wait {link.expected_wait(time.monotonic()):.0f} s")
        if what == "config":
            path = box.config.source
            return masked(Path(path).read_text(encoding="utf-8") if Path(path).is_file() else default_config_text())
        if what == "log":
            return "\n".join(list(self.log.lines)[-40:]) or "(empty)"
        if what == "network":
            if shutil.which("ip"):
                done = await asyncio.to_thread(subprocess.run, ["ip", "-brief", "address"], capture_output=True, text=True)
                return done.stdout.strip()
            return platform.node()
        if what == "sip":
            return self._sip()
        if what == "alarms":
            alarms = await self._alarms()
            return "\n".join(alarms) if alarms else "no alarms"
        if what == "sms":
            return await self._sms()
        return f"% show what? {', '.join(TREE['show'])}"

    def _sip(self) -> str:
        sip = self.box.config.sip
        trusted = ", ".join(sip.trusted) or "127.0.0.0/8 (loopback listen)"
        lines = [f"trusted: {trusted} (and central's hosts)", f"untrusted: {sip.untrusted}",
                 f"limits: {sip.invite_rate} new calls, {sip.calls_per_source} calls per source, "
                 f"unconfirmed calls hung up after {sip.confirm_timeout_s:g} s, floods blocked {sip.block_s:g} s"]
        admission = self.box.admission
        if admission is None:
            return "\n".join(lines)
        with admission.lock:
            summary = admission.summary(time.monotonic())
        refused = summary["refused"]
        lines.append(f"admitted {summary['admitted']}, refused " +
                     (", ".join(f"{n} {why}" for why, n in sorted(refused.items())) if refused else "none"))
        from edgepbx.sip.endpoint import strict_rtp_dropped
        lines.append(f"RTP from hosts other than a call's peer: {strict_rtp_dropped()} packet(s) dropped"
                     + ("" if self.box.config.sip.strict_rtp else " (strict_rtp is off: none are)"))
        for source, count in summary["refused_by_source"].items():
            lines.append(f"  {source:<16} {count} refused")
        for source, left in summary["blocked"].items():
            lines.append(f"  {source:<16} blocked, {left:.0f} s left")
        return "\n".join(lines)

    async def _uncollected(self) -> int:
        total = 0
        for kind in ("calls", "callbacks", "messages"):
            total += (await self.box.store.record_counts(kind))["uncollected"]
        return total

    async def _alarms(self) -> list[str]:
        out = []
        central = self.box.central
        if central is not None and self.box.config.central.uri and central.state == "down":
            out.append("central unreachable: calls answered locally (survivable mode)")
        if central is not None and central.mode == "local":
            out.append("mode local set by hand: nothing is forwarded")
        disk = shutil.disk_usage(Path(self.box.config.store.path).resolve().parent)
        if disk.free < self.box.config.store.min_free_mb * 1024 * 1024:
            out.append(f"disk nearly full: {disk.free // 2**20} MiB free")
        out.extend(self.box.alarm_lines() if hasattr(self.box, "alarm_lines") else [])
        sms = getattr(self.box, "sms", None)
        if sms is not None and sms.enabled and sms.modem.fault:
            out.append(f"SMS modem {sms.modem.state.replace('_', ' ')}: {sms.modem.last_error} (texts are kept queued)")
        admission = getattr(self.box, "admission", None)
        if admission is not None:
            with admission.lock:
                blocked = admission.blocked(time.monotonic())
            if blocked:
                out.append(f"SIP: {len(blocked)} source(s) blocked for flooding ({', '.join(list(blocked)[:5])})")
        forwards = self.box.forwards.alarm()
        if forwards:
            out.append(forwards)
        if self.editor is not None and self.editor.pending_deadline() is not None:
            left = self.editor.pending_deadline() - time.time()
            out.append(f"config commit waiting for 'config confirm' ({max(0, left) / 60:.1f} min left)")
        return out

    # ---- log follow, test call ------------------------------------------------------------
    async def _log(self, args: list[str], write) -> str:
        if args != ["follow"]:
            return "% log follow"
        q = self.log.follow()
        try:
            await write("following the log; Ctrl-C stops\r\n")
            while True:
                await write(await q.get() + "\r\n")
        finally:
            self.log.unfollow(q)

    async def _sms(self) -> str:
        sms = getattr(self.box, "sms", None)
        if sms is None or not sms.enabled:
            return "no SMS modem ([sms] device is empty)"
        st = await sms.status()
        signal = f"{st['signal_dbm']} dBm" if st["signal_dbm"] is not None else "unknown"
        lines = [f"modem {st['device']}: {st['state'].replace('_', ' ')} for {time.time() - st['since']:.0f} s",
                 f"SIM {st['sim'] or '?'}, network {st['registration'] or '?'}, signal {signal}",
                 f"texts: {st['queued']} queued, {st['sent']} sent, {st['failed']} given up"]
        if st["last_error"]:
            lines.append(f"last error: {st['last_error']}")
        return "\n".join(lines)

    async def _test(self, args: list[str], write) -> str:
        if len(args) == 2 and args[0] == "sms":
            sms = getattr(self.box, "sms", None)
            if sms is None or not sms.enabled:
                return "% no SMS modem ([sms] device is empty)"
            sms_id, why = await sms.send(args[1], f"edgepbx {self.box.config.box.name}: test text", "test")
            return f"test text {sms_id} queued to {args[1]} (see 'show sms')" if sms_id else f"% not sent: {why}"
        if len(args) != 2 or args[0] != "call" or not args[1].startswith(("sip:", "sips:")):
            return "% test call sip:USER@HOST[:PORT]  |  test sms NUMBER"
        await write(f"calling {args[1]} ...\r\n")
        with tempfile.TemporaryDirectory() as tmp:
            record = Path(tmp) / "heard.wav"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edgepbx.tools.call", args[1], "--hold", "4", "--wait", "1",
                "--record", str(record), "--timeout", "30", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            try:
                result = json.loads(out.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                return "% the test call could not be placed"
            heard = _loudness(record)
        if result.get("code") is None:
            return f"% not called: {result.get('reason', '')}"
        if not result.get("answered"):
            return f"not answered: {result.get('code')} {result.get('reason', '')}".strip()
        return (f"answered in {result['setup_ms']:.0f} ms; first audio after {result['first_audio_ms'] or 0:.0f} ms; "
                f"heard {heard}")

    # ---- mode, config, restart -------------------------------------------------------------
    async def _mode(self, args: list[str], write) -> str:
        if len(args) != 1 or args[0] not in ("auto", "local", "central") or self.box.central is None:
            return "% mode auto|local|central"
        await self.box.central.set_mode(args[0], "console")
        return f"mode {args[0]}"

    async def _config(self, args: list[str], write) -> str:
        if self.editor is None:
            return "% the box runs on the embedded default config; start it with --config FILE to change it"
        sub = args[0] if args else ""
        if sub == "set" and len(args) >= 3:
            return self.editor.set(args[1], " ".join(args[2:]))
        if sub == "diff":
            return "\n".join(self.editor.diff()) or "no changes"
        if sub == "commit":
            minutes = None
            if len(args) == 3 and args[1] == "confirmed":
                try:
                    minutes = float(args[2])
                except ValueError:
                    return "% config commit confirmed MINUTES"
                if not 0.01 <= minutes <= 60:
                    return "% MINUTES must be 0.01..60"
            elif len(args) != 1:
                return "% config commit [confirmed MINUTES]"
            result = self.editor.commit(minutes)
            self.restart("config commit")
            return result + "; restarting to apply it"
        if sub == "confirm":
            return self.editor.confirm()
        if sub == "rollback":
            result = self.editor.rollback()
            self.restart("config rollback")
            return result + "; restarting"
        return "% config set KEY VALUE | diff | commit [confirmed MINUTES] | confirm | rollback"

    async def _firmware(self, args: list[str], write) -> str:
        from edgepbx.update.manifest import BundleRefused
        from edgepbx.update.service import NotManaged
        service = getattr(self.box, "firmware", None)
        if service is None:
            return "% this box takes no firmware updates"
        what = args[0] if args else "status"
        try:
            if what == "status":
                st = service.status()
                lines = [f"version {st['version']}, release {st.get('release') or '(base install)'}"]
                if not st["managed"]:
                    return lines[0] + "\nnot run by the update launcher: updates are not taken"
                lines.append(f"current {st['current']}, previous {st['previous'] or '-'}, installed: {', '.join(st['releases']) or '-'}")
                lines.append(f"update: {st['state']}" + (f" ({st['reason']})" if st.get("reason") else "")
                             + (f"; {st['pending']} waits for no call in progress" if st.get("pending") else ""))
                for h in st["history"]:
                    lines.append(f"  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(h['at']))} {h['event']}")
                return "\n".join(lines)
            if what == "install" and len(args) == 2:
                await write(f"verifying {args[1]} ...\r\n")
                manifest = await service.install(Path(args[1]))
                return (f"firmware {manifest.version} ({manifest.arch}) verified and staged; the box switches to it when "
                        "no call is in progress, and back by itself if it does not come up healthy")
            if what == "rollback":
                return f"going back to {service.rollback_now()} when no call is in progress"
            if what == "acknowledge":
                service.acknowledge()
                return "alarm cleared"
        except (BundleRefused, NotManaged, OSError) as exc:
            return f"% refused: {exc}"
        return "% firmware status | install PATH | rollback | acknowledge"

    async def _reboot(self, args: list[str], write) -> str:
        self.restart("reboot from the console")
        return "restarting"

    async def _factory(self, args: list[str], write) -> str:
        if args != ["YES-RESET"]:
            return ("factory-reset puts back the factory config and restarts; call records, callbacks and "
                    "messages are kept.\nTo go ahead, type: factory-reset YES-RESET")
        if self.editor is None:
            return "% the box already runs on the factory (embedded) config"
        result = self.editor.factory_reset()
        self.restart("factory reset")
        return result + "; restarting"


def _loudness(path: Path) -> str:
    import wave
    import numpy as np
    try:
        with wave.open(str(path)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    except (OSError, EOFError, wave.Error):
        return "nothing (no recording)"
    if len(pcm) == 0:
        return "nothing"
    loud = np.abs(pcm) > 300
    return f"{loud.mean() * len(pcm) / 8000:.1f} s of audio in {len(pcm) / 8000:.1f} s"

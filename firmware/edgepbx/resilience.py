"""What the box does instead of refusing to start.

A box in a branch nobody visits must answer calls whatever an operator (or a bad push from
afar) did to its files: one `DELETE /api/v1/prompts/...` used to stop survivable mode and the
next boot ("flow 'outage' names prompts with no audio"). Everything an operator can repair
later is repaired or replaced here, with an alarm that says what happened:

- a missing or unreadable prompt is spoken by the built-in synthesiser from the flow's text,
  or, without one, replaced by a short tone;
- a flow that cannot load falls back to the last flow that did (kept in the store), else to
  the built-in template;
- a store that cannot be opened is moved aside (kept for the technician) and a new one started.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from edgepbx.config import Config
from edgepbx.flows import ActiveFlow
from edgepbx.ivr.flow import Flow, FlowInvalid, flow_document, load_flow, read_flow
from edgepbx.ivr.prompts import RATE, PromptCatalogue, synthesise, write_wav
from edgepbx.store import Store

log = logging.getLogger("edgepbx")
Alarms = dict[str, str]
TONE_STAMP = "tone: the recording was missing and no synthesiser was there"
_LAST_GOOD = "last_good_flow:"        # store setting prefix, per flow role


async def open_store(path: Path, alarms: Alarms, move_aside: bool = True) -> Store:
    """The store at `path`; one that cannot be opened (corrupt, unreadable, a newer schema) is
    moved aside as PATH.broken-TIME (with its -wal and -shm) and a new one is started.
    `move_aside=False` (a firmware release on trial): raise instead, so the launcher goes back
    to the release that could open it, and the store snapshot."""
    try:
        store = await Store.open(path)
        await store.check_integrity()
        return store
    except Exception as exc:  # noqa: BLE001 - any reason: the box must answer calls
        if "store" in locals():
            await store.close()
        if not move_aside:
            raise
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.broken-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                source.replace(Path(f"{aside}{suffix}"))
        alarms["store"] = (f"store {path} could not be opened ({exc}); moved aside to {aside.name} and a new one "
                           "started: records from before are in that file")
        log.error("%s", alarms["store"])
        return await Store.open(path)


async def active_flow(store: Store, catalogue: PromptCatalogue, config: Config, alarms: Alarms) -> ActiveFlow:
    """The flow new calls start on; a bad one falls back to the last good one, then to the
    built-in template."""
    try:
        flows = await ActiveFlow.load(store, catalogue, config, check_prompts=False)
    except (FlowInvalid, OSError, ValueError, KeyError) as exc:
        fallback = await _last_good(store, "active") or _template(config.ivr.flow)
        alarms["flow"] = f"flow could not be loaded ({_short(exc)}); running {fallback.name!r} instead"
        log.error("%s", alarms["flow"])
        flows = ActiveFlow.fallback(store, catalogue, fallback)
    else:
        await _remember(store, "active", flows.current.document)
    return flows


async def system_flow(store: Store, role: str, name_or_path: str, alarms: Alarms) -> Flow:
    """A flow the box runs by itself (outage, wait, callback_call, csat), with the same fallbacks."""
    try:
        flow = load_flow(name_or_path)
    except (FlowInvalid, OSError, ValueError) as exc:
        flow = await _last_good(store, role) or load_flow(role)
        alarms[f"flow:{role}"] = f"{role} flow {name_or_path} could not be loaded ({_short(exc)}); using {flow.name!r}"
        log.error("%s", alarms[f"flow:{role}"])
        return flow
    if Path(str(name_or_path)).suffix:
        await _remember(store, role, flow_document(Path(name_or_path).read_text(encoding="utf-8"), str(name_or_path)))
    return flow


def _template(name: str) -> Flow:
    return load_flow(name if not Path(name).suffix else "ecommerce")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:297] + "..."


async def _remember(store: Store, role: str, document: object) -> None:
    try:
        await store.set_setting(_LAST_GOOD + role, json.dumps(document, ensure_ascii=False))
    except Exception:  # noqa: BLE001
        log.warning("could not keep the %s flow as the last good one", role, exc_info=True)


async def _last_good(store: Store, role: str) -> Flow | None:
    text = await store.setting(_LAST_GOOD + role)
    if not text:
        return None
    try:
        return read_flow(json.loads(text), f"last good {role} flow")
    except (FlowInvalid, ValueError):
        return None


def repair_prompts(catalogue: PromptCatalogue, flows: list[Flow], alarms: Alarms,
                   speak: Callable[[str, str, Path], None] = synthesise) -> list[str]:
    """Every prompt the flows play has audio: each missing or unreadable one is spoken by the
    synthesiser from its text, or replaced by a tone. Returns LANG/ID of each one repaired.
    Runs in a thread (synthesis takes a second or so a prompt)."""
    repaired = []
    for flow in flows:
        for pid in sorted(flow.prompt_ids()):
            for lang in flow.languages:
                path = catalogue.path(pid, lang)
                if readable_wav(path):
                    continue
                text = flow.prompts.get(pid, {}).get(lang, "")
                how = "spoken by the synthesiser"
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    if not text:
                        raise RuntimeError("no text")
                    speak(text, lang, path)
                    path.with_suffix(".txt").write_text(f"repaired\n{text}", encoding="utf-8")
                except Exception:  # noqa: BLE001 - no synthesiser, or it failed: a tone, not silence
                    write_wav(path, tone())
                    path.with_suffix(".txt").write_text(TONE_STAMP, encoding="utf-8")
                    how = "replaced by a tone"
                repaired.append(f"{lang}/{pid}")
                log.warning("prompt %s/%s was missing or unreadable: %s", lang, pid, how)
    if repaired:
        shown = ", ".join(repaired[:6]) + (" ..." if len(repaired) > 6 else "")
        alarms["prompts"] = (f"{len(repaired)} prompt(s) were missing or unreadable and are played from the "
                             f"synthesiser or as a tone: {shown}; upload them again")
    return repaired


def readable_wav(path: Path) -> bool:
    """A WAV the call stack can play: 8 kHz mono 16-bit with some audio."""
    try:
        with wave.open(str(path), "rb") as wav:
            return (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2) and wav.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def tone(seconds: float = 0.6, hz: float = 440.0) -> np.ndarray:
    """A short tone at about -20 dBov, faded in and out."""
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    return (3277 * envelope * np.sin(2 * np.pi * hz * t)).astype(np.int16)


async def repair_prompts_off_loop(catalogue: PromptCatalogue, flows: list[Flow], alarms: Alarms) -> list[str]:
    return await asyncio.to_thread(repair_prompts, catalogue, flows, alarms)

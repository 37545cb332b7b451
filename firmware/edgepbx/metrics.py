"""`GET /metrics`: the box in Prometheus text format, for central ops charting a fleet.

Counts since start live in `Counts` (the call tasks add to it, no I/O); everything else is read
at scrape time from the parts that already know it (the central link, admission control, the
store). `render` builds one scrape; it runs on the loop and reads the store once.
"""
from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from edgepbx import __version__
from edgepbx.sip.audio_stats import AUDIO


@dataclass
class Counts:
    """What happened since the box started, counted by the call tasks."""
    calls: Counter[str] = field(default_factory=Counter)          # by outcome
    forwards: Counter[str] = field(default_factory=Counter)       # answered, failed
    fallbacks: int = 0                                            # calls answered locally (survivable mode)
    keys: Counter[str] = field(default_factory=Counter)           # DTMF by source: rfc4733, inband, sip_info
    voice_keys: int = 0


class _Snapshot:
    """A prometheus_client collector over values gathered for one scrape."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families


def _counter(name: str, doc: str, label: str | None, values: dict[str, float] | float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label] if label else None)
    if isinstance(values, dict):
        for key, value in sorted(values.items()):
            family.add_metric([key], value)
    else:
        family.add_metric([], values)
    return family


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels) if labels else None)
    family.add_metric(list(labels.values()) if labels else [], value)
    return family


async def render(box: Any) -> bytes:
    """One scrape of `box` (edgepbx.api.context.BoxContext)."""
    counts: Counts = box.forwards.counts
    now = time.monotonic()
    queued = {kind: (await box.store.record_counts(kind))["uncollected"] for kind in ("callbacks", "messages")}
    store_bytes = sum(p.stat().st_size for p in box.store.path.parent.glob(box.store.path.name + "*") if p.is_file())
    disk = shutil.disk_usage(box.store.path.parent)
    families: list[Any] = [
        InfoMetricFamily("edgepbx_build", "firmware version and release", value={
            "version": __version__, "release": os.environ.get("EDGEPBX_RELEASE", "")}),
        _gauge("edgepbx_uptime_seconds", "seconds since the box started", now - box.started_monotonic),
        _gauge("edgepbx_calls_active", "calls in progress", box.active_calls()),
        _counter("edgepbx_calls", "calls ended since start, by outcome", "outcome", dict(counts.calls)),
        _counter("edgepbx_forwards", "forwards to central since start, by result", "result", dict(counts.forwards)),
        _counter("edgepbx_local_fallbacks", "calls answered locally because central was down or failed", None,
                 counts.fallbacks),
        _counter("edgepbx_dtmf_keys", "keys received since start, by how they came", "source", dict(counts.keys)),
        _counter("edgepbx_voice_keys", "spoken keys recognised since start", None, counts.voice_keys),
        _counter("edgepbx_audio_frames", "caller audio frames received by the taps", None, AUDIO.frames),
        _counter("edgepbx_audio_frames_late", "caller audio frames that came over 45 ms after the one before",
                 None, AUDIO.late),
        _gauge("edgepbx_store_bytes", "size of the store (with its WAL)", store_bytes),
        _gauge("edgepbx_disk_free_bytes", "free space where the store is", disk.free),
    ]
    waiting = GaugeMetricFamily("edgepbx_queued_records", "callbacks and messages not yet collected by central",
                                labels=["kind"])
    for kind, value in queued.items():
        waiting.add_metric([kind], value)
    families.append(waiting)
    central = box.central
    if central is not None:
        families.append(_gauge("edgepbx_central_up", "1 while central answers its probes (0: down or none)",
                               1.0 if central.state == "up" else 0.0))
        families.append(_gauge("edgepbx_routing_local", "1 while new calls are answered locally",
                               1.0 if central.link.routing == "local" else 0.0))
        rtt = central.probe_rtt_s()
        if rtt is not None:
            families.append(_gauge("edgepbx_central_probe_rtt_seconds", "last OPTIONS round trip to central", rtt))
        families.append(_counter("edgepbx_outage_seconds", "seconds new calls were answered locally since start",
                                 None, central.outage_seconds(now)))
    firmware = getattr(box, "firmware", None)
    if firmware is not None and firmware.slots is not None:
        state = firmware.slots.read_state()
        families.append(_gauge("edgepbx_firmware_rolled_back", "1 while a rolled-back update is not acknowledged",
                               1.0 if state.state == "rolled_back" and not state.acknowledged else 0.0))
    if box.admission is not None:
        with box.admission.lock:
            summary = box.admission.summary(now)
        families.append(_counter("edgepbx_sip_refused", "SIP requests refused since start, by reason", "reason",
                                 summary["refused"]))
        families.append(_counter("edgepbx_sip_admitted", "SIP requests admitted since start", None, summary["admitted"]))
        families.append(_gauge("edgepbx_sip_blocked_sources", "sources blocked for flooding now", len(summary["blocked"])))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry)

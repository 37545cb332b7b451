"""GET /health (no token) and GET /api/v1/status."""
from __future__ import annotations

import shutil
import time

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from edgepbx import __version__
from edgepbx.api.auth import need_read
from edgepbx.api.context import BoxContext
from edgepbx.api.sip import admission_out
from edgepbx.api.models import Disk, Health, Line, RecordCounts, SmsStatusOut, StatusOut
from edgepbx.metrics import render
from edgepbx.store import RECORD_KINDS

health = APIRouter()
metrics = APIRouter(tags=["status"], dependencies=[Depends(need_read)])
router = APIRouter(prefix="/api/v1", tags=["status"], dependencies=[Depends(need_read)])


@health.get("/health", response_model=Health, tags=["status"], summary="Liveness, without a token")
async def get_health() -> Health:
    return Health(status="ok")


@router.get("/status", response_model=StatusOut, summary="What the box is doing now")
async def get_status(request: Request) -> StatusOut:
    box: BoxContext = request.app.state.box
    store_dir = box.store.path.parent
    usage = shutil.disk_usage(store_dir)
    current = box.flows.current
    return StatusOut(
        box=box.config.box.name, version=__version__,
        uptime_s=round(time.monotonic() - box.started_monotonic, 3), started_at=box.started_wall,
        central=box.central.state, mode=box.central.mode, routing=box.central.link.routing,
        active_calls=box.active_calls(), expected_wait_s=box.central.link.expected_wait(time.monotonic()),
        flow_version=current.version, flow_name=current.flow.name, flow_sha256=current.sha256,
        directory_version=await box.store.directory_version(),
        lines=[Line(kind="sip", address=str(box.config.sip.listen), state="up")],
        disk=Disk(path=str(store_dir), free_bytes=usage.free, total_bytes=usage.total),
        last_sync=box.last_sync, forwards_failed_in_a_row=box.forwards.failed_in_a_row,
        last_forward_failure=box.forwards.last_failure, sip=admission_out(box), alarms=box.alarm_lines(),
        records={kind: RecordCounts(**await box.store.record_counts(kind)) for kind in RECORD_KINDS},
        sms=SmsStatusOut(**await box.sms.status()) if box.sms is not None and box.sms.enabled else None)


@metrics.get("/metrics", response_class=Response, summary="The box in Prometheus text format (a read token)",
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def get_metrics(request: Request) -> Response:
    return Response(await render(request.app.state.box), media_type=CONTENT_TYPE_LATEST)

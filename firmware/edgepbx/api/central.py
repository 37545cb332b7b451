"""The operator's mode (auto / local / central) and the record of central link transitions."""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query, Request

from edgepbx.api.auth import Client, need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.models import DialerIn, DialerOut, EventOut, EventPage, ModeIn, ModeOut, WaitIn, WaitOut

router = APIRouter(prefix="/api/v1", tags=["central"])


def _mode(box: BoxContext) -> ModeOut:
    return ModeOut(mode=box.central.mode, central=box.central.state, routing=box.central.link.routing)


@router.get("/mode", response_model=ModeOut, dependencies=[Depends(need_read)], summary="Mode, link and routing")
async def get_mode(request: Request) -> ModeOut:
    return _mode(request.app.state.box)


@router.put("/mode", response_model=ModeOut, summary="auto follows the link; local answers every call "
            "here (maintenance); central always tries central (each call still falls back alone)")
async def put_mode(body: ModeIn, request: Request, client: Client = Depends(need_write)) -> ModeOut:
    box: BoxContext = request.app.state.box
    await box.central.set_mode(body.mode, f"API token {client.name!r}")
    box.synced()
    return _mode(box)


@router.get("/events", response_model=EventPage, dependencies=[Depends(need_read)],
            summary="Link, routing and mode transitions with their causes, oldest first")
async def get_events(request: Request, after: int = Query(default=0, ge=0, le=2**62),
                     limit: int = Query(default=100, ge=1, le=1000)) -> EventPage:
    box: BoxContext = request.app.state.box
    rows = await box.store.events(after, limit)
    return EventPage(items=[EventOut(**r) for r in rows], next=rows[-1]["id"] if rows else after)


@router.put("/central/wait", response_model=WaitOut, dependencies=[Depends(need_write)],
            summary="Central's expected wait: above [central] announce_wait_over_s, callers hear it "
                    "before a forward and may take a callback instead")
async def put_wait(body: WaitIn, request: Request) -> WaitOut:
    box: BoxContext = request.app.state.box
    box.central.link.set_expected_wait(body.seconds, time.monotonic(), body.valid_for_s)
    box.synced()
    return WaitOut(seconds=body.seconds, announce_over_s=box.config.central.announce_wait_over_s)


def _dialer(box: BoxContext) -> DialerOut:
    c = box.config.central
    return DialerOut(enabled=box.dialer.enabled, callback_uri=c.callback_uri, attempts=c.callback_attempts,
                     retry_s=c.callback_retry_s, hours=c.callback_hours, in_hours=box.dialer.in_hours(),
                     international=c.callback_international)


@router.get("/dialer", response_model=DialerOut, dependencies=[Depends(need_read)],
            summary="Whether the box calls outage callers back itself")
async def get_dialer(request: Request) -> DialerOut:
    return _dialer(request.app.state.box)


@router.put("/dialer", response_model=DialerOut, dependencies=[Depends(need_write)],
            summary="Let the box call outage callers back itself once central is up (or stop it)")
async def put_dialer(body: DialerIn, request: Request) -> DialerOut:
    box: BoxContext = request.app.state.box
    await box.dialer.set_enabled(body.enabled)
    if body.enabled:
        box.dialer.kick()
    box.synced()
    return _dialer(box)

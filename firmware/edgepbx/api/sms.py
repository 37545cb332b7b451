"""POST /api/v1/sms: central's agents answer a text (the list, GET /api/v1/sms, is a record
kind like calls: see records.py)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from edgepbx.api.auth import need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import ErrorOut, SmsIn, SmsQueued

router = APIRouter(prefix="/api/v1", tags=["sms"])


@router.post("/sms", response_model=SmsQueued, status_code=202, dependencies=[Depends(need_write)],
             responses={code: {"model": ErrorOut} for code in (409, 422)},
             summary="Send a text (queued in the box's store; sent when the modem can)")
async def send_sms(body: SmsIn, request: Request) -> SmsQueued:
    box: BoxContext = request.app.state.box
    if box.sms is None or not box.sms.enabled:
        raise ApiError(409, "no_modem", "this box has no SMS modem ([sms] device is empty)")
    sms_id, why = await box.sms.send(body.to, body.text, "central")
    if sms_id is None:
        raise ApiError(422, "invalid_request", f"to {body.to!r}: {why}")
    box.synced()
    return SmsQueued(id=sms_id)

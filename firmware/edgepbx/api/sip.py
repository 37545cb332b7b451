"""GET /api/v1/sip (admission control: who may call, what was refused) and PUT /api/v1/sip/trust."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import SipAdmissionOut, SipTrustIn
from edgepbx.config import ConfigError, parse_config
from edgepbx.config_edit import ConfigEditor, dumps
from edgepbx.sip.endpoint import strict_rtp_dropped

router = APIRouter(prefix="/api/v1/sip", tags=["sip"])


def admission_out(box: BoxContext) -> SipAdmissionOut:
    sip = box.config.sip
    summary: dict = {}
    if box.admission is not None:
        with box.admission.lock:
            summary = box.admission.summary(time.monotonic())
    return SipAdmissionOut(trusted=list(sip.trusted), untrusted=sip.untrusted, invite_rate=sip.invite_rate,
                           calls_per_source=sip.calls_per_source, admitted=summary.get("admitted", 0),
                           refused=summary.get("refused", {}), refused_by_source=summary.get("refused_by_source", {}),
                           blocked=summary.get("blocked", {}), rtp_foreign_dropped=strict_rtp_dropped())


@router.get("", response_model=SipAdmissionOut, dependencies=[Depends(need_read)],
            summary="Who may send the box calls and requests, and what was refused (by reason and source)")
async def get_sip(request: Request) -> SipAdmissionOut:
    return admission_out(request.app.state.box)


@router.put("/trust", response_model=SipAdmissionOut, dependencies=[Depends(need_write)],
            summary="Change [sip] trusted and untrusted: checked like a config push, written to the config "
                    "file, in force for the next request (no restart)")
async def put_trust(body: SipTrustIn, request: Request) -> SipAdmissionOut:
    box: BoxContext = request.app.state.box
    path = Path(box.config.source)
    try:
        if path.is_file():
            editor = ConfigEditor(path)
            doc = editor.running
            doc.setdefault("sip", {}).update(trusted=body.trusted, untrusted=body.untrusted)
            config = parse_config(dumps(doc), str(path), path.parent)
            await asyncio.to_thread(editor.write_running, doc)
        else:   # the embedded default: in force until the box restarts
            config = dataclasses.replace(box.config, sip=dataclasses.replace(
                box.config.sip, trusted=tuple(body.trusted), untrusted=body.untrusted))
            parse_config(dumps(_as_doc(config)), "<embedded default>", Path.cwd())
    except ConfigError as exc:
        raise ApiError(422, "invalid_config", "; ".join(exc.errors), exc.errors) from None
    box.config = dataclasses.replace(box.config, sip=config.sip)
    if box.trust is not None:
        box.trust.apply(box.config)          # addresses and ranges now; names once looked up
        box.trust.look_up_soon()
    box.synced()
    return admission_out(box)


def _as_doc(config) -> dict:  # noqa: ANN001
    sip = config.sip
    return {"sip": {"listen": str(sip.listen), "trusted": list(sip.trusted), "untrusted": sip.untrusted}}

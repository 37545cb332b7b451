"""Firmware updates from central: upload a signed bundle (whole, or in ranges that can be
resumed after a dropped connection), see where an update stands, roll back, acknowledge."""
from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import ErrorOut
from edgepbx.update.manifest import BundleRefused
from edgepbx.update.service import FirmwareService, NotManaged
from edgepbx.update.slots import MAX_BUNDLE_BYTES

router = APIRouter(prefix="/api/v1/firmware", tags=["firmware"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 409, 413, 416, 422, 429)}
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
BUNDLE_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}


def _service(request: Request) -> FirmwareService:
    box: BoxContext = request.app.state.box
    if box.firmware is None:
        raise ApiError(409, "not_managed", "this box takes no firmware updates")
    return box.firmware


@router.get("", responses=ERRORS, dependencies=[Depends(need_read)],
            summary="The running version and release, the releases installed, where an update stands")
async def firmware_status(request: Request) -> dict:
    return _service(request).status()


@router.put("", status_code=202, responses=ERRORS, openapi_extra=BUNDLE_BODY, dependencies=[Depends(need_write)],
            summary="Upload a signed bundle (`make bundle`). Whole, or in parts: `Upload-Id` (from a 416 or your own "
                    "hex id) with `Content-Range: bytes START-END/TOTAL`; a part that does not start where the "
                    "box stands is answered 416 with `received`. Verified, staged, switched when no call is in "
                    "progress (and inside [firmware] window); the new release must come up healthy or the box "
                    "switches back by itself.")
async def put_firmware(request: Request, content_range: str | None = Header(default=None),
                       upload_id: str | None = Header(default=None)) -> JSONResponse:
    service = _service(request)
    try:
        uid = upload_id or service.new_upload_id()
        part = service.upload_path(uid)
    except (NotManaged, BundleRefused) as exc:
        raise ApiError(409 if isinstance(exc, NotManaged) else 400, "not_managed" if isinstance(exc, NotManaged)
                       else "bad_request", str(exc)) from None
    start, total = 0, None
    if content_range is not None:
        m = RANGE.match(content_range.strip())
        if not m or upload_id is None:
            raise ApiError(400, "bad_request", "Content-Range needs the form 'bytes START-END/TOTAL' and an Upload-Id")
        start, end, total = (int(g) for g in m.groups())
        if end < start or end >= total or total > MAX_BUNDLE_BYTES:
            raise ApiError(400, "bad_request", f"bad range {content_range!r} (a bundle is at most {MAX_BUNDLE_BYTES >> 20} MB)")
    have = part.stat().st_size if part.exists() else 0
    if content_range is None:
        have = 0
    elif start != have:
        return JSONResponse({"error": "range", "message": f"the box has {have} bytes of upload {uid}; send from there",
                             "details": [], "upload_id": uid, "received": have}, status_code=416)
    written = have
    with part.open("r+b" if have else "wb") as f:
        f.seek(have)
        async for chunk in request.stream():
            written += len(chunk)
            if written > MAX_BUNDLE_BYTES or (total is not None and written > total):
                f.truncate(have)
                raise ApiError(413, "too_large", "more bytes than the range or the bundle limit")
            f.write(chunk)
    if total is not None and written < total:
        return JSONResponse({"upload_id": uid, "received": written, "total": total, "state": "receiving"}, status_code=202)
    try:
        manifest = await service.install(part)
    except BundleRefused as exc:
        raise ApiError(422, "bundle_refused", str(exc)) from None
    except NotManaged as exc:
        raise ApiError(409, "not_managed", str(exc)) from None
    finally:
        part.unlink(missing_ok=True)
    request.app.state.box.synced()
    return JSONResponse({"version": manifest.version, "arch": manifest.arch, "state": "staged",
                         "switch": "when no call is in progress" + (f", inside {service.config.firmware.window}"
                                                                    if service.config.firmware.window else "")},
                        status_code=202)


@router.post("/rollback", status_code=202, responses=ERRORS, dependencies=[Depends(need_write)],
             summary="Go back to the previous release (when no call is in progress)")
async def rollback(request: Request) -> dict:
    try:
        previous = _service(request).rollback_now()
    except (NotManaged, BundleRefused) as exc:
        raise ApiError(409, "no_rollback", str(exc)) from None
    return {"to": previous, "state": "switching when idle"}


@router.post("/acknowledge", status_code=204, responses=ERRORS, dependencies=[Depends(need_write)],
             summary="Clear the alarm of an update the box rolled back by itself")
async def acknowledge(request: Request) -> None:
    _service(request).acknowledge()

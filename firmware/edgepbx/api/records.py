"""Records out: calls, callbacks, voice messages, each read with a monotonic cursor and acked.

A puller keeps `next` and asks again with `after=next`: ids only grow, so a puller that
crashes and retries from its last saved cursor neither misses nor repeats a record.
Acknowledging marks records collected; only collected records are ever deleted (retention).
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import Ack, Acked, ErrorOut, Page

router = APIRouter(prefix="/api/v1", tags=["records"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422, 429)}
MAX_ID = 2**62


def _pager(kind: str):  # noqa: ANN202
    async def page(request: Request, after: int = Query(default=0, ge=0, le=MAX_ID),
                   limit: int = Query(default=100, ge=1, le=1000)) -> JSONResponse:
        box: BoxContext = request.app.state.box
        items = await box.store.records(kind, after, limit)
        box.synced()
        # Rows are already plain JSON types: skip re-validating a thousand of them (the schema is Page).
        return JSONResponse({"items": items, "next": items[-1]["id"] if items else after})
    return page


def _acker(kind: str):  # noqa: ANN202
    async def ack(body: Ack, request: Request) -> Acked:
        box: BoxContext = request.app.state.box
        if body.through > MAX_ID:
            raise ApiError(422, "invalid_request", "through: too large")
        count = await box.store.acknowledge(kind, body.through)
        box.synced()
        return Acked(acknowledged=count)
    return ack


for _kind in ("calls", "callbacks", "messages", "sms"):   # sms: texts received (the text line)
    router.add_api_route(f"/{_kind}", _pager(_kind), methods=["GET"], response_model=Page, responses=ERRORS,
                         dependencies=[Depends(need_read)], summary=f"{_kind.capitalize()} with id > after, oldest first",
                         operation_id=f"list_{_kind}")
    router.add_api_route(f"/{_kind}/ack", _acker(_kind), methods=["POST"], response_model=Acked, responses=ERRORS,
                         dependencies=[Depends(need_write)], summary=f"Mark {_kind} with id <= through as collected",
                         operation_id=f"ack_{_kind}")


@router.get("/messages/{message_id}/audio", responses={200: {"content": {"audio/wav": {}}}, **ERRORS},
            dependencies=[Depends(need_read)], summary="A voice message's audio")
async def message_audio(message_id: int, request: Request) -> FileResponse:
    box: BoxContext = request.app.state.box
    row = await box.store.message(message_id) if 0 < message_id <= MAX_ID else None
    path = box.store.messages_dir / row["audio"] if row else None
    if path is None or path.parent != box.store.messages_dir or not path.is_file():
        raise ApiError(404, "not_found", f"no audio for message {message_id}")
    return FileResponse(path, media_type="audio/wav")

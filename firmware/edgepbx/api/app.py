"""The FastAPI application: routers, one error shape, body limits. The OpenAPI document is
generated from this code (`edgepbx api openapi` writes it; the box serves it)."""
from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgepbx import __version__
from edgepbx.api import central, directory, errors, firmware, flows, prompts, records, sip, sms, status, voicekeys
from edgepbx.api.auth import Throttle
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import ErrorOut
from edgepbx.ivr.recordings import MAX_UPLOAD_BYTES
from edgepbx.update.slots import MAX_BUNDLE_BYTES

MAX_JSON_BYTES = 4 * 1024 * 1024

DESCRIPTION = """Keep an edgepbx box in step with central: push flows, prompts and the caller
directory; pull call records, callback requests and voice messages with a cursor.

Every endpoint but `/health` needs `Authorization: Bearer TOKEN`; tokens come from
`edgepbx token create NAME --scope read|write` on the box. `write` tokens may also read.
Errors are JSON: `{"error": code, "message": text, "details": [...]}`."""


class BodyLimit:
    """Refuses bodies over the limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = (MAX_BUNDLE_BYTES if path == "/api/v1/firmware" else
                 MAX_UPLOAD_BYTES + 4096 if path.startswith("/api/v1/prompts/") else MAX_JSON_BYTES)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body that said nothing of its size
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send, limit: int) -> None:
    body = (b'{"error":"too_large","message":"request body over %d bytes","details":[]}' % limit)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def known_query_only(request: Request) -> None:
    """A misspelt query parameter (`aftr=`) is an error, not silently the default."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {p.alias for p in dependant.query_params}
    for d in dependant.dependencies:
        known |= {p.alias for p in d.query_params}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(422, "invalid_request", f"unknown query parameter {unknown[0]!r}"
                       + (f" (known: {', '.join(sorted(known))})" if known else ""))


def create_app(box: BoxContext | None) -> FastAPI:
    app = FastAPI(title="edgepbx sync API", version=__version__, description=DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.box = box
    app.state.throttle = Throttle()
    errors.install(app)
    common = {code: {"model": ErrorOut} for code in (400, 401, 403, 413, 422, 429)}
    for module in (status, central, flows, prompts, voicekeys, directory, records, sip, firmware, sms):
        app.include_router(module.router, responses=common, dependencies=[Depends(known_query_only)])
    app.include_router(status.health)
    app.include_router(status.metrics, responses=common)
    app.add_middleware(BodyLimit)
    return app

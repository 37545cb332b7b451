"""One error shape for every 4xx: {"error": code, "message": text, "details": [...]}."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgepbx.api.models import ErrorOut


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


def _body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return ErrorOut(error=code, message=message, details=details or []).model_dump()


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message, exc.details), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"where": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")}
                   for e in exc.errors()]
        first = details[0] if details else {"where": "", "reason": "invalid request"}
        return JSONResponse(_body("invalid_request", f"{first['where']}: {first['reason']}", details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method the path has, not only the first route's
            allowed = sorted({m for route in app.routes if isinstance(route, APIRoute)
                              and route.matches(request.scope)[0] != Match.NONE for m in route.methods})
            headers["Allow"] = ", ".join(allowed)
        return JSONResponse(_body(code, str(exc.detail)), exc.status_code, headers=headers)

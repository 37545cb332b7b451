"""The active IVR flow: read, push (optimistic concurrency), history, rollback."""
from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Header, Request, Response

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import (ErrorOut, FlowCheck, FlowCheckOut, FlowHistory, FlowOut, FlowPush, FlowRollback,
                                FlowVersionOut)
from edgepbx.flows import FlowVersion, UnknownVersion, VersionConflict, digest
from edgepbx.ivr.flow import FlowInvalid

router = APIRouter(prefix="/api/v1/flow", tags=["flow"])
MAX_DOCUMENT_BYTES = 512 * 1024
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 412, 413, 422, 428, 429)}


def _out(v: FlowVersion) -> FlowOut:
    return FlowOut(version=v.version, label=v.label, sha256=v.sha256, name=v.flow.name, document=dict(v.document))


def _etag(version: int) -> str:
    return f'"v{version}"'


def _base_version(if_match: str | None, body_version: int | None) -> int:
    if if_match is not None:
        tag = if_match.strip().removeprefix("W/").strip('"')
        tag = tag[1:] if tag.startswith("v") else tag
        if not tag.isdigit():
            raise ApiError(400, "bad_if_match", f"If-Match must be a flow version tag such as \"v3\", got {if_match!r}")
        if body_version is not None and int(tag) != body_version:
            raise ApiError(400, "bad_if_match", "If-Match and base_version name different versions")
        return int(tag)
    if body_version is None:
        raise ApiError(428, "precondition_required",
                       "say which version you replace: If-Match: \"vN\" (the ETag of GET /api/v1/flow) or base_version")
    return body_version


def _limit_size(document: dict) -> None:
    if len(json.dumps(document)) > MAX_DOCUMENT_BYTES:
        raise ApiError(413, "too_large", f"a flow document is limited to {MAX_DOCUMENT_BYTES // 1024} KiB")


def _invalid(exc: FlowInvalid) -> ApiError:
    """422 with every error as {node, field, reason}, machine-readable for central's tools."""
    return ApiError(422, "invalid_flow", str(exc), [{"node": e.node, "field": e.field, "reason": e.reason}
                                                   for e in exc.errors])


async def _guarded(box: BoxContext, response: Response, action) -> FlowOut:  # noqa: ANN001
    try:
        current = await action()
    except VersionConflict as exc:
        raise ApiError(412, "version_conflict", f"{exc}; GET it and push again", [{"current_version": exc.current}]) from None
    except FlowInvalid as exc:
        raise _invalid(exc) from None
    box.synced()
    response.headers["ETag"] = _etag(current.version)
    return _out(current)


@router.get("", response_model=FlowOut, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="The active flow document; its ETag is the version to send in If-Match")
async def get_flow(request: Request, response: Response) -> FlowOut:
    current = request.app.state.box.flows.current
    response.headers["ETag"] = _etag(current.version)
    return _out(current)


@router.put("", response_model=FlowOut, responses=ERRORS, dependencies=[Depends(need_write)],
            summary="Validate a flow and make it active for new calls (calls in progress keep theirs)")
async def put_flow(body: FlowPush, request: Request, response: Response,
                   if_match: str | None = Header(default=None, max_length=40)) -> FlowOut:
    box: BoxContext = request.app.state.box
    base = _base_version(if_match, body.base_version)
    _limit_size(body.document)
    return await _guarded(box, response, lambda: box.flows.push(body.document, base_version=base,
                                                                 label=body.label, comment=body.comment))


@router.post("/validate", response_model=FlowCheckOut, responses=ERRORS, dependencies=[Depends(need_read)],
             summary="Check a flow exactly as a push would, on this box's prompts, without activating it")
async def validate_flow(body: FlowCheck, request: Request) -> FlowCheckOut:
    """Before a fleet roll-out: which boxes would refuse this flow (a prompt one of them lacks)?
    Needs only a read token, and no version: nothing changes."""
    box: BoxContext = request.app.state.box
    _limit_size(body.document)
    try:
        flow = box.flows.validate(body.document, "checked flow")
    except FlowInvalid as exc:
        raise _invalid(exc) from None
    return FlowCheckOut(valid=True, name=flow.name, sha256=digest(body.document), warnings=list(flow.warnings))


@router.get("/versions", response_model=FlowHistory, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="Every pushed version, newest first")
async def get_versions(request: Request) -> FlowHistory:
    box: BoxContext = request.app.state.box
    rows = await box.store.flow_history(limit=1000)
    return FlowHistory(items=[FlowVersionOut(**r, active=r["version"] == box.flows.current.version) for r in rows])


@router.get("/versions/{version}", response_model=FlowOut, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="An earlier version's document")
async def get_version(version: int, request: Request) -> FlowOut:
    box: BoxContext = request.app.state.box
    if version == box.flows.current.version:
        return _out(box.flows.current)
    row = await box.store.flow_version(version) if 0 < version < 2**62 else None
    if row is None:
        raise ApiError(404, "not_found", f"no flow version {version}")
    document = json.loads(row["document"])
    return FlowOut(version=row["version"], label=row["label"], sha256=row["sha256"],
                   name=str(document.get("flow", {}).get("name", "")), document=document)


@router.post("/rollback", response_model=FlowOut, responses=ERRORS, dependencies=[Depends(need_write)],
             summary="Make an earlier version (number or label) active again, as a new version")
async def rollback(body: FlowRollback, request: Request, response: Response,
                   if_match: str | None = Header(default=None, max_length=40)) -> FlowOut:
    box: BoxContext = request.app.state.box
    base = _base_version(if_match, body.base_version)
    target = body.target
    if isinstance(target, int) and not 0 < target < 2**62:
        raise ApiError(404, "not_found", f"no flow version {target}")

    async def action() -> FlowVersion:
        try:
            return await box.flows.rollback(target, base_version=base, comment=body.comment)
        except UnknownVersion as exc:
            raise ApiError(404, "not_found", str(exc)) from None

    return await _guarded(box, response, action)
